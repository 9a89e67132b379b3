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
spans longer than 24 bytes are hashed in O(1) from prefix hashes), together with its length.
When a type enters the vocabulary, the span that made it enter is compared byte by byte with
the type's representative (where it first occurred), whose bytes are the ones written: a
collision between an entering type and another is an error. A collision among types that
never enter (probability about n_types^2 / 2^63) would only merge their counts.

**Speed.** The order of the bytes comes from one counting pass over the top 16 bits of the
cues' order-preserving keys; each bucket is sorted when the pass reaches it, so a pass that
stops early sorts little. Visiting a byte touches its neighbours' records and a few span types:
random memory accesses, about 0.5 us per byte on a laptop-class CPU for a pass over every byte,
near-linear in the corpus size; vocabularies usually fill well before that.

**Memory**, for a corpus of ``n`` bytes: the cue (4n, as read), the visiting order (4n), one
record per byte (run link, span type id, byte/flag bits: 12n) and, when a pre-token is longer
than 24 bytes, prefix hashes (8n): about 28 bytes per corpus byte, plus the corpus bytes and
pre-token flags (2n, memory-mapped), plus about 64 bytes per distinct span type seen (at most
one new type per visited byte; far fewer in practice). Positions are int32 below 2^31 bytes
and int64 above (then about 44 bytes per byte).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from toklab.errors import DataError
from toklab.tokenizers.bytespan import SPACE, Token, check_room, initial_tokens, with_unk

#: The hashes are polynomials modulo the Mersenne prime 2^31 - 1, in two bases.
MODULUS = 2**31 - 1
BASES = (1_000_003_481, 1_442_695_027)
#: Spans up to this long are hashed from their bytes; longer ones from prefix hashes.
DIRECT_HASH = 24

_FILLED, _EXHAUSTED, _COLLISION, _STOPPED, _RUNNING = 0, 1, 2, 3, -1
#: How many bytes ahead the pass touches a byte's record, to overlap memory latency.
_AHEAD = 8

# Per-byte record columns: run link, type id of the span starting here, info bits. The info
# bits hold the byte value, whether it starts a pre-token and whether it is active.
_LINK, _TYPE, _INFO = 0, 1, 2
_PRETOK = 1 << 8
_ACTIVE = 1 << 9
# Type table columns: hash key, length (+ the entered bit), count, representative position.
_KEY, _LEN, _COUNT, _REP = 0, 1, 2, 3
_ENTERED = 1 << 40


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


@numba.njit(cache=True)
def _cue_key(bits, i):  # pragma: no cover - compiled
    """An unsigned key of cue ``i`` (its float32 ``bits``) that sorts as the cue; -0.0 is 0.0."""
    key = bits[i]
    if key == np.uint32(0x80000000):
        return np.uint32(0x80000000)
    if key >> np.uint32(31):
        return ~key
    return key | np.uint32(0x80000000)


@numba.njit(cache=True)
def _bucket_positions(cue, order):  # pragma: no cover - compiled
    """Fill ``order`` with the positions bucketed by the top 16 bits of their cue keys.

    Positions stay ascending within a bucket; returns the 65,537 bucket boundaries. Buckets are
    sorted on their low 16 bits only when the pass reaches them (:func:`_sort_bucket`).
    """
    bits = cue.view(np.uint32)
    counts = np.zeros(65537, dtype=np.int64)
    for i in range(len(cue)):
        counts[(_cue_key(bits, i) >> np.uint32(16)) + 1] += 1
    for b in range(65536):
        counts[b + 1] += counts[b]
    bounds = counts.copy()
    for i in range(len(cue)):
        b = _cue_key(bits, i) >> np.uint32(16)
        order[counts[b]] = i
        counts[b] += 1
    return bounds


@numba.njit(cache=True)
def _sort_bucket(cue, order, a, b):  # pragma: no cover - compiled
    """Sort ``order[a:b]`` (one bucket, ascending positions) by cue key, stably."""
    if b - a < 2:
        return
    bits = cue.view(np.uint32)
    low = np.empty(b - a, dtype=np.uint32)
    for j in range(b - a):
        low[j] = _cue_key(bits, order[a + j]) & np.uint32(0xFFFF)
    permutation = np.argsort(low, kind="mergesort")
    segment = order[a:b].copy()
    for j in range(b - a):
        order[a + j] = segment[permutation[j]]


