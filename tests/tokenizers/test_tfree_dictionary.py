"""T-Free dictionary decoding: word count files, patterns, both scores against loops, choosing.

The reference scores are written out in plain Python from the formula of the original's
``decode_trigram`` (Aleph-Alpha/trigrams at 0161000), with patterns rebuilt from the byte
windows of each word and :meth:`TrigramHasher.rows`, independently of the module's CSR arrays.
"""

from __future__ import annotations

import builtins
import collections
import io
import json
import math
import os
import pickle
import random
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.tfree import TrigramHasher, split_words
from toklab.tokenizers.tfree_counts import read_word_counts, write_word_counts
from toklab.tokenizers.tfree_dictionary import DEFAULT_SPECIALS, WordDictionary

V, M = 4096, 4
TEXT = (
    "The quick brown fox jumps over the lazy dog. Numbers like 2024 and 3.14 appear; "
    "so do names (Alice, Bob) and words such as naïve, façade, Straße, 東京, and émigré. "
    "Hello World! ab abab abc cab a I I'm don't state-of-the-art e-mail user_name\n"
    "Trigram hashing maps every word into a sparse pattern over the vocabulary."
)
WORDS = list(dict.fromkeys(split_words(TEXT)))
WEIRD = [
    "tab\there",
    "new\nline",
    "back\\slash",
    "\\t",  # a literal backslash and t, not a tab
    "\\",
    "\\\\n",
    "ends\\",
    "cr\rlf",
    "naïve",
    "東京",
    "🙂",
    "\u2028sep",
    "\x85nel",
    "\x0bvt",
    "<|\n|>",
    "<|endoftext|>",
    "<|2<-\n->|>",
    "#",
    "{",
    " spaced ",
]


@pytest.fixture(scope="module")
def hasher() -> TrigramHasher:
    return TrigramHasher(V, M)


@pytest.fixture(scope="module")
def dictionary(hasher: TrigramHasher) -> WordDictionary:
    counts = {word: len(WORDS) - i for i, word in enumerate(WORDS)}
    return WordDictionary.from_counts(counts, hasher)


def one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    message = str(err.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# Reference patterns and scores


def reference_pattern(word: str, hasher: TrigramHasher) -> tuple[set[int], set[int], int]:
    """Non-edge ids, edge ids and T_w, from the word's byte windows one at a time."""
    if "<|" in word or hasher.entire_words:
        return {int(i) for i in hasher.word_hash_row(word)}, set(), 1
    data = f" {word} ".encode()
    windows = {data[i : i + 3] for i in range(len(data) - 2)}
    nonedge: set[int] = set()
    edge: set[int] = set()
    for window in windows:
        trigram = window[0] + 256 * window[1] + 65536 * window[2]
        row = hasher.rows(np.array([trigram]))[0]
        target = edge if window[0] == 32 or window[2] == 32 else nonedge
        target.update(int(i) for i in row)
    return nonedge, edge, len(windows)


def reference_scores(
    d: WordDictionary, logits: torch.Tensor, method: str, edge_weight: float
) -> list[list[float]]:
    v, m = d.hasher.v, d.hasher.m
    out = []
    for row in logits.double().tolist():
        p = [1.0 / (1.0 + math.exp(-x)) for x in row]
        total = sum(p)
        scores = []
        for word in d.words:
            nonedge, edge, trigrams = reference_pattern(word, d.hasher)
            if method == "paper":
                ids = nonedge | edge
                scores.append(sum(p[i] for i in ids) / len(ids))
                continue
            s = sum(p[i] for i in nonedge) + edge_weight * sum(p[i] for i in edge)
            scores.append(s / (m * trigrams) + (s - total) / (v - m * trigrams))
        out.append(scores)
    return out


def pattern_logits(d: WordDictionary, word: str, high: float = 20.0) -> torch.Tensor:
    logits = torch.full((d.hasher.v,), -high)
    logits[torch.from_numpy(d.pattern(word).ids)] = high
    return logits


# ---------------------------------------------------------------------------------------------
# Word count files


def test_tsv_round_trip_weird_words(tmp_path: Path) -> None:
    counts = {word: i * 7 for i, word in enumerate(WEIRD)}
    path = tmp_path / "counts.tsv"
    write_word_counts(counts, path)
    back = read_word_counts(path)
    assert back == counts
    assert list(back) == list(counts)  # the file's order
    lines = path.read_bytes().decode().split("\n")
    assert lines[-1] == "" and len(lines) == len(counts) + 1  # one line per word
    assert all(line.count("\t") == 1 for line in lines[:-1])
    assert lines[0] == "tab\\there\t0"
    assert b"\r" not in path.read_bytes()  # escaped too, so no tool takes it for a line end


@settings(max_examples=60, deadline=None)
@given(
    st.dictionaries(
        st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), min_size=1),
        st.integers(0, 2**62),
        min_size=1,
        max_size=20,
    )
)
def test_tsv_round_trip_any_words(tmp_path_factory: pytest.TempPathFactory, counts: dict) -> None:
    path = tmp_path_factory.mktemp("tsv") / "words.txt"
    write_word_counts(counts, path)
    assert read_word_counts(path) == counts


