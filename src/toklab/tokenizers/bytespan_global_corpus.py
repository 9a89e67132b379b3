"""The corpus as ByteSpan's global pass holds it: bytes in groups with their flags, spans, hashes.

Per byte the pass keeps its value and two bits, its pre-token-start flag and whether it is
active. Each 8 bytes are stored next to their 16 flag bits (:data:`GROUP` bytes), so that a
visit reads one cache line. Runs are found by scanning the active bits from the byte visited
(:func:`run_start`, :func:`run_end`, :func:`span_end`), and a span's type by hashing it again
(:func:`span_key`), so no per-byte links or type ids are kept. Spans longer than
:data:`DIRECT_HASH` bytes are hashed in O(1) from the prefix hashes of the long pre-tokens that
hold them (:func:`long_pretokens`, :func:`prefix_hashes`). The cue is read in blocks of
:data:`READ_BYTES` (:func:`blocks`), its order by buckets of its top 16 key bits
(:func:`cue_histogram`, :func:`collect_wave`). :mod:`toklab.tokenizers.bytespan_global` holds
the pass itself.
"""

from __future__ import annotations

import numba
import numpy as np

from toklab.tokenizers.bytespan import SPACE
from toklab.tokenizers.bytespan_stream import CueReader, cue_key

#: The hashes are polynomials modulo the Mersenne prime 2^31 - 1, in two bases.
MODULUS = 2**31 - 1
BASES = (1_000_003_481, 1_442_695_027)
#: Spans up to this long are hashed from their bytes; longer ones from prefix hashes.
DIRECT_HASH = 24
#: Bytes per read of the cue, the bytes and the flags (whole blocks of an extraction's zarr).
READ_BYTES = 1 << 20

#: The corpus is held in groups of 8 bytes, then their pre-token-start bits, then their
#: active bits: what a byte's visit reads is one cache line, not three arrays' worth.
GROUP, STARTS, ACTIVE = 10, 8, 9

# ---------------------------------------------------------------------------------------------
# Bits, runs and spans


@numba.njit(cache=True, nogil=True)
def byte_at(blob, i):  # pragma: no cover - compiled
    """Byte ``i`` of the corpus."""
    return blob[GROUP * (i >> 3) + (i & 7)]


@numba.njit(cache=True, nogil=True)
def flag(blob, i, which):  # pragma: no cover - compiled
    """Flag ``which`` (:data:`STARTS` or :data:`ACTIVE`) of byte ``i``."""
    return (blob[GROUP * (i >> 3) + which] >> (i & 7)) & 1


@numba.njit(cache=True, nogil=True)
def activate(blob, i):  # pragma: no cover - compiled
    """Mark byte ``i`` active."""
    blob[GROUP * (i >> 3) + ACTIVE] |= np.uint8(1 << (i & 7))


@numba.njit(cache=True, nogil=True)
def run_start(blob, j):  # pragma: no cover - compiled
    """The first byte of the run holding ``j``: active bytes join within a pre-token."""
    if not flag(blob, j, ACTIVE):
        return j
    while j > 0 and not flag(blob, j, STARTS) and flag(blob, j - 1, ACTIVE):
        j -= 1
    return j


@numba.njit(cache=True, nogil=True)
def run_end(blob, j, n):  # pragma: no cover - compiled
    """The last byte of the run holding ``j``."""
    if not flag(blob, j, ACTIVE):
        return j
    while j + 1 < n and not flag(blob, j + 1, STARTS) and flag(blob, j + 1, ACTIVE):
        j += 1
    return j


@numba.njit(cache=True, nogil=True)
def span_end(x, blob, n):  # pragma: no cover - compiled
    """End (exclusive) of the span starting at run start ``x``: a lone space takes the next run."""
    y = run_end(blob, x, n)
    if (
        y == x
        and byte_at(blob, x) == SPACE
        and x + 1 < n
        and not flag(blob, x + 1, STARTS)
        and not (run_end(blob, x + 1, n) == x + 1 and byte_at(blob, x + 1) == SPACE)
    ):
        return run_end(blob, x + 1, n) + 1
    return y + 1


@numba.njit(cache=True, nogil=True)
def mod_prime(x):  # pragma: no cover - compiled
    """``x`` modulo 2^31 - 1, for 0 <= x < 2^62."""
    x = (x & 0x7FFFFFFF) + (x >> 31)
    x = (x & 0x7FFFFFFF) + (x >> 31)
    return x - 0x7FFFFFFF if x >= 0x7FFFFFFF else x


@numba.njit(cache=True, nogil=True)
def span_key(
    blob, long_start, long_base, prefix, powers, a, e, b1, b2
):  # pragma: no cover - compiled
    """The 62-bit hash of (starts-a-pre-token, bytes[a:e]).

    Spans longer than DIRECT_HASH lie in a long pre-token, whose prefix hashes start at
    ``prefix[long_base[k]]`` (``k`` the pre-token holding ``a``).
    """
    length = e - a
    symbol = 257 + flag(blob, a, STARTS)
    if length <= DIRECT_HASH:
        h1 = symbol
        h2 = symbol
        for j in range(a, e):
            c = byte_at(blob, j) + 1
            h1 = mod_prime(h1 * b1 + c)
            h2 = mod_prime(h2 * b2 + c)
    else:
        k = np.searchsorted(long_start, a, side="right") - 1
        pa = prefix[long_base[k] + a - long_start[k]]
        pe = prefix[long_base[k] + e - long_start[k]]
        h1 = (pe >> 32) + 0x7FFFFFFF - mod_prime((pa >> 32) * powers[length, 0])
        h2 = (pe & 0x7FFFFFFF) + 0x7FFFFFFF - mod_prime((pa & 0x7FFFFFFF) * powers[length, 1])
        h1 = mod_prime(mod_prime(h1) + symbol * powers[length, 0])
        h2 = mod_prime(mod_prime(h2) + symbol * powers[length, 1])
    return (h1 << 31) | h2


