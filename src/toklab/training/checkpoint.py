"""The resumable training state: one module that saves it and loads it back.

A checkpoint is a complete directory (``OUT_DIR/checkpoint``, replaced as a whole, atomically;
with a checkpoint suite also ``OUT_DIR/checkpoints/step-{N}``, kept), loadable by
``transformers.AutoModelForCausalLM.from_pretrained`` and ``AutoTokenizer.from_pretrained``:

* ``model.safetensors`` + ``config.json``: the model (:func:`toklab.models.causal_lm.save_model`);
* the tokenizer's files (``tokenizer.json``, ``tokenizer_config.json``, ...), copied;
* ``state.pt``: the step, the optimizer's and the scheduler's state and every RNG state, as
  tensors and plain data only, read back with ``torch.load(weights_only=True)``;
* ``training_state.json`` (step, epoch, tokens, learning rate), ``train_config.json`` and
  ``run_context.json`` (device, library versions), for people and tools;
* ``metrics.jsonl``: the metrics records of every step up to the checkpoint;
* ``fingerprint.json``: the run's fingerprint (:func:`run_fingerprint`, :mod:`toklab.fingerprint`):
  a run resumes only from a checkpoint with its own fingerprint.

A sharded run (``parallelism: fsdp``, :mod:`toklab.training.parallel`) writes the same files,
its model consolidated, and keeps the optimizer's state and the weights as the ranks hold them in
``shards/`` (``torch.distributed.checkpoint``), from which the same number of ranks resumes
exactly (:func:`save_sharded_state`, :func:`load_sharded_state`).

The directory is built in ``OUT_DIR/.checkpoint.tmp`` and swapped in by
:func:`toklab.io.replace_directory`, so a reader sees either the previous checkpoint or the new
one, never a mixture.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import pickle
import platform
import random
import re
import shutil
import socket
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from toklab import fingerprint as fingerprints
from toklab.errors import DataError
from toklab.io import atomic_directory, atomic_write, read_json, sha256_file
from toklab.models.causal_lm import ModelSpec, load_model, save_model, spec_of

if TYPE_CHECKING:
    from toklab.training.config import TrainConfig

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
#: A sharded run's model and optimizer state, one file per rank (torch.distributed.checkpoint).
SHARDS_DIR = "shards"
METRICS_FILE = "metrics.jsonl"
TRAINING_STATE_FILE = "training_state.json"
#: The files of a tokenizer directory that travel with every checkpoint (those present).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "tfree.json",  # T-Free: the trigram hasher's settings
    "dictionary.tsv",  # ... and its decoding dictionary
)


def run_context(device: torch.device, world_size: int) -> dict[str, Any]:
    """Where and with what a run trained: device, GPU, ranks and library versions.

    No host names or times, so that a rerun on the same machine writes the same file.
    """
    from importlib.metadata import PackageNotFoundError, version

    def installed(package: str) -> str | None:
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {
        "device": device.type,
        "gpu_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "world_size": world_size,
        "python": sys.version.split()[0],
        "os": platform.system(),
        **{name: installed(name) for name in ("toklab", "torch", "transformers", "tokenizers")},
    }


@dataclass
class RunFiles:
    """What a run writes into each of its checkpoint directories besides the model and state."""

    tokenizer_dir: Path | None = None
    json_files: dict[str, Any] = field(default_factory=dict)  # file name -> content

    def write(self, directory: Path) -> None:
        """Copy the tokenizer's files and write the JSON files into ``directory``."""
        if self.tokenizer_dir is not None:
            for name in TOKENIZER_FILES:
                if (self.tokenizer_dir / name).is_file():
                    shutil.copyfile(self.tokenizer_dir / name, directory / name)
        for name, content in self.json_files.items():
            with atomic_write(directory / name, "w") as handle:
                json.dump(content, handle, indent=2, sort_keys=True)


