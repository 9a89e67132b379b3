"""T-Free word arrays: exact round trips through the word table, the files, and word patterns."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import toklab.datasets.tfree_words as tfree_words
import toklab.datasets.token_array as token_array
from tests.conftest import byte_corpus
from toklab.data.packed_stream import PackedStream
from toklab.datasets.tfree_words import (
    EOT,
    EOT_ID,
    WordPatterns,
    read_words,
    tokenize_words,
    word_array_paths,
)
from toklab.datasets.token_array import TokenArray
from toklab.errors import DataError
from toklab.io import sha256_file
from toklab.tokenizers.tfree import (
    TrigramHasher,
    join_words,
    save_settings,
    split_words,
)

TEXTS = [
    "The cat sat on the mat.",
    "",
    "naïve café — 日本語 🙃 <|endoftext|> inside",
    "line one\nline two\n\n  spaced  ",
    "In 2024, 2apples cost $3.50 (each)!",
    "The cat came back.         Nine spaces.\tTab_under",
]

SPECIAL_WORDS = [
    EOT,
    "<|ws|>",
    "<|no_ws|>",
    "<|\n|>",
    "<|4<-ws->|>",
    "<|2<-\n->|>",
    "Hello",
    "hello",
    "HeLLo",
    "aAa",  # for v=16, m=4, k=2 its trigram aAa's row repeats an id: [9, 11, 3, 9]
    "Straße",
    "日本語",
    "🙃",
    "naïve",
    "x",
    "2",
    "!",
    "\t",
    "Hello",  # a repeat
]

HASHERS = [
    (1000, 4, 0, False),
    (16, 4, 2, False),
    (32000, 10, 2, False),
    (500, 5, 2, True),
]


@pytest.fixture
def settings_path(tmp_path):
    path = tmp_path / "tok" / "tfree.json"
    save_settings(TrigramHasher(1000, 4, k=1), path)
    return path


@pytest.fixture
def corpus(tmp_path):
    return byte_corpus(tmp_path / "corpus", TEXTS)


def expected_words(texts: list[str]) -> list[str]:
    """EOT, then every word in order of first appearance (brute force)."""
    table = [EOT]
    for text in texts:
        for word in split_words(text):
            if word not in table:
                table.append(word)
    return table


def files_under(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_round_trip_and_meta(tmp_path, settings_path, corpus):
    meta = tokenize_words(settings_path, corpus, tmp_path / "out" / "arr", batch_documents=4)
    prefix = tmp_path / "out" / "arr"
    words = read_words(prefix)
    assert EOT_ID == 0 and words[EOT_ID] == EOT
    assert words == expected_words(TEXTS)
    index = {word: i for i, word in enumerate(words)}
    array = TokenArray.open(prefix)
    assert len(array) == len(TEXTS)
    for d, text in enumerate(TEXTS):
        ids = array.document(d).tolist()
        assert ids == [index[w] for w in split_words(text)]
        assert join_words([words[i] for i in ids]) == text
        # no EOT is added; only the literal special span inside text 2 is one
        assert (EOT_ID in ids) == (EOT in text)
    assert meta == json.loads((tmp_path / "out" / "arr.meta.json").read_text())
    assert meta["format"] == token_array.FORMAT
    assert meta["vocab_size"] == len(words) == array.vocab_size
    assert meta["dtype"] == "uint16" and array.tokens.dtype == np.uint16
    assert meta["num_documents"] == len(TEXTS)
    assert meta["num_tokens"] == sum(len(split_words(t)) for t in TEXTS) == array.num_tokens
    assert meta["num_bytes"] == sum(len(t.encode()) for t in TEXTS) == array.num_bytes
    assert meta["tokenizer_sha256"] == sha256_file(settings_path)
    corpus_meta = json.loads((tmp_path / "corpus" / "corpus.meta.json").read_text())
    assert meta["source_sha256"] == corpus_meta["sha256"]["bin"]
    assert meta["tfree"] == {"v": 1000, "m": 4, "k": 1, "entire_words": False}
    paths = word_array_paths(prefix)
    assert set(paths) == {"bin", "idx", "meta.json", "words.json"}
    assert paths["words.json"] == tmp_path / "out" / "arr.words.json"
    assert meta["sha256"] == {"bin": sha256_file(paths["bin"]), "idx": sha256_file(paths["idx"])}
    assert meta["words_sha256"] == sha256_file(paths["words.json"])
    assert json.loads(paths["words.json"].read_text(encoding="utf-8")) == words
    assert files_under(tmp_path / "out") == sorted(p.name for p in paths.values())


def test_check_tokenizer_and_packed_stream(tmp_path, settings_path, corpus):
    tokenize_words(settings_path, corpus, tmp_path / "arr")
    array = TokenArray.open(tmp_path / "arr")
    array.check_tokenizer(settings_path)
    other = tmp_path / "other.json"
    save_settings(TrigramHasher(2000, 4, k=1), other)
    with pytest.raises(DataError, match="another tokenizer than"):
        array.check_tokenizer(other)
    # the training stream: EOT before every document and at the end
    stream = PackedStream(tmp_path / "arr", EOT_ID)
    expected = [EOT_ID]
    for d in range(len(array)):
        expected += [*array.document(d).tolist(), EOT_ID]
    assert stream.slice(0, len(stream)).tolist() == expected


def test_large_table_is_uint32(tmp_path, settings_path):
    letters = "abcdefghijklmnopqrstuvwxyz"
    names = [letters[i // 676] + letters[i // 26 % 26] + letters[i % 26] for i in range(17576)]
    names += [f"{a}{b}" for a in ("Q", "Zx", "Wy", "Vu") for b in names]  # 87,880 words
    texts = [" ".join(names[i : i + 5000]) for i in range(0, len(names), 5000)]
    corpus = byte_corpus(tmp_path / "corpus", texts)
    meta = tokenize_words(settings_path, corpus, tmp_path / "arr", batch_documents=3)
    assert meta["vocab_size"] == len(names) + 1 and meta["dtype"] == "uint32"
    array = TokenArray.open(tmp_path / "arr")
    words = read_words(tmp_path / "arr")
    assert array.tokens.dtype == np.uint32
    assert array.tokens.tolist() == list(range(1, len(names) + 1))
    for d, text in enumerate(texts):
        assert join_words([words[i] for i in array.document(d)]) == text


def test_rerun_is_byte_identical_and_batch_independent(tmp_path, settings_path):
    corpus = byte_corpus(tmp_path / "corpus", TEXTS * 5)
    tokenize_words(settings_path, corpus, tmp_path / "a", batch_documents=1)
    tokenize_words(settings_path, corpus, tmp_path / "b", batch_documents=1000)
    first = {k: p.read_bytes() for k, p in word_array_paths(tmp_path / "a").items()}
    for key, path in word_array_paths(tmp_path / "b").items():
        assert path.read_bytes() == first[key], key
    tokenize_words(settings_path, corpus, tmp_path / "a", batch_documents=7)  # over itself
    for key, path in word_array_paths(tmp_path / "a").items():
        assert path.read_bytes() == first[key], key


def test_workers_give_the_same_files(tmp_path, settings_path):
    """Split on two processes, batch by batch: the files of one pass, byte for byte."""
    corpus = byte_corpus(tmp_path / "corpus", TEXTS * 5)
    tokenize_words(settings_path, corpus, tmp_path / "a", batch_documents=3)
    tokenize_words(settings_path, corpus, tmp_path / "b", batch_documents=3, workers=2)
    first = {k: p.read_bytes() for k, p in word_array_paths(tmp_path / "a").items()}
    for key, path in word_array_paths(tmp_path / "b").items():
        assert path.read_bytes() == first[key], key
    bad = byte_corpus(tmp_path / "bad", [*TEXTS, "bad\x00text", *TEXTS])
    with pytest.raises(DataError) as info:
        tokenize_words(settings_path, bad, tmp_path / "out" / "arr", batch_documents=2, workers=2)
    assert str(info.value).startswith(f"{bad}: document {len(TEXTS)}: text contains a NUL")
    assert files_under(tmp_path / "out") == []


def fail_on_call(n: int, function):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) >= n:
            raise RuntimeError("injected failure")
        return function(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize(
    ("module", "name", "n"),
    [
        (tfree_words, "split_words", 5),  # while splitting, in the second batch
        (tfree_words, "write_json", 1),  # the words file: the .bin is in place already
        (token_array, "write_json", 1),  # the meta: the words file and .idx are in place
    ],
)
def test_failure_leaves_no_files(tmp_path, settings_path, corpus, monkeypatch, module, name, n):
    monkeypatch.setattr(module, name, fail_on_call(n, getattr(module, name)))
    with pytest.raises(RuntimeError, match="injected"):
        tokenize_words(settings_path, corpus, tmp_path / "out" / "arr", batch_documents=3)
    assert files_under(tmp_path / "out") == []  # not even a temporary


def test_words_file_comes_before_the_meta(tmp_path, settings_path, corpus, monkeypatch):
    paths = word_array_paths(tmp_path / "arr")
    seen = {}

    def write_json(path, obj):
        seen[path.name] = {k: p.exists() for k, p in paths.items()}
        token_array_write_json(path, obj)

    token_array_write_json = token_array.write_json
    monkeypatch.setattr(token_array, "write_json", write_json)
    tokenize_words(settings_path, corpus, tmp_path / "arr")
    assert seen == {
        "arr.meta.json": {"bin": True, "idx": True, "words.json": True, "meta.json": False}
    }


def test_failure_over_an_old_array(tmp_path, settings_path, corpus, monkeypatch):
    prefix = tmp_path / "out" / "arr"
    tokenize_words(settings_path, corpus, prefix)
    old = {k: p.read_bytes() for k, p in word_array_paths(prefix).items()}
    # failing while splitting: nothing written yet, the old array stays whole
    monkeypatch.setattr(tfree_words, "split_words", fail_on_call(2, split_words))
    with pytest.raises(RuntimeError):
        tokenize_words(settings_path, corpus, prefix)
    assert {k: p.read_bytes() for k, p in word_array_paths(prefix).items()} == old
    # failing while writing: no mix of old and new files is left
    monkeypatch.setattr(tfree_words, "split_words", split_words)
    monkeypatch.setattr(token_array, "write_json", fail_on_call(1, token_array.write_json))
    with pytest.raises(RuntimeError):
        tokenize_words(settings_path, corpus, prefix)
    assert files_under(tmp_path / "out") == []


def test_bad_text_names_the_document(tmp_path, settings_path):
    corpus = byte_corpus(tmp_path / "corpus", ["fine", "also fine", "bad\x00text", "never"])
    with pytest.raises(DataError) as info:
        tokenize_words(settings_path, corpus, tmp_path / "out" / "arr", batch_documents=2)
    message = str(info.value)
    assert message.startswith(f"{corpus}: document 2: text contains a NUL character")
    assert "\n" not in message
    assert files_under(tmp_path / "out") == []


def test_bad_settings_and_corpus(tmp_path, settings_path, corpus):
    with pytest.raises(DataError, match="settings file not found"):
        tokenize_words(tmp_path / "missing.json", corpus, tmp_path / "arr")
    (tmp_path / "bad.json").write_text('{"format": "toklab-tfree-v1", "v": 4, "m": 8}')
    with pytest.raises(DataError, match=r"bad\.json: bad T-Free settings"):
        tokenize_words(tmp_path / "bad.json", corpus, tmp_path / "arr")
    empty = byte_corpus(tmp_path / "empty", [])
    with pytest.raises(DataError, match="no documents"):
        tokenize_words(settings_path, empty, tmp_path / "arr")
    assert not any(p.exists() for p in word_array_paths(tmp_path / "arr").values())


def test_read_words_errors(tmp_path, settings_path, corpus):
    prefix = tmp_path / "arr"
    tokenize_words(settings_path, corpus, prefix)
    paths = word_array_paths(prefix)
    words = read_words(prefix)
    good = paths["words.json"].read_text(encoding="utf-8")
    cases = [
        ("{not json", "not JSON"),
        ('{"a": 1}', "not a list of non-empty strings"),
        (json.dumps([EOT, "a", 3]), "not a list of non-empty strings"),
        (json.dumps([EOT, ""]), "not a list of non-empty strings"),
        ("[]", "word 0 is None"),
        (json.dumps([words[1], EOT, *words[2:]]), "word 0 is 'The', not '<\\|endoftext\\|>'"),
        (
            json.dumps([*words, "extra"]),
            f"{len(words) + 1} words, but the meta says .* {len(words)}",
        ),
        (json.dumps(words[:-1]), f"{len(words) - 1} words, but the meta says"),
        (json.dumps([*words[:-1], "swapped"]), "not the word table the meta recorded"),
    ]
    for text, message in cases:
        paths["words.json"].write_text(text, encoding="utf-8")
        with pytest.raises(DataError, match=message) as info:
            read_words(prefix)
        assert str(info.value).startswith(f"{paths['words.json']}: ")
        assert "\n" not in str(info.value)
    paths["words.json"].write_text(good, encoding="utf-8")
    assert read_words(prefix) == words
    paths["words.json"].unlink()
    with pytest.raises(DataError, match=r"words\.json: word array file not found"):
        read_words(prefix)
    paths["words.json"].write_text(good, encoding="utf-8")
    paths["meta.json"].unlink()
    with pytest.raises(DataError, match=r"meta\.json: word array file not found"):
        read_words(prefix)


# ---------------------------------------------------------------------------------------------
# Word patterns


@pytest.mark.parametrize(("v", "m", "k", "entire"), HASHERS)
def test_patterns_match_per_word_definitions(v, m, k, entire):
    hasher = TrigramHasher(v, m, k, entire_words=entire)
    patterns = WordPatterns.from_words(SPECIAL_WORDS, TrigramHasher(v, m, k, entire_words=entire))
    assert len(patterns) == len(SPECIAL_WORDS) and patterns.v == v and patterns.m == m
    assert patterns.rows.dtype == patterns.row_index.dtype == np.int32
    assert len(patterns.row_offsets) == len(SPECIAL_WORDS) + 1 and patterns.row_offsets[0] == 0
    assert len(patterns.rows) <= len(patterns.row_index)  # a trigram's row is stored once
    for w, word in enumerate(SPECIAL_WORDS):
        inputs = patterns.word_inputs(w)
        assert inputs.tolist() == hasher.word_rows(word).ravel().tolist(), word
        assert patterns.word_targets(w).tolist() == hasher.encode_word(word)[0].tolist(), word
    if (v, m, k) == (16, 4, 2):  # the row of "aAa" repeats 9: kept in the inputs only
        inputs = patterns.word_inputs(SPECIAL_WORDS.index("aAa"))
        assert len(np.unique(inputs)) < len(inputs)
    empty = WordPatterns.from_words([], hasher)
    assert len(empty) == 0 and empty.row_offsets.tolist() == [0]


def test_patterns_for_array(tmp_path, settings_path, corpus):
    tokenize_words(settings_path, corpus, tmp_path / "arr")
    hasher = TrigramHasher(500, 5, k=2)  # the words do not depend on the settings
    patterns = WordPatterns.for_array(tmp_path / "arr", hasher)
    expected = WordPatterns.from_words(read_words(tmp_path / "arr"), hasher)
    assert len(patterns) == len(expected) == TokenArray.open(tmp_path / "arr").vocab_size
    for name in ("rows", "row_index", "row_offsets"):
        assert (getattr(patterns, name) == getattr(expected, name)).all(), name
    with pytest.raises(DataError, match="word array file not found"):
        WordPatterns.for_array(tmp_path / "missing", hasher)


@pytest.mark.parametrize(("v", "m", "k", "entire"), HASHERS)
def test_inputs_and_targets_match_brute_force(v, m, k, entire):
    hasher = TrigramHasher(v, m, k, entire_words=entire)
    patterns = WordPatterns.from_words(SPECIAL_WORDS, hasher)
    rng = np.random.default_rng(0)
    word_ids = rng.integers(0, len(SPECIAL_WORDS), size=(3, 7))
    word_ids[0, :3] = [0, 0, 9]  # repeats and the EOT
    n = word_ids.size
    weight = torch.randn(v, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0))

    flat, offsets = patterns.inputs(word_ids)
    assert flat.dtype == offsets.dtype == np.int64 and offsets.shape == (n,)
    bags = F.embedding_bag(torch.from_numpy(flat), weight, torch.from_numpy(offsets), mode="sum")
    for p, w in enumerate(word_ids.ravel().tolist()):
        ids = hasher.word_rows(SPECIAL_WORDS[w]).ravel().tolist()
        brute = sum((weight[i] for i in ids), torch.zeros(6, dtype=torch.float64))
        assert torch.allclose(bags[p], brute), (p, SPECIAL_WORDS[w])

    positions, ids = patterns.targets(word_ids)
    assert positions.dtype == ids.dtype == np.int64 and positions.shape == ids.shape
    assert (np.diff(positions) >= 0).all()
    multi_hot = np.zeros((n, v), dtype=np.int64)
    np.add.at(multi_hot, (positions, ids), 1)
    assert multi_hot.max() == 1  # every active pair once
    for p, w in enumerate(word_ids.ravel().tolist()):
        expected = hasher.encode_word(SPECIAL_WORDS[w])[0].tolist()
        assert np.flatnonzero(multi_hot[p]).tolist() == expected, (p, SPECIAL_WORDS[w])


def test_inputs_of_a_real_array(tmp_path, settings_path, corpus):
    """A training window of the packed stream, as the trainer gathers it."""
    tokenize_words(settings_path, corpus, tmp_path / "arr")
    hasher = TrigramHasher(1000, 4, k=1)
    words = read_words(tmp_path / "arr")
    patterns = WordPatterns.for_array(tmp_path / "arr", hasher)
    window = PackedStream(tmp_path / "arr", EOT_ID).slice(0, 24).reshape(2, 12)
    flat, offsets = patterns.inputs(window)
    sizes = np.diff(np.append(offsets, len(flat)))
    expected = [hasher.word_rows(words[w]).size for w in window.ravel()]
    assert sizes.tolist() == expected
    positions, _ = patterns.targets(window[:, 1:])
    assert positions.max() == window[:, 1:].size - 1


def test_bad_word_ids():
    patterns = WordPatterns.from_words([EOT, "a", "b"], TrigramHasher(100, 4))
    for bad in (np.array([0, 3]), np.array([-1]), np.array([[1, 5]])):
        with pytest.raises(DataError, match="word ids must be in \\[0, 3\\)"):
            patterns.inputs(bad)
        with pytest.raises(DataError, match="word ids must be in"):
            patterns.targets(bad)
    with pytest.raises(DataError, match="must be integers"):
        patterns.inputs(np.array([0.5]))
    flat, offsets = patterns.inputs(np.zeros((0, 4), dtype=np.int64))
    assert flat.shape == offsets.shape == (0,)
    positions, ids = patterns.targets(np.array([], dtype=np.int32))
    assert positions.shape == ids.shape == (0,)
