"""ByteSpan's global constraint, incremental: one pass with a rising threshold (GlobalIncrement).

Bytes are visited in ascending order of the cue (ties: by position), so after ``k`` bytes the
*active* bytes are the ``k`` with the lowest cues; the threshold rises one byte at a time.
After every byte the segmentation is exactly the batch one of
:func:`toklab.tokenizers.bytespan.segment_starts` with that active set:

* a *run* is a maximal stretch of active bytes that does not cross a pre-token start; every
  inactive byte is a run of its own;
* a run holding one space is absorbed into the run after it (the space's span then starts one
  byte earlier), unless that run starts a pre-token or is itself a one-space run.

This is the batch view of :func:`~toklab.tokenizers.bytespan.global_starts` at a threshold: when
no cue value is shared across the ``k``-th byte, the state after ``k`` bytes equals
``global_starts(cue, ..., threshold=t)`` for any ``t`` in ``(cue[k-1], cue[k]]`` of the sorted
cues. Bytes with equal cues are activated one at a time, in position order, so the incremental
view has states between two thresholds that the batch view skips.

Activating byte ``i`` changes nothing unless it joins an active neighbour in its pre-token.
Otherwise the runs ``[L, i)``, ``i`` and ``(i, R]`` become one run ``[L, R]``, and only the spans
over ``[P, E)`` change, where ``P`` is ``L - 1`` if that byte is a one-space run that the new run
absorbs (``L`` is no pre-token start), else ``L``; and ``E`` is the end of the old span holding
``R`` (past ``R`` when ``R`` was a one-space run absorbed into the run after it). The old spans
of ``[P, E)`` are decremented and the new ones counted; each span type has a count, so the
number of distinct types with a non-zero count (``unique_segments``) is kept too.

**Vocabulary.** A span type (starts-a-pre-token, bytes) enters the vocabulary when its count
first reaches ``min_frequency`` (at the start, or after the byte whose activation brought it
there). Types that enter after the same byte enter in the order of their new spans, left to
right; the initial tokens (bytes, their continuation forms, space + byte) are never added again.
The pass stops once the largest requested size is filled, so every smaller vocabulary is a
prefix of the larger ones: one pass gives all sizes.

Every document starts a pre-token, so no span crosses documents; the byte corpus holds no
special tokens (the original gave its EOS bytes an infinite cue so they were never visited).
Versus the original GlobalIncrement: it looked at the counts every 1,000 bytes and then added
every type at 20 or more by count, so its order within such a batch differs; it clamped
decrements at zero where a span's pieces had been counted under other types; and it absorbed a
preceding space without checking that the space was a span of its own. Here counts are exact
at every byte.

**Types are hashed.** A span type is keyed by a 62-bit polynomial hash of its
(starts-a-pre-token, bytes) sequence (two hashes modulo the prime 2^31 - 1 in different bases;
spans longer than 24 bytes are hashed in O(1) from prefix hashes, kept for the pre-tokens longer
than that), together with its length.
When a type enters the vocabulary, the span that made it enter is compared byte by byte with
the type's representative (where it first occurred), whose bytes are the ones written: a
collision between an entering type and another is an error. A collision among types that
never enter (probability about n_types^2 / 2^63) would only merge their counts.

**State.** Per byte its value and two bits, laid out as :mod:`toklab.tokenizers.bytespan_global_corpus`
describes (no per-byte links or type ids). Span types with a zero count that never entered are
dropped when the table is full (a type that comes back counts from zero, as it would have, and
takes a new representative).

**Order, in waves.** The bytes' order comes from the cues' order-preserving keys: one pass over
the cue counts the top 16 bits, then each *wave* reads the cue again and keeps the positions
(and low 16 bits) of the next few buckets, about ``n / 16`` positions in all, in position order
within each bucket; each bucket is sorted on its low 16 bits. The next wave is read while one is
visited, on another thread, which then sorts its buckets until the visit asks for it; the pass
sorts the rest when it reaches them. A pass that stops early reads the cue
only as many times as it needs waves. A bucket is never split, so a cue with more than
``n / 16`` equal top-16-bit keys (e.g. a constant one) holds that bucket.

**Memory**, for a corpus of ``n`` bytes: the bytes and their two flag bits, in groups of 8
bytes with their flags (n * 5 / 4), two waves (6 bytes per position: n * 3 / 4), prefix
hashes for the bytes of pre-tokens longer than 24 bytes (8 per byte; a small share of
ordinary text), the span types alive or entered (about 50 bytes each) and the trajectory:
about 2.5 bytes per corpus byte in all, against 28 when the whole cue, its order and per-byte
records were kept. Positions are int32 below 2^31 bytes, else int64.

**Speed.** Visiting a byte touches its neighbours' bytes and bits and a few span types: random
memory accesses, near-linear in the bytes visited. The group of the byte visited 16 steps later
is prefetched, so its cache miss overlaps the visits in between, and a visit hashes its old and
new spans before it looks any up, so that their slots and types load together; the helpers a
visit calls (runs, spans, hashes, the type table's slots) are :func:`toklab.compiled.leaf`
functions, which do not count references to the arrays they are passed (those atomic operations
were a quarter of the pass). The histogram and the first wave are read on the other thread while
this one lays the corpus out in groups, and each wave adds a pass over the cue there: a stretch
of 4,096 values is keyed (or marked, for a wave) in a loop the compiler vectorizes before its
values are counted (placed), which halved that thread's scans. On 2 CPUs the visiting thread is
the slower; at 50 MB with a noise cue a visit's time was a sixth the corpus access, a third
finding the runs and spans, a fifth hashing them and the rest the type table.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numba
import numpy as np

from toklab.compiled import leaf, prefetch
from toklab.errors import DataError
from toklab.tokenizers.bytespan import SPACE, Token, check_room, initial_tokens, with_unk
from toklab.tokenizers.bytespan_global_corpus import (
    ACTIVE,
    BASES,
    DIRECT_HASH,
    GROUP,
    MODULUS,
    READ_BYTES,
    STARTS,
    activate,
    blocks,
    byte_at,
    bytes_at,
    collect_wave,
    corpus_groups,
    cue_histogram,
    flag,
    is_initial,
    prefix_hashes,
    run_end,
    run_start,
    same_span,
    span_end,
    span_key,
)
from toklab.tokenizers.bytespan_stream import (
    CueReader,
    Source,
    as_reader,
    key_value,
    steady_heap,
)

_FILLED, _EXHAUSTED, _COLLISION, _STOPPED, _RUNNING = 0, 1, 2, 3, -1
#: How many bytes ahead the pass prefetches a byte's group, to overlap memory latency.
_AHEAD = 16

# Type table columns: hash key, length (+ the entered bit), count, representative position.
_KEY, _LEN, _COUNT, _REP = 0, 1, 2, 3
_ENTERED = 1 << 40
_LENGTH = _ENTERED - 1
# The pass's counters, one int64 array carried from wave to wave.
_NTYPES, _MASK, _UNIQUE, _NENTRIES, _NROWS, _STEP, _STATUS = 0, 1, 2, 3, 4, 5, 6
_COLLISION_A, _COLLISION_B, _LAST_KEY, _LAST_POS = 7, 8, 9, 10
_COUNTERS = 11
#: At most this many spans are new after one byte (the merged run, a space, the run after),
#: or old (at most 4: the space before, the run before, the byte and the run after).
_NEW_SPANS = 8


@dataclass
class GlobalResult:
    """Nested vocabularies of the global constraint and its training trajectory.

    ``candidates`` holds the initial tokens and every learned type in the order it entered,
    possibly past the largest requested size (see ``extra`` of :func:`global_vocabularies`).
    """

    vocabularies: dict[int, list[Token]]
    trajectory: list[dict[str, float]]
    candidates: list[Token] = field(default_factory=list)
    steps: int = 0


@leaf
def _home(key, mask):  # pragma: no cover - compiled
    """The index slot where the probe for ``key`` starts."""
    return (key ^ (key >> 29)) & mask


@leaf
def _slot(index, mask, types, key, length):  # pragma: no cover - compiled
    """The index slot of (key, length): the slot holding its type id, or the empty one."""
    s = _home(key, mask)
    while True:
        tid = index[s]
        if tid < 0 or (types[tid, _KEY] == key and (types[tid, _LEN] & _LENGTH) == length):
            return s
        s = (s + 1) & mask


# ---------------------------------------------------------------------------------------------
# The type table


@numba.njit(cache=True, nogil=True)
def _with_room(types, index, counters):  # pragma: no cover - compiled
    """The table with room for the new types of one byte: dead types dropped, or it grows.

    A dead type has a zero count and never entered; dropping it forgets only its
    representative position, which a type that comes back takes again.
    """
    ntypes = counters[_NTYPES]
    if ntypes + _NEW_SPANS <= len(types) and 2 * (ntypes + _NEW_SPANS) <= len(index):
        return types, index
    live = 0
    for tid in range(ntypes):
        if types[tid, _COUNT] > 0 or types[tid, _LEN] & _ENTERED:
            types[live] = types[tid]
            live += 1
    rows = len(types)
    while 2 * (live + _NEW_SPANS) > rows:
        rows *= 2
    if rows > len(types):
        grown = np.zeros((rows, 4), dtype=np.int64)
        grown[:live] = types[:live]
        types = grown
    size = len(index)
    while 2 * (live + _NEW_SPANS) > size:
        size *= 2
    index = -np.ones(size, dtype=np.int64)
    mask = size - 1
    for tid in range(live):
        index[_slot(index, mask, types, types[tid, _KEY], types[tid, _LEN] & _LENGTH)] = tid
    counters[_NTYPES] = live
    counters[_MASK] = mask
    return types, index


# ---------------------------------------------------------------------------------------------
# The pass


# The compiled loops never rebind an array they index (numba then reloads and refcounts it on
# every iteration, several times slower): each stops where the type table needs room, and an
# outer loop grows the table and resumes it.


@numba.njit(cache=True, nogil=True)
def _count_initial(blob, n, counts, first):  # pragma: no cover - compiled
    """Count the initial spans (no byte active) by slot, with each slot's first position.

    A slot is a byte in either form (256 + byte word-initially), or a space before a byte
    (512 + the byte, + 256 word-initially).
    """
    x = 0
    while x < n:
        start = flag(blob, x, STARTS)
        # a lone space joins the next byte, unless that starts a pre-token or is a space too
        pair = (
            byte_at(blob, x) == SPACE
            and x + 1 < n
            and not flag(blob, x + 1, STARTS)
            and byte_at(blob, x + 1) != SPACE
        )
        slot = np.int64(byte_at(blob, x + 1)) + 512 if pair else np.int64(byte_at(blob, x))
        slot += 256 if start else 0
        if counts[slot] == 0:
            first[slot] = x
        counts[slot] += 1
        x += 2 if pair else 1


@numba.njit(cache=True, nogil=True)
def _start(
    blob,
    n,
    long_start,
    long_base,
    prefix,
    powers,
    types,
    index,
    counters,
    min_frequency,
    target,
    entry_pos,
    entry_len,
    b1,
    b2,
):  # pragma: no cover - compiled
    """Count the initial segmentation (no byte active); its types enter by first occurrence.

    Returns the type table and index (possibly grown).
    """
    # at most 1,024 initial types: a byte in either form, or a space before a byte
    counts = np.zeros(1024, dtype=np.int64)
    first = np.zeros(1024, dtype=np.int64)
    _count_initial(blob, n, counts, first)
    (slots,) = np.nonzero(counts)
    slots = slots[np.argsort(first[slots])]
    need = len(slots) + _NEW_SPANS
    rows = len(types)
    while rows < need:
        rows *= 2
    if rows > len(types):
        types = np.zeros((rows, 4), dtype=np.int64)
    size = len(index)
    while size < 2 * need:
        size *= 2
    if size > len(index):
        index = -np.ones(size, dtype=np.int64)
    mask = size - 1
    counters[_MASK] = mask
    for tid in range(len(slots)):  # types by first occurrence
        x = first[slots[tid]]
        e = x + 2 if slots[tid] >= 512 else x + 1
        key = span_key(blob, long_start, long_base, prefix, powers, x, e, b1, b2)
        s = _slot(index, mask, types, key, e - x)
        if index[s] >= 0:  # two initial types with one key
            counters[_COLLISION_A] = x
            counters[_COLLISION_B] = types[index[s], _REP]
            break
        index[s] = tid
        types[tid, _KEY] = key
        types[tid, _LEN] = e - x
        types[tid, _COUNT] = counts[slots[tid]]
        types[tid, _REP] = x
        counters[_NTYPES] += 1
    ntypes = counters[_NTYPES]
    counters[_UNIQUE] = ntypes
    by_position = np.argsort(types[:ntypes, _REP])
    nentries = 0
    for j in range(ntypes):
        tid = by_position[j]
        length = types[tid, _LEN]
        if types[tid, _COUNT] >= min_frequency:
            types[tid, _LEN] |= _ENTERED
            if not is_initial(blob, types[tid, _REP], length) and nentries < target:
                entry_pos[nentries] = types[tid, _REP]
                entry_len[nentries] = length
                nentries += 1
    counters[_NENTRIES] = nentries
    if counters[_COLLISION_A] != counters[_COLLISION_B]:
        counters[_STATUS] = _COLLISION
    else:
        counters[_STATUS] = _FILLED if nentries >= target else _RUNNING
    return types, index


@numba.njit(cache=True, nogil=True)
def _sort_bucket(positions, low, a, b):  # pragma: no cover - compiled
    """Sort ``positions[a:b]`` (one bucket, ascending positions) by low key bits, stably.

    A radix sort (two passes of 8 bits; insertion for a few): a comparison sort per bucket
    was a third of the pass.
    """
    m = b - a
    if m < 2:
        return
    if m <= 32:
        for k in range(a + 1, b):
            key, position = low[k], positions[k]
            j = k - 1
            while j >= a and low[j] > key:
                low[j + 1] = low[j]
                positions[j + 1] = positions[j]
                j -= 1
            low[j + 1] = key
            positions[j + 1] = position
        return
    keys = np.empty(m, dtype=low.dtype)
    places = np.empty(m, dtype=positions.dtype)
    counts = np.empty(257, dtype=np.int64)
    for shift in (0, 8):
        counts[:] = 0
        for k in range(a, b):
            counts[((low[k] >> shift) & 0xFF) + 1] += 1
        if counts.max() == m:  # one digit for all: nothing moves
            continue
        for d in range(256):
            counts[d + 1] += counts[d]
        for k in range(a, b):
            d = (low[k] >> shift) & 0xFF
            keys[counts[d]] = low[k]
            places[counts[d]] = positions[k]
            counts[d] += 1
        low[a:b] = keys
        positions[a:b] = places


@numba.njit(cache=True, nogil=True)
def _sort_buckets(positions, low, bucket_bounds, first, last):  # pragma: no cover - compiled
    """Sort buckets ``first .. last - 1`` of a wave on their low key bits (:func:`_sort_bucket`)."""
    for k in range(first, last):
        _sort_bucket(positions, low, bucket_bounds[k], bucket_bounds[k + 1])


@numba.njit(cache=True, nogil=True)
def _visit_until_full(
    positions,
    low,
    bucket_bounds,
    first_bucket,
    wave_step,
    blob,
    n,
    long_start,
    long_base,
    prefix,
    powers,
    types,
    index,
    counters,
    min_frequency,
    target,
    record_every,
    max_steps,
    entry_pos,
    entry_len,
    traj_key,
    traj_pos,
    traj_vocab,
    traj_unique,
    b1,
    b2,
    cursor,
):  # pragma: no cover - compiled
    """Visit the bytes of one wave in order (see the module doc), from the step reached.

    ``positions``/``low`` hold the wave's positions and low key bits, bucket by bucket
    (``bucket_bounds``; its first bucket is ``first_bucket``); ``wave_step`` is the step of
    its first position; ``cursor`` holds the bucket after the one reached, where that ends, and
    the first bucket the reading thread left unsorted (this loop sorts it and those after).
    Returns whether it stopped for room in the type table.
    """
    new_spans = np.empty(_NEW_SPANS, dtype=np.int64)
    new_types = np.empty(_NEW_SPANS, dtype=np.int64)
    new_keys = np.empty(_NEW_SPANS, dtype=np.int64)
    new_lengths = np.empty(_NEW_SPANS, dtype=np.int64)
    old_keys = np.empty(_NEW_SPANS, dtype=np.int64)
    old_lengths = np.empty(_NEW_SPANS, dtype=np.int64)
    old_types = np.empty(_NEW_SPANS, dtype=np.int64)
    rows = types.reshape(-1)  # the type table as one array, for prefetching its rows
    step = counters[_STEP]
    status = counters[_STATUS]
    nentries = counters[_NENTRIES]
    unique = counters[_UNIQUE]
    nrows = counters[_NROWS]
    j = step - wave_step
    bucket, bucket_end, unsorted = cursor[0], cursor[1], cursor[2]
    presorted_end = bucket_bounds[unsorted]
    full = False
    while status == _RUNNING:
        if step >= n or step == max_steps:
            status = _EXHAUSTED if step == n else _STOPPED
            break
        if j >= len(positions):
            break
        ntypes = counters[_NTYPES]
        if ntypes + _NEW_SPANS > len(types) or 2 * (ntypes + _NEW_SPANS) > len(index):
            full = True
            break
        while j >= bucket_end:
            if bucket >= unsorted:
                _sort_bucket(positions, low, bucket_bounds[bucket], bucket_bounds[bucket + 1])
            bucket_end = bucket_bounds[bucket + 1]
            bucket += 1
        i = positions[j]
        key = ((first_bucket + bucket - 1) << 16) | low[j]
        ahead = j + _AHEAD
        if ahead < bucket_end or ahead < presorted_end:  # a later byte's group loads meanwhile
            prefetch(blob, GROUP * (positions[j + _AHEAD] >> 3))
        j += 1
        step += 1
        join_left = i > 0 and not flag(blob, i, STARTS) and flag(blob, i - 1, ACTIVE)
        join_right = i + 1 < n and not flag(blob, i + 1, STARTS) and flag(blob, i + 1, ACTIVE)
        if join_left or join_right:
            mask = counters[_MASK]
            left = run_start(blob, i - 1) if join_left else i
            right = run_end(blob, i + 1, n) if join_right else i
            first = left
            if left > 0 and not flag(blob, left, STARTS) and byte_at(blob, left - 1) == SPACE:
                first = left - 1  # a space before the run: it was absorbed, or will be
            # the old spans of [first, stop), then the new ones: all hashed before any is
            # looked up, so that their slots and types load at once, not one after another
            nold = 0
            x = first
            while x <= right:
                e = span_end(x, blob, n)
                old_keys[nold] = span_key(blob, long_start, long_base, prefix, powers, x, e, b1, b2)
                old_lengths[nold] = e - x
                nold += 1
                x = e
            stop = x
            activate(blob, i)
            nnew = 0
            x = first
            while x < stop:
                e = span_end(x, blob, n)
                new_keys[nnew] = span_key(blob, long_start, long_base, prefix, powers, x, e, b1, b2)
                new_lengths[nnew] = e - x
                new_spans[nnew] = x
                nnew += 1
                x = e
            for k in range(nold):
                prefetch(index, _home(old_keys[k], mask))
            for k in range(nnew):
                prefetch(index, _home(new_keys[k], mask))
            for k in range(nold):
                old_types[k] = index[_slot(index, mask, types, old_keys[k], old_lengths[k])]
                prefetch(rows, types.shape[1] * old_types[k] + _COUNT)
            for k in range(nold):  # uncount the old spans
                tid = old_types[k]
                types[tid, _COUNT] -= 1
                if types[tid, _COUNT] == 0:
                    unique -= 1
            for k in range(nnew):  # count the new ones
                s = _slot(index, mask, types, new_keys[k], new_lengths[k])
                tid = index[s]
                if tid < 0:
                    tid = counters[_NTYPES]
                    counters[_NTYPES] += 1
                    index[s] = tid
                    types[tid, _KEY] = new_keys[k]
                    types[tid, _LEN] = new_lengths[k]
                    types[tid, _COUNT] = 0
                    types[tid, _REP] = new_spans[k]
                types[tid, _COUNT] += 1
                if types[tid, _COUNT] == 1:
                    unique += 1
                new_types[k] = tid
            # types whose count reached min_frequency enter, new spans left to right
            for k in range(nnew):
                x = new_spans[k]
                tid = new_types[k]
                if types[tid, _COUNT] >= min_frequency and not types[tid, _LEN] & _ENTERED:
                    length = types[tid, _LEN]
                    types[tid, _LEN] |= _ENTERED
                    if not same_span(blob, x, types[tid, _REP], length):
                        counters[_COLLISION_A] = x
                        counters[_COLLISION_B] = types[tid, _REP]
                        status = _COLLISION
                        break
                    if not is_initial(blob, x, length) and nentries < target:
                        entry_pos[nentries] = x
                        entry_len[nentries] = length
                        nentries += 1
            if status == _COLLISION:
                break
            if nentries >= target:
                status = _FILLED
        else:
            activate(blob, i)
        counters[_LAST_KEY] = key
        counters[_LAST_POS] = i
        if step % record_every == 0:
            traj_key[nrows] = key
            traj_pos[nrows] = i
            traj_vocab[nrows] = nentries
            traj_unique[nrows] = unique
            nrows += 1
    counters[_STEP] = step
    counters[_STATUS] = status
    counters[_NENTRIES] = nentries
    counters[_UNIQUE] = unique
    counters[_NROWS] = nrows
    cursor[0], cursor[1] = bucket, bucket_end
    return full


@numba.njit(cache=True, nogil=True)
def _visit(
    positions,
    low,
    bucket_bounds,
    sorted_buckets,
    first_bucket,
    wave_step,
    blob,
    n,
    long_start,
    long_base,
    prefix,
    powers,
    types,
    index,
    counters,
    min_frequency,
    target,
    record_every,
    max_steps,
    entry_pos,
    entry_len,
    traj_key,
    traj_pos,
    traj_vocab,
    traj_unique,
    b1,
    b2,
):  # pragma: no cover - compiled
    """Visit the bytes of one wave (:func:`_visit_until_full`), growing the type table.

    Its first ``sorted_buckets`` buckets are sorted already. Returns the type table and index
    (possibly grown).
    """
    cursor = np.array([0, 0, sorted_buckets], dtype=np.int64)
    while _visit_until_full(
        positions,
        low,
        bucket_bounds,
        first_bucket,
        wave_step,
        blob,
        n,
        long_start,
        long_base,
        prefix,
        powers,
        types,
        index,
        counters,
        min_frequency,
        target,
        record_every,
        max_steps,
        entry_pos,
        entry_len,
        traj_key,
        traj_pos,
        traj_vocab,
        traj_unique,
        b1,
        b2,
        cursor,
    ):
        types, index = _with_room(types, index, counters)
    return types, index


@numba.njit(cache=True, nogil=True)
def _final_starts(blob, n, out):  # pragma: no cover - compiled
    """Mark the span starts of the current segmentation in ``out``."""
    x = 0
    while x < n:
        out[x] = True
        x = span_end(x, blob, n)


def _run_pass(
    cue: Source,
    pretok: Source,
    data: Source,
    min_frequency: int,
    target: int,
    record_every: int,
    max_steps: int = -1,
    starts_out: np.ndarray | None = None,
    bases: tuple[int, int] = BASES,
    wave: int | None = None,
    n: int | None = None,
    with_tokens: bool = False,
    table_size: int = 1024,
    reader_sorts: bool | None = None,
):
    """Read the cue's order in waves and run the compiled pass over them (module doc).

    ``cue``, ``pretok`` and ``data`` are arrays or ``read(start, stop)`` functions (then ``n``
    gives the length); ``wave`` is the most positions per wave (default ``n // 16``, at least
    65,536); ``bases`` (the hash bases), ``table_size`` (the type table's first size, a
    power of two) and ``reader_sorts`` (True: the reading thread sorts every bucket, False:
    none; default: until the wave is wanted) are for tests. Returns the status, the steps taken, the
    entries' positions and lengths, the trajectory (thresholds, learned, unique) and the
    positions of a collision; ``with_tokens``: also the entries as tokens.
    """
    if n is None:
        n = len(data)  # type: ignore[arg-type]
        if not len(cue) == len(pretok) == n:  # type: ignore[arg-type]
            raise DataError(
                f"cue ({len(cue)}), pre-token flags ({len(pretok)}) and bytes ({n}) differ"  # type: ignore[arg-type]
            )
    steady_heap()
    read_cue = as_reader(cue)
    wave = max(n // 16, 1 << 16) if wave is None else max(int(wave), 1)
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    high = np.zeros(1 << 16, dtype=np.int64)
    below = np.zeros(len(high) + 1, dtype=np.int64)
    stop = threading.Event()
    wanted = threading.Event()  # the visiting thread waits for the wave read

    # the reading thread's block of the cue: decoded into, where the reader can (its ``into``)
    read_into = getattr(read_cue, "into", None)
    block = np.empty(READ_BYTES if read_into else 0, dtype=np.float32)

    def cue_block(a: int, b: int) -> np.ndarray:
        """The cue's values ``a:b`` (float32, contiguous)."""
        if read_into is not None:
            return read_into(a, b, block)
        return np.ascontiguousarray(read_cue(a, b), dtype=np.float32)

    def histogram() -> int:
        """Count the cue's top 16 key bits into ``high`` and ``below``; the number of -0.0."""
        nans, negative_zeros = 0, 0
        for a, b in blocks(n):  # whole, even when the pass stops early: a NaN is always found
            found = cue_histogram(cue_block(a, b), high)
            nans, negative_zeros = nans + found[0], negative_zeros + found[1]
        if nans:
            raise DataError(f"the cue has {nans} NaN values")
        np.cumsum(high, out=below[1:])
        return negative_zeros

    # two buffers of positions and low key bits, for the wave visited and the wave read
    buffers: list[tuple[np.ndarray, np.ndarray]] = [
        (np.empty(0, dtype=dtype), np.empty(0, dtype=np.uint16)) for _ in range(2)
    ]

    def collect(
        bucket: int, buffer: int
    ) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray, int] | None:
        """The wave from ``bucket`` on: buckets, bounds, positions, low key bits, buckets sorted.

        They are read into ``buffers[buffer]`` (grown when the wave is larger), so a pass
        allocates, and faults in, its wave memory once rather than per wave.
        """
        while high[bucket] == 0:
            bucket += 1
        last = max(int(np.searchsorted(below, below[bucket] + wave, side="right")) - 1, bucket + 1)
        bounds = below[bucket : last + 1] - below[bucket]
        size = int(bounds[-1])
        if len(buffers[buffer][0]) < size:
            buffers[buffer] = (np.empty(size, dtype=dtype), np.empty(size, dtype=np.uint16))
        positions, low = buffers[buffer][0][:size], buffers[buffer][1][:size]
        fill = bounds[:-1].copy()
        for a, b in blocks(n):
            if stop.is_set():
                return None
            collect_wave(cue_block(a, b), a, bucket, last, fill, positions, low)
        # sort buckets here, not on the visiting thread, until it wants the wave (then it sorts
        # the rest as it reaches them); a group of buckets at a time, of 64k positions or more
        done = 0
        while done < len(bounds) - 1 and (
            reader_sorts or (reader_sorts is None and not wanted.is_set())
        ):
            upto = int(np.searchsorted(bounds, bounds[done] + (1 << 16), side="left"))
            upto = min(max(upto, done + 1), len(bounds) - 1)
            _sort_buckets(positions, low, bounds, done, upto)
            done = upto
        return bucket, last, bounds, positions, low, done

    def first_wave() -> tuple[int, tuple | None]:
        """The histogram, then the first wave: read while the corpus is laid out."""
        negative_zeros = histogram()
        return negative_zeros, None if stop.is_set() else collect(0, 0)

    # the cue is read on another thread while this one lays out the corpus, and each next
    # wave while one is visited (the compiled functions release the GIL)
    with ThreadPoolExecutor(1) as reading:
        ahead = reading.submit(first_wave)
        try:
            blob, long_start, long_length = corpus_groups(
                as_reader(data), as_reader(pretok), n, DIRECT_HASH
            )
        except BaseException:
            stop.set()
            raise
        long_base = np.zeros(len(long_start), dtype=np.int64)
        np.cumsum(long_length[:-1] + 1, out=long_base[1:])
        prefix = np.empty(int((long_length + 1).sum()), dtype=np.int64)
        b1, b2 = int(bases[0]), int(bases[1])
        prefix_hashes(blob, long_start, long_length, long_base, prefix, b1, b2)
        longest = int(long_length.max(initial=DIRECT_HASH)) + 1
        powers = np.empty((longest + 1, 2), dtype=np.int64)
        powers[0] = 1
        for j in range(1, longest + 1):
            powers[j] = (powers[j - 1] * np.array([b1, b2], dtype=np.int64)) % MODULUS

        types = np.zeros((table_size, 4), dtype=np.int64)
        index = -np.ones(4 * table_size, dtype=np.int64)
        counters = np.zeros(_COUNTERS, dtype=np.int64)
        counters[_MASK] = len(index) - 1
        counters[_LAST_KEY] = -1
        min_frequency, target = max(int(min_frequency), 1), int(target)
        record_every = max(int(record_every), 1)
        entry_pos = np.empty(target, dtype=np.int64)
        entry_len = np.empty(target, dtype=np.int64)
        rows = (n if max_steps < 0 else max_steps) // record_every + 2
        traj_key = np.empty(rows, dtype=np.int64)
        traj_pos = np.empty(rows, dtype=np.int64)
        traj_vocab = np.empty(rows, dtype=np.int64)
        traj_unique = np.empty(rows, dtype=np.int64)
        corpus = (blob, n, long_start, long_base, prefix, powers)
        types, index = _start(
            *corpus, types, index, counters, min_frequency, target, entry_pos, entry_len, b1, b2
        )

        def running() -> bool:
            step = counters[_STEP]
            return counters[_STATUS] == _RUNNING and step < n and step != max_steps

        if not running():
            stop.set()
        wanted.set()
        negative_zeros, read = ahead.result()  # a NaN in the cue raises here
        wanted.clear()
        buffer = 0
        while read is not None:
            bucket, last, bounds, positions, low, sorted_buckets = read
            more = int(below[last]) < n and (max_steps < 0 or int(below[last]) < max_steps)
            buffer = 1 - buffer  # the other buffer: the last wave's, visited
            ahead = reading.submit(collect, last, buffer) if more else None
            types, index = _visit(
                positions,
                low,
                bounds,
                sorted_buckets,
                bucket,
                int(below[bucket]),
                *corpus,
                types,
                index,
                counters,
                min_frequency,
                target,
                record_every,
                int(max_steps),
                entry_pos,
                entry_len,
                traj_key,
                traj_pos,
                traj_vocab,
                traj_unique,
                b1,
                b2,
            )
            del read, positions, low
            if not running():
                stop.set()
                break
            wanted.set()
            read = ahead.result() if ahead is not None else None
            wanted.clear()
    status, step = int(counters[_STATUS]), int(counters[_STEP])
    if status == _RUNNING:  # every byte visited, or max_steps reached, at a wave's end
        status = _EXHAUSTED if step == n else _STOPPED
    nrows = int(counters[_NROWS])
    if step == 0 or step % record_every:  # the last state, unless just recorded
        traj_key[nrows] = counters[_LAST_KEY] if step else -1
        traj_pos[nrows] = counters[_LAST_POS]
        traj_vocab[nrows] = counters[_NENTRIES]
        traj_unique[nrows] = counters[_UNIQUE]
        nrows += 1
    thresholds = _thresholds(traj_key[:nrows], traj_pos[:nrows], read_cue, negative_zeros > 0)
    if starts_out is not None:
        _final_starts(blob, n, starts_out)
    nentries = int(counters[_NENTRIES])
    collision = counters[[_COLLISION_A, _COLLISION_B]].copy()
    result = (
        status,
        step,
        entry_pos[:nentries],
        entry_len[:nentries],
        thresholds,
        traj_vocab[:nrows],
        traj_unique[:nrows],
        collision,
    )
    if not with_tokens:
        return result
    tokens = [
        (bool(flag(blob, p, STARTS)), bytes_at(blob, p, length).tobytes())
        for p, length in zip(
            entry_pos[:nentries].tolist(), entry_len[:nentries].tolist(), strict=True
        )
    ]
    return (*result, tokens)