@numba.njit(cache=True)
def _longest_pretoken(pretok):  # pragma: no cover - compiled
    """The length of the longest pre-token (the bytes between two starts)."""
    longest = 0
    last = 0
    for i in range(1, len(pretok)):
        if pretok[i]:
            longest = max(longest, i - last)
            last = i
    return max(longest, len(pretok) - last)


@numba.njit(cache=True)
def _mod(x):  # pragma: no cover - compiled
    """``x`` modulo 2^31 - 1, for 0 <= x < 2^62."""
    x = (x & 0x7FFFFFFF) + (x >> 31)
    x = (x & 0x7FFFFFFF) + (x >> 31)
    return x - 0x7FFFFFFF if x >= 0x7FFFFFFF else x


@numba.njit(cache=True)
def _span_key(rec, prefix, powers, a, e, b1, b2):  # pragma: no cover - compiled
    """The 62-bit hash of (starts-a-pre-token, bytes[a:e])."""
    length = e - a
    symbol = 257 + (1 if rec[a, _INFO] & _PRETOK else 0)
    if length <= DIRECT_HASH:
        h1 = symbol
        h2 = symbol
        for j in range(a, e):
            c = (rec[j, _INFO] & 0xFF) + 1
            h1 = _mod(h1 * b1 + c)
            h2 = _mod(h2 * b2 + c)
    else:
        h1 = (prefix[e] >> 32) + 0x7FFFFFFF - _mod((prefix[a] >> 32) * powers[length, 0])
        h2 = (
            (prefix[e] & 0x7FFFFFFF)
            + 0x7FFFFFFF
            - _mod((prefix[a] & 0x7FFFFFFF) * powers[length, 1])
        )
        h1 = _mod(_mod(h1) + symbol * powers[length, 0])
        h2 = _mod(_mod(h2) + symbol * powers[length, 1])
    return (h1 << 31) | h2


@numba.njit(cache=True)
def _final_end(x, rec, n):  # pragma: no cover - compiled
    """End (exclusive) of the span starting at run start ``x``: a lone space takes the next run."""
    y = rec[x, _LINK]
    if (
        y == x
        and (rec[x, _INFO] & 0xFF) == SPACE
        and x + 1 < n
        and not rec[x + 1, _INFO] & _PRETOK
        and not (rec[x + 1, _LINK] == x + 1 and (rec[x + 1, _INFO] & 0xFF) == SPACE)
    ):
        return rec[x + 1, _LINK] + 1
    return y + 1


@numba.njit(cache=True)
def _slot(index, mask, types, key, length):  # pragma: no cover - compiled
    """The index slot of (key, length): the slot holding its type id, or the empty one."""
    s = (key ^ (key >> 29)) & mask
    while True:
        tid = index[s]
        if tid < 0 or (types[tid, _KEY] == key and (types[tid, _LEN] & 0xFFFFFFFFFF) == length):
            return s
        s = (s + 1) & mask


@numba.njit(cache=True)
def _same_type(rec, a, b, length):  # pragma: no cover - compiled
    if (rec[a, _INFO] & _PRETOK) != (rec[b, _INFO] & _PRETOK):
        return False
    j = 0
    while j < length and (rec[a + j, _INFO] & 0xFF) == (rec[b + j, _INFO] & 0xFF):
        j += 1
    return j == length


@numba.njit(cache=True)
def _is_initial(rec, a, length):  # pragma: no cover - compiled
    """Whether span (a, length) is an initial token: a byte, or space + non-space word-initially."""
    if length == 1:
        return True
    return (
        length == 2
        and (rec[a, _INFO] & _PRETOK) != 0
        and (rec[a, _INFO] & 0xFF) == SPACE
        and (rec[a + 1, _INFO] & 0xFF) != SPACE
    )


