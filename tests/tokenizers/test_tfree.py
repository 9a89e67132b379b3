"""T-Free: word split and hashing against the original code's outputs and a brute-force formula.

Expected values marked "original" were produced by running Aleph-Alpha/trigrams at commit 0161000
(``src/trigram_tokenizer/tokenizer``: ``text_to_words``, ``initialize_hash_weight``, the
lowercase sharing in ``TrigramTokenizer.__init__``, ``encode_word_to_vocab_ids`` and
``encode_training_trigram``) in a scratch directory; the tests do not need it.
"""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.tfree import (
    SETTINGS_FORMAT,
    TrigramHasher,
    join_words,
    load_settings,
    save_settings,
    split_words,
)
from toklab.tokenizers.tfree_trigrams import trigram_ids, word_trigrams

# text -> the original's text_to_words(text)
ORIGINAL_SPLITS = [
    ("", []),
    ("Hello World!", ["Hello", "World", "!"]),
    ("In 2024", ["In", "<|ws|>", "2", "0", "2", "4"]),
    ("2apples", ["2", "<|no_ws|>", "apples"]),
    ("a  b", ["a", "<|2<-ws->|>", "b"]),
    ("a   b", ["a", "<|2<-ws->|>", "<|ws|>", "b"]),
    ("x         y", ["x", "<|4<-ws->|>", "<|4<-ws->|>", "<|ws|>", "y"]),
    ("\n\n\nEnd", ["<|2<-\n->|>", "<|\n|>", "End"]),
    (
        "tab\tsep\r\nline",
        ["tab", "<|no_ws|>", "\t", "<|no_ws|>", "sep", "<|no_ws|>", "\r", "<|\n|>", "line"],
    ),
    ("Hello<|startoftext|> World!", ["Hello", "<|startoftext|>", "<|ws|>", "World", "!"]),
    (" lead and trail ", ["<|ws|>", "lead", "and", "trail", "<|ws|>"]),
    (
        "foo_bar(baz) = 3.14;",
        [
            "foo",
            "_",
            "bar",
            "<|no_ws|>",
            "(",
            "baz",
            ")",
            "<|ws|>",
            "=",
            "<|ws|>",
            "3",
            ".",
            "1",
            "4",
            ";",
        ],
    ),
    ("naïve café — Ünïcödé Straße", ["naïve", "café", "—", "Ünïcödé", "Straße"]),
    ("x² + y²", ["x²", "<|ws|>", "+", "<|ws|>", "y²"]),
    (
        "C'est l'été, n'est-ce pas?",
        ["C", "'", "est", "l", "'", "été", ",", "n", "'", "est", "-", "ce", "pas", "?"],
    ),
    (
        "#tag @user 50% off!!",
        ["#", "tag", "<|ws|>", "@", "user", "<|ws|>", "5", "0", "%", "<|ws|>", "off", "!", "!"],
    ),
    ("a\n \nb", ["a", "<|\n|>", "<|ws|>", "<|\n|>", "b"]),
    ("<|endoftext|><|endoftext|>", ["<|endoftext|>", "<|endoftext|>"]),
    ("日本語のテキスト", ["日本語のテキスト"]),
    (
        "email: me@x.org\n\n\n\n\n",
        ["email", ":", "me", "@", "x", ".", "<|no_ws|>", "org", "<|4<-\n->|>", "<|\n|>"],
    ),
    ("cafe\u0301 ok", ["cafe", "<|no_ws|>", "\u0301", "ok"]),  # a combining mark is \W
    ("\u0661\u0662 x", ["\u0661", "<|no_ws|>", "\u0662", "x"]),  # Arabic-Indic digits are \d
    ("a\xa0b", ["a", "<|no_ws|>", "\xa0", "<|no_ws|>", "b"]),
    # from the original's own tests
    (
        "This is a <|test with some numbers 1234.",
        [
            "This",
            "is",
            "a",
            "<",
            "|",
            "<|no_ws|>",
            "test",
            "with",
            "some",
            "numbers",
            "<|ws|>",
            "1",
            "2",
            "3",
            "4",
            ".",
        ],
    ),
]

#: Special tokens that are not reserved marker names.
SPECIALS = ["<|endoftext|>", "<|x y|>", "<||>", "<|9|>", "<|<-ws->|>", "<|startoftext|>"]


@pytest.mark.parametrize(("text", "words"), ORIGINAL_SPLITS)
def test_split_matches_original(text, words):
    assert split_words(text) == words
    assert join_words(words) == text