@dataclass
class RunPaths:
    """Where a run writes: the final model, metrics and the resumable checkpoint."""

    out_dir: Path

    @property
    def checkpoint(self) -> Path:
        """The resumable state."""
        return self.out_dir / "checkpoint"

    @property
    def metrics(self) -> Path:
        """One JSON object per logged step."""
        return self.out_dir / "metrics.jsonl"

    @property
    def suite(self) -> Path:
        """The kept checkpoints."""
        return self.out_dir / "checkpoints"

    def kept(self, step: int) -> Path:
        """A checkpoint of the suite (Delphi's ``iter{N}``)."""
        return self.suite / f"step-{step}"

    @property
    def stale(self) -> Path:
        """Where the files of another run (other settings or inputs) are set aside."""
        return self.out_dir / "stale"

    @property
    def lock(self) -> Path:
        """The lock of the run's one writer (:func:`writer_lock`), next to the directory."""
        return self.out_dir.with_name(f".{self.out_dir.name}.lock")

    def kept_directories(self) -> list[Path]:
        """The directories of the suite, ``checkpoints/step-*``, in name order."""
        return sorted(self.suite.glob("step-*")) if self.suite.is_dir() else []

    def states(self) -> list[Path]:
        """Every resumable state in the directory: the checkpoint and the kept ones."""
        return [path for path in (self.checkpoint, *self.kept_directories()) if has_state(path)]

    def previous_run(self) -> list[Path]:
        """Everything in the directory but the set-aside files: what an earlier run wrote."""
        return sorted(path for path in self.out_dir.iterdir() if path != self.stale)

    def trained_models(self) -> list[tuple[int, Path]]:
        """``(step, directory)`` of the kept checkpoints and of the final model, by step."""
        found = {}
        for directory in [*self.kept_directories(), self.out_dir]:
            state = directory / TRAINING_STATE_FILE
            if (directory / "model.safetensors").is_file() and state.is_file():
                found[int(read_json(state)["step"])] = directory
        return sorted(found.items())


#: How long a trainer waits for another one writing the same run before it gives up.
WRITER_WAIT_S = 600.0
#: errnos of a filesystem without advisory locks (say, Lustre mounted without ``flock``).
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


@contextlib.contextmanager
def writer_lock(
    paths: RunPaths, *, wait_s: float | None = None, poll_s: float = 1.0
) -> Iterator[bool]:
    """Hold the run's writer lock while the block runs: one trainer writes a run at a time.

    Two trainers of one directory would replace each other's checkpoints, and one could resume
    from a model and a ``state.pt`` of different steps. That happens when a workflow is rerun
    while a cancelled job's trainer still writes its preemption checkpoint (a node's process
    tracking can lose a trainer whose parent has exited), or when the same run is started twice.

    The lock is ``flock`` on :attr:`RunPaths.lock`, a file that names its holder (``pid@host``)
    and is deleted when the block ends. A trainer that finds it taken logs who holds it and
    waits up to ``wait_s`` seconds (default :data:`WRITER_WAIT_S`), then fails with one line
    naming the holder. The kernel drops a lock when its holder exits, however it ends, so the
    file a killed trainer leaves behind blocks nobody. Yields whether the lock is held: on a
    filesystem without locks the block runs unguarded, with a warning.
    """
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + (WRITER_WAIT_S if wait_s is None else wait_s)
    waited = False
    while True:
        fd = os.open(paths.lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process"
            os.close(fd)
            if time.monotonic() >= deadline:
                raise DataError(
                    f"{paths.out_dir}: another trainer ({holder}, per {paths.lock.name}) is "
                    "still writing this run; stop it or wait for it to end"
                ) from None
            if not waited:
                log.warning(
                    "%s: another trainer (%s) is writing this run; waiting for it to end",
                    paths.out_dir,
                    holder,
                )
                waited = True
            time.sleep(poll_s)
            continue
        except OSError as err:
            if err.errno not in _NO_LOCKS:
                os.close(fd)
                raise
            log.warning(
                "%s: the filesystem has no locks (%s), so a second trainer of this run would "
                "go undetected",
                paths.lock,
                err.strerror,
            )
            held = False
            break
        # The holder deletes the file before it lets go: a lock taken on a deleted file is
        # nobody's, and the next try opens the file at the path now.
        held = _is_current(fd, paths.lock)
        if held:
            break
        os.close(fd)
    if waited and held:
        log.info("%s: the other trainer has ended; going on", paths.out_dir)
    try:
        if held:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}@{socket.gethostname()}\n".encode(), 0)
        yield held
    finally:
        if held:
            with contextlib.suppress(FileNotFoundError):
                paths.lock.unlink()
        os.close(fd)  # drops the lock


