"""Streaming ByteSpan's corpus: monotonic and combined spans, words and percentiles, by chunk.

The monotonic and combined constraints (:mod:`toklab.tokenizers.bytespan`) never need the whole
corpus in memory: :func:`stream_spans` reads the cue, the bytes and the pre-token flags in
chunks that end at pre-token starts (:func:`chunk_bounds`; no span crosses one) and counts the
span types (per language for the balanced variant) in compiled code
(:mod:`toklab.tokenizers.bytespan_counts`); for the seeding variants the same pass counts each
pre-token by its span starts, from which the span words, the input of BPE on spans, follow once
the vocabulary is chosen (:func:`~toklab.tokenizers.bytespan_counts.count_span_words`), with no
second pass over the corpus. :func:`streamed_percentile` gives the
combined threshold exactly (equal to ``np.percentile``) from two passes of radix histograms
(:func:`order_statistics`). A cue, like the bytes and flags, is read through a
:data:`CueReader`, ``read(start, stop)``: one thread reads chunks in order while others count
them (each into tables of its own, merged in corpus order).

Memory: a few chunks of at most :data:`MAX_CHUNK_BYTES` bytes (cue, bytes, flags, starts: 7
bytes a byte) and the tables of distinct span types, pre-tokens by span starts, and words.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np
from numba import njit

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.bytespan import SpanCounts, language_ids, split_languages
from toklab.tokenizers.bytespan_counts import (
    PretokenMasks,
    SpanTypeCounter,
    chunk_span_starts,
)
from toklab.tokenizers.pretoken_scan import PretokenCounts, count_into, empty_table

T = TypeVar("T")
C = TypeVar("C")

#: The most bytes a chunk holds: a few chunks are in flight (7 bytes per byte: cue, bytes,
#: flags, starts), whatever the corpus size. 1 MiB is the zarr chunk of an extraction.
MAX_CHUNK_BYTES = 1 << 20

#: glibc's mmap threshold while ByteSpan streams (:func:`steady_heap`): above zarr's 4 MiB
#: chunks of an extraction's cue.
MMAP_THRESHOLD = 16 << 20


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
        # a small window first: a memory-mapped pretok then has few pages read
        window = min(chunk_bytes, 1 << 12)
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


def key_value(key: int) -> np.float32:
    """The float32 whose :func:`cue_key` is ``key`` (+0.0 for the key of zero)."""
    bits = key ^ 0x80000000 if key >> 31 else ~key & 0xFFFFFFFF
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


@njit(cache=True, nogil=True)
def cue_key(bits, i):  # pragma: no cover - compiled
    """An unsigned key of cue ``i`` (its float32 ``bits``) that sorts as the cue; -0.0 is 0.0."""
    key = bits[i]
    if key == np.uint32(0x80000000):
        return np.uint32(0x80000000)
    if key >> np.uint32(31):
        return ~key
    return key | np.uint32(0x80000000)


#: Cue values per stretch of a compiled scan: its keys (or marks) are found in a loop the
#: compiler vectorizes, then counted or placed in another, and stay in L1 in between.
STRETCH = 4096


@njit(cache=True, nogil=True)
def key_histograms(cue, high, first_bucket, low):  # pragma: no cover - compiled
    """Count the cue's keys: top 16 bits into ``high``, low 16 bits into ``low``.

    ``low`` has a row per bucket from ``first_bucket`` on; keys of other buckets skip it.
    """
    bits = cue.view(np.uint32)
    keys = np.empty(STRETCH, dtype=np.uint32)
    rows = len(low)
    for a in range(0, len(cue), STRETCH):
        m = min(STRETCH, len(cue) - a)
        for i in range(m):
            keys[i] = cue_key(bits, a + i)
        for i in range(m):
            bucket = np.int64(keys[i] >> np.uint32(16))
            high[bucket] += 1
            row = bucket - first_bucket
            if 0 <= row < rows:
                low[row, keys[i] & np.uint32(0xFFFF)] += 1


#: Buckets either side of the first chunk's guess whose low bits the first pass counts.
_GUESS = 8


def order_statistics(read: CueReader, bounds: np.ndarray, ranks: Sequence[int]) -> list:
    """The values of the given ranks (0-based, ascending) of a cue read in chunks, exactly.

    A histogram of the top 16 bits of order-preserving keys finds each rank's bucket, and one
    of the low 16 bits inside it finds the value. The first pass counts both: the low bits for
    the buckets near where the first chunk puts the ranks; a second pass counts those of a
    bucket that the guess missed (a chunk unlike the rest of the cue).
    """
    n = int(bounds[-1])
    sample = np.sort(cue_keys(read(int(bounds[0]), int(bounds[1])))) if len(bounds) > 1 else None
    guess = 0
    if sample is not None and len(sample):
        guess = int(sample[min(ranks[0] * len(sample) // max(n, 1), len(sample) - 1)]) >> 16
    first_bucket = max(guess - _GUESS, 0)
    rows = min(guess + _GUESS + 1, 1 << 16) - first_bucket
    high, low = _histogram_pass(read, bounds, first_bucket, rows)
    below = np.concatenate([[0], np.cumsum(high)])
    buckets = {r: int(np.searchsorted(below, r, side="right")) - 1 for r in ranks}
    last_bucket = first_bucket + len(low)
    missed = sorted({b for b in buckets.values() if not first_bucket <= b < last_bucket})
    extra = np.zeros((len(missed), 1 << 16), dtype=np.int64)
    for k, bucket in enumerate(missed):  # the first chunk misled the guess
        extra[k] = _histogram_pass(read, bounds, bucket, 1)[1][0]
    values = []
    for rank in ranks:
        bucket = buckets[rank]
        if first_bucket <= bucket < last_bucket:
            counts = low[bucket - first_bucket]
        else:
            counts = extra[missed.index(bucket)]
        inside = np.searchsorted(np.cumsum(counts), rank - below[bucket], side="right")
        values.append(key_value((bucket << 16) | int(inside)))
    return values


def cue_keys(cue: np.ndarray) -> np.ndarray:
    """The order-preserving uint32 keys of a cue (:func:`cue_key`)."""
    bits = (np.asarray(cue, dtype=np.float32) + np.float32(0.0)).view(np.uint32)
    return np.where(bits >> 31, ~bits, bits | np.uint32(0x80000000)).astype(np.uint32)


def _histogram_pass(
    read: CueReader, bounds: np.ndarray, first_bucket: int, rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`key_histograms` of the whole cue (``rows`` rows of low bits): ``(high, low)``.

    Each thread counts into histograms of its own (512 KiB a row), added at the end.
    """

    def histograms() -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(1 << 16, dtype=np.int64), np.zeros((rows, 1 << 16), dtype=np.int64)

    counters = _PerThread(histograms)

    def count(a: int, b: int, cue: np.ndarray) -> None:
        high, low = counters.get()
        key_histograms(np.ascontiguousarray(cue, dtype=np.float32), high, first_bucket, low)

    for _ in _pipeline(bounds, [read], count, desc="percentile"):
        pass
    if not counters.all:
        return histograms()
    return sum(high for high, _ in counters.all), sum(low for _, low in counters.all)


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