@numba.njit(cache=True)
def _global_pass(
    cue,
    order,
    rec,
    prefix,
    data,
    pretok,
    min_frequency,
    target,
    record_every,
    max_steps,
    starts_out,
    b1,
    b2,
):  # pragma: no cover - compiled
    """The incremental pass (see the module doc). Returns entries, trajectory and status.

    ``order`` (n positions) and ``rec`` (n x 3) are work arrays of the position dtype;
    ``prefix`` holds n + 1 prefix hashes when a pre-token is longer than DIRECT_HASH, else 0.
    """
    n = len(data)
    for i in range(n):
        rec[i, _INFO] = data[i] | (_PRETOK if pretok[i] else 0)
        rec[i, _LINK] = i
    longest = _longest_pretoken(pretok) + 1
    if len(prefix):
        h1 = 0
        h2 = 0
        prefix[0] = 0
        for i in range(n):
            h1 = _mod(h1 * b1 + data[i] + 1)
            h2 = _mod(h2 * b2 + data[i] + 1)
            prefix[i + 1] = (h1 << 32) | h2
    powers = np.empty((longest + 1, 2), dtype=np.int64)
    powers[0, 0] = 1
    powers[0, 1] = 1
    for j in range(1, longest + 1):
        powers[j, 0] = _mod(powers[j - 1, 0] * b1)
        powers[j, 1] = _mod(powers[j - 1, 1] * b2)
    bounds = _bucket_positions(cue, order)
    bucket = 0
    sorted_upto = 0

    # span types by id, and an open-addressing index from (key, length) to id
    types = np.zeros((1024, 4), dtype=np.int64)
    ntypes = 0
    index = -np.ones(4096, dtype=np.int64)
    mask = 4095
    unique = 0

    entry_pos = np.empty(target, dtype=np.int64)
    entry_len = np.empty(target, dtype=np.int64)
    nentries = 0
    rows = (n if max_steps < 0 else max_steps) // record_every + 2
    traj_threshold = np.empty(rows, dtype=np.float64)
    traj_vocab = np.empty(rows, dtype=np.int64)
    traj_unique = np.empty(rows, dtype=np.int64)
    nrows = 0
    new_spans = np.empty(8, dtype=np.int64)
    collision = np.zeros(2, dtype=np.int64)

    # The initial segmentation (no byte active): bytes, and a space before a byte of its
    # pre-token. Its at most 1,024 types get ids from a table; they enter by first occurrence.
    initial = -np.ones(1024, dtype=np.int64)
    x = 0
    while x < n:
        e = _final_end(x, rec, n)
        slot = np.int64(data[x + 1]) + 512 if e - x == 2 else np.int64(data[x])
        slot += 256 if pretok[x] else 0
        tid = initial[slot]
        if tid < 0:
            tid = ntypes
            ntypes += 1
            initial[slot] = tid
            key = _span_key(rec, prefix, powers, x, e, b1, b2)
            s = _slot(index, mask, types, key, e - x)
            if index[s] >= 0:  # two initial types with one key
                collision[0] = x
                collision[1] = types[index[s], _REP]
                break
            index[s] = tid
            types[tid, _KEY] = key
            types[tid, _LEN] = e - x
            types[tid, _REP] = x
        rec[x, _TYPE] = tid
        types[tid, _COUNT] += 1
        x = e
    unique = ntypes
    by_position = np.argsort(types[:ntypes, _REP])
    for j in range(ntypes):
        tid = by_position[j]
        length = types[tid, _LEN]
        if types[tid, _COUNT] >= min_frequency:
            types[tid, _LEN] |= _ENTERED
            if not _is_initial(rec, types[tid, _REP], length) and nentries < target:
                entry_pos[nentries] = types[tid, _REP]
                entry_len[nentries] = length
                nentries += 1

    if collision[0] != collision[1]:
        status = _COLLISION
    else:
        status = _FILLED if nentries >= target else _RUNNING
    step = 0
    touched = 0
    while status == _RUNNING:
        if step >= n or step == max_steps:
            status = _EXHAUSTED if step == n else _STOPPED
            break
        while step >= sorted_upto:
            _sort_bucket(cue, order, bounds[bucket], bounds[bucket + 1])
            sorted_upto = bounds[bucket + 1]
            bucket += 1
        i = order[step]
        if step + _AHEAD < sorted_upto:  # touch a later byte's record: it loads meanwhile
            touched += rec[order[step + _AHEAD], _LINK]
        step += 1
        rec[i, _INFO] |= _ACTIVE
        join_left = i > 0 and not rec[i, _INFO] & _PRETOK and (rec[i - 1, _INFO] & _ACTIVE) != 0
        join_right = (
            i + 1 < n and not rec[i + 1, _INFO] & _PRETOK and (rec[i + 1, _INFO] & _ACTIVE) != 0
        )
        if join_left or join_right:
            left = rec[i - 1, _LINK] if join_left else i
            right = rec[i + 1, _LINK] if join_right else i
            first = left
            if (
                left > 0
                and not rec[left, _INFO] & _PRETOK
                and rec[left - 1, _LINK] == left - 1
                and (rec[left - 1, _INFO] & 0xFF) == SPACE
            ):
                first = left - 1
            # uncount the old spans of [first, stop)
            x = first
            while x <= right:
                e = _final_end(x, rec, n)
                tid = rec[x, _TYPE]
                types[tid, _COUNT] -= 1
                if types[tid, _COUNT] == 0:
                    unique -= 1
                x = e
            stop = x
            rec[left, _LINK] = right
            rec[right, _LINK] = left
            # count the new ones
            nnew = 0
            x = first
            while x < stop:
                e = _final_end(x, rec, n)
                key = _span_key(rec, prefix, powers, x, e, b1, b2)
                s = _slot(index, mask, types, key, e - x)
                tid = index[s]
                if tid < 0:
                    if ntypes == len(types):
                        types = np.concatenate((types, np.zeros_like(types)))
                    if 2 * (ntypes + 1) > mask + 1:
                        index = -np.ones(2 * (mask + 1), dtype=np.int64)
                        mask = 2 * mask + 1
                        for other in range(ntypes):
                            length = types[other, _LEN] & 0xFFFFFFFFFF
                            index[_slot(index, mask, types, types[other, _KEY], length)] = other
                        s = _slot(index, mask, types, key, e - x)
                    tid = ntypes
                    ntypes += 1
                    index[s] = tid
                    types[tid, _KEY] = key
                    types[tid, _LEN] = e - x
                    types[tid, _REP] = x
                rec[x, _TYPE] = tid
                types[tid, _COUNT] += 1
                if types[tid, _COUNT] == 1:
                    unique += 1
                if nnew == len(new_spans):
                    new_spans = np.concatenate((new_spans, np.empty(nnew, dtype=np.int64)))
                new_spans[nnew] = x
                nnew += 1
                x = e
            # types whose count reached min_frequency enter, new spans left to right
            for k in range(nnew):
                x = new_spans[k]
                tid = rec[x, _TYPE]
                if types[tid, _COUNT] >= min_frequency and not types[tid, _LEN] & _ENTERED:
                    length = types[tid, _LEN]
                    types[tid, _LEN] |= _ENTERED
                    if not _same_type(rec, x, types[tid, _REP], length):
                        collision[0] = x
                        collision[1] = types[tid, _REP]
                        status = _COLLISION
                        break
                    if not _is_initial(rec, x, length) and nentries < target:
                        entry_pos[nentries] = x
                        entry_len[nentries] = length
                        nentries += 1
            if status == _COLLISION:
                break
            if nentries >= target:
                status = _FILLED
        if step % record_every == 0:
            traj_threshold[nrows] = cue[i]
            traj_vocab[nrows] = nentries
            traj_unique[nrows] = unique
            nrows += 1
    if step == 0 or step % record_every:  # the last state, unless just recorded
        traj_threshold[nrows] = cue[order[step - 1]] if step else -np.inf
        traj_vocab[nrows] = nentries
        traj_unique[nrows] = unique
        nrows += 1

    if len(starts_out):
        x = 0
        while x < n:
            starts_out[x] = True
            x = _final_end(x, rec, n)
    return (
        status,
        step,
        entry_pos[:nentries],
        entry_len[:nentries],
        traj_threshold[:nrows],
        traj_vocab[:nrows],
        traj_unique[:nrows],
        collision,
        touched,
    )