def _is_current(fd: int, path: Path) -> bool:
    """Whether ``fd`` is the file at ``path`` (not one deleted since it was opened)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def rng_state() -> dict[str, Any]:
    """The state of every random generator training uses (Python, numpy, torch, CUDA).

    Only tensors, numbers, strings and containers of them, so that ``torch.load`` reads it back
    with ``weights_only=True`` (numpy's state array is stored as a tensor).
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from :func:`rng_state`'s result."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


class _UnsharedPickler(pickle.Pickler):
    """A pickler without a memo: equal states give equal bytes, however their objects are shared.

    A resumed run holds the same values as an uninterrupted one, but not the same sharing of
    Python objects (the optimizer's groups share a tuple in one and not in the other), and the
    memo would write shared objects as references: ``state.pt`` would differ in bytes. Pickle's
    ``fast`` mode writes every object in full; a training state has no cycles, which is all it
    requires. Tensors are unaffected (``torch.save`` stores their storages by key).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = True


#: ``torch.save``'s ``pickle_module`` for training states (only ``Pickler`` is used to save).
_CANONICAL_PICKLE = types.SimpleNamespace(Pickler=_UnsharedPickler, __name__="toklab_pickle")


def has_state(directory: Path) -> bool:
    """Whether ``directory`` holds a checkpoint to resume from."""
    return (directory / STATE_FILE).exists()


#: Training fields that change no weight: what is logged and when, where and how often
#: checkpoints go. A run may resume after a change of these; ``train_config.json`` then holds
#: the new values, and the metrics logged before the resume follow the old ones.
LOGGING_FIELDS = (
    "log_interval",
    "eval_interval",
    "eval_windows",
    "wandb",
    "checkpoint_interval",
    "keep_checkpoints",
    "extra_checkpoint_steps",
)
#: Training fields that change only how the work is split, hence only the order of float sums
#: (as the number of GPUs does, which is not in the fingerprint either): the same batch and the
#: same gradient, computed in micro-batches, compiled kernels or recomputed activations.
#: ``parallelism`` is in the fingerprint: FSDP computes in bf16 on GPUs (not only under
#: autocast) and writes its state in shards, so a switch is another run.
EXECUTION_FIELDS = ("micro_batch_size", "compile", "activation_checkpointing")


def run_fingerprint(
    config: TrainConfig,
    spec: ModelSpec,
    *,
    bf16: bool,
    eos_id: int,
    inputs: dict[str, Any],
) -> dict[str, Any]:
    """The fingerprint of a training run (:mod:`toklab.fingerprint`): what its weights depend on.

    Every field of ``config`` but :data:`LOGGING_FIELDS` and :data:`EXECUTION_FIELDS`, the
    precision it resolved to (``auto`` is bf16 on CUDA), the model spec (preset, overrides and
    vocabulary resolved), the EOS id, and ``inputs``: the SHA-256 of the tokenizer, the training
    and validation files and ``init_from``'s weights (not its path). ``max_steps`` (and
    ``max_epochs``) are left out under a ``constant`` schedule only: there the first N steps do
    not depend on the run's length, so raising ``max_steps`` continues the run; cosine and WSD
    schedules depend on it.
    """
    from toklab.training.config import config_to_dict

    settings = config_to_dict(config)
    for name in (*LOGGING_FIELDS, *EXECUTION_FIELDS):
        settings.pop(name)
    settings.pop("init_from")  # where the weights are: their SHA-256 is in ``inputs``
    if config.optim.schedule == "constant":
        settings.pop("max_steps")
        settings.pop("max_epochs")
    settings["precision"] = "bf16" if bf16 else "fp32"
    return fingerprints.make(
        {
            "training": settings,
            "model": {"class": spec.model_class, **spec.config},
            "eos_id": eos_id,
            "inputs": inputs,
        }
    )


def stale_reason(directory: Path, fingerprint: dict[str, Any], max_steps: int) -> str | None:
    """Why the checkpoint in ``directory`` is not a state of this run (None: it is).

    It is another run's when its fingerprint differs, or when it is past ``max_steps`` (a
    constant-schedule run asked to stop earlier than a previous one got).
    """
    reason = fingerprints.mismatch(fingerprints.read(directory), fingerprint)
    if reason is not None:
        return reason
    try:
        step = int(read_json(directory / TRAINING_STATE_FILE)["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return f"{directory / TRAINING_STATE_FILE} is missing or unreadable"
    if step > max_steps:
        return f"its step {step} is past max_steps {max_steps}"
    return None


def file_digest(path: str | Path, what: str) -> str:
    """SHA-256 of one input file of a run; a one-line error if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {what} not found")
    return sha256_file(path)


