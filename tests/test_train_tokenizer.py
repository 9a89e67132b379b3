"""scripts/train_tokenizer.py's subcommands, called in-process through their click CLI."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from tests.helpers import byte_corpus, script_module
from tests.tokenizers.test_unigram import SPECIALS, corpus
from toklab.tokenizers.base import save_directory
from toklab.tokenizers.unigram import train_unigram

TEXT = "naïve café 🦊 — 中文字 의 한글 بسل, and 🐍 it never saw\n\n"


@pytest.fixture(scope="module")
def cli():
    return script_module("train_tokenizer.py").cli


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    return byte_corpus(tmp_path_factory.mktemp("unigram"), corpus(), "tok_train")


def unigram(cli, prefix, out_dir, vocab_size, *extra):
    specials = [arg for token in SPECIALS for arg in ("--special-token", token)]
    args = ["unigram", "--corpus-prefix", prefix, "--vocab-size", vocab_size, *specials, *extra]
    return CliRunner().invoke(cli, [str(a) for a in [*args, "--out-dir", out_dir]])


def test_unigram_writes_what_the_library_trains(cli, prefix, tmp_path, monkeypatch):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    monkeypatch.setattr(os, "environ", dict(os.environ))  # --workers sets RAYON_NUM_THREADS
    out = tmp_path / "tok"
    result = unigram(cli, prefix, out, 600, "--workers", 1)
    assert result.exit_code == 0, result.output
    assert os.environ["RAYON_NUM_THREADS"] == "1"
    assert sorted(p.name for p in out.iterdir()) == [
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    save_directory(train_unigram(corpus(), 600, SPECIALS), tmp_path / "library")
    for path in out.iterdir():
        assert path.read_bytes() == (tmp_path / "library" / path.name).read_bytes()

    tokenizer = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tokenizer.get_vocab_size() == 600
    fast = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    ids = fast.encode(TEXT, add_special_tokens=False)
    assert ids == tokenizer.encode(TEXT).ids and fast.decode(ids) == TEXT
    auto = AutoTokenizer.from_pretrained(str(out))
    assert (auto.bos_token, auto.eos_token, auto.pad_token) == ("<|endoftext|>",) * 2 + ("<pad>",)
    assert (auto.eos_token_id, auto.pad_token_id) == (0, 1)
    wrapped = [auto.bos_token_id, *ids, auto.eos_token_id]
    assert auto.decode(wrapped) == f"<|endoftext|>{TEXT}<|endoftext|>"
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["clean_up_tokenization_spaces"] is False


def test_unigram_errors_are_one_line_and_leave_no_output(cli, prefix, tmp_path):
    out = tmp_path / "tok"
    small = unigram(cli, prefix, out, 257)
    assert small.exit_code == 1
    assert small.stderr.strip().splitlines() == [
        "Error: vocab_size 257 is too small: the 256 bytes and 2 special token(s) need at least 258"
    ]
    empty = byte_corpus(tmp_path, ["", ""], "empty")
    nothing = unigram(cli, empty, out, 300)
    assert nothing.exit_code == 1
    assert nothing.stderr.strip().splitlines()[-1] == (
        f"Error: {empty}: no text to train on (no documents, or only empty ones)"
    )
    missing = unigram(cli, tmp_path / "none", out, 300)
    assert missing.exit_code == 1
    assert missing.stderr.strip().splitlines()[-1].endswith("byte corpus file not found")
    workers = unigram(cli, prefix, out, 300, "--workers", 0)
    assert workers.exit_code == 2 and "--workers" in workers.stderr
    assert not out.exists()