def _run_pass(
    cue: np.ndarray,
    pretok: np.ndarray,
    data: np.ndarray,
    min_frequency: int,
    target: int,
    record_every: int,
    max_steps: int = -1,
    starts_out: np.ndarray | None = None,
    bases: tuple[int, int] = BASES,
):
    """Sort the bytes by cue and run the compiled pass over them (``bases``: for tests)."""
    n = len(data)
    if not len(cue) == len(pretok) == n:
        raise DataError(f"cue ({len(cue)}), pre-token flags ({len(pretok)}) and bytes ({n}) differ")
    cue = _read_only(np.ascontiguousarray(cue, dtype=np.float32))
    if np.isnan(cue).any():
        raise DataError(f"the cue has {int(np.isnan(cue).sum())} NaN values")
    pretok = _read_only(np.ascontiguousarray(pretok, dtype=np.uint8))
    dtype = np.int32 if n < 2**31 - 1 else np.int64
    longest = int(_longest_pretoken(pretok)) if n else 0
    # the large work arrays come from numpy, which asks for transparent huge pages
    *result, _ = _global_pass(
        cue,
        np.empty(n, dtype=dtype),
        np.zeros((n, 3), dtype=dtype),
        np.empty(n + 1 if longest > DIRECT_HASH else 0, dtype=np.int64),
        _read_only(np.ascontiguousarray(data, dtype=np.uint8)),
        pretok,
        max(int(min_frequency), 1),
        int(target),
        max(int(record_every), 1),
        int(max_steps),
        np.zeros(0, dtype=np.bool_) if starts_out is None else starts_out,
        int(bases[0]),
        int(bases[1]),
    )
    return tuple(result)


