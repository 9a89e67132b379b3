"""The compiled merge loop against a brute-force merger, for BPE's and ByteSpan's rules."""

from __future__ import annotations

import itertools
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.tokenizers.merge_loop import merge


def brute_force(keys, words, counts, target, threshold=1, skip=0, reuse=False):
    """Recount every pair before each merge; the greatest (count, key a, key b) wins."""
    keys = list(keys)
    words = [list(w) for w in words]
    merges, left = [], 0
    while len(keys) < target:
        pairs = Counter()
        for word, count in zip(words, counts, strict=True):
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], keys[p[0]], keys[p[1]]))
        if pairs[best] < threshold:
            left = pairs[best]
            break
        key = keys[best[0]] + keys[best[1]][skip:]
        new = keys.index(key) if reuse and key in keys else len(keys)
        if new == len(keys):
            keys.append(key)
        merges.append((*best, new))
        for w, word in enumerate(words):
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(new)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            words[w] = out
    return merges, left


small_words = st.lists(st.lists(st.integers(0, 3), min_size=1, max_size=8), min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(small_words, st.data(), st.integers(1, 12), st.integers(1, 3))
def test_bpe_rules_match_brute_force(words, data, merges, threshold):
    counts = data.draw(st.lists(st.integers(1, 5), min_size=len(words), max_size=len(words)))
    keys = [bytes([i]) for i in (7, 3, 200, 3)]
    keys[3] = b"\x03\x00"  # a key that extends another: ties compare it as greater
    target = len(keys) + merges
    assert merge(keys, words, counts, target, threshold=threshold) == brute_force(
        keys, words, counts, target, threshold
    )


@settings(max_examples=200, deadline=None)
@given(small_words, st.data(), st.integers(1, 15))
def test_bytespan_rules_match_brute_force(words, data, merges):
    """Keys carry a flag byte that the right-hand token drops; equal keys reuse a token."""
    counts = data.draw(st.lists(st.integers(1, 5), min_size=len(words), max_size=len(words)))
    keys = [b"\x01a", b"\x00a", b"\x00b", b"\x00ab"]
    target = len(keys) + merges
    got = merge(keys, words, counts, target, skip=1, reuse=True)
    assert got == brute_force(keys, words, counts, target, skip=1, reuse=True)


def test_a_merged_pair_that_forms_again_is_merged_in_its_words():
    """Reuse can re-form a merged pair in a word that held it: the word must be listed again."""
    keys = [b"\x01a", b"\x00a", b"\x00b", b"\x00ab"]
    words, target = [[0, 1, 3, 0, 0, 3]], 7
    got = merge(keys, words, [1], target, skip=1, reuse=True)
    assert got == brute_force(keys, words, [1], target, skip=1, reuse=True)
    assert got[0][-1] == (5, 5, 6)


def test_array_input_equals_lists():
    words = [[0, 1, 0, 1], [1, 1, 1], [0, 1]]
    import numpy as np

    ids = np.array([i for w in words for i in w])
    offsets = np.array([0, 4, 7, 9])
    keys = [b"a", b"b"]
    assert merge(keys, (ids, offsets), [3, 2, 1], 6) == merge(keys, words, [3, 2, 1], 6)


def test_rehashing_lists_only_the_pairs_made():
    """Rows past the pairs made hold whatever the memory held (here: a pair still to come).

    Rehashing once listed them too, so that a later lookup of that pair found a row that was
    never made, and merges depended on what an earlier loop had left in freed memory.
    """
    import numpy as np

    from toklab.tokenizers.merge_loop import _EMPTY, _FIELDS, _KEY, _pair, _rehashed_pairs

    pairs = np.zeros((8, _FIELDS), dtype=np.int64)
    pairs[:, _KEY] = (np.int64(3) << 32) | 4  # stale rows: pair (3, 4)
    slots = np.full(1 << 4, _EMPTY, dtype=np.int64)
    made = 0
    for a, b in [(1, 2), (2, 3)]:
        _, made = _pair(a, b, slots, made, pairs)
    slots = _rehashed_pairs(pairs, made, 8)
    pid, made = _pair(3, 4, slots, made, pairs)
    assert (pid, made) == (2, 3)
    assert sorted(slots[slots != _EMPTY].tolist()) == [0, 1, 2]