def save_state(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    logged: list[str],
    files: RunFiles | None = None,
    fingerprint: dict[str, Any] | None = None,
) -> None:
    """Write the resumable checkpoint at ``directory``, atomically replacing the previous one.

    ``logged``, the metrics records of every step so far, goes into the checkpoint too: a
    workflow manager may delete a failed job's outputs (``metrics.jsonl`` among them), even
    while the trainer is still writing its preemption checkpoint. ``fingerprint``: the run's
    (:func:`run_fingerprint`), which a resuming run compares with its own.
    """
    staging = directory.with_name(f".{directory.name}.tmp")
    with atomic_directory(directory, staging=staging) as tmp:
        state = {"step": step, "optimizer": optimizer.state_dict()}
        _write_checkpoint(tmp, model, scheduler, state, logged, files, fingerprint)


def _write_checkpoint(
    tmp: Path,
    model: nn.Module,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: dict[str, Any],
    logged: list[str],
    files: RunFiles | None,
    fingerprint: dict[str, Any] | None,
) -> None:
    """Write a checkpoint directory's files into ``tmp``.

    The model, the run's files and fingerprint, its metrics so far, and ``state.pt``: ``state``,
    then the scheduler's and every RNG state.
    """
    save_model(model, tmp)
    if files is not None:
        files.write(tmp)
    if fingerprint is not None:
        fingerprints.write(tmp, fingerprint)
    (tmp / METRICS_FILE).write_text("".join(line + "\n" for line in logged), encoding="utf-8")
    state = {**state, "scheduler": scheduler.state_dict(), "rng": rng_state()}
    torch.save(state, tmp / STATE_FILE, pickle_module=_CANONICAL_PICKLE)


def load_state(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    map_location: torch.device,
) -> int:
    """Restore the model, optimizer, scheduler and RNG states from ``directory``; return the step.

    The checkpoint's model must have been built from the same config as ``model``.
    """
    if (directory / SHARDS_DIR).is_dir():
        state = read_state(directory / STATE_FILE)
        raise DataError(
            f"{directory}: a sharded checkpoint of {state.get('world_size')} ranks; resume it "
            "with parallelism: fsdp on as many, or delete it to start the run over"
        )
    resumed = load_model(directory, map_location=map_location)
    if spec_of(resumed) != spec_of(model):
        raise DataError(f"{directory}: checkpoint was trained with another model config")
    model.load_state_dict(resumed.state_dict())
    state = read_state(directory / STATE_FILE, map_location)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"]