def test_marker_folding():
    # 2..9 spaces between letters: all kept, folded in 4s and 2s (never 6 or 8), as the original
    for n in range(1, 10):
        words = split_words("a" + " " * n + "b")[1:-1]
        assert sum(int(w[2]) if w[2].isdigit() else 1 for w in words) == (n if n > 1 else 0)
        assert all(w in ("<|ws|>", "<|2<-ws->|>", "<|4<-ws->|>") for w in words)
    assert split_words("a" + " " * 13 + "b")[1:-1] == ["<|4<-ws->|>"] * 3 + ["<|ws|>"]
    assert split_words("\n" * 6) == ["<|4<-\n->|>", "<|2<-\n->|>"]


NO_MARKER_TEXT = st.text().filter(lambda t: "\x00" not in t and "<|" not in t)


@settings(max_examples=400, deadline=None)
@given(NO_MARKER_TEXT)
def test_round_trip(text):
    words = split_words(text)
    assert all(words)
    assert join_words(words) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(NO_MARKER_TEXT, st.sampled_from(SPECIALS)), max_size=5), NO_MARKER_TEXT)
def test_round_trip_with_special_tokens(pieces, tail):
    text = "".join(a + b for a, b in pieces) + tail
    words = split_words(text)
    assert [w for w in words if w in SPECIALS] == [b for _, b in pieces]
    assert join_words(words) == text


def reserved(text: str) -> bool:
    """Whether a special span of ``text`` is a marker name (the documented non-invertible case)."""
    spans = [s for s in re.split(r"(<\|.*?\|>)", text) if s.startswith("<|") and s.endswith("|>")]
    return any(
        s in ("<|ws|>", "<|no_ws|>", "<|\n|>")
        or (s[2] in "0123456789" and ("<-ws->" in s or "<-\n->" in s))
        for s in spans
    )


DENSE = [*"ab1 \n\t.,-_(#)<>|²", "<|", "|>", "ws", "no_ws", "<-ws->", "<-\n->", "2"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(DENSE), max_size=30).map("".join))
def test_round_trip_exactly_unless_reserved(text):
    assert (join_words(split_words(text)) == text) == (not reserved(text))


def test_reserved_markers_in_text():
    # toklab, like the original, reads a literal marker as the marker: not invertible. The
    # texts come back as the original's words_to_text(text_to_words(text)) does (original)
    assert split_words("<|ws|>") == ["<|ws|>"]
    assert join_words(["<|ws|>"]) == " "
    assert split_words("x<|no_ws|>y") == ["x", "<|no_ws|>", "y"]
    assert join_words(split_words("x<|no_ws|>y")) == "xy"
    assert join_words(split_words("<|3<-ws->|>")) == "   "
    assert join_words(split_words("a<|0<-ws->|>b")) == "a b"  # zero markers, then a space


@pytest.mark.parametrize(
    ("text", "what"), [("ab\x00c", "NUL"), ("ab\ud800c", "surrogate"), ("\udfff", "surrogate")]
)
def test_bad_text(text, what):
    with pytest.raises(DataError, match=what) as err:
        split_words(text)
    assert "\n" not in str(err.value)
    with pytest.raises(DataError):
        word_trigrams(text)


def test_bad_words():
    with pytest.raises(DataError, match="non-empty"):
        join_words(["a", "", "b"])
    with pytest.raises(DataError):
        join_words(["a", 3])  # type: ignore[list-item]


def test_split_is_fast():
    import time

    text = ("The quick brown fox, 2024 — jumps over the lazy dog!\n" * 20_000)[:1_000_000]
    start = time.perf_counter()
    words = split_words(text)
    assert time.perf_counter() - start < 5  # about 0.2 s
    assert join_words(words) == text


# ---------------------------------------------------------------------------------------------
# Trigrams


def brute_trigrams(word: str) -> list[int]:
    data = f" {word} ".encode()
    return sorted(
        {a + 256 * b + 65536 * c for a, b, c in zip(data, data[1:], data[2:], strict=False)}
    )


def test_word_trigrams():
    got = word_trigrams("Hello")
    expected = [b" He", b"Hel", b"ell", b"llo", b"lo "]
    assert got.dtype == np.int64
    assert got.tolist() == sorted(int.from_bytes(t, "little") for t in expected)
    assert word_trigrams("aaaa").tolist() == brute_trigrams("aaaa")  # a set: "aaa" once
    assert len(word_trigrams("é")) == 2  # bytes " \xc3\xa9 "
    assert word_trigrams("").tolist() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8)))