def test_write_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "counts.tsv"
    write_word_counts({"a": 1}, path)
    with pytest.raises(DataError):
        write_word_counts({"b": 2, "": 3}, path)
    assert read_word_counts(path) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["counts.tsv"]


def test_json_input(tmp_path: Path) -> None:
    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"hello": 3, "wörld": 0, "<|ws|>": 9}, ensure_ascii=False))
    assert read_word_counts(path) == {"hello": 3, "wörld": 0, "<|ws|>": 9}


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_counter_pickle_input(tmp_path: Path, protocol: int) -> None:
    counter = collections.Counter({"the": 10, "cat": 2, "<|\n|>": 0, "naïve": 1})
    path = tmp_path / "top.pckl"
    path.write_bytes(pickle.dumps(counter, protocol=protocol))
    assert read_word_counts(path) == dict(counter)


def test_counter_pickle_needs_only_counter() -> None:
    """A genuine Counter pickle asks for collections.Counter and nothing else, at any protocol."""

    class Recorder(pickle.Unpickler):
        seen: ClassVar[list[tuple[str, str]]] = []

        def find_class(self, module: str, name: str) -> object:
            self.seen.append((module, name))
            return super().find_class(module, name)

    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(collections.Counter({"a": 1, "b": 2}), protocol=protocol)
        Recorder(io.BytesIO(data)).load()
    assert set(Recorder.seen) == {("collections", "Counter")}


def test_pickle_sniffed_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "words.bin"
    path.write_bytes(pickle.dumps(collections.Counter({"x": 1})))
    assert read_word_counts(path) == {"x": 1}


class _Exec:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return builtins.exec, (f"open({str(self.target)!r}, 'w').close()",)


class _System:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch '{self.target}'",)


