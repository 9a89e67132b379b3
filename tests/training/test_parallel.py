"""Sharded training (FSDP2) on two gloo processes: the same run as one process, exact resume."""

from __future__ import annotations

import itertools
import json

import pytest
import torch
from torch.multiprocessing import ProcessExitedException

from tests.conftest import REPO
from tests.helpers import TINY_MODEL, byte_corpus, run_ranks
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.errors import ConfigError, DataError
from toklab.models.causal_lm import build_model, model_spec
from toklab.models.llama import load_checkpoint
from toklab.training.checkpoint import load_sharded_state, load_state
from toklab.training.config import load_train_config
from toklab.training.parallel import distribute, transformer_blocks
from toklab.training.trainer import EXIT_PREEMPTED, train

PRESETS = REPO / "resources" / "model_presets.yaml"


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 1), 80)]
    root = tmp_path_factory.mktemp("fsdp_data")
    return byte_corpus(root, docs[:70], "train"), byte_corpus(root, docs[70:], "valid")


def settings(*extra: str) -> list[str]:
    return [
        *(f"model.{k}={v}" for k, v in TINY_MODEL.items()),
        "seq_len=32",
        "batch_size=8",
        "micro_batch_size=2",
        "log_interval=1",
        "eval_interval=4",
        "eval_windows=4",
        "checkpoint_interval=2",
        "optim.schedule=constant",  # max_steps out of the fingerprint: a longer run continues
        "optim.warmup_steps=0",
        *extra,
    ]


def metrics(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def weights(out_dir):
    return load_checkpoint(out_dir).state_dict()


def test_fsdp_matches_one_process_and_resumes_exactly(corpora, tmp_path):
    """Two FSDP ranks train the model one process trains; preempted and resumed, exactly."""
    train_prefix, valid_prefix = corpora
    single = tmp_path / "single"
    torch.set_num_threads(1)
    tied = "model.tie_word_embeddings=true"  # one parameter in two places, consolidated as one
    train(
        load_train_config([], settings("max_steps=6", tied)),
        train_prefix,
        single,
        valid_prefix=valid_prefix,
        presets_path=PRESETS,
    )
    # gradient accumulation (2 micro-batches per rank), activation checkpointing
    fsdp = settings("parallelism=fsdp", "activation_checkpointing=true", tied)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_ranks(2, train_prefix, straight, [*fsdp, "max_steps=6"], valid_prefix)
    reference = metrics(single)
    for record, expected in zip(metrics(straight), reference, strict=True):
        assert record["step"] == expected["step"]
        assert record["loss"] == pytest.approx(expected["loss"], rel=1e-4)
        if "val_loss" in expected:
            assert record["val_loss"] == pytest.approx(expected["val_loss"], rel=1e-4)
    a, b = weights(single), weights(straight)
    assert a.keys() == b.keys()  # consolidated: the usual model, names unchanged
    tied_model = load_checkpoint(straight)
    assert tied_model.lm_head.weight is tied_model.model.embed_tokens.weight
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)

    # SLURM's signal reaches rank 1 in step 4 (2 micro-batches per step and rank): both ranks
    # finish the step, write their shards and exit 75; the rerun resumes from them
    with pytest.raises(ProcessExitedException) as preempted:
        run_ranks(2, train_prefix, resumed, [*fsdp, "max_steps=6"], valid_prefix, signalled=(1, 7))
    assert preempted.value.exit_code == EXIT_PREEMPTED
    assert torch.load(resumed / "checkpoint" / "state.pt", weights_only=True)["step"] == 4
    shards = sorted(p.name for p in (resumed / "checkpoint" / "shards").iterdir())
    assert shards == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    run_ranks(2, train_prefix, resumed, [*fsdp, "max_steps=6"], valid_prefix)
    assert metrics(resumed) == metrics(straight)
    assert (resumed / "model.safetensors").read_bytes() == (
        straight / "model.safetensors"
    ).read_bytes()
    for name in ("model.safetensors", "state.pt"):
        assert (resumed / "checkpoint" / name).read_bytes() == (
            straight / "checkpoint" / name
        ).read_bytes()

    # parallelism is in the fingerprint: a DDP rerun sets the sharded run aside
    train(
        load_train_config([], settings("max_steps=2", tied)),
        train_prefix,
        resumed,
        valid_prefix=valid_prefix,
        presets_path=PRESETS,
    )
    assert (resumed / "stale" / "checkpoint" / "shards").is_dir()
    assert [r["step"] for r in metrics(resumed)] == [1, 2]


def test_fsdp_needs_several_processes(corpora, tmp_path):
    train_prefix, _ = corpora
    with pytest.raises(ConfigError, match="parallelism: fsdp shards the model over several"):
        train(
            load_train_config([], settings("max_steps=2", "parallelism=fsdp")),
            train_prefix,
            tmp_path / "out",
            presets_path=PRESETS,
        )
    assert not (tmp_path / "out" / "checkpoint").exists()


def test_sharded_states_are_not_read_as_the_other_kind(corpora, tmp_path):
    """Behind the fingerprint, which sets a switch of parallelism aside, a last check each."""
    train_prefix, _ = corpora
    out = tmp_path / "out"
    config = load_train_config([], settings("max_steps=2"))
    train(config, train_prefix, out, presets_path=PRESETS)
    model = build_model(model_spec("tiny", PRESETS, 257, TINY_MODEL))
    optimizer = torch.optim.AdamW(model.parameters())
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    with pytest.raises(DataError, match="not a sharded checkpoint"):
        load_sharded_state(out / "checkpoint", model, optimizer, scheduler, world=2)
    (out / "checkpoint" / "shards").mkdir()
    torch.save({**torch.load(out / "checkpoint" / "state.pt"), "world_size": 2},
               out / "checkpoint" / "state.pt")  # fmt: skip
    with pytest.raises(DataError, match="a sharded checkpoint of 2 ranks"):
        load_state(out / "checkpoint", model, optimizer, scheduler, torch.device("cpu"))
    with pytest.raises(DataError, match="of 2 ranks cannot resume on 4"):
        load_sharded_state(out / "checkpoint", model, optimizer, scheduler, world=4)


def test_activation_checkpointing_changes_no_number(corpora, tmp_path):
    train_prefix, _ = corpora
    for name, extra in (("plain", ()), ("recomputed", ("activation_checkpointing=true",))):
        config = load_train_config([], settings("max_steps=3", *extra))
        train(config, train_prefix, tmp_path / name, presets_path=PRESETS)
    assert metrics(tmp_path / "plain") == metrics(tmp_path / "recomputed")
    assert (tmp_path / "plain" / "model.safetensors").read_bytes() == (
        tmp_path / "recomputed" / "model.safetensors"
    ).read_bytes()


def test_transformer_blocks_and_their_checkpointing():
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import CheckpointWrapper

    from toklab.models.causal_lm import build_model, model_spec

    toklab = build_model(model_spec("tiny", PRESETS, 300))
    assert len(transformer_blocks(toklab)) == toklab.config.num_hidden_layers
    names = list(toklab.state_dict())
    network = distribute(
        toklab, parallelism="ddp", activation_checkpointing=True, world=1,
        device=torch.device("cpu"), bf16=False,
    )  # fmt: skip
    assert network is toklab
    wrapped = [m for m in toklab.modules() if isinstance(m, CheckpointWrapper)]
    assert len(wrapped) == toklab.config.num_hidden_layers
    assert list(toklab.state_dict()) == names  # checkpoints keep the parameter names
    with pytest.raises(ConfigError, match="no transformer blocks"):
        transformer_blocks(torch.nn.Linear(2, 2))
