"""Instruction examples: packing, answer-only loss, fine-tuning from a model, document masking."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tests.conftest import REPO
from tests.helpers import TINY_MODEL
from toklab.datasets.examples import ExampleArray, write_examples
from toklab.datasets.token_array import TokenArrayWriter
from toklab.errors import DataError
from toklab.models.causal_lm import load_model
from toklab.training.config import load_train_config
from toklab.training.data import ExampleSampler
from toklab.training.lm_kinds import TokenLM
from toklab.training.trainer import EXIT_PREEMPTED, as_batch, batch_loss, train

PRESETS = REPO / "resources" / "model_presets.yaml"
VOCAB, EOS = 64, 63


def make_examples(path, count: int, seed: int):
    """Examples 'prompt ; answer EOS': the answer repeats the prompt's first token (learnable)."""
    rng = np.random.default_rng(seed)
    examples, starts = [], []
    for _ in range(count):
        prompt = [*rng.integers(1, 40, rng.integers(2, 9)).tolist(), 50]
        answer = [prompt[0], prompt[0] + 1, EOS]
        examples.append(prompt + answer)
        starts.append(len(prompt))
    offsets = np.concatenate([[0], np.cumsum([len(e) for e in examples])])
    write_examples(
        path, np.concatenate(examples), offsets, np.array(starts), VOCAB, {"num_bytes": 0}
    )
    return ExampleArray.open(path)


def stream(path, count: int, seed: int):
    rng = np.random.default_rng(seed)
    writer = TokenArrayWriter(path, VOCAB)
    with writer:
        lengths = rng.integers(5, 40, count)
        writer.write(
            rng.integers(0, 60, int(lengths.sum())), np.concatenate([[0], np.cumsum(lengths)])
        )
    writer.finish({"num_bytes": 0})
    return path


def config(*extra):
    model = [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    return load_train_config(
        [],
        [*model, "seq_len=32", "batch_size=8", "micro_batch_size=4", "max_steps=10",
         "log_interval=1", "eval_interval=5", "eval_windows=8", "checkpoint_interval=4",
         "optim.lr=1e-2", "optim.warmup_steps=2", *extra],
    )  # fmt: skip


def test_rows_hold_whole_examples_with_weights_on_answers(tmp_path):
    examples = make_examples(tmp_path / "ex", 200, 0)
    sampler = ExampleSampler(examples, 32, seed=3, pad_id=EOS)
    seen = []
    row = 0
    while True:
        batch = sampler.window(row)
        if len(seen) >= 200:
            break
        tokens, documents, weights = batch.tokens, batch.documents, batch.weights
        assert tokens.shape == (33,) and documents.shape == weights.shape == (32,)
        for number in np.unique(documents):
            where = np.flatnonzero(documents == number)
            ids = tokens[where[0] : where[-1] + 2]
            match = [
                i
                for i in range(200)
                if np.array_equal(examples.example(i)[0], ids[: len(examples.example(i)[0])])
            ]
            if not match:  # the padding
                assert np.all(weights[where] == 0) and np.all(tokens[where[0] + 1 :] == EOS)
                continue
            ids, answer = examples.example(match[0])
            seen.append(match[0])
            # the targets of positions where[0] + t are ids[t + 1]: weight 1 from the answer on
            expected = (np.arange(1, len(ids)) >= answer).astype(np.float32)
            assert np.array_equal(weights[where[0] : where[0] + len(ids) - 1], expected)
        row += 1
    assert sorted(seen) == list(range(200))  # each example once in the epoch
    again = ExampleSampler(examples, 32, seed=3, pad_id=EOS)
    for index in (0, 7, row + 3):  # rows are a function of (seed, index): exact resume
        assert all(
            np.array_equal(a, b)
            for a, b in zip(again.window(index), sampler.window(index), strict=True)
        )
    assert not np.array_equal(
        ExampleSampler(examples, 32, 4, EOS).window(0).tokens, sampler.window(0).tokens
    )


def test_answer_only_loss_equals_the_masked_cross_entropy(tmp_path):
    examples = make_examples(tmp_path / "ex", 50, 1)
    batch = ExampleSampler(examples, 32, seed=0, pad_id=EOS).batch(0, 3)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Embedding(VOCAB, 8), torch.nn.Linear(8, VOCAB))
    nats, weight = batch_loss(lambda ids, documents: model(ids), batch, torch.device("cpu"))
    logits = model(torch.from_numpy(batch.tokens[:, :-1]))
    targets = torch.from_numpy(batch.tokens[:, 1:])
    mask = torch.from_numpy(batch.weights) > 0
    manual = F.cross_entropy(logits[mask], targets[mask], reduction="sum")
    assert torch.allclose(nats, manual) and weight.item() == mask.sum().item()


