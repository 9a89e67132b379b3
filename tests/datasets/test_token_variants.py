"""Variant token arrays: StochasTok-expanded, BPE-dropout and characters, through the script."""

from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer

from tests.conftest import byte_corpus, run_script
from toklab.datasets.token_array import TokenArray, tokenize_corpus
from toklab.datasets.token_variants import character_corpus, dropout_corpus, expand_token_array
from toklab.io import read_json
from toklab.tokenizers.stochastok import build_split_table
from toklab.tokenizers.tokenizer_files import save_tokenizer_files

EOT = "<|endoftext|>"


@pytest.fixture(scope="module")
def setup(tmp_path_factory, shared_data, gpt2_tokenizer):
    root = tmp_path_factory.mktemp("variants")
    tokenizer = gpt2_tokenizer
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text()[:80000]
    texts = [t for t in text.split("\n\n") if t] + ["naïve café 日本 🙂"]
    corpus = byte_corpus(root / "corpus", texts)
    tokenize_corpus(tokenizer, corpus, root / "base")
    build_split_table(tokenizer).save(root / "splits.npz")
    return root, tokenizer, corpus, texts


def documents(array: TokenArray, tokenizer_path) -> list[str]:
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    return [
        tokenizer.decode(array.document(d).tolist(), skip_special_tokens=False)
        for d in range(len(array))
    ]


def test_expanded_array_keeps_every_document_and_is_chunk_invariant(setup, tmp_path):
    root, tokenizer, _, texts = setup
    base = TokenArray.open(root / "base")
    meta = expand_token_array(
        root / "base",
        tokenizer,
        root / "splits.npz",
        tmp_path / "one",
        p=0.1,
        seed=0,
        stream="train",
    )
    expand_token_array(
        root / "base", tokenizer, root / "splits.npz", tmp_path / "chunked", p=0.1, seed=0,
        stream="train", chunk_tokens=500,
    )  # fmt: skip
    for suffix in ("bin", "idx", "meta.json"):
        assert (tmp_path / f"one.{suffix}").read_bytes() == (
            tmp_path / f"chunked.{suffix}"
        ).read_bytes()
    array = TokenArray.open(tmp_path / "one")
    assert documents(array, tokenizer) == texts
    lengths, base_lengths = np.diff(array.offsets), np.diff(base.offsets)
    assert np.all(lengths >= base_lengths) and np.all(
        lengths <= base_lengths + (base_lengths * 0.1).astype(int)
    )
    assert (
        meta["num_bytes"] == base.num_bytes
        and meta["tokenizer_sha256"] == base.meta["tokenizer_sha256"]
    )
    assert meta["tokenization"] == {
        "method": "stochastok", "p": 0.1, "seed": 0, "stream": "train",
        "base_sha256": base.meta["sha256"],
    }  # fmt: skip
    array.check_tokenizer(tokenizer)  # an LM of the tokenizer trains on it
    other = expand_token_array(
        root / "base",
        tokenizer,
        root / "splits.npz",
        tmp_path / "val",
        p=0.1,
        seed=0,
        stream="validation",
    )
    assert other["sha256"] != meta["sha256"]  # another subset, another stream


def test_dropout_and_character_arrays(setup, tmp_path):
    root, tokenizer, corpus, texts = setup
    base = TokenArray.open(root / "base")
    zero = dropout_corpus(tokenizer, corpus, tmp_path / "zero", p=0.0, seed=0, stream="s")
    assert (tmp_path / "zero.bin").read_bytes() == (root / "base.bin").read_bytes()
    assert zero["sha256"] == base.meta["sha256"]
    dropout_corpus(
        tokenizer, corpus, tmp_path / "drop", p=0.1, seed=0, stream="s", batch_documents=7
    )
    dropout_corpus(
        tokenizer, corpus, tmp_path / "drop2", p=0.1, seed=0, stream="s", batch_documents=500
    )
    assert (tmp_path / "drop.bin").read_bytes() == (tmp_path / "drop2.bin").read_bytes()
    dropped = TokenArray.open(tmp_path / "drop")
    assert documents(dropped, tokenizer) == texts
    assert dropped.num_tokens > base.num_tokens
    character_corpus(tokenizer, corpus, tmp_path / "chars")
    chars = TokenArray.open(tmp_path / "chars")
    assert documents(chars, tokenizer) == texts
    assert chars.meta["tokenization"] == {"method": "chars"}
    assert chars.num_tokens >= sum(map(len, texts))


def test_script_writes_nothing_for_bad_input(setup, tmp_path):
    root, tokenizer, _, _ = setup
    result = run_script(
        "stochastok.py", "expand", "--tokens", str(root / "base"), "--tokenizer", str(tokenizer),
        "--splits", str(root / "splits.npz"), "--output-prefix", str(tmp_path / "out"),
        "--p", "1.5", "--stream", "train",
    )  # fmt: skip
    assert result.returncode != 0 and "in [0, 1]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    other = tmp_path / "other"
    save_tokenizer_files(other, {0: b"a", 1: b"b"}, [], [EOT])
    result = run_script(
        "stochastok.py", "expand", "--tokens", str(root / "base"),
        "--tokenizer", str(other / "tokenizer.json"), "--splits", str(root / "splits.npz"),
        "--output-prefix", str(tmp_path / "out"), "--p", "0.1", "--stream", "train",
    )  # fmt: skip
    assert result.returncode != 0 and "another tokenizer" in result.stderr
    result = run_script(
        "stochastok.py", "splits", "--tokenizer", str(tmp_path / "missing.json"),
        "--output", str(tmp_path / "s.npz"),
    )  # fmt: skip
    assert result.returncode != 0 and "not found" in result.stderr
    assert list(tmp_path.glob("out*")) == [] and not (tmp_path / "s.npz").exists()
    result = run_script(
        "stochastok.py",
        "splits",
        "--tokenizer",
        str(tokenizer),
        "--output",
        str(tmp_path / "s.npz"),
    )
    assert result.returncode == 0, result.stderr
    assert read_json(root / "base.meta.json")["num_documents"] > 0