def test_trigram_ids_vectorized(words):
    words = [w.replace("\x00", "") for w in words]
    ids, offsets = trigram_ids(words)
    assert ids.dtype == np.int64 and offsets.dtype == np.int64
    assert len(offsets) == len(words) + 1 and offsets[0] == 0
    for w, word in enumerate(words):
        assert ids[offsets[w] : offsets[w + 1]].tolist() == brute_trigrams(word)


# ---------------------------------------------------------------------------------------------
# Hashing: an independent brute-force implementation of the original's formula


def md5_mod(text: str, v: int) -> int:
    return int(hashlib.md5(text.encode()).hexdigest(), 16) % v


def brute_row(i: int, v: int, m: int) -> list[int]:
    row: list[int] = []
    for s in range(m):
        j = 0
        while md5_mod(f"{i}_{s}_{j}", v) in row:
            j += 1
        row.append(md5_mod(f"{i}_{s}_{j}", v))
    return sorted(row)


def brute_shared_row(i: int, v: int, m: int, k: int) -> list[int]:
    text = i.to_bytes(3, "little").decode("latin-1")
    row = brute_row(i, v, m)
    if k and re.fullmatch("[a-zA-Z ]{3}", text) and text != text.lower():
        lower = int.from_bytes(text.lower().encode(), "little")
        row[m - k :] = brute_row(lower, v, m)[m - k :]
    return row


def brute_word_row(word: str, v: int, m: int, k: int) -> list[int]:
    return [md5_mod(f"{word}_{s}", v) for s in range(m - k)] + [
        md5_mod(f"{word.lower()}_lower_{s}", v) for s in range(k)
    ]


def brute_encode(word: str, v: int, m: int, k: int, entire_words: bool = False):
    if entire_words or "<|" in word:
        rows = [brute_word_row(word, v, m, k)]
    else:
        rows = [brute_shared_row(t, v, m, k) for t in brute_trigrams(word)]
    counts: dict[int, int] = {}
    for row in rows:
        for vocab_id in set(row):
            counts[vocab_id] = counts.get(vocab_id, 0) + 1
    return sorted(counts), [counts[i] for i in sorted(counts)]


