"""ByteSpan's counts in compiled code: span types and span words, one chunk at a time.

The monotonic and combined constraints cut a chunk of the corpus into spans
(:func:`chunk_span_starts`, the compiled twin of
:func:`toklab.tokenizers.bytespan.monotonic_starts`), then count:

* **span types** (:func:`count_chunk_spans`): each span's (starts-a-pre-token, bytes) key, and
  for the balanced variant the language of its document in front of it. Keys get ids in order
  of first occurrence when chunks are counted in corpus order, and the position of each first
  occurrence is kept;
* **pre-tokens by their span starts** (:func:`count_chunk_masks`): each pre-token's bytes and
  the bit mask of its span starts, counted with the first position of each. The seeding
  variants count only these in the span pass: their span types follow from them
  (:func:`count_entry_spans`, one count per distinct (pre-token, starts)). Once the seeding
  variants know their vocabulary, each distinct one becomes a **span word** (:func:`word_units`;
  equal words merged by :func:`distinct_words`): the pre-token as a sequence of unit ids, one
  per span whose type is in the vocabulary, else one per byte of the span (the first a
  word-initial byte where the span starts the pre-token, the others continuation bytes). These are the "words" of BPE on spans
  (:func:`toklab.tokenizers.bytespan.seeded_vocabulary`), as pre-token counts are BPE's. A
  corpus has few distinct (pre-token, starts) beside its occurrences, so the words need no
  second pass over the corpus, and a pre-token occurrence costs one lookup of its bytes in a
  small table and one of (id, mask) in a table of integer rows.

Memory holds the distinct keys with their counts, never the corpus. The tables are the
open-addressing tables of byte strings of :mod:`toklab.tokenizers.pretoken_scan` (a word's key
is its unit ids as bytes); only what that module lacks is here: the first positions, a lookup
that does not insert, and the span logic. Why by hand: counting distinct variable-length keys
in compiled code without holding the GIL is what no library does for numpy arrays (numpy's
``unique`` sorts fixed-width rows, which needs the whole corpus as rows at once).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

from toklab.compiled import leaf, prefetch
from toklab.tokenizers.merge_loop import grown

# the table's internals are reused as they are: one hash table of byte strings for the project
from toklab.tokenizers.pretoken_scan import (
    PretokenCounts,
    _hash,
    _same,
    _with_room,
    count_into,
    empty_table,
)

SPACE = 0x20
_EMPTY = -1


# ---------------------------------------------------------------------------------------------
# Span starts


@njit(cache=True, nogil=True)
def chunk_span_starts(cue, pretok, data, threshold, combined, out):  # pragma: no cover - compiled
    """Monotonic (with ``combined``: combined at ``threshold``) span starts into ``out``.

    One pass for :func:`~toklab.tokenizers.bytespan.monotonic_starts`, then one for
    :func:`~toklab.tokenizers.bytespan.absorb_spaces`: left to right, a lone space's following
    span is merged in place; the flags that later tests read are still the unmerged ones
    (merging changes only a start that is not itself a lone space).
    """
    n = len(data)
    if n:
        out[0] = True
    # without branches (the cue has no NaN): a random cue would mispredict every other one
    if combined:
        for i in range(1, n):
            out[i] = ((cue[i] >= cue[i - 1]) & (cue[i] >= threshold)) | (pretok[i] != 0)
    else:
        for i in range(1, n):
            out[i] = (cue[i] >= cue[i - 1]) | (pretok[i] != 0)
    for s in range(n):
        if out[s] and data[s] == SPACE and (s + 1 == n or out[s + 1]):
            f = s + 1
            if f < n and pretok[f] == 0 and not (data[f] == SPACE and (f + 1 == n or out[f + 1])):
                out[f] = False


# ---------------------------------------------------------------------------------------------
# Tables


@leaf
def _probe(slots, pool, rows, source, a, b):  # pragma: no cover - compiled
    """The slot of ``source[a:b]`` in a table, and the string's hash.

    The slot holds the string's id, or is the empty one where it would go.
    """
    mask = len(slots) - 1
    h = np.int64(_hash(source, a, b))
    slot = h & mask
    while True:
        t = slots[slot, 0]
        if t == _EMPTY or (
            slots[slot, 1] == h
            and rows[t, 1] == b - a
            and _same(pool, rows[t, 0], source, a, b - a)
        ):
            return slot, h
        slot = (slot + 1) & mask


# ---------------------------------------------------------------------------------------------
# Counting a chunk


# Each kernel is split in two: an inner loop that counts until the chunk ends or the table is
# full, over arrays it never rebinds, and an outer loop that grows the table and resumes (numba
# reloads rebound arrays on every iteration, which made the one-loop form several times slower).


@njit(cache=True, nogil=True)
def _count_spans_until_full(
    slots,
    pool,
    rows,
    count,
    used,
    first,
    is_start,
    data,
    pretok,
    offset,
    doc_offsets,
    doc_language,
    key,
    s,
    short_counts,
    short_first,
):  # pragma: no cover - compiled
    """Count spans from chunk position ``s`` on; stop where one more key might not fit.

    Returns the new number of keys, the pool bytes used and where it stopped.
    """
    n = len(data)
    prefix = 2 if len(doc_language) else 0
    doc = np.searchsorted(doc_offsets, offset + s, side="right") - 1 if prefix else 0
    while s < n:
        e = s + 1
        while e < n and not is_start[e]:
            e += 1
        if prefix:
            while doc_offsets[doc + 1] <= offset + s:
                doc += 1
        if e - s <= 2 and len(short_counts):
            slot = _short_slot(data, pretok, s, e)
            if prefix:
                slot += doc_language[doc] * SHORT_SLOTS
            if short_counts[slot] == 0:
                short_first[slot] = offset + s
            short_counts[slot] += 1
            s = e
            continue
        size = prefix + 1 + e - s
        full = count == len(rows) or count == len(first) or 2 * (count + 1) > len(slots)
        if full or size > len(key) or used + size > len(pool):
            break
        if prefix:
            key[0] = doc_language[doc] >> 8
            key[1] = doc_language[doc] & 0xFF
        key[prefix] = 1 if pretok[s] else 0
        for j in range(e - s):
            key[prefix + 1 + j] = data[s + j]
        slot, h = _probe(slots, pool, rows, key, 0, size)
        t = slots[slot, 0]
        if t >= 0:
            rows[t, 2] += 1
        else:
            for j in range(size):  # no slices: their views count references
                pool[used + j] = key[j]
            rows[count, 0], rows[count, 1], rows[count, 2] = used, size, 1
            slots[slot, 0], slots[slot, 1] = count, h
            first[count] = offset + s
            count += 1
            used += size
        s = e
    return count, used, s


@leaf
def _short_slot(data, pretok, s, e):  # pragma: no cover - compiled
    """The slot of span ``[s, e)`` of one or two bytes among :data:`SHORT_SLOTS` counters."""
    return _short_key_slot(1 if pretok[s] else 0, data, s, e)


@leaf
def _short_key_slot(start, source, s, e):  # pragma: no cover - compiled
    """The slot of key (``start``, ``source[s:e]``) of one or two bytes, as :func:`_short_slot`.

    (flag, byte) keys take the first 512 slots, then (flag, byte, byte) keys.
    """
    if e - s == 1:
        return (start << 8) | source[s]
    return 512 + ((start << 16) | (np.int64(source[s]) << 8) | source[s + 1])


@njit(cache=True, nogil=True)
def count_chunk_spans(
    table,
    first,
    is_start,
    data,
    pretok,
    offset,
    doc_offsets,
    doc_language,
    key,
    short_counts,
    short_first,
):  # pragma: no cover - compiled
    """Count the span types of one chunk (corpus position ``offset``) into ``table``.

    A key is the span's flag byte and bytes, after two bytes of its document's language when
    ``doc_language`` is not empty. ``first`` gets the corpus position of each new key. With
    non-empty ``short_counts``, spans of one or two bytes are counted there instead, by slot
    (:func:`_short_slot`, plus :data:`SHORT_SLOTS` times the language), with first positions
    in ``short_first``: the most common spans then need no hashing. Returns the table, ``first`` and the scratch
    ``key`` (each possibly grown).
    """
    n = len(data)
    s = 0
    while True:
        slots, pool, rows, count, used = table
        count, used, s = _count_spans_until_full(
            slots,
            pool,
            rows,
            count,
            used,
            first,
            is_start,
            data,
            pretok,
            offset,
            doc_offsets,
            doc_language,
            key,
            s,
            short_counts,
            short_first,
        )
        table = (slots, pool, rows, count, used)
        if s == n:
            return table, first, key
        e = s + 1
        while e < n and not is_start[e]:
            e += 1
        size = 3 + e - s
        if len(key) < size:
            key = np.empty(2 * size, dtype=np.uint8)
        table = _with_room(table, size)
        first = grown(first, count + 1)


# ---------------------------------------------------------------------------------------------
# Pre-tokens by their span starts: the seeding variants' words, counted in the span pass

#: The longest pre-token whose span starts are kept as a bit mask (bit ``j``: its byte ``j``
#: starts a span). A longer one is keyed by its bytes and then its starts as packed bits, with
#: mask 0 (which no shorter pre-token has: a pre-token's first byte always starts a span).
MASK_BYTES = 64

# An entry of a mask table is a row (pre-token id, mask, count, first position), in slots of
# an open-addressing table: a probe reads one row, which holds everything it needs.
_PRETOKEN, _MASK, _TIMES, _FIRST = 0, 1, 2, 3


@leaf
def _mask_slot(pretoken, mask, slot_mask):  # pragma: no cover - compiled
    """The home slot of (``pretoken``, ``mask``) in a mask table of ``slot_mask + 1`` slots."""
    mixed = (np.uint64(pretoken) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(mask)
    return np.int64((mixed * np.uint64(0xBF58476D1CE4E5B9)) >> np.uint64(24)) & slot_mask


@njit(cache=True, nogil=True)
def _masks_with_room(masks, n):  # pragma: no cover - compiled
    """``masks`` itself if it has room for one more entry, else the entries in twice the slots."""
    if 2 * (n + 1) <= len(masks):
        return masks
    bigger = np.full((2 * len(masks), 4), _EMPTY, dtype=np.int64)
    slot_mask = len(bigger) - 1
    for i in range(len(masks)):
        if masks[i, _PRETOKEN] != _EMPTY:
            slot = _mask_slot(masks[i, _PRETOKEN], masks[i, _MASK], slot_mask)
            while bigger[slot, _PRETOKEN] != _EMPTY:
                slot = (slot + 1) & slot_mask
            for c in range(4):
                bigger[slot, c] = masks[i, c]
    return bigger


#: How many pre-tokens the mask count looks ahead: each one's entry is prefetched when its
#: bytes are read and counted this many pre-tokens later, so that the entry's cache miss (the
#: table is far larger than a core's cache) overlaps the work on the ones in between.
_MASK_AHEAD = 16


@leaf
def _count_mask(masks, n_masks, pretoken, mask, position):  # pragma: no cover - compiled
    """Count (``pretoken``, ``mask``) once, first seen at ``position``; the new number of entries."""
    slot_mask = len(masks) - 1
    m = _mask_slot(pretoken, mask, slot_mask)
    while True:
        if masks[m, _PRETOKEN] == _EMPTY:
            masks[m, _PRETOKEN], masks[m, _MASK] = pretoken, np.int64(mask)
            masks[m, _TIMES], masks[m, _FIRST] = 1, position
            return n_masks + 1
        if masks[m, _PRETOKEN] == pretoken and masks[m, _MASK] == np.int64(mask):
            masks[m, _TIMES] += 1
            return n_masks
        m = (m + 1) & slot_mask


@njit(cache=True, nogil=True)
def _count_masks_until_full(
    slots, pool, rows, count, used, masks, n_masks, ahead, is_start, data, pretok, offset, key, w
):  # pragma: no cover - compiled
    """Count pre-tokens from chunk position ``w`` (a pre-token start) on; stop where one might not fit.

    A pre-token's (id, mask, position) waits in the ring ``ahead`` (row 0 holds its length and
    next row) until :data:`_MASK_AHEAD` more are read; at the chunk's end all are counted.
    Returns the new numbers of pre-tokens, pool bytes used and entries, and where it stopped.
    """
    n = len(data)
    flat = masks.reshape(-1)  # for prefetching
    slot_mask = len(masks) - 1
    while w < n:
        # one loop finds the pre-token's end and its start mask (wrapped past MASK_BYTES)
        mask = np.uint64(0)
        stop = w
        while True:
            mask |= np.uint64(is_start[stop]) << np.uint64((stop - w) & 63)
            stop += 1
            if stop == n or pretok[stop]:
                break
        length = stop - w
        size = length if length <= MASK_BYTES else length + (length + 7) // 8
        full = count == len(rows) or 2 * (count + 1) > len(slots)
        full = full or 2 * (n_masks + _MASK_AHEAD + 1) > len(masks)
        if full or used + size > len(pool) or size > len(key):
            break
        if length <= MASK_BYTES:
            slot, h = _probe(slots, pool, rows, data, w, stop)
        else:
            mask = np.uint64(0)  # the bytes, then the starts as packed bits (little bit order)
            for j in range(length):
                key[j] = data[w + j]
            for j in range(length, size):
                key[j] = 0
            for j in range(length):
                if is_start[w + j]:
                    key[length + (j >> 3)] |= np.uint8(1 << (j & 7))
            slot, h = _probe(slots, pool, rows, key, 0, size)
        t = slots[slot, 0]
        if t < 0:
            if length <= MASK_BYTES:
                for j in range(size):  # no slices: their views count references
                    pool[used + j] = data[w + j]
            else:
                for j in range(size):
                    pool[used + j] = key[j]
            rows[count, 0], rows[count, 1], rows[count, 2] = used, size, 0
            slots[slot, 0], slots[slot, 1] = count, h
            t = count
            count += 1
            used += size
        rows[t, 2] += 1
        prefetch(flat, 4 * _mask_slot(t, mask, slot_mask))
        waiting, next_row = ahead[0, 0], ahead[0, 1]
        if waiting == _MASK_AHEAD:  # the ring is full: count its oldest, whose row is next
            n_masks = _count_mask(
                masks,
                n_masks,
                ahead[next_row, 0],
                np.uint64(ahead[next_row, 1]),
                ahead[next_row, 2],
            )
            waiting -= 1
        ahead[next_row, 0], ahead[next_row, 1], ahead[next_row, 2] = t, np.int64(mask), offset + w
        ahead[0, 0], ahead[0, 1] = waiting + 1, next_row % _MASK_AHEAD + 1
        w = stop
    return count, used, n_masks, w


@njit(cache=True, nogil=True)
def _count_waiting(masks, n_masks, ahead):  # pragma: no cover - compiled
    """Count every pre-token waiting in the ring ``ahead``, oldest first; the new entry count."""
    waiting, next_row = ahead[0, 0], ahead[0, 1]
    for k in range(waiting):
        row = (next_row - 1 - waiting + k) % _MASK_AHEAD + 1
        n_masks = _count_mask(
            masks, n_masks, ahead[row, 0], np.uint64(ahead[row, 1]), ahead[row, 2]
        )
    ahead[0, 0], ahead[0, 1] = 0, 1
    return n_masks


@njit(cache=True, nogil=True)
def count_chunk_masks(
    table, masks, n_masks, is_start, data, pretok, offset, key
):  # pragma: no cover - compiled
    """Count the pre-tokens of one chunk (corpus position ``offset``) by their span starts.

    Each pre-token's bytes get an id in ``table`` (a table of byte strings); ``masks`` counts
    each (id, span-start mask) and keeps its first corpus position. The chunk starts a
    pre-token. Returns the table, ``masks``, its number of entries and the scratch ``key``
    (each possibly grown).
    """
    n = len(data)
    ahead = np.zeros((_MASK_AHEAD + 1, 3), dtype=np.int64)
    ahead[0, 1] = 1
    w = 0
    while True:
        slots, pool, rows, count, used = table
        count, used, n_masks, w = _count_masks_until_full(
            slots,
            pool,
            rows,
            count,
            used,
            masks,
            n_masks,
            ahead,
            is_start,
            data,
            pretok,
            offset,
            key,
            w,
        )
        table = (slots, pool, rows, count, used)
        if w == n:
            return table, masks, _count_waiting(masks, n_masks, ahead), key
        stop = w + 1
        while stop < n and not pretok[stop]:
            stop += 1
        size = 2 * (stop - w)
        if len(key) < size:
            key = np.empty(2 * size, dtype=np.uint8)
        table = _with_room(table, size)
        masks = _masks_with_room(masks, n_masks + _MASK_AHEAD)


@leaf
def _pretoken_length(size, mask):  # pragma: no cover - compiled
    """The bytes of a pre-token keyed in ``size`` bytes with ``mask`` (0: followed by its bits)."""
    if mask != 0:
        return size
    length = size * 8 // 9
    while length + (length + 7) // 8 < size:
        length += 1
    return length


@leaf
def _span_end(pretokens, bits, mask, s, length):  # pragma: no cover - compiled
    """Where the span from byte ``s`` of a counted pre-token ends: its next start, or ``length``.

    The starts are ``mask``'s bits, or (mask 0) the packed bits at ``pretokens[bits:]``.
    """
    e = s + 1
    if mask != 0:
        while e < length and not (mask >> np.uint64(e)) & np.uint64(1):
            e += 1
    else:
        while e < length and not (pretokens[bits + (e >> 3)] >> (e & 7)) & 1:
            e += 1
    return e


@njit(cache=True, nogil=True)
def _count_entry_spans_until_full(
    slots, pool, rows, count, used, first, pretokens, pretoken_rows, entries, key, k, s,
    short_counts, short_first,
):  # fmt: skip  # pragma: no cover - compiled
    """Count the spans of entries from entry ``k``'s byte ``s`` on; stop where one might not fit.

    Returns the new numbers of keys and pool bytes used, and the entry and byte it stopped at.
    """
    while k < len(entries):
        t, mask = entries[k, _PRETOKEN], np.uint64(entries[k, _MASK])
        times, position = entries[k, _TIMES], entries[k, _FIRST]
        a, size = pretoken_rows[t, 0], pretoken_rows[t, 1]
        length = _pretoken_length(size, mask)
        while s < length:
            e = _span_end(pretokens, a + length, mask, s, length)
            initial = 1 if s == 0 else 0
            if e - s <= 2:  # by slot, as count_chunk_spans does
                slot = _short_key_slot(initial, pretokens, a + s, a + e)
                if short_counts[slot] == 0 or position + s < short_first[slot]:
                    short_first[slot] = position + s
                short_counts[slot] += times
                s = e
                continue
            n = 1 + e - s
            full = count == len(rows) or count == len(first) or 2 * (count + 1) > len(slots)
            if full or n > len(key) or used + n > len(pool):
                return count, used, k, s
            key[0] = initial
            for j in range(e - s):
                key[1 + j] = pretokens[a + s + j]
            slot, h = _probe(slots, pool, rows, key, 0, n)
            u = slots[slot, 0]
            if u >= 0:
                rows[u, 2] += times
                first[u] = min(first[u], position + s)
            else:
                for j in range(n):  # no slices: their views count references
                    pool[used + j] = key[j]
                rows[count, 0], rows[count, 1], rows[count, 2] = used, n, times
                slots[slot, 0], slots[slot, 1] = count, h
                first[count] = position + s
                count += 1
                used += n
            s = e
        k += 1
        s = 0
    return count, used, k, s


@njit(cache=True, nogil=True)
def count_entry_spans(
    table, first, key, short_counts, short_first, pretokens, pretoken_rows, entries
):  # pragma: no cover - compiled
    """Add the span types of counted pre-token entries (rows of a mask table) to a span table.

    Each entry's spans are counted as often as the entry, at its first position plus the
    span's offset (the earliest such position stays): the counts and first positions equal
    those :func:`count_chunk_spans` gives over the chunks the entries were counted from.
    Returns the table, ``first`` and the scratch ``key`` (each possibly grown).
    """
    k = s = 0
    while True:
        slots, pool, rows, count, used = table
        count, used, k, s = _count_entry_spans_until_full(
            slots, pool, rows, count, used, first, pretokens, pretoken_rows, entries, key, k, s,
            short_counts, short_first,
        )  # fmt: skip
        table = (slots, pool, rows, count, used)
        if k == len(entries):
            return table, first, key
        t, mask = entries[k, _PRETOKEN], np.uint64(entries[k, _MASK])
        a, size = pretoken_rows[t, 0], pretoken_rows[t, 1]
        length = _pretoken_length(size, mask)
        n = 1 + _span_end(pretokens, a + length, mask, s, length) - s
        if len(key) < n:
            key = np.empty(2 * n, dtype=np.uint8)
        table = _with_room(table, n)
        first = grown(first, count + 1)


@njit(cache=True, nogil=True)
def word_units(
    pretokens, pretoken_rows, entries, vocab, initial_ids, continuation_ids, pair_ids
):  # pragma: no cover - compiled
    """Each counted pre-token entry (a row of a mask table) as its span word, end to end.

    A word is its pre-token's spans as unit ids: one per span whose type is in ``vocab`` (a
    table of span keys whose counts are their unit ids; ``pair_ids`` holds those of the
    two-byte keys, by :func:`_short_slot` less 512, else -1), else one per byte of the span
    (the first a word-initial byte where the span starts the pre-token, the others
    continuation bytes). Returns the units, each entry's offsets into them (``len(entries) +
    1``) and each word's hash.
    """
    vocab_slots, vocab_pool, vocab_rows, _, _ = vocab
    bound = 0
    longest = 1
    for k in range(len(entries)):
        size = pretoken_rows[entries[k, _PRETOKEN], 1]
        bound += size
        longest = max(longest, size)
    units = np.empty(bound, dtype=np.int32)
    offsets = np.zeros(len(entries) + 1, dtype=np.int64)
    hashes = np.empty(len(entries), dtype=np.uint64)
    key = np.empty(longest + 1, dtype=np.uint8)
    n_units = 0
    for k in range(len(entries)):
        t, mask = entries[k, _PRETOKEN], np.uint64(entries[k, _MASK])
        a, size = pretoken_rows[t, 0], pretoken_rows[t, 1]
        length = _pretoken_length(size, mask)
        bits = a + length  # where a long pre-token's packed starts begin
        start = n_units
        s = 0
        while s < length:
            e = _span_end(pretokens, bits, mask, s, length)
            initial = s == 0
            unit = -1
            if e - s == 2:  # two bytes: looked up directly
                unit = pair_ids[_short_key_slot(1 if initial else 0, pretokens, a + s, a + e) - 512]
            elif e - s > 2:
                key[0] = 1 if initial else 0
                for j in range(e - s):
                    key[1 + j] = pretokens[a + s + j]
                slot, _ = _probe(vocab_slots, vocab_pool, vocab_rows, key, 0, 1 + e - s)
                v = vocab_slots[slot, 0]
                unit = vocab_rows[v, 2] if v >= 0 else -1
            if unit >= 0:
                units[n_units] = unit
                n_units += 1
            else:  # a byte is always a token, in either form
                b = pretokens[a + s]
                units[n_units] = initial_ids[b] if initial else continuation_ids[b]
                n_units += 1
                for j in range(s + 1, e):
                    units[n_units] = continuation_ids[pretokens[a + j]]
                    n_units += 1
            s = e
        hashes[k] = _hash(units, start, n_units)
        offsets[k + 1] = n_units
    return units[:n_units], offsets, hashes


@njit(cache=True, nogil=True)
def distinct_words(units, offsets, hashes, order, counts, firsts):  # pragma: no cover - compiled
    """Equal words (unit sequences) merged: each one's entry, summed count and first position.

    Entries are grouped by hash (``order`` sorts ``hashes``), then compared within a group.
    Returns the entry of each distinct word, its count and its earliest position, words in no
    particular order.
    """
    word_entry = np.empty(len(order), dtype=np.int64)
    word_count = np.empty(len(order), dtype=np.int64)
    word_first = np.empty(len(order), dtype=np.int64)
    n = 0
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and hashes[order[j]] == hashes[order[i]]:
            j += 1
        group = n  # this hash's distinct words are word_entry[group:n]
        for k in range(i, j):
            e = order[k]
            a, b = offsets[e], offsets[e + 1]
            found = -1
            for w in range(group, n):
                f = word_entry[w]
                c, d = offsets[f], offsets[f + 1]
                if d - c == b - a:
                    same = True
                    for x in range(b - a):
                        if units[a + x] != units[c + x]:
                            same = False
                            break
                    if same:
                        found = w
                        break
            if found < 0:
                word_entry[n], word_count[n], word_first[n] = e, counts[e], firsts[e]
                n += 1
            else:
                word_count[found] += counts[e]
                word_first[found] = min(word_first[found], firsts[e])
        i = j
    return word_entry[:n], word_count[:n], word_first[:n]


@njit(cache=True, nogil=True)
def _merge_until_full(
    slots, pool, rows, count, used, first, other, other_first, k
):  # pragma: no cover - compiled
    """Add the keys of ``other`` from ``k`` on; stop where one more might not fit."""
    _, other_pool, other_rows, other_n, _ = other
    while k < other_n:
        a, size = other_rows[k, 0], other_rows[k, 1]
        full = count == len(rows) or 2 * (count + 1) > len(slots) or used + size > len(pool)
        if full or (len(other_first) and count == len(first)):
            break
        slot, h = _probe(slots, pool, rows, other_pool, a, a + size)
        t = slots[slot, 0]
        if t >= 0:
            rows[t, 2] += other_rows[k, 2]
            if len(other_first) and other_first[k] < first[t]:
                first[t] = other_first[k]
        else:
            pool[used : used + size] = other_pool[a : a + size]
            rows[count, 0], rows[count, 1], rows[count, 2] = used, size, other_rows[k, 2]
            slots[slot, 0], slots[slot, 1] = count, h
            if len(other_first):
                first[count] = other_first[k]
            count += 1
            used += size
        k += 1
    return count, used, k


@njit(cache=True, nogil=True)
def merge_tables(table, first, other, other_first):  # pragma: no cover - compiled
    """``table`` with the counts of ``other`` added, new keys in ``other``'s order.

    With a non-empty ``other_first``, first positions merge too (the earlier one stays).
    Returns the table and ``first``.
    """
    other_n = other[3]
    k = 0
    while True:
        slots, pool, rows, count, used = table
        count, used, k = _merge_until_full(
            slots, pool, rows, count, used, first, other, other_first, k
        )
        table = (slots, pool, rows, count, used)
        if k == other_n:
            return table, first
        table = _with_room(table, other[2][k, 1])
        if len(other_first):
            first = grown(first, count + 1)


# ---------------------------------------------------------------------------------------------
# Counters


#: Counters for the spans of one or two bytes: (flag, byte), then (flag, byte, byte).
SHORT_SLOTS = 512 + 2 * 65536

#: The most languages whose short spans get counters (2 MiB a language and counter); spans
#: of corpora in more languages are all hashed.
SHORT_LANGUAGES = 8


class SpanTypeCounter:
    """Span types of chunks: counts and first positions (chunks in any order), merged counters.

    With ``doc_offsets`` and ``doc_language`` (a small integer per document), types are counted
    per language. Threads may count chunks at once, each into a counter of its own, merged at
    the end (:meth:`merge`): types are ordered by first position, not by id.
    """

    def __init__(
        self, doc_offsets: np.ndarray | None = None, doc_language: np.ndarray | None = None
    ) -> None:
        self.table = empty_table()
        self.first = np.empty(1 << 12, dtype=np.int64)
        self.key = np.empty(256, dtype=np.uint8)
        self.doc_offsets = np.ascontiguousarray(
            np.zeros(1, np.int64) if doc_offsets is None else doc_offsets, dtype=np.int64
        )
        self.doc_language = np.ascontiguousarray(
            np.zeros(0, np.int64) if doc_language is None else doc_language, dtype=np.int64
        )
        languages = int(self.doc_language.max(initial=0)) + 1
        short = SHORT_SLOTS * languages if languages <= SHORT_LANGUAGES else 0
        self.short_counts = np.zeros(short, dtype=np.int64)
        self.short_first = np.zeros(short, dtype=np.int64)

    def add(self, is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray, offset: int) -> None:
        """Count the spans of one chunk, which starts at corpus position ``offset``."""
        self.table, self.first, self.key = count_chunk_spans(
            self.table,
            self.first,
            is_start,
            data,
            pretok,
            offset,
            self.doc_offsets,
            self.doc_language,
            self.key,
            self.short_counts,
            self.short_first,
        )

    def merge(self, other: SpanTypeCounter) -> None:
        """Add the counts of ``other`` (other chunks of the same corpus)."""
        self.table, self.first = merge_tables(self.table, self.first, other.table, other.first)
        earlier = (other.short_counts > 0) & (
            (self.short_counts == 0) | (other.short_first < self.short_first)
        )
        self.short_first[earlier] = other.short_first[earlier]
        self.short_counts += other.short_counts

    def keys(self) -> tuple[PretokenCounts, np.ndarray]:
        """The distinct keys (the short ones last), their counts and first positions."""
        counts = PretokenCounts.from_table(self.table)
        first = self.first[: len(counts)]
        (short,) = np.nonzero(self.short_counts)
        if not len(short):
            return counts, first.copy()
        prefix = 2 if len(self.doc_language) else 0
        language, slot = np.divmod(short, SHORT_SLOTS)
        pair = slot >= 512
        code = np.where(pair, slot - 512, slot)
        lengths = prefix + np.where(pair, 3, 2)
        offsets = np.zeros(len(short) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        keys = np.empty(int(offsets[-1]), dtype=np.uint8)
        at = offsets[:-1]
        if prefix:
            keys[at] = language >> 8
            keys[at + 1] = language & 0xFF
        keys[at + prefix] = np.where(pair, code >> 16, code >> 8)
        keys[at + prefix + 1] = np.where(pair, code >> 8, code) & 0xFF
        keys[at[pair] + prefix + 2] = code[pair] & 0xFF
        merged = PretokenCounts(
            np.concatenate([counts.data, keys]),
            np.concatenate([counts.offsets, offsets[1:] + counts.offsets[-1]]),
            np.concatenate([counts.counts, self.short_counts[short]]),
        )
        return merged, np.concatenate([first, self.short_first[short]])


class WordVocabulary:
    """The units of span words: a table of the vocabulary's span keys (counts: unit ids)."""

    def __init__(self, vocab: Sequence[tuple[bool, bytes]]) -> None:
        keys = [bytes([start]) + body for start, body in vocab]
        source = np.frombuffer(b"".join(keys), dtype=np.uint8)
        bounds = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in keys], out=bounds[1:])
        self.table = count_into(
            empty_table(), source, bounds[:-1], bounds[1:], np.arange(len(keys), dtype=np.int64)
        )
        index = {token: i for i, token in enumerate(vocab)}
        self.initial = np.array([index[(True, bytes([b]))] for b in range(256)], dtype=np.int32)
        self.continuation = np.array(
            [index[(False, bytes([b]))] for b in range(256)], dtype=np.int32
        )
        self.pairs = np.full(2 * 65536, -1, dtype=np.int32)
        for (start, body), unit in index.items():
            if len(body) == 2:
                self.pairs[(start << 16) | (body[0] << 8) | body[1]] = unit