class _CounterOfEval:
    """A Counter whose contents are computed by eval at load time."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[object]]:
        return collections.Counter, (_Eval(self.target),)


class _Eval:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return builtins.eval, (f"open({str(self.target)!r}, 'w').close() or {{'a': 1}}",)


@pytest.mark.parametrize("payload", [_Exec, _System, _CounterOfEval])
def test_malicious_pickle_refused_and_not_run(tmp_path: Path, payload: type) -> None:
    ran = tmp_path / "side_effect"
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(payload(ran)))
    with pytest.raises(DataError) as err:
        read_word_counts(path)
    assert str(path) in one_line(err) and "refusing" in str(err.value)
    assert not ran.exists()
    # the control: an ordinary unpickler does run it, so the file above proves something
    if payload is not _System:
        pickle.loads(path.read_bytes())
        assert ran.exists()


def test_pickle_other_class_refused(tmp_path: Path) -> None:
    for obj in (collections.OrderedDict(a=1), collections.defaultdict(int, a=1)):
        path = tmp_path / "other.pkl"
        path.write_bytes(pickle.dumps(obj))
        with pytest.raises(DataError, match="refusing"):
            read_word_counts(path)
    # a dotted name reaching through Counter is refused too (protocol 4+ STACK_GLOBAL)
    path = tmp_path / "dotted.pkl"
    data = pickle.dumps(collections.Counter.fromkeys, protocol=4)
    path.write_bytes(data)
    with pytest.raises(DataError):
        read_word_counts(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.tsv", b""),
        ("blank.tsv", b"\n"),
        ("notab.tsv", b"hello 3\n"),
        ("twotabs.tsv", b"a\t1\t2\n"),
        ("float.tsv", b"a\t1.5\n"),
        ("negative.tsv", b"a\t-3\n"),
        ("plus.tsv", b"a\t+3\n"),
        ("crlf.tsv", b"a\t3\r\n"),
        ("emptyword.tsv", b"\t3\n"),
        ("dup.tsv", b"a\t1\na\t2\n"),
        ("escape.tsv", b"a\\x\t1\n"),
        ("trailing.tsv", b"a\\\t1\n"),
        ("latin1.tsv", "caf\xe9\t1\n".encode("latin-1")),
        ("nul.tsv", b"a\x00b\t1\n"),
        ("garbage.txt", bytes(range(1, 80)) * 3),
        ("list.json", b'[["a", 1]]'),
        ("string.json", b'{"a": "1"}'),
        ("bool.json", b'{"a": true}'),
        ("floatcount.json", b'{"a": 1.0}'),
        ("neg.json", b'{"a": -1}'),
        ("nested.json", b'{"a": {"b": 1}}'),
        ("empty.json", b"{}"),
        ("dupkey.json", b'{"a": 1, "a": 2}'),
        ("surrogate.json", b'{"\\ud800": 1}'),
        ("bad.json", b"{not json"),
        ("garbage.pkl", b"\x80\x04not a pickle at all"),
        ("truncated.pkl", pickle.dumps(collections.Counter({"a": 1}))[:-3]),
        ("dict.pkl", pickle.dumps({"a": 1})),
        ("intkeys.pkl", pickle.dumps(collections.Counter({1: 2}))),
        ("negcount.pkl", pickle.dumps(collections.Counter({"a": -2}))),
        ("floatval.pkl", pickle.dumps(collections.Counter({"a": 0.5}))),
        ("emptycounter.pkl", pickle.dumps(collections.Counter())),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_word_counts(path)
    assert str(path) in one_line(err)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        read_word_counts(tmp_path / "nope.tsv")


@pytest.mark.parametrize("counts", [{"": 1}, {"a": -1}, {"a": 1.5}, {"a": True}, {"a\x00": 1}])
def test_write_refuses_bad_counts(tmp_path: Path, counts: dict) -> None:
    with pytest.raises(DataError) as err:
        write_word_counts(counts, tmp_path / "x.tsv")
    one_line(err)
    assert not (tmp_path / "x.tsv").exists()


# ---------------------------------------------------------------------------------------------
# Building dictionaries


def test_from_counts_order(hasher: TrigramHasher) -> None:
    counts = {"b": 5, "a": 5, "c": 9, "d": 1, "<|ws|>": 100, "e": 5}
    d = WordDictionary.from_counts(counts, hasher)
    assert d.words == (*DEFAULT_SPECIALS, "c", "a", "b", "e", "d")
    assert d.counts[d.index("<|ws|>")] == 100 and d.counts[0] == 0
    # independent of the mapping's order
    shuffled = dict(random.Random(0).sample(list(counts.items()), len(counts)))
    assert WordDictionary.from_counts(shuffled, hasher).words == d.words
    top = WordDictionary.from_counts(counts, hasher, top_n=2)
    assert top.words == (*DEFAULT_SPECIALS, "c", "a")
    assert WordDictionary.from_counts(counts, hasher, top_n=0).words == DEFAULT_SPECIALS
    own = WordDictionary.from_counts(counts, hasher, special_words=["<|x|>", "<|x|>", "a"])
    assert own.words == ("<|x|>", "a", "<|ws|>", "c", "b", "e", "d")
    assert len(set(d.words)) == len(d) == len(DEFAULT_SPECIALS) + 5


def test_default_specials_are_what_split_words_emits() -> None:
    assert "<|endoftext|>" in DEFAULT_SPECIALS
    emitted = set(split_words(" a  b    c\n\nd\n\n\n\ne 2x" + " " * 9 + "\n" * 9))
    markers = {w for w in emitted if w.startswith("<|")}
    assert markers <= set(DEFAULT_SPECIALS)
    assert set(DEFAULT_SPECIALS) - markers == {"<|endoftext|>"}


def test_from_counts_errors(hasher: TrigramHasher) -> None:
    with pytest.raises(ConfigError):
        WordDictionary.from_counts({"a": 1}, hasher, top_n=-1)
    with pytest.raises(ConfigError):
        WordDictionary.from_counts({"a": 1}, hasher, special_words="<|ws|>")
    with pytest.raises(DataError):
        WordDictionary.from_counts({"a": -1}, hasher)
    with pytest.raises(DataError):
        WordDictionary.from_counts({"": 1}, hasher)
    with pytest.raises(DataError):
        WordDictionary(["a", "a"], hasher)
    with pytest.raises(DataError):
        WordDictionary(["a"], hasher, [1, 2])


def test_patterns_match_the_hasher(dictionary: WordDictionary) -> None:
    hasher = dictionary.hasher
    words = [*dictionary.words, *WEIRD]
    d = WordDictionary(dict.fromkeys(words), hasher)
    for word in d.words:
        pattern = d.pattern(word)
        ids, _ = hasher.encode_word(word)
        np.testing.assert_array_equal(pattern.ids, ids)
        assert pattern.trigrams == len(hasher.word_rows(word))
        nonedge, edge, trigrams = reference_pattern(word, hasher)
        assert set(pattern.nonedge.tolist()) == nonedge
        assert set(pattern.edge.tolist()) == edge
        assert pattern.trigrams == trigrams
    np.testing.assert_array_equal(d.trigram_counts, [len(hasher.word_rows(w)) for w in d.words])
    # whole words are all non-edge; a one-letter word is all edge
    assert len(d.pattern("<|endoftext|>").edge) == 0
    assert len(d.pattern("a").nonedge) == 0 and len(d.pattern("a").edge) == M


def test_an_id_from_both_kinds_of_trigram_is_in_both_sets() -> None:
    # small v: collisions between edge and non-edge rows are certain somewhere
    hasher = TrigramHasher(64, 8)
    d = WordDictionary([w for w in WORDS if not w.startswith("<|")], hasher)
    both = [w for w in d.words if set(d.pattern(w).edge) & set(d.pattern(w).nonedge)]
    assert both
    for word in both:
        nonedge, edge, _ = reference_pattern(word, hasher)
        assert set(d.pattern(word).edge) == edge and set(d.pattern(word).nonedge) == nonedge


def test_lowercase_slots_and_entire_words() -> None:
    for hasher in (TrigramHasher(V, M, k=2), TrigramHasher(V, M, entire_words=True)):
        d = WordDictionary(["Hello", "hello", "HeLLo", "<|ws|>", "x"], hasher)
        for word in d.words:
            nonedge, edge, trigrams = reference_pattern(word, hasher)
            np.testing.assert_array_equal(d.pattern(word).ids, hasher.encode_word(word)[0])
            assert set(d.pattern(word).nonedge) == nonedge and set(d.pattern(word).edge) == edge
            assert d.pattern(word).trigrams == trigrams


def test_add_words(dictionary: WordDictionary) -> None:
    before = dictionary.words
    prompt = "Zebras graze quietly; the fox naps. Zebras again!"
    bigger = dictionary.add_words(split_words(prompt))
    assert dictionary.words == before  # unchanged
    assert bigger.words[: len(before)] == before
    new = bigger.words[len(before) :]
    assert new == ("Zebras", "graze", "quietly", "naps", "again")
    assert all(bigger.counts[bigger.index(w)] == 0 for w in new)
    for word in new:
        np.testing.assert_array_equal(bigger.pattern(word).ids, bigger.hasher.encode_word(word)[0])
    # a word's score depends only on its pattern: the old columns are unchanged
    logits = torch.randn(3, V, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(bigger.scores(logits)[:, : len(before)], dictionary.scores(logits))
    assert bigger.decode(pattern_logits(bigger, "graze")[None]) == ["graze"]
    assert dictionary.add_words(["the", "fox"]) is dictionary
    with pytest.raises(ConfigError):
        dictionary.add_words("Zebras")
    with pytest.raises(DataError):
        dictionary.add_words(["ok", ""])


def test_save_load_round_trip(tmp_path: Path, dictionary: WordDictionary) -> None:
    d = dictionary.add_words(WEIRD)
    path = tmp_path / "dict.tsv"
    d.save(path)
    loaded = WordDictionary.load(path, TrigramHasher(V, M))
    assert loaded.words == d.words and loaded.counts == d.counts
    for word in d.words:
        np.testing.assert_array_equal(loaded.pattern(word).ids, d.pattern(word).ids)
    logits = torch.randn(2, V, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(loaded.scores(logits), d.scores(logits))
    again = tmp_path / "again.tsv"
    loaded.save(again)
    assert again.read_bytes() == path.read_bytes()
    # the words do not depend on the hasher: other settings, other patterns, same words
    other = WordDictionary.load(path, TrigramHasher(2048, 3))
    assert other.words == d.words
    with pytest.raises(DataError):
        WordDictionary([], dictionary.hasher).save(tmp_path / "empty.tsv")


# ---------------------------------------------------------------------------------------------
# Scores


@pytest.mark.parametrize("edge_weight", [1.0, 0.5, 0.0, 2.5])
def test_code_scores_match_loops(dictionary: WordDictionary, edge_weight: float) -> None:
    d = dictionary.add_words(WEIRD)
    generator = torch.Generator().manual_seed(int(edge_weight * 10))
    logits = torch.randn(3, V, generator=generator) * 3
    logits[1, torch.from_numpy(d.pattern("fox").ids)] += 6
    got = d.scores(logits, method="code", edge_weight=edge_weight)
    want = torch.tensor(reference_scores(d, logits, "code", edge_weight), dtype=torch.float64)
    assert got.shape == (3, len(d)) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)


def test_paper_scores_match_loops(dictionary: WordDictionary) -> None:
    logits = torch.randn(2, V, generator=torch.Generator().manual_seed(3)) * 4
    got = dictionary.scores(logits, method="paper")
    want = torch.tensor(reference_scores(dictionary, logits, "paper", 1.0), dtype=torch.float64)
    torch.testing.assert_close(got.double(), want, atol=1e-5, rtol=1e-5)
    with pytest.raises(ConfigError):
        dictionary.scores(logits, method="paper", edge_weight=0.5)


@settings(max_examples=25, deadline=None)
@given(
    words=st.lists(
        st.text("abcxyz<|>2 ", min_size=1, max_size=6), min_size=1, max_size=8, unique=True
    ),
    seed=st.integers(0, 2**31),
    edge_weight=st.floats(-2, 2),
    method=st.sampled_from(["code", "paper"]),
)
def test_scores_match_loops_small_v(
    words: list[str], seed: int, edge_weight: float, method: str
) -> None:
    # v=32 with m=3: heavy collisions, repeated ids and m·T_w >= v for long words
    hasher = TrigramHasher(32, 3)
    d = WordDictionary(words, hasher)
    logits = torch.randn(2, 32, generator=torch.Generator().manual_seed(seed)) * 5
    lam = edge_weight if method == "code" else 1.0
    got = d.scores(logits, method=method, edge_weight=lam).double()  # type: ignore[arg-type]
    fine = [i for i, t in enumerate(d.trigram_counts.tolist()) if 3 * t < 32]
    want = torch.tensor(reference_scores(d, logits, method, lam), dtype=torch.float64)
    torch.testing.assert_close(got[:, fine], want[:, fine], atol=1e-5, rtol=1e-5)
    assert torch.isfinite(got).all()  # where the original divides by v - m·T_w <= 0


def test_pattern_as_large_as_v_keeps_scores_finite() -> None:
    # m·T_w = v ("abcd": 4 trigrams) and m·T_w > v ("abcdefgh": 8): the original divides by 0
    # or by a negative number; here the outside denominator is at least 1
    d = WordDictionary(["abcd", "abcdefgh", "a"], TrigramHasher(16, 4))
    logits = torch.randn(2, 16, generator=torch.Generator().manual_seed(12))
    assert (d.hasher.m * d.trigram_counts).tolist() == [16, 32, 4]
    got = d.scores(logits).double()
    p = torch.sigmoid(logits.double())
    for w, word in enumerate(d.words):
        nonedge, edge, trigrams = reference_pattern(word, d.hasher)
        s = p[:, sorted(nonedge)].sum(1) + p[:, sorted(edge)].sum(1)
        outside = max(16 - 4 * trigrams, 1)
        want = s / (4 * trigrams) + (s - p.sum(1)) / outside
        torch.testing.assert_close(got[:, w], want, atol=1e-5, rtol=1e-5)


def test_any_float_dtype(dictionary: WordDictionary) -> None:
    logits = torch.randn(2, V, generator=torch.Generator().manual_seed(4))
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        low = logits.to(dtype)
        got = dictionary.scores(low)
        assert got.dtype == torch.float32
        torch.testing.assert_close(got, dictionary.scores(low.float()))


def test_bad_logits(dictionary: WordDictionary) -> None:
    with pytest.raises(DataError):
        dictionary.scores(torch.zeros(V))
    with pytest.raises(DataError):
        dictionary.scores(torch.zeros(1, V + 1))
    with pytest.raises(DataError):
        dictionary.scores(torch.zeros(1, V, dtype=torch.long))
    with pytest.raises(ConfigError):
        dictionary.scores(torch.zeros(1, V), method="other")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        dictionary.scores(torch.zeros(1, V), edge_weight=math.nan)


# ---------------------------------------------------------------------------------------------
# Decoding


def test_greedy_decode_of_each_pattern(dictionary: WordDictionary) -> None:
    d = dictionary.add_words(WEIRD)
    logits = torch.stack([pattern_logits(d, word) for word in d.words])
    assert d.decode(logits) == list(d.words)
    for edge_weight in (0.5, 0.8):
        assert d.decode(logits, edge_weight=edge_weight) == list(d.words)


def test_greedy_paper_decode_when_no_pattern_is_a_subset(dictionary: WordDictionary) -> None:
    d = dictionary
    patterns = {w: set(d.pattern(w).ids.tolist()) for w in d.words}
    logits = torch.stack([pattern_logits(d, word) for word in d.words])
    got = d.decode(logits, method="paper")
    scores = d.scores(logits, method="paper")
    checked = 0
    for row, word in enumerate(d.words):
        others = [w for w in d.words if w != word and patterns[w] <= patterns[word]]
        assert scores[row, d.index(word)] == pytest.approx(scores[row].max().item())
        if not others:
            assert got[row] == word
            checked += 1
        else:  # "ab" inside "abab": the paper's score cannot tell them apart
            assert got[row] in [word, *others]
    assert checked > len(d.words) // 2


def test_each_row_decodes_from_its_own_logits(dictionary: WordDictionary) -> None:
    logits = torch.stack([pattern_logits(dictionary, "fox"), pattern_logits(dictionary, "lazy")])
    assert dictionary.decode(logits) == ["fox", "lazy"]
    assert dictionary.decode(logits.flip(0)) == ["lazy", "fox"]
    assert dictionary.decode(logits, method="paper") == ["fox", "lazy"]
    scores = dictionary.scores(logits)
    torch.testing.assert_close(scores[1], dictionary.scores(logits[1:])[0])
    torch.testing.assert_close(scores[0], dictionary.scores(logits[:1])[0])
    g = torch.Generator().manual_seed(0)
    assert dictionary.decode(logits, temperature=1e-4, generator=g) == ["fox", "lazy"]


def test_blacklist(dictionary: WordDictionary) -> None:
    logits = pattern_logits(dictionary, "abab")[None]
    assert dictionary.decode(logits) == ["abab"]
    second = dictionary.decode(logits, blacklist=["abab"])[0]
    # stable: among tied scores the earlier word comes first, as the argmax picks it
    order = dictionary.scores(logits)[0].argsort(descending=True, stable=True).tolist()
    assert second == dictionary.words[order[1]] == "ab"
    assert dictionary.decode(logits, blacklist=["abab", "ab", "unknown"]) == [
        dictionary.words[order[2]]
    ]
    g = torch.Generator().manual_seed(5)
    banned = set(dictionary.words[:-1]) - {"fox"}
    for _ in range(20):
        word = dictionary.decode(logits, temperature=1.0, generator=g, blacklist=banned)[0]
        assert word not in banned
    with pytest.raises(DataError) as err:
        dictionary.decode(logits, blacklist=dictionary.words)
    one_line(err)
    with pytest.raises(ConfigError):
        dictionary.decode(logits, blacklist="abab")


def test_sampling_is_seeded(dictionary: WordDictionary) -> None:
    logits = torch.randn(4, V, generator=torch.Generator().manual_seed(6))

    def draw(seed: int) -> list[str]:
        g = torch.Generator().manual_seed(seed)
        return [
            w for _ in range(10) for w in dictionary.decode(logits, temperature=0.5, generator=g)
        ]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_sampling_follows_the_softmax(hasher: TrigramHasher) -> None:
    d = WordDictionary(["fox", "dog", "cat", "bird"], hasher)
    logits = pattern_logits(d, "fox", high=1.0)[None]
    temperature = 0.2
    probs = torch.softmax(d.scores(logits)[0] / temperature, dim=0)
    assert 0.3 < probs.max() < 0.9  # not degenerate
    g = torch.Generator().manual_seed(9)
    draws = collections.Counter(
        d.decode(logits.expand(2000, -1), temperature=temperature, generator=g)
    )
    for word, p in zip(d.words, probs.tolist(), strict=True):
        assert abs(draws[word] / 2000 - p) < 4 * math.sqrt(p * (1 - p) / 2000) + 0.005


def test_top_p(hasher: TrigramHasher) -> None:
    d = WordDictionary(["fox", "dog", "cat", "bird", "fish"], hasher)
    logits = torch.full((1, V), -1.0)
    logits[0, torch.from_numpy(d.pattern("fox").ids)] = 1.0
    logits[0, torch.from_numpy(d.pattern("dog").ids)] = 0.5
    temperature = 0.2
    probs = torch.softmax(d.scores(logits)[0] / temperature, dim=0)
    order = probs.argsort(descending=True).tolist()
    assert [d.words[i] for i in order[:2]] == ["fox", "dog"]
    cumulative = probs[order].cumsum(0).tolist()
    assert cumulative[1] < 0.9  # the other three words are likely enough to be seen
    top_p = (cumulative[0] + cumulative[1]) / 2  # the nucleus is the first two words
    g = torch.Generator().manual_seed(10)
    many = logits.expand(400, -1)
    assert set(d.decode(many, temperature=temperature, top_p=top_p, generator=g)) == {
        "fox",
        "dog",
    }
    assert set(d.decode(many, temperature=temperature, top_p=1e-6, generator=g)) == {"fox"}
    assert set(d.decode(many, temperature=temperature, generator=g)) == set(d.words)
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ConfigError):
            d.decode(logits, temperature=0.5, top_p=bad)
    with pytest.raises(ConfigError):
        d.decode(logits, temperature=-1.0)


def test_empty_dictionary(hasher: TrigramHasher) -> None:
    d = WordDictionary.from_counts({}, hasher, special_words=())
    assert len(d) == 0 and d.scores(torch.zeros(2, V)).shape == (2, 0)
    with pytest.raises(DataError):
        d.decode(torch.zeros(1, V))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu(dictionary: WordDictionary) -> None:
    logits = torch.randn(3, V, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(
        dictionary.scores(logits.cuda()).cpu(), dictionary.scores(logits), atol=1e-5, rtol=1e-5
    )
    g = torch.Generator(device="cuda").manual_seed(0)
    assert dictionary.decode(logits.cuda(), temperature=0.1, generator=g)
    g = torch.Generator().manual_seed(0)  # a CPU generator with CUDA logits
    assert dictionary.decode(logits.cuda(), temperature=0.1, generator=g)