def _read_only(array: np.ndarray) -> np.ndarray:
    """A read-only view: memory maps and in-memory arrays then share one compiled signature."""
    view = array.view()
    view.flags.writeable = False
    return view


def global_vocabularies(
    cue: np.ndarray,
    pretok: np.ndarray,
    data: np.ndarray,
    vocab_sizes: Sequence[int],
    special_tokens: Sequence[str],
    min_frequency: int = 20,
    record_every: int | None = None,
    extra: int = 0,
) -> GlobalResult:
    """Nested vocabularies of every requested size from one incremental pass (module doc).

    The trajectory has a row every ``record_every`` visited bytes (default: about 10,000 rows
    over the whole corpus, at least every 1,000 bytes) and when the pass stops: ``threshold``
    (the cue of the byte just visited), ``vocab_size`` (initial + learned + special tokens)
    and ``unique_segments`` (distinct span types in the current segmentation). With ``extra``,
    the pass goes on for up to ``extra`` more learned types past the largest size, for
    ``GlobalResult.candidates`` (BPE inference may need more candidates than V).
    """
    special_tokens = with_unk(special_tokens)
    base = initial_tokens()
    sizes = sorted(set(vocab_sizes))
    if not sizes:
        raise DataError("no vocabulary size requested")
    check_room(sizes[0], special_tokens)
    room = sizes[-1] - len(base) - len(special_tokens)
    n = len(data)
    if record_every is None:
        record_every = max(1000, math.ceil(n / 10_000))
    status, steps, positions, lengths, thresholds, learned, unique, collision = _run_pass(
        cue, pretok, data, min_frequency, room + extra, record_every
    )
    if status == _COLLISION:
        a, b = (int(p) for p in collision)
        raise DataError(
            f"span hash collision between positions {a} and {b}: the global constraint cannot "
            f"tell their span types apart"
        )
    data = np.asarray(data)
    tokens = [
        (bool(pretok[p]), data[p : p + length].tobytes())
        for p, length in zip(positions.tolist(), lengths.tolist(), strict=True)
    ]
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
