"""The incremental global constraint against a brute-force reference that recounts every span."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.errors import DataError
from toklab.pretokenization import pretoken_start_flags
from toklab.tokenizers.bytespan import (
    global_starts,
    initial_tokens,
    segment_starts,
    trajectory_csv,
)
from toklab.tokenizers.bytespan_global import _run_pass, global_vocabularies
from toklab.tokenizers.bytespan_global_corpus import collect_wave, cue_histogram
from toklab.tokenizers.bytespan_stream import cue_keys


def reference(cue, pretok, data, min_frequency, target):
    """Activate bytes in (cue, position) order; after each, recount every span from scratch.

    A type enters when its count reaches min_frequency; types entering after the same byte
    enter in the order of their first new span (a span not present before that byte).
    """
    base = set(initial_tokens())
    order = np.argsort(cue, kind="stable")
    active = np.zeros(len(data), dtype=bool)
    entered: set = set()
    vocab: list = []
    unique: list[int] = []
    previous: set = set()
    for step in range(-1, len(data)):
        if step >= 0:
            active[order[step]] = True
        cuts = [*np.flatnonzero(segment_starts(active, pretok, data)).tolist(), len(data)]
        spans = list(itertools.pairwise(cuts))

        def token(span):
            return (bool(pretok[span[0]]), data[span[0] : span[1]].tobytes())

        counts = Counter(map(token, spans))
        for span in sorted(set(spans) - previous):
            t = token(span)
            if t not in entered and counts[t] >= min_frequency:
                entered.add(t)
                if t not in base:
                    vocab.append(t)
        previous = set(spans)
        unique.append(len(counts))
        if len(vocab) >= target:
            return vocab[:target], unique, step + 1
    return vocab, unique, len(data)


def arrays(text, cue):
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    return data, pretoken_start_flags(text), np.asarray(cue, dtype=np.float32)


texts = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab  c\n.é")), min_size=1, max_size=48),
    # repeated words, so that more span types reach min_frequency
    st.lists(st.sampled_from(["ab", " ab", " abc", " c", "\n", ".", "é", " "]), min_size=1)
    .map("".join)
    .filter(lambda t: len(t.encode()) <= 60),
)


@settings(max_examples=150, deadline=None)
@given(texts, st.data(), st.integers(1, 3), st.integers(1, 12), st.sampled_from([1, 4, 16]))
def test_incremental_pass_matches_brute_force(text, draw, min_frequency, target, table_size):
    n = len(text.encode())
    # few distinct cue values, so that ties (visited in position order) are common: in buckets
    # of their own (integers), or all in one bucket, told apart by their low key bits
    cue = draw.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    if draw.draw(st.booleans()):
        cue = [1 + c / 4096 for c in cue]
    data, pretok, values = arrays(text, cue)
    vocab, unique, steps = reference(values, pretok, data, min_frequency, target)
    # waves of a few positions and a small type table: many waves, dead types dropped often
    wave = draw.draw(st.integers(1, n))
    # buckets sorted on the reading thread, on the visiting one, or on both
    reader_sorts = draw.draw(st.sampled_from([None, True, False]))
    status, done, positions, lengths, thresholds, _, counted, _ = _run_pass(
        values,
        pretok,
        data,
        min_frequency,
        target,
        1,
        wave=wave,
        table_size=table_size,
        reader_sorts=reader_sorts,
    )
    ordered = np.sort(values, kind="stable")
    assert thresholds.tolist() == (ordered[:steps].tolist() if steps else [-np.inf])
    got = [
        (bool(pretok[p]), data[p : p + length].tobytes())
        for p, length in zip(positions.tolist(), lengths.tolist(), strict=True)
    ]
    assert got == vocab
    assert status == (0 if len(vocab) == target else 1)
    assert done == steps
    # one trajectory row per visited byte (or the initial state): the distinct types after it
    assert counted.tolist() == (unique[1 : steps + 1] if steps else unique[:1])


@settings(max_examples=100, deadline=None)
@given(texts, st.data())
def test_segmentation_after_k_bytes_is_the_batch_one(text, draw):
    n = len(text.encode())
    cue = draw.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))
    steps = draw.draw(st.integers(0, n))
    data, pretok, values = arrays(text, cue)
    starts = np.zeros(n, dtype=bool)
    _run_pass(values, pretok, data, 1, 10**6, 1, max_steps=steps, starts_out=starts)
    active = np.zeros(n, dtype=bool)
    active[np.argsort(values, kind="stable")[:steps]] = True
    assert starts.tolist() == segment_starts(active, pretok, data).tolist()
    # between two distinct cue values, the state is the batch one at a threshold
    ordered = np.sort(values)
    if steps == n or (steps > 0 and ordered[steps - 1] < ordered[steps]):
        threshold = np.inf if steps == n else ordered[steps]
        assert starts.tolist() == global_starts(values, pretok, data, threshold).tolist()


def test_thresholds_keep_the_sign_of_zero():
    data, pretok, values = arrays("ab ab ab", [0.0, -0.0, 1.0, -0.0, 0.0, 2.0, -1.0, -0.0])
    *_, thresholds, _, _, _ = _run_pass(values, pretok, data, 1, 10**6, 1, wave=3)
    order = np.argsort(values, kind="stable")
    assert np.signbit(thresholds).tolist() == np.signbit(values[order]).tolist()
    assert thresholds.tolist() == values[order].tolist()


def test_readers_give_what_arrays_give():
    data, pretok, cue = corpus()
    n = len(data)

    def reader(array):
        return lambda start, stop: array[start:stop].copy()

    base = len(initial_tokens()) + 1
    arrays_result = global_vocabularies(cue, pretok, data, [base + 8], [], 2, record_every=50)
    readers_result = global_vocabularies(
        reader(cue), reader(pretok), reader(data), [base + 8], [], 2, record_every=50, n=n
    )
    assert arrays_result == readers_result


def test_long_pretokens_use_prefix_hashes():
    # pre-tokens longer than DIRECT_HASH bytes: their spans are hashed from prefix hashes
    rng = np.random.default_rng(1)
    words = ["x" * 30, "y" * 29 + "x", " " + "x" * 40]
    text = "".join(rng.choice(words, size=12))
    cue = rng.integers(0, 4, size=len(text.encode()))
    data, pretok, values = arrays(text, cue)
    for min_frequency in (1, 2):
        vocab, unique, steps = reference(values, pretok, data, min_frequency, 40)
        _, done, positions, lengths, _, _, counted, _ = _run_pass(
            values, pretok, data, min_frequency, 40, record_every=1
        )
        got = [
            (bool(pretok[p]), data[p : p + m].tobytes())
            for p, m in zip(positions, lengths, strict=True)
        ]
        assert got == vocab and done == steps
        assert any(len(body) > 24 for _, body in got)
        assert counted.tolist() == unique[1 : steps + 1]


def test_space_absorption_follows_the_runs():
    # pre-tokens "xa", " b": with no byte active, the lone space joins "b"
    data, pretok, cue = arrays("xa b", [9, 9, 9, 1])
    starts = np.zeros(4, dtype=bool)
    _run_pass(cue, pretok, data, 1, 10**6, 1, max_steps=0, starts_out=starts)
    assert starts.tolist() == [True, True, True, False]


def corpus(seed=0, words=400):
    rng = np.random.default_rng(seed)
    text = " ".join(rng.choice(["lorem", "ipsum", "dolor", "sit", "amet", "ama"], size=words))
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    cue = np.where(pretok == 1, 5.0, 0.0) + rng.random(len(data)).astype(np.float32)
    return data, pretok, cue.astype(np.float32)


def test_vocabularies_are_nested_and_trajectory_rises():
    data, pretok, cue = corpus()
    base = len(initial_tokens()) + 1
    result = global_vocabularies(
        cue, pretok, data, [base + 8, base + 4], [], min_frequency=2, record_every=50
    )
    small, large = result.vocabularies[base + 4], result.vocabularies[base + 8]
    assert len(small) + 1 == base + 4 and len(large) + 1 == base + 8
    assert large[: len(small)] == small
    thresholds = [row["threshold"] for row in result.trajectory]
    assert thresholds == sorted(thresholds) and len(thresholds) >= 2
    assert result.trajectory[-1]["vocab_size"] == base + 8
    assert trajectory_csv(result.trajectory).startswith("threshold,vocab_size,unique_segments\n")
    # the same pass, asked for more, learns the same types first
    more = global_vocabularies(cue, pretok, data, [base + 8], [], min_frequency=2, extra=5)
    assert more.vocabularies[base + 8] == large
    assert more.candidates[: len(large)] == large and len(more.candidates) > len(large)


def test_not_enough_frequent_spans_is_an_error():
    data, pretok, cue = corpus(words=30)
    with pytest.raises(DataError, match="found only"):
        global_vocabularies(cue, pretok, data, [len(initial_tokens()) + 500], [])


def test_hash_collisions_are_detected(monkeypatch):
    # with both bases 0 a span's hash is its last byte: only the length tells types apart
    zero = (0, 0)
    # at the start: the word-initial and the continuation "a" collide
    data, pretok, cue = arrays("aa", [0.0, 0.0])
    status, *_, collision = _run_pass(cue, pretok, data, 1, 100, 1, bases=zero)
    assert status == 2 and collision.tolist() == [1, 0]
    # when a type enters: "xab" (the representative) and " cb" share a key; bytes are visited
    # in position order (equal cues), so " cb" reaches min_frequency 2 at its first occurrence
    text = "xab cb cb"
    data, pretok, cue = arrays(text, [0.0] * len(text))
    status, *_, collision = _run_pass(cue, pretok, data, 2, 100, 1, bases=zero)
    assert status == 2 and collision.tolist() == [3, 0]
    # the real hashes tell them apart
    status, *_ = _run_pass(cue, pretok, data, 2, 100, 1)
    assert status == 1
    import functools

    import toklab.tokenizers.bytespan_global as module

    monkeypatch.setattr(module, "_run_pass", functools.partial(_run_pass, bases=zero))
    with pytest.raises(DataError, match="hash collision between positions 3 and 0"):
        global_vocabularies(cue, pretok, data, [len(initial_tokens()) + 3], [], 2)


def test_nan_cues_are_rejected():
    data, pretok, cue = corpus(words=20)
    cue[3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        global_vocabularies(cue, pretok, data, [len(initial_tokens()) + 5], [])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 3 * 4096 + 13), st.data())
def test_cue_histogram_and_waves_match_numpy(n, draw):
    """The cue's buckets and a wave's positions, over several stretches, against numpy."""
    rng = np.random.default_rng(n)
    values = rng.normal(scale=draw.draw(st.sampled_from([1e-3, 1.0, 1e3])), size=n)
    cue = values.astype(np.float32)
    cue[rng.random(n) < 0.05] = -0.0
    cue[rng.random(n) < 0.05] = 0.0
    keys = cue_keys(cue)
    counts = np.zeros(1 << 16, dtype=np.int64)
    assert cue_histogram(cue, counts) == (0, int(np.sum(cue.view(np.uint32) == 0x80000000)))
    assert np.array_equal(counts, np.bincount(keys >> 16, minlength=1 << 16))
    # the wave's ends: buckets that hold values (off-by-ones show there), or any
    held = sorted(set((keys >> 16).tolist())) or [0]
    ends = st.one_of(st.sampled_from(held), st.integers(0, (1 << 16) - 1))
    first = draw.draw(ends)
    last = draw.draw(st.one_of(ends.map(lambda b: b + 1), st.integers(first + 1, 1 << 16)))
    last = max(last, first + 1)
    offset = draw.draw(st.integers(0, 10**9))
    below = np.concatenate([[0], np.cumsum(counts)])
    size = int(below[last] - below[first])
    fill = below[first:last] - below[first]
    positions, low = np.empty(size, dtype=np.int64), np.empty(size, dtype=np.uint16)
    collect_wave(cue, offset, first, last, fill, positions, low)
    # the wave: its positions in bucket order, in position order within a bucket
    inside = np.flatnonzero(((keys >> 16) >= first) & ((keys >> 16) < last))
    inside = inside[np.argsort(keys[inside] >> 16, kind="stable")]
    assert np.array_equal(positions, offset + inside)
    assert np.array_equal(low, keys[inside] & 0xFFFF)