def save_sharded_state(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    logged: list[str],
    files: RunFiles | None,
    fingerprint: dict[str, Any] | None,
    *,
    consolidated: nn.Module | None,
    rank: int,
    world: int,
) -> None:
    """:func:`save_state` of a sharded run; collective: every rank calls it.

    Rank 0 builds the directory in its staging place; every rank writes its shards of the
    model and optimizer into ``shards/``; rank 0 adds ``consolidated`` (the model gathered by
    :func:`toklab.training.parallel.full_model`, None on the other ranks) and the other files
    and swaps the directory in, so it appears complete or not at all.
    """
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    staging = directory.with_name(f".{directory.name}.tmp")
    try:
        with contextlib.ExitStack() as stack:
            tmp = (
                stack.enter_context(atomic_directory(directory, staging=staging))
                if rank == 0
                else None
            )
            dist.barrier()  # the staging directory exists, empty, before any rank writes to it
            model_state, optimizer_state = get_state_dict(model, optimizer)
            dcp.save(
                {"model": model_state, "optimizer": optimizer_state},
                checkpoint_id=staging / SHARDS_DIR,
            )
            if tmp is not None:
                state = {"step": step, "optimizer": {}, "world_size": world}  # optimizer: shards/
                _write_checkpoint(tmp, consolidated, scheduler, state, logged, files, fingerprint)
    except BaseException:
        all_ranks_agree(False)  # the others learn it instead of waiting for this rank forever
        raise
    if not all_ranks_agree(True):  # no rank goes on before the checkpoint is in place
        raise DataError(f"{directory}: another rank failed to write its part of the checkpoint")


def all_ranks_agree(ok: bool) -> bool:
    """Whether ``ok`` holds on every rank; collective (a barrier that carries a verdict)."""
    import torch.distributed as dist

    nccl = dist.get_backend() == "nccl"
    device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")
    flag = torch.tensor([int(ok)], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def load_sharded_state(
    directory: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    *,
    world: int,
) -> int:
    """:func:`load_state` of a sharded run, from a checkpoint of as many ranks; collective."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    state = read_state(directory / STATE_FILE)
    restart = f"delete {directory} to start the run over"
    if not (directory / SHARDS_DIR).is_dir():
        raise DataError(
            f"{directory}: not a sharded checkpoint (written with parallelism: ddp); resume it "
            f"with parallelism: ddp, or {restart}"
        )
    if state.get("world_size") != world:
        raise DataError(
            f"{directory}: a sharded checkpoint of {state.get('world_size')} ranks cannot resume "
            f"on {world}; run on {state.get('world_size')}, or {restart}"
        )
    model_state, optimizer_state = get_state_dict(model, optimizer)
    shards = {"model": model_state, "optimizer": optimizer_state}
    dcp.load(shards, checkpoint_id=directory / SHARDS_DIR)
    set_state_dict(
        model,
        optimizer,
        model_state_dict=shards["model"],
        optim_state_dict=shards["optimizer"],
    )
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"]


def read_state(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """The training state in ``state.pt``, read without running any code from the file.

    Checkpoints live on shared filesystems: ``torch.load(weights_only=True)`` accepts only
    tensors, numbers, strings and containers, so a file that smuggles in a pickled callable is
    refused instead of executed. A truncated or corrupt file is refused the same way.
    """
    path = Path(path)
    restart = f"delete {path.parent} to start the run over"
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError (truncated zip), EOFError
        refused = re.search(r"unsupported GLOBAL (\S+)", str(err))
        if refused:  # torch's message says how to load it unsafely; say what was refused
            reason = f"it would run {refused.group(1)}"
        else:
            lines = str(err).strip().splitlines()
            reason = lines[0] if lines else type(err).__name__
        raise DataError(f"{path}: not a safe toklab training state ({reason}); {restart}") from None
    if not isinstance(state, dict) or not {"step", "optimizer", "scheduler", "rng"} <= set(state):
        raise DataError(
            f"{path}: not a toklab training state (missing step/optimizer/rng); {restart}"
        )
    return state


def logged_metrics(directory: Path, run_metrics: Path, step: int) -> list[str]:
    """The metrics records up to ``step`` of a checkpoint, one JSON object per line.

    They are the checkpoint's own copy, else (older checkpoints) the run's ``run_metrics`` file
    without the records logged after the checkpoint; none if neither exists.
    """
    saved = directory / METRICS_FILE
    source = saved if saved.exists() else run_metrics
    if not source.exists():
        return []
    return [
        line
        for line in source.read_text(encoding="utf-8").splitlines()
        if line and json.loads(line)["step"] <= step
    ]
