"""T-Free's tables: fertility against tokenizers, and embedding + head parameters."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tests.conftest import REPO
from toklab.evaluation.tfree_tables import (
    FERTILITY_COLUMNS,
    PARAMS_COLUMNS,
    TFREE_ROW,
    fertility_rows,
    parameter_rows,
)
from toklab.tokenizers.tfree import split_words

DOCUMENTS = [
    ("en", "The cat sat on the mat. The Cat sat."),
    ("en", "In 2024 the dogs ran, and ran!"),
    ("de", "Der Hund lief über die Straße."),
]


def character_tokenizer(text: str) -> Tokenizer:
    """Every character of ``text`` a token, split at whitespace (tokens per word = letters)."""
    vocab = {c: i for i, c in enumerate(sorted(set(text) - set(" ")))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split("", "isolated")]
    )
    return tokenizer


def test_fertility_counts_tokens_per_whitespace_word():
    text = " ".join(t for _, t in DOCUMENTS)
    rows = fertility_rows(DOCUMENTS, {"chars": character_tokenizer(text)}, batch_size=2)
    by = {(r["language"], r["tokenizer"]): r for r in rows}
    assert [r["language"] for r in rows] == ["de", "de", "en", "en", "all", "all"]
    for language in ("en", "de"):
        texts = [t for lang, t in DOCUMENTS if lang == language]
        words = sum(len(t.split()) for t in texts)
        chars = sum(len(t.replace(" ", "")) for t in texts)
        tfree = sum(len(split_words(t)) for t in texts)
        assert by[language, "chars"]["words"] == words
        assert by[language, "chars"]["tokens"] == chars
        assert by[language, "chars"]["fertility"] == pytest.approx(chars / words)
        assert by[language, TFREE_ROW]["tokens"] == tfree
        assert by[language, TFREE_ROW]["documents"] == len(texts)
    assert by["all", "chars"]["tokens"] == by["en", "chars"]["tokens"] + by["de", "chars"]["tokens"]
    assert by["en", TFREE_ROW]["duplicate_tokens"] == 0.0
    assert by["en", "chars"]["duplicate_tokens"] > 0  # "C" and "c", "T" and "t"
    assert all(set(FERTILITY_COLUMNS) <= set(row) for row in rows)


def test_tfree_fertility_of_english_is_near_one():
    """T-Free's split adds punctuation and markers only (paper, EN: 1.163)."""
    rows = fertility_rows([(None, "The quick brown fox jumps over the lazy dog. " * 20)], {})
    (row,) = rows
    assert row["language"] == "all" and 1.0 < row["fertility"] < 1.2


def test_parameter_table_reproduces_the_papers_reduction():
    preset = {"hidden_size": 2048, "intermediate_size": 5504, "num_hidden_layers": 16,
              "num_attention_heads": 16}  # fmt: skip
    (row,) = parameter_rows([("tfree-8000-m10", 8000, 10)], {"1B": preset}, [64000])
    assert row["embedding_head_reduction"] == pytest.approx(0.875)
    assert row["tfree_embedding_parameters"] == row["tfree_head_parameters"] == 8000 * 2048
    assert row["dense_parameters"] - row["tfree_parameters"] == 2 * (64000 - 8000) * 2048
    tied = parameter_rows(
        [("t", 8000, 10)], {"p": {**preset, "tie_word_embeddings": True}}, [64000]
    )
    assert tied[0]["dense_head_parameters"] == 0
    assert tied[0]["embedding_head_reduction"] == pytest.approx(1 - 16000 / 64000)
    assert set(PARAMS_COLUMNS) <= set(row)


def test_table_commands(tmp_path):
    presets = REPO / "resources" / "model_presets.yaml"
    out = tmp_path / "params.csv"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tfree.py"), "params-table", "--presets",
         str(presets), "--hasher", "tfree-8000-m10", "--hasher", "tfree-32000-m10-k2",
         "--preset", "fw57M", "--dense-vocab", "64000", "--output", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert [r["hasher"] for r in rows] == ["tfree-8000-m10", "tfree-32000-m10-k2"]
    assert rows[1]["m"] == "10" and float(rows[0]["embedding_head_reduction"]) == 0.875
    bad = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "tfree.py"), "params-table", "--presets",
         str(presets), "--hasher", "tfree-8-m10", "--preset", "fw57M", "--output", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode != 0 and "m <= v" in bad.stderr
