"""The BPE merge loop, compiled: most frequent adjacent pair first, ties broken by bytes.

One loop serves byte-level BPE (:mod:`toklab.tokenizers.bpe`) and ByteSpan's BPE on spans
(:func:`toklab.tokenizers.bytespan.seeded_vocabulary`). Its input is a set of distinct words
(sequences of token ids, each standing for a count of occurrences) and one *key* per token, a
byte string: among pairs of equal count, the pair whose ``(key[a], key[b])`` is greater, as a
tuple of byte strings, wins (CS336's ``max`` over ``(count, (vocab[a], vocab[b]))``). A merged
token's key is ``key[a] + key[b][skip:]`` (``skip`` 1 drops ByteSpan's word-start flag byte).
With ``reuse``, a merge whose key spells an existing token reuses that id, as ByteSpan does;
without it every merge makes a new id, as CS336's BPE does.

Why by hand: no maintained library exposes a BPE trainer with CS336's tie-break (``tokenizers``
and rustbpe break ties the other way). The design is rustbpe's, in numba: pair counts kept
incrementally, an index from each pair to the words holding it (append-only linked lists,
stale entries skipped), and a binary heap with lazy invalidation (an entry whose count is no
longer the pair's count is dropped when popped; every change pushes a fresh entry). Only the
words holding the merged pair are touched, read from the pair's list a block at a time so that
each word's row and ids are prefetched a few words before they are rewritten. Pairs and key
lookups live in open-addressing hash tables over flat arrays; the pair table's slots and the
lists' links are int32, which halves their share of the cache.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import numpy as np
from numba import njit

from toklab.compiled import leaf, prefetch

log = logging.getLogger(__name__)

_GOLDEN = np.uint64(11400714819323198485)
_EMPTY = -1
# a word's row: where its ids start, how many there are, its count, the last step that saw it
_START, _LENGTH, _COUNT, _STEP = 0, 1, 2, 3
# a pair's row: its key (a << 32 | b), a, b, count, the latest entry of its list of words, the
# word that entry names, this step's change of count, and the step that change belongs to
_KEY, _A, _B, _N, _HEAD, _LAST, _CHANGE, _STEP_OF = 0, 1, 2, 3, 4, 5, 6, 7
_FIELDS = 8
_WORD_FIELDS = 4
#: How many of the merged pair's words ahead a word's row is prefetched (its ids, half as far):
#: the words outgrow a core's cache on rich corpora, and a word visited was a cache miss or two.
_AHEAD = 8
#: Pair ids and list entries are int32 in the hot arrays (half the cache footprint of int64):
#: more than this many list entries is an error, where int64 would need over 16 GB for them.
_MAX_ENTRIES = 2**31 - 1


# ---------------------------------------------------------------------------------------------
# Growable arrays and hash tables over flat arrays


@njit(cache=True, nogil=True)
def grown(array, size):  # pragma: no cover - compiled
    """``array`` itself if it holds ``size`` items, else a copy with at least twice the room."""
    if size <= len(array):
        return array
    bigger = np.empty(max(size, 2 * len(array)), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@njit(cache=True, nogil=True)
def _grown_rows(array, rows):
    """``array`` itself if it has ``rows`` rows, else a copy with at least twice as many."""
    if rows <= len(array):
        return array
    bigger = np.empty((max(rows, 2 * len(array)), array.shape[1]), dtype=array.dtype)
    bigger[: len(array)] = array
    return bigger


@leaf
def _pair_slot(slots, pairs, key):
    """The slot of ``key`` in the pair table, or the empty slot where it would go."""
    mask = len(slots) - 1
    slot = np.int64((np.uint64(key) * _GOLDEN) >> np.uint64(40)) & mask
    while True:
        pid = slots[slot]
        if pid == _EMPTY or pairs[pid, _KEY] == key:
            return slot
        slot = (slot + 1) & mask


@njit(cache=True, nogil=True)
def _rehashed_pairs(pairs, count, room):
    """A pair table with room for twice ``room`` pairs, filled with pair ids 0..count-1.

    Only the ``count`` pairs made so far: the rows past them are not written yet (a fresh or
    grown array's memory, which may hold an earlier loop's pairs).
    """
    size = 1 << 16
    while size < 4 * room:
        size *= 2
    slots = np.full(size, _EMPTY, dtype=np.int32)
    for pid in range(count):
        slots[_pair_slot(slots, pairs, pairs[pid, _KEY])] = pid
    return slots


@leaf
def _bytes_hash(pool, start, length):
    """FNV-1a over ``pool[start:start + length]``."""
    h = np.uint64(14695981039346656037)
    for i in range(start, start + length):
        h = (h ^ np.uint64(pool[i])) * np.uint64(1099511628211)
    return h


@leaf
def _compare(pool, start_a, len_a, start_b, len_b):
    """-1, 0 or 1 as the byte string ``a`` is below, equal to or above ``b``."""
    for i in range(min(len_a, len_b)):
        x, y = pool[start_a + i], pool[start_b + i]
        if x != y:
            return -1 if x < y else 1
    if len_a == len_b:
        return 0
    return -1 if len_a < len_b else 1


@leaf
def _key_slot(slots, pool, key_start, key_len, start, length):
    """The slot of the token whose key is ``pool[start:start+length]``, or an empty slot."""
    mask = len(slots) - 1
    slot = np.int64(_bytes_hash(pool, start, length) >> np.uint64(20)) & mask
    while True:
        token = slots[slot]
        if token == _EMPTY or (
            key_len[token] == length
            and _compare(pool, key_start[token], length, start, length) == 0
        ):
            return slot
        slot = (slot + 1) & mask


# ---------------------------------------------------------------------------------------------
# The heap: pair ids by (count, key of a, key of b), greatest first


@leaf
def _before(c1, p1, c2, p2, pairs, pool, key_start, key_len):
    """Whether heap entry ``(c1, p1)`` pops before ``(c2, p2)``."""
    if c1 != c2:
        return c1 > c2
    a1, a2 = pairs[p1, _A], pairs[p2, _A]
    if a1 != a2:
        order = _compare(pool, key_start[a1], key_len[a1], key_start[a2], key_len[a2])
        if order != 0:
            return order > 0
    b1, b2 = pairs[p1, _B], pairs[p2, _B]
    if b1 != b2:
        order = _compare(pool, key_start[b1], key_len[b1], key_start[b2], key_len[b2])
        if order != 0:
            return order > 0
    return False


@leaf
def _sift_up(heap, i, pairs, pool, key_start, key_len):
    count, pid = heap[i, 0], heap[i, 1]
    while i > 0:
        parent = (i - 1) >> 1
        if not _before(
            count, pid, heap[parent, 0], heap[parent, 1], pairs, pool, key_start, key_len
        ):
            break
        heap[i, 0], heap[i, 1] = heap[parent, 0], heap[parent, 1]
        i = parent
    heap[i, 0], heap[i, 1] = count, pid


@leaf
def _sift_down(heap, i, size, pairs, pool, key_start, key_len):
    count, pid = heap[i, 0], heap[i, 1]
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and _before(
            heap[right, 0], heap[right, 1], heap[child, 0], heap[child, 1],
            pairs, pool, key_start, key_len,
        ):  # fmt: skip
            child = right
        if not _before(heap[child, 0], heap[child, 1], count, pid, pairs, pool, key_start, key_len):
            break
        heap[i, 0], heap[i, 1] = heap[child, 0], heap[child, 1]
        i = child
    heap[i, 0], heap[i, 1] = count, pid


# ---------------------------------------------------------------------------------------------
# Pairs: id, count, the words holding them, and this step's change of count


@leaf
def _pair(a, b, slots, n_pairs, pairs):
    """The id of pair ``(a, b)``, created if new (the arrays have room); and the pair total."""
    key = (np.int64(a) << 32) | np.int64(b)
    slot = _pair_slot(slots, pairs, key)
    pid = slots[slot]
    if pid != _EMPTY:
        return pid, n_pairs
    pid = n_pairs
    pairs[pid, _KEY] = key
    pairs[pid, _A] = a
    pairs[pid, _B] = b
    pairs[pid, _N] = 0
    pairs[pid, _HEAD] = _EMPTY
    pairs[pid, _LAST] = _EMPTY
    pairs[pid, _CHANGE] = 0
    pairs[pid, _STEP_OF] = _EMPTY
    slots[slot] = pid
    return pid, n_pairs + 1


@leaf
def _note(pid, w, n_occ, occ_word, occ_next, pairs):
    """Add word ``w`` to the words holding ``pid`` (unless just added); the entry total."""
    if pairs[pid, _LAST] == w:
        return n_occ
    occ_word[n_occ] = w
    occ_next[n_occ] = pairs[pid, _HEAD]
    pairs[pid, _HEAD] = n_occ
    pairs[pid, _LAST] = w
    return n_occ + 1


@leaf
def _change(pid, value, step, pairs, touched, n_touched):
    """Add ``value`` to this step's change of ``pid``'s count; the number of pairs touched."""
    if pairs[pid, _STEP_OF] != step:
        pairs[pid, _STEP_OF] = step
        pairs[pid, _CHANGE] = 0
        touched[n_touched] = pid
        n_touched += 1
    pairs[pid, _CHANGE] += value
    return n_touched


@leaf
def _move(
    x, y, new_x, new_y, w, c, step, slots, n_pairs, pairs,
    touched, n_touched, occ_word, occ_next, n_occ,
):  # fmt: skip
    """A merge site's neighbour: ``(x, y)`` hands word ``w``'s count ``c`` to ``(new_x, new_y)``.

    The new pair lists ``w``. Returns the new totals of pairs, touched pairs and list entries.
    """
    pid, n_pairs = _pair(x, y, slots, n_pairs, pairs)
    n_touched = _change(pid, -c, step, pairs, touched, n_touched)
    pid, n_pairs = _pair(new_x, new_y, slots, n_pairs, pairs)
    n_touched = _change(pid, c, step, pairs, touched, n_touched)
    return n_pairs, n_touched, _note(pid, w, n_occ, occ_word, occ_next, pairs)


@njit(cache=True, nogil=True)
def _merge_loop(
    pool, pool_used, key_start, key_len, n_tokens, ids, words,
    target, threshold, skip, reuse,
):  # fmt: skip
    """The loop behind :func:`merge`; returns the merges as ``(a, b, new)`` arrays and more."""
    pairs = np.empty((1 << 12, _FIELDS), dtype=np.int64)  # a row per pair: one cache line
    slots = np.full(1 << 16, _EMPTY, dtype=np.int32)  # pair ids, as position_pid below
    n_pairs = 0

    # first pass: the pairs, their counts, and how many words hold each
    n_words = len(words)
    position_pid = np.empty(len(ids), dtype=np.int32)
    for w in range(n_words):
        s, n = words[w, _START], words[w, _LENGTH]
        if n_pairs + n > len(pairs):
            need = 2 * (n_pairs + n)
            pairs = _grown_rows(pairs, need)
        if 2 * (n_pairs + n) > len(slots):
            slots = _rehashed_pairs(pairs, n_pairs, n_pairs + n)
        for i in range(s, s + n - 1):
            pid, n_pairs = _pair(
                ids[i], ids[i + 1], slots, n_pairs, pairs
            )  # fmt: skip
            position_pid[i] = pid
            pairs[pid, _N] += words[w, _COUNT]
            if pairs[pid, _LAST] != w:
                pairs[pid, _LAST] = w
                pairs[pid, _CHANGE] += 1  # (borrowed) the number of words holding the pair
    # second pass: each pair's words in one run of entries, linked in order, so that the
    # first merges (which touch the most words) read memory in sequence
    n_occ = 0
    for pid in range(n_pairs):
        pairs[pid, _HEAD] = n_occ - 1  # the run's end, before it is filled
        n_occ += pairs[pid, _CHANGE]
        pairs[pid, _CHANGE] = 0
        pairs[pid, _LAST] = _EMPTY
    if n_occ >= _MAX_ENTRIES:
        raise ValueError("too many (pair, word) entries for the merge loop's int32 lists")
    occ_word = np.empty(max(2 * n_occ, 1 << 16), dtype=np.int32)
    occ_next = np.empty(max(2 * n_occ, 1 << 16), dtype=np.int32)
    for w in range(n_words):
        s, n = words[w, _START], words[w, _LENGTH]
        for i in range(s, s + n - 1):
            pid = position_pid[i]
            if pairs[pid, _LAST] != w:
                pairs[pid, _LAST] = w
                entry = pairs[pid, _HEAD] + 1
                occ_word[entry] = w
                occ_next[entry] = pairs[pid, _HEAD] if pairs[pid, _CHANGE] > 0 else _EMPTY
                pairs[pid, _CHANGE] += 1
                pairs[pid, _HEAD] = entry
    position_pid = position_pid[:0]  # free

    heap = np.empty((max(2 * n_pairs, 1 << 12), 2), dtype=np.int64)  # rows: count, pair
    heap[:n_pairs, 0] = pairs[:n_pairs, _N]
    heap[:n_pairs, 1] = np.arange(n_pairs)
    heap_size = n_pairs
    for i in range(heap_size // 2 - 1, -1, -1):
        _sift_down(heap, i, heap_size, pairs, pool, key_start, key_len)

    token_slots = np.full(1, _EMPTY, dtype=np.int64)
    if reuse:
        token_slots = _rehashed_tokens(pool, key_start, key_len, n_tokens, len(key_start))

    merges = max(target - n_tokens, 16)
    merge_a = np.empty(merges, dtype=np.int64)
    merge_b = np.empty(merges, dtype=np.int64)
    merge_new = np.empty(merges, dtype=np.int64)
    n_merges = 0
    touched = np.empty(1 << 12, dtype=np.int64)
    best_left = 0
    todo = np.empty(256, dtype=np.int64)  # a block of the merged pair's words, read ahead
    word_cells = words.reshape(-1)  # for prefetching a word's row

    while n_tokens < target:
        best = _EMPTY
        while heap_size > 0:
            count, pid = heap[0, 0], heap[0, 1]
            heap_size -= 1
            if heap_size > 0:
                heap[0, 0], heap[0, 1] = heap[heap_size, 0], heap[heap_size, 1]
                _sift_down(heap, 0, heap_size, pairs, pool, key_start, key_len)
            if pairs[pid, _N] == count:
                best = pid
                break
        if best == _EMPTY:
            break
        if pairs[best, _N] < threshold:
            best_left = pairs[best, _N]
            break

        a, b = pairs[best, _A], pairs[best, _B]
        length = key_len[a] + key_len[b] - skip
        pool = grown(pool, pool_used + length)
        pool[pool_used : pool_used + key_len[a]] = pool[key_start[a] : key_start[a] + key_len[a]]
        pool[pool_used + key_len[a] : pool_used + length] = pool[
            key_start[b] + skip : key_start[b] + key_len[b]
        ]
        new = _EMPTY
        slot = 0
        if reuse:
            slot = _key_slot(token_slots, pool, key_start, key_len, pool_used, length)
            new = token_slots[slot]
        if new == _EMPTY:
            new = n_tokens
            key_start[new] = pool_used
            key_len[new] = length
            pool_used += length
            n_tokens += 1
            if reuse:
                token_slots[slot] = new
                if 2 * n_tokens > len(token_slots):
                    token_slots = _rehashed_tokens(
                        pool, key_start, key_len, n_tokens, len(key_start)
                    )
        merge_a = grown(merge_a, n_merges + 1)
        merge_b = grown(merge_b, n_merges + 1)
        merge_new = grown(merge_new, n_merges + 1)
        merge_a[n_merges], merge_b[n_merges], merge_new[n_merges] = a, b, new
        step = n_merges
        n_merges += 1

        n_touched = 0
        occ = pairs[best, _HEAD]
        n_todo = 0
        q = 0
        while True:
            if q == n_todo:  # the next block of the pair's words
                n_todo = 0
                while occ != _EMPTY and n_todo < len(todo):
                    todo[n_todo] = occ_word[occ]
                    occ = occ_next[occ]
                    n_todo += 1
                if n_todo == 0:
                    break
                q = 0
                for r in range(min(_AHEAD, n_todo)):
                    prefetch(word_cells, _WORD_FIELDS * todo[r])
            if q + _AHEAD < n_todo:
                prefetch(word_cells, _WORD_FIELDS * todo[q + _AHEAD])
            if q + _AHEAD // 2 < n_todo:
                prefetch(ids, words[todo[q + _AHEAD // 2], _START])
            w = todo[q]
            q += 1
            if words[w, _STEP] == step:
                continue
            words[w, _STEP] = step
            s, n, c = words[w, _START], words[w, _LENGTH], words[w, _COUNT]
            end = s + n
            # room for this word: each merge site adds at most 2 pairs, 2 entries, 5 changes
            if n_pairs + n > len(pairs):
                need = 2 * (n_pairs + n)
                pairs = _grown_rows(pairs, need)
            if 2 * (n_pairs + n) > len(slots):
                slots = _rehashed_pairs(pairs, n_pairs, n_pairs + n)
            if n_occ + n >= _MAX_ENTRIES:
                raise ValueError("too many (pair, word) entries for the merge loop's int32 lists")
            if n_occ + n > len(occ_word):
                occ_word = grown(occ_word, 2 * (n_occ + n))
                occ_next = grown(occ_next, 2 * (n_occ + n))
            if n_touched + 3 * n > len(touched):
                touched = grown(touched, n_touched + 3 * n)
            i = j = s
            while i < end:
                if i + 1 < end and ids[i] == a and ids[i + 1] == b:
                    # the neighbours of the new token: on the left from the rewritten word
                    if j > s:
                        left = ids[j - 1]
                        n_pairs, n_touched, n_occ = _move(
                            left, a, left, new, w, c, step, slots, n_pairs, pairs,
                            touched, n_touched, occ_word, occ_next, n_occ,
                        )  # fmt: skip
                    n_touched = _change(best, -c, step, pairs, touched, n_touched)
                    if i + 2 < end:
                        right = ids[i + 2]
                        n_pairs, n_touched, n_occ = _move(
                            b, right, new, right, w, c, step, slots, n_pairs, pairs,
                            touched, n_touched, occ_word, occ_next, n_occ,
                        )  # fmt: skip
                    ids[j] = new
                    i += 2
                else:
                    ids[j] = ids[i]
                    i += 1
                j += 1
            words[w, _LENGTH] = j - s
        # the merged pair's list is spent; with ``reuse`` the pair may form again later, and its
        # words must then be listed afresh (``_note`` skips a word equal to the last one listed)
        pairs[best, _HEAD] = _EMPTY
        pairs[best, _LAST] = _EMPTY
        heap = _grown_rows(heap, heap_size + n_touched)
        for t in range(n_touched):
            pid = touched[t]
            if pairs[pid, _CHANGE] != 0:
                pairs[pid, _N] += pairs[pid, _CHANGE]
                if pairs[pid, _N] > 0:
                    heap[heap_size, 0], heap[heap_size, 1] = pairs[pid, _N], pid
                    _sift_up(heap, heap_size, pairs, pool, key_start, key_len)
                    heap_size += 1
        pairs[best, _N] = 0
    return merge_a[:n_merges], merge_b[:n_merges], merge_new[:n_merges], n_tokens, best_left


@njit(cache=True, nogil=True)
def _rehashed_tokens(pool, key_start, key_len, n_tokens, capacity):
    """A key table of tokens 0..n_tokens-1 with room for ``capacity`` tokens (first id wins)."""
    size = 1 << 10
    while size < 2 * capacity:
        size *= 2
    slots = np.full(size, _EMPTY, dtype=np.int64)
    for token in range(n_tokens):
        slot = _key_slot(slots, pool, key_start, key_len, key_start[token], key_len[token])
        if slots[slot] == _EMPTY:
            slots[slot] = token
    return slots


# ---------------------------------------------------------------------------------------------
# The Python face


def merge(
    keys: Sequence[bytes],
    words: Sequence[Sequence[int]] | tuple[np.ndarray, np.ndarray],
    word_counts: Sequence[int] | np.ndarray,
    target_size: int,
    *,
    threshold: int = 1,
    skip: int = 0,
    reuse: bool = False,
) -> tuple[list[tuple[int, int, int]], int]:
    """Merge the most frequent pair until there are ``target_size`` tokens (see the module doc).

    ``keys[i]`` is token ``i``'s key; ``words`` are id sequences, or ``(ids, offsets)`` with
    word ``w`` at ``ids[offsets[w]:offsets[w + 1]]``. Pairs counted fewer than ``threshold``
    times are never merged. Returns the merges as ``(a, b, new_id)`` in order and the count of
    the best pair left when merging stopped early (0 if no pair was left).
    """
    if isinstance(words, tuple):
        ids, offsets = words
        ids = np.ascontiguousarray(ids, dtype=np.int32)
        offsets = np.asarray(offsets, dtype=np.int64)
    else:
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        ids = np.fromiter((i for w in words for i in w), dtype=np.int32, count=int(offsets[-1]))
    key_len = np.zeros(max(target_size, len(keys)) + 1, dtype=np.int64)
    key_len[: len(keys)] = [len(k) for k in keys]
    key_start = np.zeros_like(key_len)
    np.cumsum(key_len[: len(keys) - 1], out=key_start[1 : len(keys)])
    pool = np.frombuffer(b"".join(keys), dtype=np.uint8).copy()
    pool = np.concatenate([pool, np.empty(max(len(pool), 1 << 16), dtype=np.uint8)])
    started = time.perf_counter()
    a, b, new, _, best_left = _merge_loop(
        pool,
        int(key_len[: len(keys)].sum()),
        key_start,
        key_len,
        len(keys),
        ids,
        np.stack(
            [
                offsets[:-1],
                np.diff(offsets),
                np.asarray(word_counts, dtype=np.int64),
                np.full(len(offsets) - 1, _EMPTY, dtype=np.int64),
            ],
            axis=1,
        ),
        target_size,
        threshold,
        skip,
        reuse,
    )
    log.info("%d merges in %.2f s", len(a), time.perf_counter() - started)
    return list(zip(a.tolist(), b.tolist(), new.tolist(), strict=True)), int(best_left)