class PretokenMasks:
    """Pre-tokens of chunks counted by their span starts (:func:`count_chunk_masks`).

    The span pass counts them beside the span types, so that the seeding variants' words need
    no second pass over the corpus: once the vocabulary is known, :func:`count_span_words`
    makes each distinct (pre-token, span starts) into its word. Threads may count chunks at
    once, each into a counter of its own.
    """

    def __init__(self) -> None:
        self.table = empty_table()
        self.masks = np.full((1 << 12, 4), _EMPTY, dtype=np.int64)
        self.n_masks = 0
        self.key = np.empty(256, dtype=np.uint8)

    def add(self, is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray, offset: int) -> None:
        """Count the pre-tokens of one chunk, which starts at corpus position ``offset``."""
        self.table, self.masks, self.n_masks, self.key = count_chunk_masks(
            self.table, self.masks, self.n_masks, is_start, data, pretok, offset, self.key
        )

    def entries(self) -> np.ndarray:
        """The counted (pre-token id, mask, count, first position) rows."""
        return self.masks[self.masks[:, _PRETOKEN] != _EMPTY]

    def span_types(self) -> SpanTypeCounter:
        """The span types of the counted pre-tokens: what counting their chunks' spans gives.

        A pre-token's spans are its bytes cut at its starts, so the seeding variants count
        only pre-tokens in the span pass, and their span types afterwards, once per distinct
        (pre-token, starts) instead of once per span.
        """
        counter = SpanTypeCounter()
        _, pool, rows, _, _ = self.table
        counter.table, counter.first, counter.key = count_entry_spans(
            counter.table,
            counter.first,
            counter.key,
            counter.short_counts,
            counter.short_first,
            pool,
            rows,
            self.entries(),
        )
        return counter