def test_document_ids_of_packed_windows_start_at_each_eos():
    rows = np.array([[7, 1, 2, 7, 3, 7, 4, 5]])
    batch = as_batch(rows, eos_id=7, document_masking=True)
    assert batch.documents.tolist() == [[1, 1, 1, 2, 2, 3, 3]]
    assert as_batch(rows, 7, False).documents is None


def test_fine_tuning_starts_from_a_model_and_learns_the_answers(tmp_path):
    pretrained = train(
        config("max_steps=4"), stream(tmp_path / "text", 300, 0), tmp_path / "pre",
        presets_path=PRESETS, lm=TokenLM(VOCAB, EOS),
    )  # fmt: skip
    examples = make_examples(tmp_path / "train", 400, 2)
    make_examples(tmp_path / "valid", 40, 3)
    out = train(
        config("data=examples", f'init_from="{pretrained}"', "max_steps=40", "eval_interval=40",
               "document_masking=true"),
        tmp_path / "train", tmp_path / "tuned", valid_prefix=tmp_path / "valid",
        presets_path=PRESETS, lm=TokenLM(VOCAB, EOS),
    )  # fmt: skip
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["val_loss"] < records[0]["loss"] * 0.75
    # step 0 of a fine-tuning run is the pretrained model: its first loss is the pretrained one
    model = load_model(pretrained)
    sampler = ExampleSampler(examples, 32, seed=42, pad_id=EOS)
    with torch.no_grad():
        nats = [batch_loss(model, sampler.batch(i * 4, 4), torch.device("cpu")) for i in range(2)]
    first = np.mean([(n / w).item() for n, w in nats])
    assert records[0]["loss"] == pytest.approx(first, rel=1e-4)


def test_fine_tuning_errors(tmp_path):
    pretrained = train(
        config("max_steps=2"), stream(tmp_path / "text", 100, 0), tmp_path / "pre",
        presets_path=PRESETS, lm=TokenLM(VOCAB, EOS),
    )  # fmt: skip
    make_examples(tmp_path / "train", 40, 2)
    with pytest.raises(DataError, match="is not the one this run builds"):
        train(
            config("data=examples", f'init_from="{pretrained}"', "model.hidden_size=64"),
            tmp_path / "train", tmp_path / "out", presets_path=PRESETS, lm=TokenLM(VOCAB, EOS),
        )  # fmt: skip
    with pytest.raises(DataError, match="does not fit a row of seq_len"):
        train(
            config("data=examples", "seq_len=8"), tmp_path / "train", tmp_path / "out2",
            presets_path=PRESETS, lm=TokenLM(VOCAB, EOS),
        )  # fmt: skip
    (tmp_path / "train.answers.bin").write_bytes(b"\0" * 8)
    with pytest.raises(DataError, match=r"answers\.bin: 8 bytes for 40 examples"):
        ExampleArray.open(tmp_path / "train")
    assert EXIT_PREEMPTED == 75


def test_rows_of_later_epochs_pack_each_epoch_once(tmp_path, monkeypatch):
    examples = make_examples(tmp_path / "ex", 60, 0)
    sampler = ExampleSampler(examples, 32, seed=3, pad_id=EOS)
    packs = []
    original = ExampleSampler._pack
    monkeypatch.setattr(
        ExampleSampler, "_pack", lambda self, order: packs.append(1) or original(self, order)
    )
    per_epoch = len(sampler._epoch_rows(0))
    late = 3 * per_epoch + 10  # somewhere in epoch 3 (epochs differ a little in rows)
    first = sampler.window(late)
    count = len(packs)
    assert np.array_equal(sampler.window(late).tokens, first.tokens)
    sampler.window(late + 1)
    assert len(packs) == count  # no epoch is packed again
    assert len(sampler._epoch_sizes) >= 3


def test_answer_loss_does_not_depend_on_micro_batches(tmp_path):
    """Step 1's loss and gradient norm: the same whether the batch is one micro-batch or four.

    (A mean of per-micro-batch means would weigh the answers of short micro-batches more.)
    """
    make_examples(tmp_path / "train", 200, 2)
    first = {}
    for micro in (8, 2):
        out = train(
            config("data=examples", "batch_size=8", f"micro_batch_size={micro}", "max_steps=1",
                   "optim.warmup_steps=1"),
            tmp_path / "train", tmp_path / f"m{micro}", presets_path=PRESETS,
            lm=TokenLM(VOCAB, EOS),
        )  # fmt: skip
        first[micro] = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert first[8]["loss"] == pytest.approx(first[2]["loss"], rel=1e-5)
    assert first[8]["grad_norm"] == pytest.approx(first[2]["grad_norm"], rel=1e-4)
