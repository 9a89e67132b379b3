"""The corpus as ByteSpan's global pass holds it: bytes in groups with their flags, spans, hashes.

Per byte the pass keeps its value and two bits, its pre-token-start flag and whether it is
active. Each 8 bytes are stored next to their 16 flag bits (:data:`GROUP` bytes), so that a
visit reads one cache line. Runs are found by scanning the active bits from the byte visited
(:func:`run_start`, :func:`run_end`, :func:`span_end`), and a span's type by hashing it again
(:func:`span_key`), so no per-byte links or type ids are kept. Spans longer than
:data:`DIRECT_HASH` bytes are hashed in O(1) from the prefix hashes of the long pre-tokens that
hold them (found by :func:`corpus_groups`, hashed by :func:`prefix_hashes`). The cue is read in blocks of
:data:`READ_BYTES` (:func:`blocks`), its order by buckets of its top 16 key bits
(:func:`cue_histogram`, :func:`collect_wave`). :mod:`toklab.tokenizers.bytespan_global` holds
the pass itself.
"""

from __future__ import annotations

import numba
import numpy as np

from toklab.compiled import leaf
from toklab.tokenizers.bytespan import SPACE
from toklab.tokenizers.bytespan_stream import STRETCH, CueReader, cue_key, key_histograms

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


@leaf
def byte_at(blob, i):  # pragma: no cover - compiled
    """Byte ``i`` of the corpus."""
    return blob[GROUP * (i >> 3) + (i & 7)]


@leaf
def flag(blob, i, which):  # pragma: no cover - compiled
    """Flag ``which`` (:data:`STARTS` or :data:`ACTIVE`) of byte ``i``."""
    return (blob[GROUP * (i >> 3) + which] >> (i & 7)) & 1


@leaf
def activate(blob, i):  # pragma: no cover - compiled
    """Mark byte ``i`` active."""
    blob[GROUP * (i >> 3) + ACTIVE] |= np.uint8(1 << (i & 7))


@leaf
def run_start(blob, j):  # pragma: no cover - compiled
    """The first byte of the run holding ``j``: active bytes join within a pre-token."""
    if not flag(blob, j, ACTIVE):
        return j
    while j > 0 and not flag(blob, j, STARTS) and flag(blob, j - 1, ACTIVE):
        j -= 1
    return j


@leaf
def run_end(blob, j, n):  # pragma: no cover - compiled
    """The last byte of the run holding ``j``."""
    if not flag(blob, j, ACTIVE):
        return j
    while j + 1 < n and not flag(blob, j + 1, STARTS) and flag(blob, j + 1, ACTIVE):
        j += 1
    return j


@leaf
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


@leaf
def mod_prime(x):  # pragma: no cover - compiled
    """``x`` modulo 2^31 - 1, for 0 <= x < 2^62."""
    x = (x & 0x7FFFFFFF) + (x >> 31)
    x = (x & 0x7FFFFFFF) + (x >> 31)
    return x - 0x7FFFFFFF if x >= 0x7FFFFFFF else x


@leaf
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


@leaf
def same_span(blob, a, b, length):  # pragma: no cover - compiled
    """Whether the spans of ``length`` bytes at ``a`` and ``b`` are one type (flag and bytes)."""
    if flag(blob, a, STARTS) != flag(blob, b, STARTS):
        return False
    j = 0
    while j < length and byte_at(blob, a + j) == byte_at(blob, b + j):
        j += 1
    return j == length


@leaf
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
    key_histograms(cue, counts, 0, np.zeros((0, len(counts)), dtype=np.int64))
    return nans, negative_zeros


@numba.njit(cache=True, nogil=True)
def collect_wave(cue, offset, first_bucket, last_bucket, fill, positions, low):  # pragma: no cover
    """Place the positions of ``cue`` whose bucket is in ``[first, last)`` at ``fill``.

    A wave holds a sixteenth of the cue or so: a stretch is first marked, a byte a value in a
    loop the compiler vectorizes, and only its marked values are placed (eight marks are
    skipped at once where none is set).
    """
    if last_bucket <= first_bucket:
        return
    bits = cue.view(np.uint32)
    lowest = np.uint64(first_bucket) << np.uint64(16)
    width = np.uint64(last_bucket - first_bucket) << np.uint64(16)
    marked = np.zeros(STRETCH, dtype=np.uint8)
    words = marked.view(np.uint64)
    for a in range(0, len(cue), STRETCH):
        m = min(STRETCH, len(cue) - a)
        for i in range(m):
            marked[i] = np.uint64(cue_key(bits, a + i)) - lowest < width
        marked[m:] = 0
        for w in range((m + 7) >> 3):
            if words[w] == 0:
                continue
            for i in range(8 * w, 8 * w + 8):
                if marked[i]:
                    key = cue_key(bits, a + i)
                    bucket = np.int64(key >> np.uint32(16)) - first_bucket
                    slot = fill[bucket]
                    fill[bucket] = slot + 1
                    positions[slot] = offset + a + i
                    low[slot] = key & np.uint32(0xFFFF)


