"""Streaming ByteSpan's cues: monotonic and combined spans, and percentiles, chunk by chunk.

The monotonic and combined constraints (:mod:`toklab.tokenizers.bytespan`) never need the whole
cue: :func:`stream_spans` reads it in chunks that end at pre-token starts (:func:`chunk_bounds`;
no span crosses one) and merges the chunks' counts, and :func:`streamed_percentile` gives the
combined threshold exactly (equal to ``np.percentile``) from two passes of radix histograms
(:func:`order_statistics`). A cue is read through a :data:`CueReader`, ``read(start, stop)``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.bytespan import SpanCounter, SpanCounts, monotonic_starts


def chunk_bounds(pretok: np.ndarray, chunk_bytes: int) -> np.ndarray:
    """Chunk boundaries (0, ..., n): each one the first pre-token start at or after a multiple.

    No span crosses a pre-token start, and a lone space is never absorbed across one, so the
    spans of each chunk are those of the whole corpus.
    """
    if chunk_bytes < 1:
        raise ConfigError(f"chunk_bytes must be positive, got {chunk_bytes}")
    n = len(pretok)
    bounds = [0]
    while bounds[-1] + chunk_bytes < n:
        position = bounds[-1] + chunk_bytes
        window = chunk_bytes
        while True:
            found = np.flatnonzero(pretok[position : position + window])
            if len(found) or position + window >= n:
                break
            window *= 2
        if not len(found):
            break
        bounds.append(position + int(found[0]))
    bounds.append(n)
    return np.asarray(bounds, dtype=np.int64)


CueReader = Callable[[int, int], np.ndarray]


def _sortable_keys(values: np.ndarray) -> np.ndarray:
    """uint32 keys that sort as the float32 values (-0.0 as 0.0)."""
    bits = (np.asarray(values, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    return np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)


def _key_value(key: int) -> np.float32:
    bits = key ^ 0x80000000 if key >> 31 else ~key & 0xFFFFFFFF
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def order_statistics(read: CueReader, bounds: np.ndarray, ranks: Sequence[int]) -> list:
    """The values of the given ranks (0-based, ascending) of a cue read in chunks, exactly.

    Two passes: a histogram of the top 16 bits of order-preserving keys finds each rank's
    bucket, then a histogram of the low 16 bits inside those buckets finds the value.
    """
    chunks = list(itertools.pairwise(bounds.tolist()))
    high = np.zeros(1 << 16, dtype=np.int64)
    for a, b in chunks:
        high += np.bincount(_sortable_keys(read(a, b)) >> 16, minlength=1 << 16)
    below = np.concatenate([[0], np.cumsum(high)])
    buckets = {r: int(np.searchsorted(below, r, side="right")) - 1 for r in ranks}
    low = {b: np.zeros(1 << 16, dtype=np.int64) for b in set(buckets.values())}
    for a, b in chunks:
        keys = _sortable_keys(read(a, b))
        for bucket, counts in low.items():
            counts += np.bincount(keys[keys >> 16 == bucket] & 0xFFFF, minlength=1 << 16)
    values = []
    for rank in ranks:
        bucket = buckets[rank]
        inside = np.searchsorted(np.cumsum(low[bucket]), rank - below[bucket], side="right")
        values.append(_key_value((bucket << 16) | int(inside)))
    return values


def streamed_percentile(read: CueReader, bounds: np.ndarray, percentile: float) -> float:
    """``np.percentile(cue, percentile)`` (linear interpolation), exactly, from chunk reads."""
    n = int(bounds[-1])
    if n == 0:
        raise DataError("no cue values to take a percentile of")
    if not 0 <= percentile <= 100:
        raise ConfigError(f"the percentile must be in [0, 100], got {percentile}")
    virtual = (n - 1) * np.true_divide(percentile, 100)
    previous = int(np.floor(virtual))
    gamma = float(virtual - previous)
    below, above = order_statistics(read, bounds, [previous, min(previous + 1, n - 1)])
    # numpy's _lerp, in float32
    difference = above - below
    if gamma >= 0.5:
        return float(above - difference * (1 - gamma))
    return float(below + difference * gamma)


def stream_spans(
    read: CueReader,
    bounds: np.ndarray,
    data: np.ndarray,
    pretok: np.ndarray,
    threshold: float | None = None,
    keep_starts: bool = False,
) -> tuple[SpanCounts, np.ndarray | None]:
    """Monotonic (or, with ``threshold``, combined) spans of a corpus, one chunk at a time.

    Only one chunk of the cue is in memory at once. Returns the span counts (equal to those of
    the whole array) and, with ``keep_starts``, the span starts of the whole corpus (one byte
    per corpus byte, for the seeding and balanced variants).
    """
    from tqdm import tqdm

    counter = SpanCounter()
    starts = np.zeros(len(data), dtype=bool) if keep_starts else None
    with tqdm(total=int(bounds[-1]), unit="B", unit_scale=True, desc="spans") as progress:
        for a, b in itertools.pairwise(bounds.tolist()):
            chunk_data, chunk_pretok = np.asarray(data[a:b]), np.asarray(pretok[a:b])
            is_start = monotonic_starts(read(a, b), chunk_pretok, chunk_data, threshold)
            counter.add(is_start, chunk_data, chunk_pretok, a)
            if starts is not None:
                starts[a:b] = is_start
            progress.update(b - a)
    return counter.result(), starts
