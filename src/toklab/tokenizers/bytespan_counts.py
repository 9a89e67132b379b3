"""ByteSpan's counts in compiled code: span types and span words, one chunk at a time.

The monotonic and combined constraints cut a chunk of the corpus into spans
(:func:`chunk_span_starts`, the compiled twin of
:func:`toklab.tokenizers.bytespan.monotonic_starts`), then count:

* **span types** (:func:`count_chunk_spans`): each span's (starts-a-pre-token, bytes) key, and
  for the balanced variant the language of its document in front of it. Keys get ids in order
  of first occurrence when chunks are counted in corpus order, and the position of each first
  occurrence is kept. The spans' starts can be kept too, as one bit per corpus byte;
* **span words** (:func:`count_chunk_words`): each pre-token as a sequence of unit ids, one per
  span whose type is in the vocabulary, else one per byte of the span (the first a word-initial
  byte where the span starts the pre-token, the others continuation bytes); distinct words get
  ids in order of first occurrence. These are the "words" of BPE on spans
  (:func:`toklab.tokenizers.bytespan.seeded_vocabulary`), as pre-token counts are BPE's.

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

from toklab.compiled import leaf
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
    start = 1 if pretok[s] else 0
    if e - s == 1:
        return (start << 8) | data[s]
    return 512 + ((start << 16) | (np.int64(data[s]) << 8) | data[s + 1])


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


@njit(cache=True, nogil=True)
def _count_words_until_full(
    slots,
    pool,
    rows,
    count,
    used,
    first,
    bits,
    data,
    pretok,
    offset,
    vocab_slots,
    vocab_pool,
    vocab_rows,
    initial_ids,
    continuation_ids,
    pair_ids,
    units,
    key,
    w,
    cache_length,
    cache_mask,
    cache_id,
    cache_bytes,
):  # pragma: no cover - compiled
    """Count words from chunk position ``w`` (a word start) on; stop where one might not fit.

    A word of at most :data:`CACHED_WORD` bytes is first looked up in a direct-mapped cache
    of recent words (bytes and span starts, a bit a byte): a hit counts its id at once, without
    mapping spans to units and hashing those. Returns the new number of keys, the pool bytes
    used and where it stopped.
    """
    n = len(data)
    source = units.view(np.uint8)  # a view made once: one per word counts its references
    cache_slots = len(cache_length)  # a power of two
    while w < n:
        stop = w + 1
        while stop < n and not pretok[stop]:
            stop += 1
        full = count == len(rows) or count == len(first) or 2 * (count + 1) > len(slots)
        if full or used + 4 * (stop - w) > len(pool) or len(units) < stop - w:
            break
        if len(key) < 1 + stop - w:
            break
        length = stop - w
        c = -1
        mask = np.uint64(0)
        if length <= CACHED_WORD:
            mixed = np.uint64(length)
            for j in range(length):
                p = offset + w + j
                mask |= np.uint64((bits[p >> 3] >> (p & 7)) & 1) << np.uint64(j)
                mixed = (mixed ^ np.uint64(data[w + j])) * np.uint64(0x100000001B3)
            mixed = (mixed ^ mask) * np.uint64(0x9E3779B97F4A7C15)
            c = np.int64(mixed >> np.uint64(40)) & (cache_slots - 1)
            if cache_length[c] == length and cache_mask[c] == mask:
                j = 0
                while j < length and cache_bytes[c, j] == data[w + j]:
                    j += 1
                if j == length:
                    rows[cache_id[c], 2] += 1
                    w = stop
                    continue
        size = 0
        s = w
        while s < stop:
            e = s + 1
            while e < stop and not (bits[(offset + e) >> 3] >> ((offset + e) & 7)) & 1:
                e += 1
            if e - s == 1:  # a byte is always a token, in either form
                units[size] = initial_ids[data[s]] if pretok[s] else continuation_ids[data[s]]
                size += 1
                s = e
                continue
            if e - s == 2:  # two bytes: looked up directly
                unit = pair_ids[
                    (1 << 16 if pretok[s] else 0) | (np.int64(data[s]) << 8) | data[s + 1]
                ]
            else:
                key[0] = 1 if pretok[s] else 0
                for j in range(e - s):
                    key[1 + j] = data[s + j]
                slot, _ = _probe(vocab_slots, vocab_pool, vocab_rows, key, 0, 1 + e - s)
                t = vocab_slots[slot, 0]
                unit = vocab_rows[t, 2] if t >= 0 else -1
            if unit >= 0:
                units[size] = unit
                size += 1
            else:
                units[size] = initial_ids[data[s]] if pretok[s] else continuation_ids[data[s]]
                size += 1
                for j in range(s + 1, e):
                    units[size] = continuation_ids[data[j]]
                    size += 1
            s = e
        slot, h = _probe(slots, pool, rows, source, 0, 4 * size)
        t = slots[slot, 0]
        if t >= 0:
            rows[t, 2] += 1
        else:
            for j in range(4 * size):  # no slices: their views count references
                pool[used + j] = source[j]
            rows[count, 0], rows[count, 1], rows[count, 2] = used, 4 * size, 1
            slots[slot, 0], slots[slot, 1] = count, h
            first[count] = offset + w
            t = count
            count += 1
            used += 4 * size
        if c >= 0:
            cache_length[c], cache_mask[c], cache_id[c] = length, mask, t
            for j in range(length):
                cache_bytes[c, j] = data[w + j]
        w = stop
    return count, used, w


@njit(cache=True, nogil=True)
def count_chunk_words(
    table,
    first,
    bits,
    data,
    pretok,
    offset,
    vocab,
    initial_ids,
    continuation_ids,
    pair_ids,
    units,
    key,
    cache,
):  # pragma: no cover - compiled
    """Count the span words of one chunk (corpus position ``offset``) into ``table``.

    Span starts are read from ``bits`` (corpus positions); ``vocab`` is a table of span keys
    whose counts are their unit ids (``pair_ids``: those of the two-byte keys, by
    :func:`_short_slot` less 512, else -1). A word is a pre-token (the chunk starts one); its key is
    its unit ids as int32 bytes; ``first`` gets the position of each new word. ``cache`` is
    the word cache of :func:`_count_words_until_full` (:func:`word_cache`), which holds ids
    of ``table``. Returns the table, ``first`` and the scratch ``units`` and ``key`` (each
    possibly grown).
    """
    vocab_slots, vocab_pool, vocab_rows, _, _ = vocab
    cache_length, cache_mask, cache_id, cache_bytes = cache
    n = len(data)
    w = 0
    while True:
        slots, pool, rows, count, used = table
        count, used, w = _count_words_until_full(
            slots,
            pool,
            rows,
            count,
            used,
            first,
            bits,
            data,
            pretok,
            offset,
            vocab_slots,
            vocab_pool,
            vocab_rows,
            initial_ids,
            continuation_ids,
            pair_ids,
            units,
            key,
            w,
            cache_length,
            cache_mask,
            cache_id,
            cache_bytes,
        )
        table = (slots, pool, rows, count, used)
        if w == n:
            return table, first, units, key
        stop = w + 1
        while stop < n and not pretok[stop]:
            stop += 1
        if len(units) < stop - w:
            units = np.empty(2 * (stop - w), dtype=np.int32)
        if len(key) < 1 + stop - w:
            key = np.empty(2 * (1 + stop - w), dtype=np.uint8)
        table = _with_room(table, 4 * (stop - w))
        first = grown(first, count + 1)


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


@njit(cache=True, nogil=True)
def set_bits(bits, offset, flags, whole):  # pragma: no cover - compiled
    """Set bit ``offset + i`` of ``bits`` (bit ``p & 7`` of byte ``p >> 3``) where ``flags[i]``.

    With ``whole``, only the bytes that ``flags`` covers entirely, each written as one byte
    (threads may fill the chunks of one bit array at once: no two chunks share such a byte);
    else only the bits in the bytes it shares with the chunks either side, or-ed in.
    """
    n = len(flags)
    head = min((-offset) & 7, n)  # flags before the first whole byte
    tail = head + (n - head) // 8 * 8  # flags from here on are in the last, partial byte
    if whole:
        for i in range(head, tail, 8):
            byte = np.uint8(0)
            for j in range(8):
                byte |= np.uint8(flags[i + j]) << np.uint8(j)
            bits[(offset + i) >> 3] = byte
        return
    for a, b in ((0, head), (tail, n)):
        for i in range(a, b):
            if flags[i]:
                p = offset + i
                bits[p >> 3] |= np.uint8(1 << (p & 7))


# ---------------------------------------------------------------------------------------------
# Counters


#: Counters for the spans of one or two bytes: (flag, byte), then (flag, byte, byte).
SHORT_SLOTS = 512 + 2 * 65536

#: The most languages whose short spans get counters (2 MiB a language and counter); spans
#: of corpora in more languages are all hashed.
SHORT_LANGUAGES = 8

#: The longest word the word cache holds (its span starts are the bits of a uint64), and the
#: cache's size: 2 ** 14 words of 24 bytes, 0.75 MB a counter (at most 2 ** 24).
CACHED_WORD = 24
_CACHE_BITS = 14


def word_cache() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """An empty word cache for :func:`count_chunk_words`: lengths, starts, ids and bytes."""
    slots = 1 << _CACHE_BITS
    return (
        np.zeros(slots, dtype=np.int64),
        np.zeros(slots, dtype=np.uint64),
        np.zeros(slots, dtype=np.int64),
        np.zeros((slots, CACHED_WORD), dtype=np.uint8),
    )


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


class WordCounter:
    """Span words of chunks (see :func:`count_chunk_words`), with first positions.

    Threads may count chunks at once, each into a counter of its own over one shared
    :class:`WordVocabulary` and span starts (only read), merged at the end (:meth:`merge`).
    """

    def __init__(self, starts: np.ndarray, vocab: WordVocabulary) -> None:
        self.vocab = vocab
        self.starts = starts
        self.table = empty_table()
        self.first = np.empty(1 << 12, dtype=np.int64)
        self.units = np.empty(256, dtype=np.int32)
        self.key = np.empty(256, dtype=np.uint8)
        self.cache = word_cache()

    def add(self, data: np.ndarray, pretok: np.ndarray, offset: int) -> None:
        """Count the words of one chunk, which starts at corpus position ``offset``."""
        self.table, self.first, self.units, self.key = count_chunk_words(
            self.table,
            self.first,
            self.starts,
            data,
            pretok,
            offset,
            self.vocab.table,
            self.vocab.initial,
            self.vocab.continuation,
            self.vocab.pairs,
            self.units,
            self.key,
            self.cache,
        )

    def merge(self, other: WordCounter) -> None:
        """Add the counts of ``other`` (other chunks of the same corpus)."""
        self.table, self.first = merge_tables(self.table, self.first, other.table, other.first)

    def result(self) -> SpanWords:
        """The distinct words, in order of first occurrence, with their counts.

        The counter is emptied: its table is the largest thing the seeding variants hold.
        """
        _, pool, rows, n, _ = self.table
        order = np.argsort(self.first[:n], kind="stable")
        self.table, self.first = empty_table(), self.first[:0]
        ids, offsets = gather(pool, rows[:n, 0][order], rows[:n, 1][order], 0)
        return SpanWords(ids.view(np.int32), offsets // 4, rows[:n, 2][order])


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