#: The lowest and highest set bit of a byte (0 for none).
_LOWEST_BIT = np.array([(b & -b).bit_length() - 1 if b else 0 for b in range(256)], np.int64)
_HIGHEST_BIT = np.array([b.bit_length() - 1 if b else 0 for b in range(256)], np.int64)


@numba.njit(cache=True, nogil=True)
def _fill_groups(
    blob, offset, data, pretok, shortest, state, long_start, long_length
):  # pragma: no cover - compiled
    """Put bytes and pre-token flags read at ``offset`` (a multiple of 8) into ``blob``.

    Also notes the pre-tokens longer than ``shortest`` (at least 8) that end in these bytes:
    ``state`` carries the start of the current pre-token and the number noted from one read
    to the next. Flags are set a group at a time; only a group's first and last pre-token
    starts are looked at, since two starts in one group are fewer than 8 bytes apart.
    """
    last, count = state[0], state[1]
    m = len(data)
    for j in range(0, m, 8):
        i = offset + j
        group = GROUP * (i >> 3)
        bits = 0
        if j + 8 <= m:  # a whole group (a fixed loop: unrolled)
            for k in range(8):
                blob[group + k] = data[j + k]
                bits |= np.int64(pretok[j + k] != 0) << k
        else:
            for k in range(m - j):
                blob[group + k] = data[j + k]
                bits |= np.int64(pretok[j + k] != 0) << k
        blob[group + STARTS] = np.uint8(bits)
        if i == 0:
            bits &= 0xFE  # byte 0 starts the first pre-token whatever its flag
        if bits:
            first = i + _LOWEST_BIT[bits]
            if first - last > shortest:
                long_start[count] = last
                long_length[count] = first - last
                count += 1
            last = i + _HIGHEST_BIT[bits]
    state[0], state[1] = last, count


@numba.njit(cache=True, nogil=True)
def bytes_at(blob, position, length):  # pragma: no cover - compiled
    """Corpus bytes ``position .. position + length``."""
    out = np.empty(length, dtype=np.uint8)
    for j in range(length):
        out[j] = byte_at(blob, position + j)
    return out


def corpus_groups(
    data: CueReader, pretok: CueReader, n: int, shortest: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The corpus bytes and pre-token flags in groups of :data:`GROUP` (no byte active).

    Also the starts and lengths of the pre-tokens longer than ``shortest`` (byte 0 starts one).
    """
    assert shortest >= 8, "two pre-token starts of one group are fewer than 8 bytes apart"
    blob = np.zeros(GROUP * ((n + 7) // 8), dtype=np.uint8)
    state = np.zeros(2, dtype=np.int64)
    long_start = np.empty(1024, dtype=np.int64)
    long_length = np.empty(1024, dtype=np.int64)
    for a, b in blocks(n):  # READ_BYTES is a multiple of 8
        need = int(state[1]) + (b - a) // (shortest + 1) + 2
        if need > len(long_start):
            size = max(need, 2 * len(long_start))
            long_start = np.concatenate([long_start, np.empty(size - len(long_start), np.int64)])
            long_length = np.concatenate([long_length, np.empty(size - len(long_length), np.int64)])
        _fill_groups(
            blob,
            a,
            np.ascontiguousarray(data(a, b), dtype=np.uint8),
            np.ascontiguousarray(pretok(a, b), dtype=np.uint8),
            shortest,
            state,
            long_start,
            long_length,
        )
    last, count = int(state[0]), int(state[1])
    if n - last > shortest:  # the last pre-token
        long_start[count], long_length[count] = last, n - last
        count += 1
    return blob, long_start[:count].copy(), long_length[:count].copy()


def blocks(n: int) -> list[tuple[int, int]]:
    """The ``(start, stop)`` of each read of :data:`READ_BYTES` over ``n`` bytes."""
    return [(a, min(a + READ_BYTES, n)) for a in range(0, n, READ_BYTES)]