@dataclass
class StreamedSpans:
    """The spans of a corpus: their counts, and what a second pass or a variant needs.

    ``spans`` holds every type (None when counted per language, in ``by_language``);
    ``unique`` is the number of distinct types; ``pretokens`` holds the pre-tokens counted by
    their span starts (one counter per thread), when counted.
    """

    spans: SpanCounts | None
    unique: int
    pretokens: list[PretokenMasks] | None = None
    by_language: dict[str, SpanCounts] | None = None


Source = np.ndarray | CueReader


def as_reader(source: Source) -> CueReader:
    """``read(start, stop)`` for an array (sliced, copied) or a reader (itself)."""
    if callable(source):
        return source
    return ArrayReader(source)


@dataclass(frozen=True)
class ArrayReader:
    """:func:`as_reader` of an array: ``reader(start, stop)``, ``reader.into(start, stop, out)``."""

    values: np.ndarray

    @property
    def dtype(self) -> np.dtype:
        """The values' type (of the buffers :meth:`into` fills)."""
        return self.values.dtype

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """Values ``start:stop``, a new array."""
        return np.array(self.values[start:stop])

    def into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Values ``start:stop`` copied into ``out``; the part of ``out`` they fill."""
        part = self.values[start:stop]
        out[: len(part)] = part
        return out[: len(part)]


def block_reader(read: CueReader, block: int) -> BlockReader:
    """``read`` in whole aligned blocks (a zarr array's chunks), the last two kept.

    Chunks end at pre-token starts, so nearly every chunk straddles two zarr chunks, and a read
    of it decodes both: each zarr chunk would be decoded twice per pass. Here it is decoded
    once, and reads are served from the blocks kept (two blocks of memory).
    """
    return BlockReader(read, block)


class BlockReader:
    """:func:`block_reader`'s reader: ``reader(start, stop)`` and ``reader.into(start, stop, out)``.

    Values are float32 (a cue's), whatever ``read`` returns.

    Where ``read`` decodes into a buffer (its ``into``, as a predictions group's cue reader
    does), the two blocks are two buffers kept for good, and :meth:`into` copies into the
    caller's: a pass over the cue then allocates nothing per block of its own.
    """

    dtype = np.dtype(np.float32)

    def __init__(self, read: CueReader, block: int) -> None:
        self.read = read
        self.block = block
        self.read_into = getattr(read, "into", None)
        self.kept: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}  # block: values, buffer
        self.spare: list[np.ndarray] = []  # the buffers of evicted blocks
        self.lock = threading.Lock()  # readers on several threads: a buffer is reused on eviction

    def _values(self, k: int) -> np.ndarray:
        """The values of block ``k`` (shorter at the end of the array)."""
        if k not in self.kept:
            while len(self.kept) >= 2:
                _, buffer = self.kept.pop(min(self.kept))
                if buffer is not None:
                    self.spare.append(buffer)
            start, stop = k * self.block, (k + 1) * self.block
            if self.read_into is None:
                self.kept[k] = (self.read(start, stop), None)
            else:
                buffer = self.spare.pop() if self.spare else np.empty(self.block, np.float32)
                self.kept[k] = (self.read_into(start, stop, buffer), buffer)
        return self.kept[k][0]

    def _parts(self, start: int, stop: int) -> Iterator[np.ndarray]:
        """The values of ``start:stop`` block by block: each valid until the next is read."""
        for k in range(start // self.block, (stop - 1) // self.block + 1):
            values = self._values(k)
            a, b = max(start - k * self.block, 0), min(stop - k * self.block, self.block)
            yield values[a:b]

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """Values ``start:stop``, a new array."""
        if stop <= start:
            return self.read(start, stop)
        with self.lock:
            parts = [part.copy() for part in self._parts(start, stop)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Values ``start:stop`` copied into ``out``; the part of ``out`` they fill."""
        filled = 0
        with self.lock:
            for part in self._parts(start, stop) if stop > start else []:
                out[filled : filled + len(part)] = part
                filled += len(part)
        return out[:filled]


def file_reader(path: str | Path, dtype: np.dtype | type = np.uint8) -> FileReader:
    """``read(start, stop)`` of a raw array file (one the corpus memory-maps).

    The file is read, not mapped: pages read once do not stay in the process, where a mapped
    corpus would end up resident in full.
    """
    return FileReader(Path(path), np.dtype(dtype))


@dataclass(frozen=True)
class FileReader:
    """:func:`file_reader`'s reader: ``reader(start, stop)``, ``reader.into(start, stop, out)``."""

    path: Path
    dtype: np.dtype

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """Values ``start:stop``, a new array (shorter at the end of the file)."""
        return np.fromfile(
            self.path, dtype=self.dtype, count=stop - start, offset=start * self.dtype.itemsize
        )

    def into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Values ``start:stop`` read into ``out``; the part of ``out`` they fill."""
        view = out[: stop - start]
        with open(self.path, "rb") as handle:
            handle.seek(start * self.dtype.itemsize)
            filled = handle.readinto(memoryview(view).cast("B"))
        return view[: filled // self.dtype.itemsize]


def steady_heap() -> None:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD`, so that the heap stays flat.

    Why: glibc raises the threshold to the size of every mmapped block freed, so that
    buffers of ever more sizes are carved from the heaps, which fragment and grew with the
    corpus (100 MB more resident memory after 40 MB of cue, when each chunk had buffers of its
    own). A fixed threshold stops that. At glibc's initial 128 KiB, every buffer of a few MiB
    (zarr's decoded chunks, the merge loop's arrays) was a new mapping and a page fault per
    4 KiB: reading a cue took four times as long. Above the 4 MiB chunks zarr decodes they
    are reused from the heap instead; with :func:`_pipeline`'s own buffers reused, resident
    memory stays flat (the same, within 10 MB, after each of five passes over 200 MB).
    Nothing happens where the C library has no ``mallopt``.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        libc.mallopt(-3, MMAP_THRESHOLD)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError, TypeError):
        pass


def _pipeline(
    bounds: np.ndarray,
    readers: Sequence[CueReader],
    work: Callable[..., T],
    workers: int | None = None,
    desc: str = "spans",
) -> Iterator[tuple[int, int, T]]:
    """``(start, stop, work(start, stop, *arrays))`` per chunk, in corpus order.

    One thread reads the chunks in order (readers such as :func:`block_reader` keep state);
    ``workers`` threads (default: the CPUs available) run ``work``, whose compiled counting
    releases the GIL; a few chunks are in flight, never the corpus. With one worker, ``work``
    runs on one chunk at a time, in order.

    A reader with ``into`` and ``dtype`` reads into buffers of the longest chunk that are
    reused once ``work`` returns (so ``work`` must not keep its arrays): a pass allocates a few
    buffers, not one a chunk: buffers allocated per chunk fragmented the heap (see
    :func:`steady_heap`), or, mmapped, cost a page fault per 4 KiB each time.
    """
    from tqdm import tqdm

    from toklab.tokenizers.pretoken_counts import default_workers

    steady_heap()
    workers = max(default_workers() if workers is None else workers, 1)
    longest = int(np.diff(bounds).max(initial=0))
    pooled = [hasattr(read, "into") and hasattr(read, "dtype") for read in readers]
    spare: list[list[np.ndarray]] = [[] for _ in readers]
    spare_lock = threading.Lock()

    def load(a: int, b: int) -> tuple[list[np.ndarray | None], list[np.ndarray]]:
        buffers: list[np.ndarray | None] = []
        arrays = []
        for read, pool, into_buffer in zip(readers, spare, pooled, strict=True):
            if not into_buffer:
                buffers.append(None)
                arrays.append(read(a, b))
                continue
            with spare_lock:
                buffer = pool.pop() if pool else None
            if buffer is None:
                buffer = np.empty(longest, dtype=read.dtype)  # type: ignore[attr-defined]
            buffers.append(buffer)
            arrays.append(read.into(a, b, buffer))  # type: ignore[attr-defined]
        return buffers, arrays

    def run(a: int, b: int, loaded: Future) -> T:
        buffers, arrays = loaded.result()
        try:
            return work(a, b, *arrays)
        finally:
            with spare_lock:
                for pool, buffer in zip(spare, buffers, strict=True):
                    if buffer is not None:
                        pool.append(buffer)

    with (
        ThreadPoolExecutor(1) as reading,
        ThreadPoolExecutor(workers) as counting,
        tqdm(total=int(bounds[-1]), unit="B", unit_scale=True, desc=desc) as progress,
    ):
        pending: deque[tuple[int, int, Future]] = deque()
        try:
            for a, b in itertools.pairwise(bounds.tolist()):
                pending.append((a, b, counting.submit(run, a, b, reading.submit(load, a, b))))
                if len(pending) > workers:
                    first, last, future = pending.popleft()
                    yield first, last, future.result()
                    progress.update(last - first)
            while pending:
                first, last, future = pending.popleft()
                yield first, last, future.result()
                progress.update(last - first)
        finally:
            for _, _, future in pending:
                future.cancel()


def stream_spans(
    read: CueReader,
    bounds: np.ndarray,
    data: Source,
    pretok: Source,
    threshold: float | None = None,
    count_pretokens: bool = False,
    languages: tuple[np.ndarray, Sequence[str]] | None = None,
    workers: int | None = None,
) -> StreamedSpans:
    """Monotonic (or, with ``threshold``, combined) spans of a corpus, one chunk at a time.

    Chunks are counted on ``workers`` threads, each into a counter of its own, merged at the
    end; only a few chunks of the cue, bytes and flags are in memory at once. The counts equal those of the
    whole array (:func:`~toklab.tokenizers.bytespan.count_spans`); with ``count_pretokens``,
    the pass counts the pre-tokens by their span starts instead (the seeding variants' words),
    and the span types come from those counts afterwards (one count per distinct (pre-token,
    starts), not per span); with
    ``languages`` (document offsets and languages), the types are counted per language (the
    balanced variant).
    """
    if count_pretokens and languages is not None:
        raise ValueError("pre-tokens are counted for the seeding variants, not per language")
    names: list[str] = []
    doc_offsets, doc_language = None, None
    if languages is not None:
        names, doc_language = language_ids(*languages)
        doc_offsets = languages[0]
    combined = threshold is not None
    level = np.float32(threshold if combined else 0.0)
    counters = _PerThread(lambda: SpanTypeCounter(doc_offsets, doc_language))
    flags = _PerThread(lambda: np.empty(int(np.diff(bounds).max(initial=0)), dtype=np.bool_))
    pretokens = _PerThread(PretokenMasks)

    def count(a: int, b: int, cue: np.ndarray, data: np.ndarray, pretok: np.ndarray) -> None:
        data = np.ascontiguousarray(data, dtype=np.uint8)
        pretok = np.ascontiguousarray(pretok, dtype=np.uint8)
        cue = np.ascontiguousarray(cue, dtype=np.float32)
        is_start = flags.get()[: b - a]
        chunk_span_starts(cue, pretok, data, level, combined, is_start)
        if count_pretokens:  # the span types come from the pre-tokens' counts, below
            pretokens.get().add(is_start, data, pretok, a)
        else:
            counters.get().add(is_start, data, pretok, a)

    readers = [read, as_reader(data), as_reader(pretok)]
    for _ in _pipeline(bounds, readers, count, workers):
        pass
    if count_pretokens:
        with ThreadPoolExecutor(max(len(pretokens.all), 1)) as pool:  # compiled: no GIL
            counters.all = list(pool.map(PretokenMasks.span_types, pretokens.all))
    counter = counters.merged() or SpanTypeCounter(doc_offsets, doc_language)
    table, first = counter.keys()
    counted = (pretokens.all or [PretokenMasks()]) if count_pretokens else None
    if languages is None:
        spans = SpanCounts.ordered(table.data, table.offsets, table.counts, first)
        return StreamedSpans(spans, len(spans), counted)
    by_language = split_languages(table, first, names)
    return StreamedSpans(None, distinct_types(table), counted, by_language)


class _PerThread(Generic[C]):
    """One counter per thread, made on first use; :meth:`merged` adds them all into one."""

    def __init__(self, make: Callable[[], C]) -> None:
        self.make = make
        self.local = threading.local()
        self.all: list[C] = []
        self.lock = threading.Lock()

    def get(self) -> C:
        """The calling thread's counter."""
        counter = getattr(self.local, "counter", None)
        if counter is None:
            counter = self.local.counter = self.make()
            with self.lock:
                self.all.append(counter)
        return counter

    def merged(self) -> C | None:
        """Every thread's counts in one counter (None if no thread counted)."""
        if not self.all:
            return None
        merged, *others = self.all
        for other in others:
            merged.merge(other)  # type: ignore[attr-defined]
        return merged


def distinct_types(table: PretokenCounts) -> int:
    """The number of distinct span types among keys prefixed with two bytes of language."""
    starts = table.offsets[:-1] + 2
    ones = np.ones(len(starts), dtype=np.int64)
    return int(count_into(empty_table(), table.data, starts, table.offsets[1:], ones)[3])
