"""A run resumes only from its own state: a changed setting or input trains from step 0.

Each reproduction trains a run, changes one thing, trains again in the same directory and
compares the result with a fresh run of the new settings: the model, the metrics and the
``train_config.json`` are the new run's, and the old run's files are set aside in ``stale/``.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal

import pytest
import torch

from tests.helpers import byte_corpus
from tests.training.test_trainer import PRESETS, config
from toklab import fingerprint
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.errors import DataError
from toklab.models.llama import load_checkpoint
from toklab.training.data import WindowSampler
from toklab.training.lm_kinds import TokenLM
from toklab.training.trainer import train


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    import itertools

    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 3), 90)]
    root = tmp_path_factory.mktemp("fingerprint_data")
    return {
        "train": byte_corpus(root, docs[:60], "train"),
        "other": byte_corpus(root, docs[30:], "other"),
        "valid": byte_corpus(root, docs[60:], "valid"),
    }


def tokenizer_dir(root, content: str):
    """A tokenizer directory whose tokenizer.json differs by ``content`` (bytes need none)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "tokenizer.json").write_text(content)
    return root


def run(out_dir, corpora, *settings, train_key="train", **kwargs):
    base = ("max_steps=8", "eval_interval=4", "checkpoint_interval=4")
    train(
        config(*base, *settings),
        corpora[train_key],
        out_dir,
        valid_prefix=corpora["valid"],
        presets_path=PRESETS,
        **kwargs,
    )


def same_run(a, b):
    """The two run directories hold the same model, metrics and training config."""
    left, right = load_checkpoint(a).state_dict(), load_checkpoint(b).state_dict()
    assert all(torch.equal(left[k], right[k]) for k in left)
    for name in ("metrics.jsonl", "train_config.json", "fingerprint.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


CHANGES = {
    "lr": ({}, {"settings": ("optim.lr=3e-3",)}, "training.optim.lr 0.01 -> 0.003"),
    "data": ({}, {"train_key": "other"}, "inputs.train.bin"),
    "max_steps": ({}, {"settings": ("max_steps=12",)}, "training.max_steps 8 -> 12"),
    "batch": ({}, {"settings": ("batch_size=4",)}, "training.batch_size 8 -> 4"),
    "model": ({}, {"settings": ("model.hidden_size=64",)}, "model.hidden_size 32 -> 64"),
    "tokenizer": (
        {"tokenizer": "A"},
        {"tokenizer": "B"},
        "inputs.tokenizer",
    ),
}


@pytest.mark.parametrize("change", CHANGES)
def test_a_changed_setting_or_input_trains_the_new_run(corpora, tmp_path, caplog, change):
    before, after, named = CHANGES[change]

    def options(spec, name):
        kwargs = {"train_key": spec.get("train_key", "train")}
        if "tokenizer" in spec:
            directory = tokenizer_dir(tmp_path / name, spec["tokenizer"])
            kwargs["lm"] = TokenLM(tokenizer_file=directory / "tokenizer.json")
        return spec.get("settings", ()), kwargs

    settings, kwargs = options(before, "tok_before")
    run(tmp_path / "run", corpora, *settings, **kwargs)
    old_model = (tmp_path / "run" / "model.safetensors").read_bytes()

    settings, kwargs = options(after, "tok_after")
    with caplog.at_level(logging.WARNING, logger="toklab.training.trainer"):
        run(tmp_path / "run", corpora, *settings, **kwargs)
    run(tmp_path / "fresh", corpora, *settings, **kwargs)

    same_run(tmp_path / "run", tmp_path / "fresh")
    (warning,) = [r.getMessage() for r in caplog.records if "another run's state" in r.message]
    assert named in warning and "training from step 0" in warning and "\n" not in warning
    assert (tmp_path / "run" / "stale" / "model.safetensors").read_bytes() == old_model
    assert (tmp_path / "run" / "stale" / "checkpoint" / "state.pt").exists()


def test_an_unchanged_or_logging_only_rerun_resumes(corpora, tmp_path, caplog, signal_at_batch):
    straight = tmp_path / "straight"
    run(straight, corpora)
    interrupted = tmp_path / "interrupted"
    with signal_at_batch(WindowSampler, 10, signal.SIGUSR1), pytest.raises(SystemExit):
        run(interrupted, corpora)  # checkpointed at step 5
    with caplog.at_level(logging.INFO, logger="toklab.training.trainer"):
        run(interrupted, corpora, "checkpoint_interval=2", "eval_windows=4", "micro_batch_size=2")
    assert any(
        "resumed from" in r.getMessage() and "step 5" in r.getMessage() for r in caplog.records
    )
    a, b = load_checkpoint(straight).state_dict(), load_checkpoint(interrupted).state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert not (interrupted / "stale").exists()
    # the config the model carries is the one of the run that finished it
    assert json.loads((interrupted / "train_config.json").read_text())["checkpoint_interval"] == 2


def test_a_constant_schedule_continues_to_a_higher_max_steps(corpora, tmp_path, caplog):
    constant = ("optim.schedule=constant",)
    run(tmp_path / "run", corpora, *constant)
    with caplog.at_level(logging.INFO, logger="toklab.training.trainer"):
        run(tmp_path / "run", corpora, *constant, "max_steps=12")
    assert any(
        "resumed from" in r.getMessage() and "step 8" in r.getMessage() for r in caplog.records
    )
    run(tmp_path / "fresh", corpora, *constant, "max_steps=12")
    same_run(tmp_path / "run", tmp_path / "fresh")
    # back to fewer steps than the checkpoint has: that state cannot be the new run's
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="toklab.training.trainer"):
        run(tmp_path / "run", corpora, *constant, "max_steps=4")
    assert any("past max_steps 4" in r.getMessage() for r in caplog.records)
    run(tmp_path / "fresh4", corpora, *constant, "max_steps=4")
    same_run(tmp_path / "run", tmp_path / "fresh4")


