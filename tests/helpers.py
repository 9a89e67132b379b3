"""Small builders shared by tests: a tiny model configuration (corpus builders: tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from tests.conftest import REPO, byte_corpus

__all__ = ["TINY_MODEL", "byte_corpus", "script_module"]

TINY_MODEL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
}
#: A short run of that model (12 steps of 8 windows of 32 tokens) that trainer tests share.
TINY_RUN = [
    *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
    "seq_len=32",
    "batch_size=8",
    "micro_batch_size=4",
    "max_steps=12",
    "log_interval=1",
    "eval_interval=6",
    "eval_windows=8",
    "checkpoint_interval=4",
    "optim.lr=1e-2",
    "optim.warmup_steps=2",
]


def script_module(name: str) -> Any:
    """A script of ``scripts/`` (``"generate.py"``) imported as a module, to call its click CLI."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), REPO / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train_rank(rank: int, world: int, port: int, args: tuple) -> None:
    """One rank of :func:`run_ranks`: the environment torchrun would set, then ``train``."""
    import torch

    from toklab.training.config import load_train_config
    from toklab.training.data import WindowSampler
    from toklab.training.lm_kinds import lm_kind
    from toklab.training.trainer import train

    os.environ.update(
        {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "RANK": str(rank),
            "WORLD_SIZE": str(world),
            "LOCAL_RANK": str(rank),
        }
    )
    torch.set_num_threads(1)
    train_prefix, out_dir, overrides, valid_prefix, tokenizer, signalled = args
    preempt = nullcontext()
    if signalled is not None and signalled[0] == rank:  # (rank, its sampler call) gets SIGUSR1
        preempt = signal_at_batch(WindowSampler, signalled[1], signal.SIGUSR1)
    with preempt:
        train(
            load_train_config([], overrides),
            train_prefix,
            out_dir,
            valid_prefix=valid_prefix,
            presets_path=REPO / "resources" / "model_presets.yaml",
            lm=lm_kind(tokenizer) if tokenizer is not None else None,
        )


def run_ranks(
    world: int,
    train_prefix: Any,
    out_dir: Any,
    overrides: list[str],
    valid_prefix: Any = None,
    tokenizer: Any = None,
    signalled: tuple[int, int] | None = None,
) -> None:
    """Train on ``world`` gloo processes (spawned, as torchrun's ranks on one CPU node).

    ``tokenizer``: the file that chooses the kind of LM (a T-Free hasher's ``tfree.json``);
    default a byte LM. ``signalled``: ``(rank, call)``: that rank gets SIGUSR1 at its sampler's
    ``call``-th batch, as SLURM's preemption signal (:func:`signal_at_batch`).
    """
    import torch.multiprocessing as mp

    mp.start_processes(
        _train_rank,
        args=(
            world,
            _free_port(),
            (train_prefix, out_dir, overrides, valid_prefix, tokenizer, signalled),
        ),
        nprocs=world,
        join=True,
        start_method="spawn",
    )


@contextmanager
def signal_at_batch(
    sampler_class: type,
    call: int,
    signum: int = signal.SIGTERM,
    before: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Within the block, ``sampler_class.batch`` raises ``signum`` at its ``call``-th call.

    The signal comes just before that call's batch is made (after ``before()``, if given), so
    the trainer finishes the step it is in, checkpoints and exits; the patch is undone on exit.
    """
    import pytest

    original = sampler_class.batch
    calls = 0

    def batch_then_signal(self, first, size):
        nonlocal calls
        calls += 1
        if calls == call:
            if before is not None:
                before()
            signal.raise_signal(signum)
        return original(self, first, size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sampler_class, "batch", batch_then_signal)
        yield


def byte_level_bpe(
    directory: Path, merges: Sequence[tuple[bytes, bytes]], specials: Sequence[str]
) -> Path:
    """A real byte-level BPE of the 256 bytes, ``merges`` and ``specials``: its tokenizer.json."""
    from toklab.tokenizers.tokenizer_files import save_tokenizer_files

    vocab = {i: bytes([i]) for i in range(256)}
    for a, b in merges:
        vocab[len(vocab)] = a + b
    for token in specials:
        vocab[len(vocab)] = token.encode("utf-8")
    save_tokenizer_files(directory, vocab, list(merges), list(specials))
    return directory / "tokenizer.json"