@numba.njit(cache=True, nogil=True)
def same_span(blob, a, b, length):  # pragma: no cover - compiled
    """Whether the spans of ``length`` bytes at ``a`` and ``b`` are one type (flag and bytes)."""
    if flag(blob, a, STARTS) != flag(blob, b, STARTS):
        return False
    j = 0
    while j < length and byte_at(blob, a + j) == byte_at(blob, b + j):
        j += 1
    return j == length


@numba.njit(cache=True, nogil=True)
def is_initial(blob, a, length):  # pragma: no cover - compiled
    """Whether span (a, length) is an initial token: a byte, or space + non-space word-initially."""
    if length == 1:
        return True
    return (
        length == 2
        and flag(blob, a, STARTS)
        and byte_at(blob, a) == SPACE
        and byte_at(blob, a + 1) != SPACE
    )


# ---------------------------------------------------------------------------------------------
# Reading the corpus: bits, long pre-tokens, waves


@numba.njit(cache=True, nogil=True)
def long_pretokens(blob, n, shortest):  # pragma: no cover - compiled
    """Starts and lengths of the pre-tokens longer than ``shortest`` (0 starts one too)."""
    count = 0
    last = 0
    for i in range(1, n + 1):
        if i == n or flag(blob, i, STARTS):
            if i - last > shortest:
                count += 1
            last = i
    found_start = np.empty(count, dtype=np.int64)
    found_length = np.empty(count, dtype=np.int64)
    count = 0
    last = 0
    for i in range(1, n + 1):
        if i == n or flag(blob, i, STARTS):
            if i - last > shortest:
                found_start[count] = last
                found_length[count] = i - last
                count += 1
            last = i
    return found_start, found_length


@numba.njit(cache=True, nogil=True)
def prefix_hashes(
    blob, long_start, long_length, long_base, prefix, b1, b2
):  # pragma: no cover - compiled
    """Prefix hashes of each long pre-token, from 0 at its start."""
    for k in range(len(long_start)):
        h1 = 0
        h2 = 0
        base = long_base[k]
        prefix[base] = 0
        for j in range(long_length[k]):
            c = byte_at(blob, long_start[k] + j) + 1
            h1 = mod_prime(h1 * b1 + c)
            h2 = mod_prime(h2 * b2 + c)
            prefix[base + j + 1] = (h1 << 32) | h2


@numba.njit(cache=True, nogil=True)
def cue_histogram(cue, counts):  # pragma: no cover - compiled
    """Add the top 16 key bits of ``cue`` to ``counts``; return (NaN count, -0.0 count)."""
    bits = cue.view(np.uint32)
    nans = 0
    negative_zeros = 0
    for i in range(len(cue)):
        nans += cue[i] != cue[i]
        negative_zeros += bits[i] == np.uint32(0x80000000)
        counts[cue_key(bits, i) >> np.uint32(16)] += 1
    return nans, negative_zeros


@numba.njit(cache=True, nogil=True)
def collect_wave(cue, offset, first_bucket, last_bucket, fill, positions, low):  # pragma: no cover
    """Place the positions of ``cue`` whose bucket is in ``[first, last)`` at ``fill``."""
    bits = cue.view(np.uint32)
    for i in range(len(cue)):
        key = cue_key(bits, i)
        bucket = np.int64(key >> np.uint32(16))
        if first_bucket <= bucket < last_bucket:
            slot = fill[bucket - first_bucket]
            fill[bucket - first_bucket] += 1
            positions[slot] = offset + i
            low[slot] = key & np.uint32(0xFFFF)


@numba.njit(cache=True, nogil=True)
def _fill_groups(blob, offset, data, pretok):  # pragma: no cover - compiled
    """Put bytes and pre-token flags read at ``offset`` (a multiple of 8) into ``blob``."""
    for j in range(len(data)):
        i = offset + j
        group = GROUP * (i >> 3)
        blob[group + (i & 7)] = data[j]
        if pretok[j]:
            blob[group + STARTS] |= np.uint8(1 << (i & 7))


@numba.njit(cache=True, nogil=True)
def bytes_at(blob, position, length):  # pragma: no cover - compiled
    """Corpus bytes ``position .. position + length``."""
    out = np.empty(length, dtype=np.uint8)
    for j in range(length):
        out[j] = byte_at(blob, position + j)
    return out


def corpus_groups(data: CueReader, pretok: CueReader, n: int) -> np.ndarray:
    """The corpus bytes and pre-token flags in groups of :data:`GROUP` (no byte active)."""
    blob = np.zeros(GROUP * ((n + 7) // 8), dtype=np.uint8)
    for a, b in blocks(n):  # READ_BYTES is a multiple of 8
        _fill_groups(
            blob,
            a,
            np.ascontiguousarray(data(a, b), dtype=np.uint8),
            np.ascontiguousarray(pretok(a, b), dtype=np.uint8),
        )
    return blob


def blocks(n: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` of each read of :data:`READ_BYTES` over ``n`` bytes."""
    return [(a, min(a + READ_BYTES, n)) for a in range(0, n, READ_BYTES)]