def _thresholds(
    keys: np.ndarray, positions: np.ndarray, read: CueReader, negative_zeros: bool
) -> np.ndarray:
    """The cue values of the recorded steps (-inf for none), from their keys.

    A key maps -0.0 to 0.0, so where the cue has -0.0 the zeros are read again.
    """
    values = np.array(
        [-np.inf if k < 0 else float(key_value(int(k))) for k in keys.tolist()], dtype=np.float64
    )
    if negative_zeros:
        zeros = np.flatnonzero(values == 0)
        for row in zeros[np.argsort(positions[zeros], kind="stable")].tolist():
            p = int(positions[row])
            values[row] = float(np.asarray(read(p, p + 1))[0])
    return values


def global_vocabularies(
    cue: Source,
    pretok: Source,
    data: Source,
    vocab_sizes: Sequence[int],
    special_tokens: Sequence[str],
    min_frequency: int = 20,
    record_every: int | None = None,
    extra: int = 0,
    n: int | None = None,
) -> GlobalResult:
    """Nested vocabularies of every requested size from one incremental pass (module doc).

    The trajectory has a row every ``record_every`` visited bytes (default: about 10,000 rows
    over the whole corpus, at least every 1,000 bytes) and when the pass stops: ``threshold``
    (the cue of the byte just visited), ``vocab_size`` (initial + learned + special tokens)
    and ``unique_segments`` (distinct span types in the current segmentation). With ``extra``,
    the pass goes on for up to ``extra`` more learned types past the largest size, for
    ``GlobalResult.candidates`` (BPE inference may need more candidates than V). The cue,
    flags and bytes are arrays or ``read(start, stop)`` functions (then ``n`` is the length).
    """
    special_tokens = with_unk(special_tokens)
    base = initial_tokens()
    sizes = sorted(set(vocab_sizes))
    if not sizes:
        raise DataError("no vocabulary size requested")
    check_room(sizes[0], special_tokens)
    room = sizes[-1] - len(base) - len(special_tokens)
    length = len(data) if n is None else n  # type: ignore[arg-type]
    if record_every is None:
        record_every = max(1000, math.ceil(length / 10_000))
    status, steps, _, _, thresholds, learned, unique, collision, tokens = _run_pass(
        cue, pretok, data, min_frequency, room + extra, record_every, n=n, with_tokens=True
    )
    if status == _COLLISION:
        a, b = (int(p) for p in collision)
        raise DataError(
            f"span hash collision between positions {a} and {b}: the global constraint cannot "
            f"tell their span types apart"
        )
    if len(tokens) < room:
        raise DataError(
            f"the global constraint found only {len(tokens) + len(base) + len(special_tokens)} "
            f"tokens with min_frequency {min_frequency}; lower the vocab size or min_frequency"
        )
    if len(set(tokens)) != len(tokens):
        raise DataError("span hash collision: a span type entered the vocabulary twice")
    vocab = base + tokens
    trajectory = [
        {
            "threshold": float(t),
            "vocab_size": int(v) + len(base) + len(special_tokens),
            "unique_segments": int(u),
        }
        for t, v, u in zip(thresholds.tolist(), learned.tolist(), unique.tolist(), strict=True)
    ]
    return GlobalResult(
        {v: vocab[: v - len(special_tokens)] for v in sizes}, trajectory, vocab, int(steps)
    )
