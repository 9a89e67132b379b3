"""An LM per tokenizer through the scripts: tokenize, train, score in bits per byte, tabulate."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import byte_corpus, run_script
from toklab.datasets.token_array import tokenize_corpus
from toklab.evaluation import tables
from toklab.evaluation.language_models import parameter_counts
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.bpe import BPETokenizer
from toklab.tokenizers.byte_level import byte_level_tokenizer

TEXTS = [f"document {i}: the cat sat on the mat, and the dog ran {i % 7} times." for i in range(60)]
TRAINING = ["model_preset=tiny", "seq_len=32", "batch_size=4", "micro_batch_size=4"]
TRAINING += ["max_steps=6", "eval_interval=3", "eval_windows=4", "checkpoint_interval=3"]
TRAINING += ["optim.warmup_steps=1"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A byte-level and a BPE tokenizer, each with token arrays, a trained LM and its result."""
    root = tmp_path_factory.mktemp("lm")
    train_corpus = byte_corpus(root / "corpus", TEXTS[:50], "train")
    valid_corpus = byte_corpus(root / "corpus", TEXTS[50:], "valid")
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"th", 257: b" th"}
    tokenizers = {
        "bytes": byte_level_tokenizer(["<|endoftext|>"]),
        "bpe": BPETokenizer(vocab, [(b"t", b"h"), (b" ", b"th")], ["<|endoftext|>"]),
    }
    results = {}
    for name, tokenizer in tokenizers.items():
        directory = root / name
        tokenizer.save(directory)
        tokenizer_json = directory / "tokenizer.json"
        for split, corpus in (("train", train_corpus), ("valid", valid_corpus)):
            tokenize_corpus(tokenizer_json, corpus, directory / split)
        run = run_script(
            "train_lm.py", "--train", str(directory / "train"), "--valid", str(directory / "valid"),
            "--tokenizer", str(tokenizer_json), "--out-dir", str(directory / "model"),
            *(arg for pair in TRAINING for arg in ("--set", pair)), timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        output = directory / "result.json"
        run = run_script(
            "evaluate_lm.py", "--model-dir", str(directory / "model"),
            "--valid", str(directory / "valid"), "--train", str(directory / "train"),
            "--tokenizer", str(tokenizer_json), "--context", "32", "--stride", "16",
            "--label", "tokenizer", name, "--label", "tokenizer_corpus", "c",
            "--label", "model", "tiny", "--output", str(output),
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        results[name] = (directory, json.loads(output.read_text()))
    return root, results


def test_results_and_table(trained, tmp_path):
    _, results = trained
    for name, (_, result) in results.items():
        assert result["tokenizer"] == name and result["model"] == "tiny"
        assert result["val_bytes"] == sum(len(t.encode()) for t in TEXTS[50:])
        assert 0 < result["bits_per_byte"] < 8  # below uniform over bytes after six steps
        assert result["train_steps"] == 6 and result["train_tokens_seen"] == 6 * 4 * 32
        assert (
            result["parameters"]
            == result["embedding_parameters"] + result["non_embedding_parameters"]
        )
    bytes_result = results["bytes"][1]
    assert bytes_result["tokens_per_byte"] == 1.0
    assert results["bpe"][1]["tokens_per_byte"] < 1.0
    benchmark = tmp_path / "bench.tsv"
    benchmark.write_text("s\th:m:s\tmax_rss\n12.5\t0:00:12\t300\n")
    entries = []
    for directory, _ in results.values():
        entries += ["--entry", str(directory / "result.json"), str(benchmark)]
    run = run_script("tables.py", "lm", *entries, "--output", str(tmp_path / "lm.csv"))
    assert run.returncode == 0, run.stderr
    with (tmp_path / "lm.csv").open() as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == list(tables.LM_COLUMNS)
    assert [r["tokenizer"] for r in rows] == ["bytes", "bpe"]
    assert float(rows[0]["tokens_per_s"]) == pytest.approx(6 * 4 * 32 / 12.5)
    for command, extra in (
        ("lm-bits-per-byte", ["--table", str(tmp_path / "lm.csv")]),
        (
            "lm-curves",
            [
                arg
                for name, (directory, _) in results.items()
                for arg in ("--run", name, str(directory / "model" / "metrics.jsonl"),
                            str(directory / "result.json"))
            ],
        ),
    ):  # fmt: skip
        run = run_script("plots.py", command, *extra, "--output", str(tmp_path / f"{command}.png"))
        assert run.returncode == 0, run.stderr
        assert (tmp_path / f"{command}.png").read_bytes()[:4] == b"\x89PNG"


def test_arrays_of_another_tokenizer_are_refused(trained, tmp_path):
    _, results = trained
    bpe_dir, bytes_dir = results["bpe"][0], results["bytes"][0]
    run = run_script(
        "evaluate_lm.py", "--model-dir", str(bytes_dir / "model"), "--valid", str(bpe_dir / "valid"),
        "--tokenizer", str(bytes_dir / "tokenizer.json"), "--output", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert run.returncode == 1 and "encoded with another tokenizer" in run.stderr
    assert not (tmp_path / "r.json").exists()
    run = run_script(
        "train_lm.py", "--train", str(bpe_dir / "train"), "--tokenizer",
        str(bytes_dir / "tokenizer.json"), "--out-dir", str(tmp_path / "m"), "--set", "max_steps=1",
        "--set", "optim.warmup_steps=0",
    )  # fmt: skip
    assert run.returncode == 1 and "encoded with another tokenizer" in run.stderr


def test_a_model_smaller_than_the_vocabulary_is_refused(trained, tmp_path):
    _, results = trained
    bpe_dir, bytes_dir = results["bpe"][0], results["bytes"][0]
    run = run_script(
        "evaluate_lm.py", "--model-dir", str(bytes_dir / "model"), "--valid", str(bpe_dir / "valid"),
        "--tokenizer", str(bpe_dir / "tokenizer.json"), "--output", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert run.returncode == 1
    assert "a vocabulary of 257 ids cannot score" in run.stderr


def test_parameter_counts_tied_and_untied():
    for tied in (False, True):
        model = LlamaModel(
            ModelConfig(vocab_size=100, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=8,
                        tie_word_embeddings=tied)
        )  # fmt: skip
        counts = parameter_counts(model)
        assert counts["embedding_parameters"] == 100 * 16 * (1 if tied else 2)
        assert counts["parameters"] == sum(p.numel() for p in model.parameters())
