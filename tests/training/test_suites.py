"""Delphi's training semantics in the one trainer, and models of any transformers class.

Epochs over a Delphi export's samples with a seeded per-epoch shuffle, ``max_epochs``, a
checkpoint suite (every ``checkpoint_interval`` plus log-spaced extra steps), each checkpoint a
complete directory that ``transformers`` loads (model and tokenizer), exact resume on those
data, and ``MambaForCausalLM`` trained, resumed and reloaded through the same path.
"""

from __future__ import annotations

import itertools
import json
import signal

import numpy as np
import pytest
import torch

from tests.conftest import REPO, byte_corpus
from tests.helpers import TINY_MODEL
from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.datasets.delphi import export_delphi
from toklab.datasets.token_array import TokenArray, tokenize_corpus
from toklab.errors import ConfigError, DataError
from toklab.evaluation.lm_logprobs import read_logprobs, write_logprobs
from toklab.models.causal_lm import build_model, load_model, model_spec, save_model
from toklab.tokenizers.base import save_directory
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.training.config import load_train_config
from toklab.training.data import ChunkSampler, WindowSampler, read_chunks
from toklab.training.lm_kinds import TokenLM
from toklab.training.trainer import EXIT_PREEMPTED, train

PRESETS = REPO / "resources" / "model_presets.yaml"
SPECIALS = ("<|endoftext|>", "<bos>")
SEQ_LEN = 33  # Delphi samples of 33 ids: 32 predictions each


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A byte-level tokenizer, token arrays of two subsets, and their Delphi exports."""
    root = tmp_path_factory.mktemp("suite")
    tokenizer_dir = root / "tokenizer"
    save_directory(byte_level_tokenizer(SPECIALS), tokenizer_dir)
    tokenizer = tokenizer_dir / "tokenizer.json"
    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 3), 60)]
    out = {"tokenizer": tokenizer}
    for split, texts in (("train", docs[:50]), ("validation", docs[50:])):
        corpus = byte_corpus(root, texts, split)
        tokenize_corpus(tokenizer, corpus, root / f"{split}.tokens")
        array = TokenArray.open(root / f"{split}.tokens")
        export_delphi(array, root / f"delphi-{split}", split, SEQ_LEN, bos_id=257, eos_id=256)
        out[split] = root / f"delphi-{split}"
        out[f"{split}_array"] = root / f"{split}.tokens"
    return out


def chunk_config(*extra: str):
    model = [f"model.{k}={v}" for k, v in TINY_MODEL.items()]
    return load_train_config(
        [],
        [
            *model,
            "data=chunks",
            f"seq_len={SEQ_LEN - 1}",
            "batch_size=8",
            "micro_batch_size=4",
            "max_epochs=2",
            "log_interval=1",
            "eval_interval=5",
            "eval_windows=8",
            "checkpoint_interval=5",
            "optim.lr=1e-2",
            "optim.warmup_steps=2",
            *extra,
        ],
    )


def run(config, data, out_dir, **kwargs):
    """Train on the Delphi exports (``data=chunks``) or on the token arrays (``data=windows``)."""
    suffix = "" if config.data == "chunks" else "_array"
    return train(
        config,
        data[f"train{suffix}"],
        out_dir,
        valid_prefix=data[f"validation{suffix}"],
        presets_path=PRESETS,
        lm=TokenLM(258, 256, tokenizer_file=data["tokenizer"]),
        **kwargs,
    )


def records(out_dir):
    return [json.loads(line) for line in (out_dir / "metrics.jsonl").read_text().splitlines()]


def test_chunk_epochs_are_seeded_permutations_of_whole_batches(data):
    chunks, meta = read_chunks(data["train"])
    assert chunks.shape == (meta["samples"], SEQ_LEN)
    assert (chunks[:, 0] == 257).all()  # <bos> opens every Delphi sample
    sampler = ChunkSampler(chunks, batch_size=8, seed=5)
    steps = sampler.epoch_steps(8)
    assert steps == len(chunks) // 8
    for epoch in range(2):
        seen = np.stack(
            [sampler.window(i) for i in range(epoch * steps * 8, (epoch + 1) * steps * 8)]
        )
        rows = {tuple(row) for row in seen}
        assert len(rows) == steps * 8  # no sample twice within an epoch
        assert rows <= {tuple(row) for row in chunks.astype(np.int64)}
    first, second = ([tuple(sampler.window(e * steps * 8 + i)) for i in range(8)] for e in range(2))
    assert first != second  # a fresh shuffle per epoch
    again = ChunkSampler(chunks, batch_size=8, seed=5)
    assert (again.batch(steps * 8 + 3, 4) == sampler.batch(steps * 8 + 3, 4)).all()
    assert (ChunkSampler(chunks, 8, seed=6).batch(0, 8) != sampler.batch(0, 8)).any()


def test_delphi_run_keeps_a_checkpoint_suite_that_transformers_loads(data, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = chunk_config("extra_checkpoint_steps=[1, 2, 4]", "keep_checkpoints=true")
    run(config, data, tmp_path)
    steps = 2 * (len(read_chunks(data["train"])[0]) // 8)
    logged = records(tmp_path)
    assert logged[-1]["step"] == steps and logged[-1]["tokens"] == steps * 8 * (SEQ_LEN - 1)
    assert "val_loss" in logged[-1]
    kept = sorted(int(p.name.split("-")[1]) for p in (tmp_path / "checkpoints").iterdir())
    assert kept == sorted({1, 2, 4, *range(5, steps, 5), steps})
    suite = tmp_path / "checkpoints" / "step-4"
    state = json.loads((suite / "training_state.json").read_text())
    assert state["step"] == 4 and state["epoch"] == 0 and state["tokens"] == 4 * 8 * 32
    context = json.loads((suite / "run_context.json").read_text())
    assert context["device"] == "cpu" and context["torch"] == torch.__version__
    assert json.loads((suite / "train_config.json").read_text())["max_steps"] == steps
    assert len((suite / "metrics.jsonl").read_text().splitlines()) == 4
    ids = torch.from_numpy(read_chunks(data["validation"])[0][:2].astype(np.int64))
    for directory in (suite, tmp_path):  # a kept checkpoint and the final model
        hf = AutoModelForCausalLM.from_pretrained(directory)
        ours = load_model(directory)
        with torch.no_grad():
            torch.testing.assert_close(hf(ids).logits, ours(ids), rtol=1e-4, atol=1e-4)
        tokenizer = AutoTokenizer.from_pretrained(directory)
        assert tokenizer.decode(tokenizer.encode("héllo", add_special_tokens=False)) == "héllo"
    final = json.loads((tmp_path / "training_state.json").read_text())
    assert final["epoch"] == 2 and not (tmp_path / "state.pt").exists()

    # Delphi's next-token logprobs of every kept checkpoint: each document scored alone by the
    # loaded model (no padding beside it) is the reference for the batched, padded scoring
    logprobs = write_logprobs(
        tmp_path, data["validation_array"], tmp_path / "logprobs", documents=3, max_tokens=20,
        batch_size=2,
    )  # fmt: skip
    written = read_logprobs(logprobs)
    assert sorted(written) == sorted({1, 2, 4, *range(5, steps, 5), steps})
    array = TokenArray.open(data["validation_array"])
    for step in (4, steps):
        model = load_model(tmp_path if step == steps else tmp_path / "checkpoints" / f"step-{step}")
        rows = written[step]
        assert list(np.unique(rows["document"])) == [0, 1, 2]
        for index in range(3):
            ids = torch.from_numpy(array.document(index)[:20].astype(np.int64))[None]
            with torch.no_grad():
                expected = torch.log_softmax(model(ids[:, :-1]), -1).gather(2, ids[:, 1:, None])
            mine = rows["document"] == index
            assert list(rows["position"][mine]) == list(range(1, 20))
            assert list(rows["token"][mine]) == ids[0, 1:].tolist()
            np.testing.assert_allclose(rows["logprob"][mine], expected[0, :, 0], atol=1e-5)


def test_delphi_run_resumes_exactly_mid_epoch(data, tmp_path, signal_at_batch):
    straight = tmp_path / "straight"
    run(chunk_config(), data, straight)
    steps_per_epoch = len(read_chunks(data["train"])[0]) // 8

    interrupted = tmp_path / "interrupted"
    stop_at = steps_per_epoch + 2  # in the second epoch, off a checkpoint step
    # two micro-batches per step
    with (
        signal_at_batch(ChunkSampler, 2 * stop_at, signal.SIGTERM),
        pytest.raises(SystemExit) as exit_info,
    ):
        run(chunk_config(), data, interrupted)
    assert exit_info.value.code == EXIT_PREEMPTED
    saved = json.loads((interrupted / "checkpoint" / "training_state.json").read_text())
    assert saved["step"] == stop_at and saved["epoch"] == 1
    run(chunk_config(), data, interrupted)

    assert records(interrupted) == records(straight)
    a, b = load_model(straight).state_dict(), load_model(interrupted).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_mamba_trains_resumes_and_loads_in_transformers(data, tmp_path, signal_at_batch):
    from transformers import AutoModelForCausalLM, MambaForCausalLM

    mamba = load_train_config(
        [],
        [
            "model_preset=delphi-mamba-50k",
            "seq_len=32",
            "batch_size=4",
            "micro_batch_size=4",
            "max_steps=6",
            "log_interval=1",
            "eval_interval=3",
            "eval_windows=4",
            "checkpoint_interval=3",
            "optim.lr=1e-2",
            "optim.warmup_steps=1",
        ],
    )  # data=windows: the token arrays

    straight = run(mamba, data, tmp_path / "straight")
    hf = AutoModelForCausalLM.from_pretrained(straight)
    assert isinstance(hf, MambaForCausalLM) and hf.config.vocab_size == 258
    assert hf.config.hidden_size == 12 and hf.config.num_hidden_layers == 2

    interrupted = tmp_path / "interrupted"
    with signal_at_batch(WindowSampler, 4, signal.SIGUSR1), pytest.raises(SystemExit):
        run(mamba, data, interrupted)
    run(mamba, data, interrupted)
    assert records(interrupted) == records(straight)
    a, b = load_model(straight).state_dict(), load_model(interrupted).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_model_classes_and_their_errors(tmp_path):
    spec = model_spec("delphi-mamba-1m", PRESETS, 4096)
    assert spec.model_class == "MambaForCausalLM" and spec.config["hidden_size"] == 112
    assert model_spec("delphi-stories-1m", PRESETS, 4096).model_class == "LlamaForCausalLM"
    with pytest.raises(ConfigError, match="unknown model_class 'NoSuchForCausalLM'"):
        model_spec("tiny", PRESETS, 300, {"model_class": "NoSuchForCausalLM"})
    with pytest.raises(ConfigError, match=r"has no config key.*hiden_size"):
        model_spec("delphi-mamba-50k", PRESETS, 300, {"hiden_size": 8})
    with pytest.raises(ConfigError, match=r"has no config key.*state_size"):
        model_spec("tiny", PRESETS, 300, {"state_size": 8})
    with pytest.raises(ConfigError, match="unknown model preset 'nope'"):
        model_spec("nope", PRESETS, 300)

    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = build_model(model_spec("delphi-mamba-50k", PRESETS, 300))
    save_model(model, tmp_path)
    ids = torch.randint(0, 300, (2, 12))
    with torch.no_grad():  # the very weights come back, through toklab and through transformers
        torch.testing.assert_close(load_model(tmp_path)(ids), model(ids), rtol=0, atol=0)
        hf = AutoModelForCausalLM.from_pretrained(tmp_path)
        torch.testing.assert_close(hf(ids).logits, model(ids), rtol=0, atol=0)
    with open(tmp_path / "model.safetensors", "r+b") as handle:
        handle.truncate(100)
    with pytest.raises(DataError, match=r"model\.safetensors"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text("[1, 2")
    with pytest.raises(DataError, match=r"config\.json: not a model config"):
        load_model(tmp_path)


def test_bad_delphi_settings(data, tmp_path):
    with pytest.raises(
        ConfigError, match=r"seq_len 16 does not fit the Delphi samples.*must be 32"
    ):
        run(chunk_config("seq_len=16"), data, tmp_path)
    with pytest.raises(ConfigError, match="data: 'chunk' is not one of windows, chunks"):
        chunk_config("data=chunk")
    with pytest.raises(DataError, match=r"meta\.json: Delphi export meta not found"):
        train(
            chunk_config(),
            tmp_path,
            tmp_path / "out",
            presets_path=PRESETS,
            lm=TokenLM(258),
        )
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_wandb_offline_logs_the_metrics(data, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run(chunk_config("max_epochs=1", "wandb=toklab-tests/suite"), data, tmp_path)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))
    assert records(tmp_path)[-1]["step"] == len(read_chunks(data["train"])[0]) // 8