def count_span_words(counters: Sequence[PretokenMasks], vocab: WordVocabulary) -> SpanWords:
    """The span words over ``vocab`` of the pre-tokens ``counters`` hold, merged.

    Each counted (pre-token, span starts) becomes its word (:func:`word_units`); equal words
    are merged (:func:`distinct_words`) and put in order of first occurrence. Each counter is
    emptied as its words are made: its tables are, with the words, the largest thing the
    seeding variants hold.
    """
    from concurrent.futures import ThreadPoolExecutor

    def words_of(counter: PretokenMasks) -> tuple[np.ndarray, ...]:
        _, pool, rows, _, _ = counter.table
        entries = counter.entries()
        counter.table, counter.masks, counter.n_masks = empty_table(), counter.masks[:0], 0
        units, offsets, hashes = word_units(
            pool, rows, entries, vocab.table, vocab.initial, vocab.continuation, vocab.pairs
        )
        return units, offsets, hashes, entries[:, _TIMES], entries[:, _FIRST]

    with ThreadPoolExecutor(max(len(counters), 1)) as pool:  # compiled code releases the GIL
        parts = list(pool.map(words_of, counters))
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return SpanWords(np.zeros(0, dtype=np.int32), np.zeros(1, dtype=np.int64), empty)
    shifts = np.cumsum([0] + [len(part[0]) for part in parts[:-1]])
    units = np.concatenate([part[0] for part in parts])
    ends = [part[1][1:] + shift for part, shift in zip(parts, shifts, strict=True)]
    offsets = np.concatenate([np.zeros(1, dtype=np.int64), *ends])
    hashes, counts, firsts = (np.concatenate([part[i] for part in parts]) for i in (2, 3, 4))
    del parts
    entry, count, first = distinct_words(units, offsets, hashes, np.argsort(hashes), counts, firsts)
    order = np.argsort(first)  # distinct positions: any sort is stable
    entry = entry[order]
    ids, word_offsets = gather(
        units.view(np.uint8), 4 * offsets[entry], 4 * (offsets[entry + 1] - offsets[entry]), 0
    )
    return SpanWords(ids.view(np.int32), word_offsets // 4, count[order])


@dataclass(frozen=True)
class SpanWords:
    """Distinct span words: word ``w`` is ``ids[offsets[w]:offsets[w + 1]]``, ``counts[w]`` times."""

    ids: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.counts)

    def longer_than_one(self) -> SpanWords:
        """The words of two units or more (the others hold no pair)."""
        lengths = np.diff(self.offsets)
        keep = lengths > 1
        if keep.all():
            return self
        offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[keep], out=offsets[1:])
        return SpanWords(self.ids[np.repeat(keep, lengths)], offsets, self.counts[keep])

    def as_lists(self) -> tuple[list[list[int]], list[int]]:
        """The words as lists of ids, and their counts."""
        ids, bounds = self.ids.tolist(), self.offsets.tolist()
        words = [ids[a:b] for a, b in itertools.pairwise(bounds)]
        return words, self.counts.tolist()


@njit(cache=True, nogil=True)
def gather(pool, starts, lengths, skip):  # pragma: no cover - compiled
    """``pool[starts[i] + skip : starts[i] + lengths[i]]`` for every ``i``, end to end.

    Returns the bytes and their offsets (``len(starts) + 1``).
    """
    offsets = np.zeros(len(starts) + 1, dtype=np.int64)
    for i in range(len(starts)):
        offsets[i + 1] = offsets[i] + lengths[i] - skip
    out = np.empty(offsets[-1], dtype=np.uint8)
    for i in range(len(starts)):
        out[offsets[i] : offsets[i + 1]] = pool[starts[i] + skip : starts[i] + lengths[i]]
    return out, offsets
