"""Token arrays: ids equal to tokenizers' own encoding, exact round trips, and bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from tests.conftest import byte_corpus, run_script
from toklab.datasets.token_array import (
    TokenArray,
    require_ids_below,
    token_dtype,
    tokenize_corpus,
)
from toklab.errors import DataError
from toklab.io import sha256_file
from toklab.tokenizers.bpe import BPETokenizer
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.tokenizers.tokenizer_files import save_tokenizer_files

TEXTS = [
    "The cat sat on the mat.",
    "",
    "naïve café — 日本語 🙃 <|endoftext|> inside",
    "line one\nline two\n\n  spaced  ",
]


@pytest.fixture
def tokenizer_json(tmp_path):
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"at", 257: b" t", 258: b"he"}
    merges = [(b"a", b"t"), (b" ", b"t"), (b"h", b"e")]
    save_tokenizer_files(tmp_path / "tok", vocab, merges, ["<|endoftext|>"])
    return tmp_path / "tok" / "tokenizer.json"


def test_ids_are_the_tokenizers_own(tmp_path, tokenizer_json):
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    meta = tokenize_corpus(tokenizer_json, prefix, tmp_path / "arr", batch_documents=3)
    array = TokenArray.open(tmp_path / "arr")
    reference = Tokenizer.from_file(str(tokenizer_json))
    for index, text in enumerate(TEXTS):
        expected = reference.encode(text, add_special_tokens=False).ids
        assert array.document(index).tolist() == expected
        assert reference.decode(array.document(index).tolist(), skip_special_tokens=False) == text
    assert meta["dtype"] == "uint16" and array.tokens.dtype == np.uint16
    assert meta["num_documents"] == len(TEXTS)
    assert meta["num_bytes"] == sum(len(t.encode()) for t in TEXTS)
    assert meta["num_tokens"] == len(array.tokens) == array.num_tokens
    assert meta["tokenizer_sha256"] == sha256_file(tokenizer_json)
    corpus_meta = json.loads((tmp_path / "corpus" / "corpus.meta.json").read_text())
    assert meta["source_sha256"] == corpus_meta["sha256"]["bin"]
    assert meta["sha256"] == {
        "bin": sha256_file(tmp_path / "arr.bin"),
        "idx": sha256_file(tmp_path / "arr.idx"),
    }
    array.check_tokenizer(tokenizer_json)


def test_byte_level_arrays_are_the_bytes(tmp_path):
    byte_level_tokenizer(["<|endoftext|>"]).save(tmp_path / "bytes")
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    tokenize_corpus(tmp_path / "bytes" / "tokenizer.json", prefix, tmp_path / "arr")
    array = TokenArray.open(tmp_path / "arr")
    for index, text in enumerate(TEXTS):
        pieces = [list(piece.encode()) for piece in text.split("<|endoftext|>")]
        expected = [*pieces[0], *(i for piece in pieces[1:] for i in (256, *piece))]
        assert array.document(index).tolist() == expected  # byte b is id b; the special is 256
    assert array.vocab_size == 257


def test_rerun_is_byte_identical_and_batch_independent(tmp_path, tokenizer_json):
    prefix = byte_corpus(tmp_path / "corpus", TEXTS * 5)
    tokenize_corpus(tokenizer_json, prefix, tmp_path / "a", batch_documents=1)
    tokenize_corpus(tokenizer_json, prefix, tmp_path / "b", batch_documents=1000)
    for suffix in ("bin", "idx", "meta.json"):
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=8))
def test_decode_of_every_document_is_the_document(tmp_path_factory, texts):
    tmp = tmp_path_factory.mktemp("prop")
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"e "}
    BPETokenizer(vocab, [(b"e", b" ")], ["<|endoftext|>"]).save(tmp)
    prefix = byte_corpus(tmp / "corpus", texts)
    tokenize_corpus(tmp / "tokenizer.json", prefix, tmp / "arr", batch_documents=3)
    array = TokenArray.open(tmp / "arr")
    reference = Tokenizer.from_file(str(tmp / "tokenizer.json"))
    decoded = [
        reference.decode(array.document(i).tolist(), skip_special_tokens=False)
        for i in range(len(array))
    ]
    assert decoded == texts


def test_dtype_follows_the_vocabulary():
    assert token_dtype(256) == np.uint16 and token_dtype(65536) == np.uint16
    assert token_dtype(65537) == np.uint32 and token_dtype(1 << 32) == np.uint32
    with pytest.raises(DataError, match=r"does not fit in uint32"):
        token_dtype((1 << 32) + 1)


def test_bad_inputs_name_the_file(tmp_path, tokenizer_json):
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match=r"broken.json: not a Hugging Face tokenizer.json"):
        tokenize_corpus(tmp_path / "broken.json", prefix, tmp_path / "x")
    with pytest.raises(DataError, match=r"missing.json: tokenizer file not found"):
        tokenize_corpus(tmp_path / "missing.json", prefix, tmp_path / "x")
    empty = byte_corpus(tmp_path / "empty", [])
    with pytest.raises(DataError, match=r"no documents to tokenize"):
        tokenize_corpus(tokenizer_json, empty, tmp_path / "x")
    assert not list(tmp_path.glob("x*")) and not list(tmp_path.glob(".x*"))


def test_corrupt_arrays_are_refused(tmp_path, tokenizer_json):
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    tokenize_corpus(tokenizer_json, prefix, tmp_path / "arr")
    bin_path = tmp_path / "arr.bin"
    good = bin_path.read_bytes()
    bin_path.write_bytes(good[:-2])
    with pytest.raises(DataError, match=r"arr.bin: \d+ bytes, but the meta says \d+ uint16 tokens"):
        TokenArray.open(tmp_path / "arr")
    bin_path.write_bytes(good)
    meta_path = tmp_path / "arr.meta.json"
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "num_documents": 99}))
    with pytest.raises(DataError, match=r"arr.idx: 4 documents, but the meta says 99"):
        TokenArray.open(tmp_path / "arr")
    meta_path.write_text(json.dumps(meta))
    other = tmp_path / "other.json"
    byte_level_tokenizer().save(tmp_path / "o")
    other.write_bytes((tmp_path / "o" / "tokenizer.json").read_bytes())
    with pytest.raises(DataError, match=r"encoded with another tokenizer than"):
        TokenArray.open(tmp_path / "arr").check_tokenizer(other)
    (tmp_path / "arr.idx").unlink()
    with pytest.raises(DataError, match=r"arr.idx: token array file not found"):
        TokenArray.open(tmp_path / "arr")


def test_ids_at_or_above_the_vocabulary_are_refused(tmp_path, tokenizer_json):
    with pytest.raises(DataError) as raised:
        require_ids_below(tmp_path / "arr", 260, 260)
    assert (
        str(raised.value)
        == f"{tmp_path / 'arr'}: the largest id 260 is not below the vocab size 260"
    )
    with pytest.raises(DataError, match=r"^w: the largest id 12 is not below its word table 10$"):
        require_ids_below("w", 12, 10, "its word table")
    require_ids_below("w", 259, 260)
    require_ids_below("w", -1, 0)  # an empty array
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    tokenize_corpus(tokenizer_json, prefix, tmp_path / "arr")
    array = TokenArray.open(tmp_path / "arr")
    assert array.max_id() == max(max(array.document(i), default=-1) for i in range(len(array)))
    array.require_ids_below(array.vocab_size)
    with pytest.raises(DataError, match=rf"arr: the largest id {array.max_id()} is not below"):
        array.require_ids_below(array.max_id())
    tokenize_corpus(tokenizer_json, byte_corpus(tmp_path / "e", [""]), tmp_path / "empty")
    assert TokenArray.open(tmp_path / "empty").max_id() == -1


def test_script_writes_no_partial_output(tmp_path, tokenizer_json):
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    result = run_script(
        "tokenized.py", "tokenize", "--tokenizer", str(tokenizer_json),
        "--corpus-prefix", str(prefix), "--output-prefix", str(tmp_path / "out" / "arr"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert TokenArray.open(tmp_path / "out" / "arr").num_tokens > 0
    result = run_script(
        "tokenized.py", "tokenize", "--tokenizer", str(tmp_path / "nope.json"),
        "--corpus-prefix", str(prefix), "--output-prefix", str(tmp_path / "bad" / "arr"),
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].endswith("nope.json: tokenizer file not found")
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_export_scripts_check_the_tokenizer(tmp_path, tokenizer_json):
    """Exports refuse arrays of another tokenizer and tokenizers without the roles they need."""
    prefix = byte_corpus(tmp_path / "corpus", TEXTS)
    tokenize_corpus(tokenizer_json, prefix, tmp_path / "arr")
    byte_level_tokenizer([]).save(tmp_path / "nospecials")
    other = tmp_path / "nospecials" / "tokenizer.json"
    result = run_script(
        "tokenized.py", "nanogpt", "--tokens", str(tmp_path / "arr"),
        "--tokenizer", str(other), "--output", str(tmp_path / "train.bin"),
    )  # fmt: skip
    assert result.returncode == 1 and "encoded with another tokenizer" in result.stderr
    assert not (tmp_path / "train.bin").exists()
    tokenize_corpus(other, prefix, tmp_path / "arr2")
    result = run_script(
        "tokenized.py", "delphi", "--tokens", str(tmp_path / "arr2"), "--tokenizer", str(other),
        "--split", "train", "--seq-len", "16", "--out-dir", str(tmp_path / "delphi"),
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "tokenizer.json: the tokenizer has no BOS token (special tokens with roles: none)"
        )
    )
    assert not (tmp_path / "delphi").exists()
    result = run_script(
        "tokenized.py", "cs336", "--tokens", str(tmp_path / "arr"),
        "--tokenizer", str(tokenizer_json), "--output", str(tmp_path / "valid.npy"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "valid.npy").tolist()[-1] == 258 + 1  # <|endoftext|> ends it