@pytest.mark.parametrize(("v", "m"), [(16, 10), (10, 10), (5, 5), (1000, 4), (32000, 10)])
def test_rows_match_brute_force(v, m):
    rng = np.random.default_rng(v * 100 + m)
    sample = np.concatenate([np.arange(20), rng.integers(0, 1 << 24, 60), [(1 << 24) - 1]])
    hasher = TrigramHasher(v, m)
    rows = hasher.rows(sample)
    assert rows.shape == (len(sample), m) and rows.dtype == np.int64
    for i, row in zip(sample.tolist(), rows.tolist(), strict=True):
        assert row == brute_row(i, v, m)
    if v == m:
        assert (rows == np.arange(m)).all()
    assert (hasher.rows(sample[::-1]) == rows[::-1]).all()  # from the cache
    assert hasher.rows(sample.reshape(3, -1)).shape == (3, len(sample) // 3, m)
    assert hasher.rows(np.array([], dtype=np.int64)).shape == (0, m)


def test_rows_with_more_slots_than_the_compiled_block():
    """m > 10,000 slots are hashed by hashlib; rows are still the original's."""
    hasher = TrigramHasher(20_011, 10_001)
    assert hasher.rows(np.array([7103816])).tolist() == [brute_row(7103816, 20_011, 10_001)]


def test_rows_with_retries():
    # with v=16, m=10 nearly every row needs retries (j > 0): the brute force above agrees
    retried = [i for i in range(50) if len({md5_mod(f"{i}_{s}_0", 16) for s in range(10)}) < 10]
    assert len(retried) > 40
    hasher = TrigramHasher(16, 10)
    assert hasher.rows(np.array(retried)).tolist() == [brute_row(i, 16, 10) for i in retried]


# rows of the original's trigram_to_vocab table (original)
ORIGINAL_ROWS_V16_M10 = {
    0: [0, 1, 4, 6, 8, 9, 10, 11, 12, 15],
    1: [0, 1, 3, 4, 5, 6, 7, 8, 10, 14],
    7103816: [0, 1, 4, 5, 6, 7, 8, 11, 14, 15],  # "Hel"
}
# the released 7B settings v=32000, m=10, k=2 (original)
ORIGINAL_ROWS_7B = {
    b"Hel": [2267, 4207, 4961, 6240, 7732, 13719, 16612, 20027, 21577, 26609],
    b"hel": [4194, 14357, 15246, 16196, 17547, 19071, 20120, 21198, 21577, 26609],
    b" He": [3605, 6000, 6940, 8764, 13910, 15616, 17701, 22257, 22896, 29430],
    b"lo ": [1952, 3025, 5663, 7790, 9275, 12846, 24089, 24752, 29839, 31114],
}
ORIGINAL_WORDS_7B = {
    "<|endoftext|>": [3660, 30793, 14822, 5862, 541, 29684, 15568, 23924, 5552, 26926],
    "<|ws|>": [4616, 28554, 9617, 28722, 23728, 27755, 26516, 19858, 27164, 19790],
}
# v=16, m=4, k=2 (original): shared rows can be unsorted and repeat an id ("Hi ")
ORIGINAL_ROWS_V16_M4_K2 = {
    b"Hel": [0, 6, 14, 15],
    b"hel": [1, 8, 14, 15],
    b"HEL": [0, 4, 14, 15],
    b"Hi ": [2, 9, 5, 9],
    b" Hi": [1, 2, 10, 15],
    b"hi ": [0, 1, 5, 9],
    b"aAa": [9, 11, 3, 9],
}
# nonzero entries of encode_training_trigram's target rows, v=16, m=4, k=2 (original)
ORIGINAL_TARGETS_V16_M4_K2 = {
    "Hello": ([0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 14, 15], [3, 2, 2, 1, 2, 1, 1, 2, 1, 2, 2, 1]),
    "Hi": ([1, 2, 5, 9, 10, 15], [1, 2, 1, 1, 1, 1]),
}


def trigram(data: bytes) -> int:
    return int.from_bytes(data, "little")


def test_rows_match_original():
    rows = TrigramHasher(16, 10).rows(np.array(list(ORIGINAL_ROWS_V16_M10)))
    assert rows.tolist() == list(ORIGINAL_ROWS_V16_M10.values())
    hasher = TrigramHasher(32000, 10, k=2)
    for data, row in ORIGINAL_ROWS_7B.items():
        assert hasher.rows(np.array([trigram(data)]))[0].tolist() == row
    for word, row in ORIGINAL_WORDS_7B.items():
        assert hasher.word_rows(word).tolist() == [row]
    hasher = TrigramHasher(16, 4, k=2)
    for data, row in ORIGINAL_ROWS_V16_M4_K2.items():
        assert hasher.rows(np.array([trigram(data)]))[0].tolist() == row
    for word, (ids, counts) in ORIGINAL_TARGETS_V16_M4_K2.items():
        got_ids, got_counts = hasher.encode_word(word)
        assert (got_ids.tolist(), got_counts.tolist()) == (ids, counts)


@pytest.mark.parametrize(("v", "m", "k"), [(16, 4, 2), (1000, 10, 3), (64, 6, 6), (32000, 10, 2)])
def test_lowercase_sharing(v, m, k):
    texts = ["Hel", "hel", "HEL", "hEl", " He", "He ", "A  ", "  Z", "zZz", "Qu1", "É  ", "abc"]
    ids = np.array([trigram(t.encode()) for t in texts if len(t.encode()) == 3])
    hasher = TrigramHasher(v, m, k)
    rows = hasher.rows(ids)
    for i, row in zip(ids.tolist(), rows.tolist(), strict=True):
        assert row == brute_shared_row(i, v, m, k)
    upper, lower = hasher.rows(np.array([trigram(b"Hel"), trigram(b"hel")]))
    assert (upper[m - k :] == lower[m - k :]).all()
    # the lowercase trigram's row is the plain hash row, asked for alone or with its variants
    assert TrigramHasher(v, m, k).rows(ids[1:2]).tolist() == [brute_row(int(ids[1]), v, m)]


@pytest.mark.parametrize(
    ("v", "m", "k", "entire"), [(16, 4, 2, False), (1000, 5, 0, False), (500, 5, 2, True)]
)
def test_encode_word_matches_brute_force(v, m, k, entire):
    hasher = TrigramHasher(v, m, k, entire_words=entire)
    for word in ["Hello", "hello", "HeLLo", "x", "2", "<|endoftext|>", "<|ws|>", "Straße", "aaaa"]:
        ids, counts = hasher.encode_word(word)
        assert ids.dtype == np.int64 and counts.dtype == np.int64
        assert (ids.tolist(), counts.tolist()) == brute_encode(word, v, m, k, entire)


def test_word_rows():
    hasher = TrigramHasher(1000, 4, k=1)
    rows = hasher.word_rows("Hello")
    assert rows.tolist() == [brute_shared_row(t, 1000, 4, 1) for t in brute_trigrams("Hello")]
    assert hasher.word_rows("<|endoftext|>").tolist() == [
        brute_word_row("<|endoftext|>", 1000, 4, 1)
    ]
    entire = TrigramHasher(1000, 4, k=1, entire_words=True)
    assert entire.word_rows("Hello").tolist() == [brute_word_row("Hello", 1000, 4, 1)]
    words = ["Hello", "<|ws|>", "world", "!", "<|endoftext|>", "a"]
    for h in (hasher, entire):
        stacked, offsets = h.words_rows(words)
        assert offsets.tolist()[0] == 0 and len(offsets) == len(words) + 1
        for w, word in enumerate(words):
            assert (stacked[offsets[w] : offsets[w + 1]] == h.word_rows(word)).all()
    # the returned row is a copy: changing it does not change the cache
    row = hasher.word_rows("<|ws|>")
    row[:] = -1
    assert hasher.word_rows("<|ws|>").min() >= 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((16, 17), "m .* <= v"),
        ((0, 1), "v"),
        ((-5, 1), "v"),
        ((16, 0), "m"),
        ((16, 4, 5), "k .* <= m"),
        ((16, 4, -1), "k"),
        ((16.0, 4), "v"),
        ((True, 1), "v"),
        ((16, 4, 0, "yes"), "entire_words"),
        ((1 << 31, 10), "v .* < 2\\^31"),
    ],
)
def test_bad_config(args, match):
    with pytest.raises(ConfigError, match=match) as err:
        TrigramHasher(*args)
    assert "\n" not in str(err.value)


