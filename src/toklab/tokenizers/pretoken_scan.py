r"""GPT-2 pre-tokens of UTF-8 bytes, found and counted in compiled code.

:data:`toklab.pretokenization.GPT2_PATTERN` is a fixed alternation, so it runs here as a
hand-written scanner over bytes: at each pre-token start, a contraction (``'s``, ``'t``, ``'m``,
``'d``, ``'ll``, ``'ve``, ``'re``); else an optional space and a run of letters, of digits, or of
other non-space characters; else a run of whitespace that leaves its last character to the next
pre-token when one follows (``\s+(?!\S)``, then ``\s+``). The character classes (``\p{L}``,
``\p{N}``, ``\s``) come from the ``regex`` module itself, so the two agree on every code point
(the tests check the scanner against ``GPT2_REGEX.findall`` on arbitrary text).

Why by hand: counting pre-tokens is BPE training's other half, and ``regex`` plus a ``Counter``
runs at about 20 MB/s per core; ``tokenizers`` and rustbpe count in Rust but keep the counts to
themselves. Here a chunk is scanned and its pre-tokens counted in an open-addressing table of
byte strings without holding the GIL, so threads count chunks in parallel.

Input must be valid UTF-8 (the caller decodes it first, which also finds the error offset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np
import regex
from numba import njit

from toklab.compiled import leaf

#: The character classes of the GPT-2 pattern: other (``[^\s\p{L}\p{N}]``), letter, number, space.
OTHER, LETTER, NUMBER, SPACE = 0, 1, 2, 3
_EMPTY = -1


@cache
def character_classes() -> np.ndarray:
    """The class of every code point (other, letter, number, space) as ``regex`` sees them."""
    classes = np.zeros(0x110000, dtype=np.uint8)
    points = np.arange(0x110000, dtype=np.uint32)
    points[0xD800:0xE000] = 0  # surrogates cannot be encoded in UTF-8; class them with NUL
    text = points.tobytes().decode("utf-32-le")
    for cls, pattern in ((LETTER, r"\p{L}"), (NUMBER, r"\p{N}"), (SPACE, r"\s")):
        hits = [m.start() for m in regex.finditer(pattern, text)]
        classes[np.asarray(hits, dtype=np.int64)] = cls
    classes[0xD800:0xE000] = OTHER
    return classes


@leaf
def code_point(data, p):
    """The code point starting at byte ``p`` and its length in bytes (valid UTF-8 assumed)."""
    b0 = np.int64(data[p])
    if b0 < 0x80:
        return b0, 1
    if b0 < 0xE0:
        return ((b0 & 0x1F) << 6) | (np.int64(data[p + 1]) & 0x3F), 2
    if b0 < 0xF0:
        return (
            ((b0 & 0x0F) << 12)
            | ((np.int64(data[p + 1]) & 0x3F) << 6)
            | (np.int64(data[p + 2]) & 0x3F)
        ), 3
    return (
        ((b0 & 0x07) << 18)
        | ((np.int64(data[p + 1]) & 0x3F) << 12)
        | ((np.int64(data[p + 2]) & 0x3F) << 6)
        | (np.int64(data[p + 3]) & 0x3F)
    ), 4


@leaf
def _class_at(data, p, classes):
    point, width = code_point(data, p)
    return classes[point], width


@leaf
def contraction_length(data, p, end):
    """The length of a contraction at ``p`` (``'s`` ... ``'re``), or 0."""
    if data[p] != 0x27 or p + 1 >= end:
        return 0
    c = data[p + 1]
    if c == 0x73 or c == 0x64 or c == 0x6D or c == 0x74:  # s d m t
        return 2
    if p + 2 < end:
        d = data[p + 2]
        if (c == 0x6C and d == 0x6C) or ((c == 0x76 or c == 0x72) and d == 0x65):  # ll ve re
            return 3
    return 0


@leaf
def _pretoken_end(data, p, end, classes):
    """The end of the GPT-2 pre-token that starts at ``p`` (its segment ends at ``end``)."""
    q = p + contraction_length(data, p, end)
    if q > p:
        return q
    cls, width = _class_at(data, p, classes)
    q = p + width
    if data[p] == 0x20 and q < end:
        following, width = _class_at(data, q, classes)
        if following != SPACE:
            cls = following
            q += width
    if cls != SPACE:
        while q < end:
            following, width = _class_at(data, q, classes)
            if following != cls:
                break
            q += width
        return q
    # \s+(?!\S): the whole run at the end, else all but its last character; a single space
    # character before a non-space is \s+ on its own
    last = p
    while q < end:
        following, width = _class_at(data, q, classes)
        if following != SPACE:
            break
        last = q
        q += width
    return last if q < end and last > p else q


@njit(cache=True, nogil=True)
def scan(data, segment_starts, segment_ends, classes):
    """The start and end offsets of the GPT-2 pre-tokens of the segments ``data[start:end]``."""
    size = 1
    for k in range(len(segment_starts)):
        size += segment_ends[k] - segment_starts[k]
    starts = np.empty(size, dtype=np.int64)
    ends = np.empty(size, dtype=np.int64)
    n = 0
    for k in range(len(segment_starts)):
        p, end = segment_starts[k], segment_ends[k]
        while p < end:
            q = _pretoken_end(data, p, end, classes)
            starts[n], ends[n] = p, q
            n += 1
            p = q
    return starts[:n], ends[:n]


# ---------------------------------------------------------------------------------------------
# Counting distinct byte strings


@leaf
def _hash(data, start, end):
    h = np.uint64(14695981039346656037)
    for i in range(start, end):
        h = (h ^ np.uint64(data[i])) * np.uint64(1099511628211)
    return h ^ (h >> np.uint64(29))


@leaf
def _same(a, a_start, b, b_start, length):
    for i in range(length):  # noqa: SIM110 (numba compiles no generators)
        if a[a_start + i] != b[b_start + i]:
            return False
    return True


# A table of counted byte strings is ``(slots, pool, rows, n_strings, pool_used)``: string ``t``
# is ``pool[rows[t, 0]:rows[t, 0] + rows[t, 1]]``, counted ``rows[t, 2]`` times, the strings lie
# one after another in ``pool``, and each slot row holds a string's index and hash (so that a
# probe reads one row, and a hit one more row and the bytes: few cache misses per pre-token).
_START, _LENGTH, _COUNT = 0, 1, 2


@njit(cache=True, nogil=True)
def _slots_for(pool, rows, n):
    size = 1 << 12
    while size < 4 * (n + 1):
        size *= 2
    slots = np.full((size, 2), _EMPTY, dtype=np.int64)
    mask = size - 1
    for t in range(n):
        h = np.int64(_hash(pool, rows[t, _START], rows[t, _START] + rows[t, _LENGTH]))
        slot = h & mask
        while slots[slot, 0] != _EMPTY:
            slot = (slot + 1) & mask
        slots[slot, 0] = t
        slots[slot, 1] = h
    return slots


@leaf
def _insert(slots, pool, rows, n, used, source, a, b, weight):
    """Count ``source[a:b]`` ``weight`` more times (the table has room); the new totals."""
    length = b - a
    mask = len(slots) - 1
    h = np.int64(_hash(source, a, b))
    slot = h & mask
    while True:
        t = slots[slot, 0]
        if t == _EMPTY:
            break
        if (
            slots[slot, 1] == h
            and rows[t, _LENGTH] == length
            and _same(pool, rows[t, _START], source, a, length)
        ):
            rows[t, _COUNT] += weight
            return n, used
        slot = (slot + 1) & mask
    for j in range(length):  # no slices: a leaf allocates no array views
        pool[used + j] = source[a + j]
    rows[n, _START], rows[n, _LENGTH], rows[n, _COUNT] = used, length, weight
    slots[slot, 0] = n
    slots[slot, 1] = h
    return n + 1, used + length


@njit(cache=True, nogil=True)
def _with_room(table, length):
    """``table`` with room for one more string of ``length`` bytes."""
    slots, pool, rows, n, used = table
    if n == len(rows):
        rows = np.concatenate((rows, np.empty((n, 3), dtype=np.int64)))
    if used + length > len(pool):
        pool = np.concatenate((pool, np.empty(max(len(pool), length), dtype=np.uint8)))
    if 2 * (n + 1) > len(slots):
        slots = _slots_for(pool, rows, n)
    return slots, pool, rows, n, used


@njit(cache=True, nogil=True)
def count_into(table, source, token_starts, token_ends, weights):
    """Add the byte strings ``source[start:end]`` (each ``weights[i]`` times) to ``table``.

    ``table`` is made by :func:`empty_table` (its layout is described above). Returns the
    updated table (its arrays grow as needed).
    """
    slots, pool, rows, n, used = table
    for i in range(len(token_starts)):
        a, b = token_starts[i], token_ends[i]
        if n == len(rows) or used + b - a > len(pool) or 2 * (n + 1) > len(slots):
            slots, pool, rows, n, used = _with_room((slots, pool, rows, n, used), b - a)
        n, used = _insert(slots, pool, rows, n, used, source, a, b, weights[i])
    return slots, pool, rows, n, used


@njit(cache=True, nogil=True)
def count_pretokens(table, data, segment_starts, segment_ends, classes):
    """Add the GPT-2 pre-tokens of the segments ``data[start:end]`` to ``table`` (see above).

    :func:`scan` and :func:`count_into` in one pass, with no array per pre-token.
    """
    slots, pool, rows, n, used = table
    for k in range(len(segment_starts)):
        p, end = segment_starts[k], segment_ends[k]
        while p < end:
            q = _pretoken_end(data, p, end, classes)
            if n == len(rows) or used + q - p > len(pool) or 2 * (n + 1) > len(slots):
                slots, pool, rows, n, used = _with_room((slots, pool, rows, n, used), q - p)
            n, used = _insert(slots, pool, rows, n, used, data, p, q, 1)
            p = q
    return slots, pool, rows, n, used


def empty_table() -> tuple:
    """A table for :func:`count_into` holding no strings."""
    size = 1 << 12
    return (
        np.full((4 * size, 2), _EMPTY, dtype=np.int64),
        np.empty(16 * size, dtype=np.uint8),
        np.empty((size, 3), dtype=np.int64),
        0,
        0,
    )


@dataclass(frozen=True)
class PretokenCounts:
    """Distinct pre-tokens as UTF-8 bytes laid end to end, with their counts.

    Pre-token ``i`` is ``data[offsets[i]:offsets[i + 1]]`` and occurs ``counts[i]`` times.
    """

    data: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_table(cls, table: tuple) -> PretokenCounts:
        """The strings of a :func:`count_into` table, compacted."""
        _, pool, rows, n, used = table
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(rows[:n, _LENGTH], out=offsets[1:])
        assert offsets[-1] == used and np.array_equal(rows[:n, _START], offsets[:-1])
        return cls(pool[:used].copy(), offsets, rows[:n, _COUNT].copy())

    @classmethod
    def from_strings(cls, counts: Mapping[str, int]) -> PretokenCounts:
        """The counts of a ``{pre-token: count}`` mapping."""
        encoded = [token.encode("utf-8") for token in counts]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(token) for token in encoded], out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()
        return cls(data, offsets, np.fromiter(counts.values(), np.int64, count=len(counts)))

    def longer_than(self, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The pre-tokens of more than ``length`` bytes as ``(bytes, offsets, counts)``."""
        lengths = np.diff(self.offsets)
        keep = lengths > length
        offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
        np.cumsum(lengths[keep], out=offsets[1:])
        return self.data[np.repeat(keep, lengths)], offsets, self.counts[keep]

    def __len__(self) -> int:
        return len(self.counts)

    def as_dict(self) -> dict[str, int]:
        """``{pre-token: count}``, the pre-tokens decoded."""
        data = self.data.tobytes()
        return {
            data[a:b].decode("utf-8"): int(c)
            for a, b, c in zip(
                self.offsets[:-1].tolist(), self.offsets[1:].tolist(), self.counts.tolist(),
                strict=True,
            )
        }  # fmt: skip

    def add_to(self, table: tuple) -> tuple:
        """``table`` with these counts added."""
        return count_into(table, self.data, self.offsets[:-1], self.offsets[1:], self.counts)