def test_a_kept_checkpoint_of_another_run_makes_the_run_start_over(corpora, tmp_path, caplog):
    run(tmp_path / "run", corpora, "keep_checkpoints=true")
    kept = tmp_path / "run" / "checkpoints" / "step-4"
    recorded = fingerprint.read(kept)
    fingerprint.write(kept, {**recorded, "training.seed": 7})
    with caplog.at_level(logging.WARNING, logger="toklab.training.trainer"):
        run(tmp_path / "run", corpora, "keep_checkpoints=true")
    assert any("training.seed 7 -> 42" in r.getMessage() for r in caplog.records)
    assert fingerprint.read(kept) == recorded
    assert (tmp_path / "run" / "stale" / "checkpoints" / "step-4").exists()


def test_a_state_without_fingerprint_is_not_resumed(corpora, tmp_path, caplog):
    run(tmp_path / "run", corpora)
    (tmp_path / "run" / "checkpoint" / "fingerprint.json").unlink()
    with caplog.at_level(logging.WARNING, logger="toklab.training.trainer"):
        run(tmp_path / "run", corpora)
    assert any("no fingerprint recorded" in r.getMessage() for r in caplog.records)


def test_a_corrupt_array_of_the_same_size_is_refused(corpora, tmp_path):
    copy = tmp_path / "copy"
    for suffix in ("bin", "idx", "meta.json", "pretok"):
        shutil.copyfile(f"{corpora['train']}.{suffix}", f"{copy}.{suffix}")
    data = bytearray((tmp_path / "copy.bin").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "copy.bin").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"copy\.bin: its SHA-256 is not the one its meta records"):
        run(tmp_path / "run", {**corpora, "train": copy})
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_differences_name_each_field():
    old = fingerprint.make({"optim": {"lr": 3e-3, "betas": (0.9, 0.95)}, "inputs": {"a": "0" * 64}})
    new = fingerprint.make({"optim": {"lr": 1e-3, "betas": [0.9, 0.95]}, "inputs": {"a": "1" * 64}})
    assert fingerprint.mismatch(old, old) is None
    assert fingerprint.mismatch(old, new) == (
        f"inputs.a {'0' * 12}… -> {'1' * 12}…, optim.lr 0.003 -> 0.001"
    )
    assert fingerprint.differences({"x": 1}, {"y": 2}) == ["x 1 -> (none)", "y (none) -> 2"]