def test_bad_trigram_ids():
    hasher = TrigramHasher(16, 4)
    with pytest.raises(DataError, match="in \\[0"):
        hasher.rows(np.array([1 << 24]))
    with pytest.raises(DataError, match="in \\[0"):
        hasher.rows(np.array([-1]))
    with pytest.raises(DataError, match="integers"):
        hasher.rows(np.array([1.5]))


def test_save_load(tmp_path):
    hasher = TrigramHasher(1000, 4, k=2)
    ids = word_trigrams("Hello World")
    rows = hasher.rows(ids)
    path = tmp_path / "rows.npz"
    hasher.save(path)
    with np.load(path, allow_pickle=False) as data:
        assert set(data.files) == {"format", "settings", "trigram_ids", "rows"}
    loaded = TrigramHasher.load(path)
    assert (loaded.v, loaded.m, loaded.k, loaded.entire_words) == (1000, 4, 2, False)
    assert loaded.cached == hasher.cached
    assert (loaded.rows(ids) == rows).all()
    assert loaded.cached == hasher.cached  # served from the loaded rows
    TrigramHasher(16, 4).save(tmp_path / "empty.npz")
    assert TrigramHasher.load(tmp_path / "empty.npz").cached == 0


def test_load_bad_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        TrigramHasher.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="corrupt"):
        TrigramHasher.load(tmp_path / "junk.npz")
    hasher = TrigramHasher(16, 4)
    hasher.rows(np.arange(5))
    hasher.save(tmp_path / "ok.npz")
    with np.load(tmp_path / "ok.npz") as data:
        parts = dict(data)
    np.savez(tmp_path / "range.npz", **{**parts, "rows": parts["rows"] + 16})
    with pytest.raises(DataError, match="out of range"):
        TrigramHasher.load(tmp_path / "range.npz")
    np.savez(tmp_path / "settings.npz", **{**parts, "settings": np.array([4, 16, 0, 0])})
    with pytest.raises(DataError, match="corrupt"):
        TrigramHasher.load(tmp_path / "settings.npz")
    np.savez(tmp_path / "format.npz", **{**parts, "format": np.array("other")})
    with pytest.raises(DataError, match="not a T-Free"):
        TrigramHasher.load(tmp_path / "format.npz")


