"""T-Free through the one trainer: word arrays in, multi-label loss down, exact resume, CLI."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
from contextlib import nullcontext

import numpy as np
import pytest
import torch

from tests.conftest import REPO
from tests.helpers import TINY_MODEL, TINY_RUN, byte_corpus, run_ranks
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.datasets.tfree_examples import tokenize_word_examples
from toklab.datasets.tfree_memmap import write_aligned_memory_map, write_memory_map
from toklab.datasets.tfree_words import (
    EOT_ID,
    WordPatterns,
    read_words,
    tokenize_aligned_words,
    tokenize_words,
)
from toklab.errors import ConfigError, DataError
from toklab.models.causal_lm import load_model
from toklab.models.llama import TrigramEmbedding
from toklab.tokenizers.tfree import TrigramHasher, save_settings
from toklab.training.config import load_train_config
from toklab.training.data import AlignedSampler, WindowSampler
from toklab.training.lm_kinds import lm_kind
from toklab.training.objectives import MultiLabelLoss
from toklab.training.trainer import EXIT_PREEMPTED, evaluate, train

PRESETS = REPO / "resources" / "model_presets.yaml"


def tfree_arrays(root, kind: str):
    """Settings (v = 512, m = 4, k = 1) and train/valid arrays of 100 + 20 demo documents.

    ``kind`` is ``"words"`` (word arrays of the documents) or ``"aligned"`` (aligned word
    arrays of T-Free exports of them, with items of 2,000 bytes).
    """
    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 120)]
    settings = root / "tokenizer" / "tfree.json"
    settings.parent.mkdir()
    save_settings(TrigramHasher(512, 4, 1), settings)
    prefixes = []
    for name, part in (("train", docs[:100]), ("valid", docs[100:])):
        corpus = byte_corpus(root, part, f"bytes_{name}")
        if kind == "aligned":
            export = root / "export" / name
            write_memory_map(corpus, export)
            write_aligned_memory_map(export, export, max_bytes=2000, tolerance=100)
            prefixes.append(root / f"{name}.aligned")
            tokenize_aligned_words(settings, export, prefixes[-1])
        else:
            prefixes.append(root / f"words_{name}")
            tokenize_words(settings, corpus, prefixes[-1])
    return settings, *prefixes


@pytest.fixture(scope="module")
def word_arrays(tmp_path_factory):
    """Word arrays of 100 + 20 demo documents, hashed into v = 512, m = 4, k = 1."""
    return tfree_arrays(tmp_path_factory.mktemp("tfree"), "words")


@pytest.fixture(scope="module")
def aligned_arrays(tmp_path_factory):
    """Aligned word arrays of the same documents: T-Free exports with items of 2,000 bytes."""
    return tfree_arrays(tmp_path_factory.mktemp("tfree_aligned"), "aligned")


SETTINGS = [
    *TINY_RUN,
    "document_masking=true",
    "multi_label.pos_weight=10",
    "multi_label.loss_scale=10",
]


def config(*extra):
    return load_train_config([], [*SETTINGS, *extra])


def records(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def run(out_dir, settings, train_prefix, valid_prefix, *extra):
    return train(
        config(*extra),
        train_prefix,
        out_dir,
        valid_prefix=valid_prefix,
        presets_path=PRESETS,
        lm=lm_kind(settings),
    )


def test_tfree_model_learns_the_next_word(word_arrays, tmp_path):
    settings, train_prefix, valid_prefix = word_arrays
    run(tmp_path, settings, train_prefix, valid_prefix, "max_steps=60", "eval_interval=60")
    losses = [r["loss"] for r in records(tmp_path)]
    assert np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])
    last = records(tmp_path)[-1]
    assert 0 < last["val_loss"] < losses[0]
    model = load_model(tmp_path)
    assert isinstance(model.model.embed_tokens, TrigramEmbedding)
    assert model.config.vocab_size == 512
    assert model.config.tfree == {"m": 4, "k": 1, "entire_words": False}
    assert (tmp_path / "tfree.json").read_bytes() == settings.read_bytes()  # travels along

    # the true next word's ids rank high: recall@k (k = the word's id count) against chance
    hasher = TrigramHasher(512, 4, 1)
    objective = MultiLabelLoss(WordPatterns.for_array(valid_prefix, hasher), 10.0, 10.0)
    from toklab.data.packed_stream import PackedStream

    sampler = WindowSampler(PackedStream(valid_prefix, EOT_ID), 32, seed=0)
    words = sampler.sequential(0, 4)
    with torch.no_grad():
        logits = model(objective.inputs(words[:, :-1], torch.device("cpu"))).flatten(0, 1)
    target = objective.targets(words[:, 1:], torch.device("cpu")).bool()
    recall = np.mean(
        [float(row[logit.topk(int(row.sum())).indices].float().mean())
         for row, logit in zip(target, logits, strict=True)]
    )  # fmt: skip
    assert recall > 2.5 * float(target.float().mean())


def test_resume_after_signal_reproduces_uninterrupted_tfree_run(
    word_arrays, tmp_path, signal_at_batch
):
    settings, train_prefix, valid_prefix = word_arrays
    straight = tmp_path / "straight"
    run(straight, settings, train_prefix, valid_prefix)
    interrupted = tmp_path / "interrupted"
    with (
        signal_at_batch(WindowSampler, 10, signal.SIGTERM),
        pytest.raises(SystemExit) as exit_info,
    ):
        run(interrupted, settings, train_prefix, valid_prefix)
    assert exit_info.value.code == EXIT_PREEMPTED
    run(interrupted, settings, train_prefix, valid_prefix)
    assert records(interrupted) == records(straight)
    a, b = load_model(straight).state_dict(), load_model(interrupted).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_tfree_model_learns_from_aligned_samples(aligned_arrays, tmp_path):
    settings, train_prefix, valid_prefix = aligned_arrays
    assert AlignedSampler(train_prefix, 32, 42).num_windows > 8
    run(tmp_path, settings, train_prefix, valid_prefix, "data=aligned", "max_steps=40",
        "eval_interval=40", "seed=42")  # fmt: skip
    losses = [r["loss"] for r in records(tmp_path)]
    assert np.mean(losses[-5:]) < 0.95 * np.mean(losses[:5])
    assert 0 < records(tmp_path)[-1]["val_loss"] < losses[0]
    assert json.loads((tmp_path / "train_config.json").read_text())["data"] == "aligned"


def test_resume_on_aligned_samples_is_exact(aligned_arrays, tmp_path, signal_at_batch):
    settings, train_prefix, valid_prefix = aligned_arrays
    straight = tmp_path / "straight"
    run(straight, settings, train_prefix, valid_prefix, "data=aligned")
    interrupted = tmp_path / "interrupted"
    with (
        signal_at_batch(AlignedSampler, 10, signal.SIGTERM),
        pytest.raises(SystemExit) as exit_info,
    ):
        run(interrupted, settings, train_prefix, valid_prefix, "data=aligned")
    assert exit_info.value.code == EXIT_PREEMPTED
    run(interrupted, settings, train_prefix, valid_prefix, "data=aligned")
    assert records(interrupted) == records(straight)


def test_aligned_samples_are_for_tfree_models_only(aligned_arrays, tmp_path):
    _settings, train_prefix, _valid_prefix = aligned_arrays
    with pytest.raises(ConfigError, match="token LMs train on windows of token arrays"):
        train(config("data=aligned"), train_prefix, tmp_path, presets_path=PRESETS)


def word_examples(directory, tail: str):
    """Fine-tuning examples: a loss-free prompt, a trained answer, a loss-free ``tail``."""
    lines = []
    for i in range(24):
        lines.append(json.dumps([
            {"type": "text", "content": f"Question {i}: which colour?", "has_loss": False},
            {"type": "text", "content": f"The answer is {['red', 'blue', 'green'][i % 3]}.",
             "has_loss": True},
            {"type": "text", "content": f"{tail} {i}", "has_loss": False},
        ]))  # fmt: skip
    source = directory / f"{tail}.jsonl"
    source.write_text("\n".join(lines))
    return source


def test_tfree_fine_tuning_trains_on_has_loss_segments_only(word_arrays, tmp_path):
    settings, _train_prefix, _valid_prefix = word_arrays
    runs = {}
    for tail in ("never trained on", "something else entirely"):
        prefix = tmp_path / "words" / tail.replace(" ", "_")
        tokenize_word_examples(settings, word_examples(tmp_path, tail), prefix)
        out = tmp_path / tail.replace(" ", "_")
        run(out, settings, prefix, prefix, "data=examples", "max_steps=8", "eval_interval=4")
        runs[tail] = records(out)
    # the loss-free tails follow the answers: they change no weighted position's loss
    first, second = runs.values()
    assert [r["loss"] for r in first] == pytest.approx([r["loss"] for r in second], rel=1e-5)
    assert [r["val_loss"] for r in first if "val_loss" in r] == pytest.approx(
        [r["val_loss"] for r in second if "val_loss" in r], rel=1e-5
    )
    assert first[-1]["loss"] < first[0]["loss"]


def test_micro_batches_do_not_change_the_tfree_loss(word_arrays, tmp_path):
    settings, train_prefix, _valid_prefix = word_arrays
    run(tmp_path / "a", settings, train_prefix, None, "max_steps=3", "micro_batch_size=8")
    run(tmp_path / "b", settings, train_prefix, None, "max_steps=3", "micro_batch_size=2")
    a, b = records(tmp_path / "a"), records(tmp_path / "b")
    assert [r["loss"] for r in a] == pytest.approx([r["loss"] for r in b], rel=1e-5)


def test_tfree_lm_trains_sharded_with_activation_checkpointing(word_arrays, tmp_path):
    """The 7B's settings on the T-Free model: FSDP over two ranks equals one process."""
    settings, train_prefix, _valid_prefix = word_arrays
    run(tmp_path / "one", settings, train_prefix, None, "max_steps=3", "micro_batch_size=2")
    sharded = [
        "max_steps=3",
        "micro_batch_size=2",
        "parallelism=fsdp",
        "activation_checkpointing=true",
    ]
    run_ranks(2, train_prefix, tmp_path / "two", [*SETTINGS, *sharded], tokenizer=settings)
    one, two = records(tmp_path / "one"), records(tmp_path / "two")
    assert [r["loss"] for r in two] == pytest.approx([r["loss"] for r in one], rel=1e-4)
    assert load_model(tmp_path / "two").config.tfree == {"m": 4, "k": 1, "entire_words": False}