@pytest.mark.parametrize(("v", "m", "k", "entire"), [(1000, 4, 2, False), (32000, 10, 0, True)])
def test_settings_round_trip(tmp_path, v, m, k, entire):
    hasher = TrigramHasher(v, m, k, entire_words=entire)
    hasher.rows(np.arange(3))  # cached rows are not settings
    path = tmp_path / "sub" / "tfree.json"
    save_settings(hasher, path)
    assert json.loads(path.read_text()) == {
        "format": SETTINGS_FORMAT,
        "v": v,
        "m": m,
        "k": k,
        "entire_words": entire,
    }
    assert [p.name for p in path.parent.iterdir()] == ["tfree.json"]  # no temporary left
    loaded = load_settings(path)
    assert (loaded.v, loaded.m, loaded.k, loaded.entire_words) == (v, m, k, entire)
    assert loaded.cached == 0
    assert (loaded.word_rows("Hello") == hasher.word_rows("Hello")).all()
    first = path.read_bytes()
    save_settings(loaded, path)
    assert path.read_bytes() == first  # stable bytes: the digest identifies the settings


def test_settings_bad_files(tmp_path):
    good = {"format": SETTINGS_FORMAT, "v": 100, "m": 4, "k": 0, "entire_words": False}
    cases = {
        "junk": ("{not json", "not JSON"),
        "list": ("[1, 2]", "a JSON list"),
        "format": (json.dumps({**good, "format": "toklab-tfree-rows-v1"}), "format 'toklab-"),
        "missing": (json.dumps({k: x for k, x in good.items() if k != "m"}), "missing \\['m'\\]"),
        "extra": (json.dumps({**good, "lowercase": True}), "unknown \\['lowercase'\\]"),
        "m_gt_v": (json.dumps({**good, "m": 200}), "m \\(ids per trigram\\) must be <= v"),
        "float": (
            json.dumps({**good, "v": 100.0}),
            "v \\(the vocabulary size\\) must be an integer",
        ),
        "bool_v": (json.dumps({**good, "v": True}), "must be an integer"),
        "k_gt_m": (json.dumps({**good, "k": 5}), "k \\(lowercase slots\\) must be <= m"),
        "entire": (json.dumps({**good, "entire_words": 1}), "entire_words must be a bool"),
    }
    with pytest.raises(DataError, match="settings file not found"):
        load_settings(tmp_path / "missing.json")
    for name, (text, message) in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        with pytest.raises(DataError, match=message) as info:
            load_settings(path)
        assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def original_row(i: int, v: int, m: int) -> list[int]:
    """The original's row ``i`` (as :func:`brute_row`, with a set for long rows)."""
    row: set[int] = set()
    for s in range(m):
        j = 0
        while (value := md5_mod(f"{i}_{s}_{j}", v)) in row:
            j += 1
        row.add(value)
    return sorted(row)


@settings(max_examples=100, deadline=None)
@example(ids=[0, 9, 10, 99, 9_999_999, 10_000_000, (1 << 24) - 1], m=10, v=8000)
@example(ids=[0, 5, 10_000_000, (1 << 24) - 1], m=10, v=10)  # every row retries, j up to 100s
@example(ids=[7, 12_345_678], m=10_000, v=2**31 - 1)
@given(
    ids=st.lists(st.integers(0, (1 << 24) - 1), min_size=1, max_size=40),
    m=st.sampled_from([1, 2, 9, 10, 11, 12, 99, 100, 257, 1000]),
    v=st.integers(1, 2**31 - 1),
)
def test_compiled_rows_equal_hashlib(ids, m, v):
    """The compiled rows are the original's (hashlib md5 of f"{i}_{s}_{j}", retried, sorted).

    Rows whose retries need a message longer than 15 bytes are left unfinished, for hashlib.
    """
    from toklab.tokenizers import tfree_md5

    v = max(v, m)
    rows, unfinished = tfree_md5.md5_rows(np.array(ids, dtype=np.int64), m, v)
    for i, row, left in zip(ids, rows.tolist(), unfinished.tolist(), strict=True):
        if not left:
            assert row == original_row(i, v, m)
        else:  # a retry message would not fit: f"{i}_{s}_{j}" with a long s or j
            assert len(f"{i}_{m - 1}_10") > 15 or m == v


def test_rows_whose_retries_outgrow_the_compiled_block():
    """Slots late in a full row (v = m = 1000) retry past j = 99: those rows go to hashlib."""
    from toklab.tokenizers import tfree_md5

    ids = np.array([12_345_678, 7], dtype=np.int64)
    assert tfree_md5.md5_rows(ids, 1000, 1000)[1].tolist() == [True, False]
    rows = TrigramHasher(1000, 1000).rows(ids)
    assert (rows == np.arange(1000)).all()