def test_validation_loss_uses_the_validation_words(word_arrays):
    """Each array's ids index its own table: validation is scored with its own patterns."""
    _settings, train_prefix, valid_prefix = word_arrays
    assert read_words(train_prefix) != read_words(valid_prefix)
    hasher = TrigramHasher(512, 4, 1)
    from toklab.data.packed_stream import PackedStream
    from toklab.models.llama import LlamaModel, ModelConfig

    torch.manual_seed(0)
    model = LlamaModel(
        ModelConfig(vocab_size=512, tfree={"m": 4, "k": 1, "entire_words": False}, **TINY_MODEL)
    )
    sampler = WindowSampler(PackedStream(valid_prefix, EOT_ID), 32, seed=0)
    own = MultiLabelLoss(WordPatterns.for_array(valid_prefix, hasher), 10.0, 10.0)
    other = MultiLabelLoss(WordPatterns.for_array(train_prefix, hasher), 10.0, 10.0)
    score = evaluate(model, sampler, 4, torch.device("cpu"), nullcontext, EOT_ID, False, own)
    wrong = evaluate(model, sampler, 4, torch.device("cpu"), nullcontext, EOT_ID, False, other)
    assert score["val_loss"] != pytest.approx(wrong["val_loss"])


def test_tfree_bad_input(word_arrays, tmp_path):
    settings, train_prefix, _valid_prefix = word_arrays
    with pytest.raises(ConfigError, match="windows of words"):
        run(tmp_path / "a", settings, train_prefix, None, "data=chunks")
    # a checkpoint of other (v, m, k) cannot start a run with these settings
    other = tmp_path / "other" / "tfree.json"
    other.parent.mkdir()
    save_settings(TrigramHasher(256, 4, 1), other)
    run(tmp_path / "small", other, train_prefix, None, "max_steps=1", "optim.warmup_steps=1")
    with pytest.raises(DataError, match="not the one this run"):
        run(tmp_path / "b", settings, train_prefix, None, f"init_from={tmp_path / 'small'}")


def test_train_lm_cli_checks_the_arrays_settings(word_arrays, tmp_path):
    settings, train_prefix, _ = word_arrays
    other = tmp_path / "tfree.json"
    save_settings(TrigramHasher(256, 4, 1), other)
    command = [
        sys.executable,
        str(REPO / "scripts" / "train_lm.py"),
        "--train",
        str(train_prefix),
        "--out-dir",
        str(tmp_path / "run"),
        "--tfree",
        str(other),
        *itertools.chain.from_iterable(("--set", f"model.{k}={v}") for k, v in TINY_MODEL.items()),
        "--set",
        "max_steps=1",
        "--set",
        "optim.warmup_steps=1",
        "--set",
        "seq_len=16",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode != 0
    assert "another tokenizer" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    command[command.index(str(other))] = str(settings)
    subprocess.run(command, check=True, capture_output=True)
    assert load_model(tmp_path / "run").config.tfree is not None
