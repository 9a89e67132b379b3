"""Parallel, streaming counts of GPT-2 pre-tokens, the input of BPE training.

The text is split at special tokens (which are never counted), then pre-tokenized with the GPT-2
pattern by the compiled scanner of :mod:`toklab.tokenizers.pretoken_scan`. Work is cut into
chunks that worker threads read, check (valid UTF-8), scan and count without the GIL; their
counts join one table in chunk order. Memory holds a few chunks and the table of distinct
pre-tokens, never the corpus:

* a text file is cut at *safe* offsets: the start of a special token, or a newline directly
  after an ASCII letter, digit or punctuation character. At such an offset every GPT-2 pattern
  alternative has just ended and a new pre-token starts, whatever follows, so cutting there
  changes no pre-token (tested against whole-file counting);
* a byte corpus (``.bin``/``.idx``) is cut between documents; every document is a segment of
  its own, so nothing is merged across documents.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import regex
from tqdm import tqdm

from toklab.data.sources import invalid_utf8_error
from toklab.errors import DataError
from toklab.pretokenization import GPT2_REGEX
from toklab.tokenizers.pretoken_scan import (
    PretokenCounts,
    character_classes,
    count_pretokens,
    empty_table,
)

log = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 8 * 2**20
_WINDOW_BYTES = 2**20
_SAFE_NEWLINE = re.compile(rb"[\x21-\x7e]\n")


def _longest_first(special_tokens: Sequence[str]) -> list[str]:
    return sorted(set(special_tokens), key=lambda s: (-len(s), s))


def special_splitter(special_tokens: Sequence[str]) -> regex.Pattern[str] | None:
    """A pattern matching any special token, longest first (so overlapping specials resolve)."""
    if not special_tokens:
        return None
    return regex.compile("|".join(regex.escape(s) for s in _longest_first(special_tokens)))


def count_text(text: str, splitter: regex.Pattern[str] | None, counts: Counter[str]) -> None:
    """Add the pre-tokens of ``text`` (minus its special tokens) to ``counts``."""
    for segment in splitter.split(text) if splitter else (text,):
        if segment:
            counts.update(GPT2_REGEX.findall(segment))


def _decode(data: bytes, path: str | Path, offset: int) -> str:
    """``data`` decoded; invalid UTF-8 is a :class:`DataError` naming the file and offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise invalid_utf8_error(path, offset, err) from None


def _special_bytes_pattern(special_tokens: Sequence[str]) -> re.Pattern[bytes] | None:
    """:func:`special_splitter` on bytes (UTF-8 keeps its matches)."""
    if not special_tokens:
        return None
    ordered = _longest_first(special_tokens)
    return re.compile(b"|".join(re.escape(s.encode("utf-8")) for s in ordered))


def _segments(data: bytes, starts: list[int], ends: list[int], special) -> tuple:
    """The ranges ``[starts[i], ends[i])`` of ``data`` cut around special tokens, as arrays."""
    seg_starts, seg_ends = [], []
    for a, b in zip(starts, ends, strict=True):
        if special is not None:
            for match in special.finditer(data, a, b):
                seg_starts.append(a)
                seg_ends.append(match.start())
                a = match.end()
        seg_starts.append(a)
        seg_ends.append(b)
    return np.asarray(seg_starts, dtype=np.int64), np.asarray(seg_ends, dtype=np.int64)


def _count_bytes(table: tuple, data: bytes, starts: list[int], ends: list[int], special) -> tuple:
    """``table`` with the pre-tokens of the ranges ``data[start:end]`` added, specials cut out."""
    seg_starts, seg_ends = _segments(data, starts, ends, special)
    array = np.frombuffer(data, dtype=np.uint8)
    return count_pretokens(table, array, seg_starts, seg_ends, character_classes())


# ---------------------------------------------------------------------------------------------
# Text files


def _special_spans(window: bytes, specials: Sequence[bytes]) -> list[tuple[int, int]]:
    spans = []
    for special in specials:
        start = window.find(special)
        while start != -1:
            spans.append((start, start + len(special)))
            start = window.find(special, start + 1)
    return spans


def _safe_cut(handle, position: int, size: int, specials: Sequence[bytes]) -> int:
    """The first safe cut offset at or after ``position`` (``size`` if there is none)."""
    margin = max((len(s) for s in specials), default=0)
    while position < size:
        start = max(position - margin, 0)
        handle.seek(start)
        window = handle.read(_WINDOW_BYTES + 2 * margin)
        at_end = start + len(window) >= size
        spans = _special_spans(window, specials)
        candidates = [a for a, _ in spans] + [m.start() + 1 for m in _SAFE_NEWLINE.finditer(window)]
        for cut in sorted(c for c in candidates if c >= position - start):
            if not at_end and cut > len(window) - margin:
                break  # too close to the window's end to rule out a special straddling it
            if not any(a < cut < b for a, b in spans):
                return start + cut
        if at_end:
            break
        position = start + len(window) - margin
    return size


def file_chunks(
    path: str | Path, special_tokens: Sequence[str], chunk_bytes: int = DEFAULT_CHUNK_BYTES
) -> list[tuple[int, int]]:
    """Byte ranges of about ``chunk_bytes`` that cover the file and end at safe offsets."""
    size = os.path.getsize(path)
    specials = [s.encode("utf-8") for s in special_tokens]
    bounds = [0]
    with open(path, "rb") as handle:
        while bounds[-1] < size:
            bounds.append(_safe_cut(handle, bounds[-1] + chunk_bytes, size, specials))
    return list(itertools.pairwise(bounds))


def _count_file_range(path: Path, start: int, end: int, special, table: tuple) -> tuple:
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(end - start)
    _decode(data, path, start)
    return _count_bytes(table, data, [0], [len(data)], special)


# ---------------------------------------------------------------------------------------------
# Byte corpora


def corpus_chunks(offsets: np.ndarray, chunk_bytes: int) -> list[tuple[int, int]]:
    """Document ranges of about ``chunk_bytes`` each."""
    targets = np.arange(chunk_bytes, int(offsets[-1]), chunk_bytes)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets), [len(offsets) - 1]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]


def _count_corpus_range(corpus, first: int, last: int, special, table: tuple) -> tuple:
    base = int(corpus.offsets[first])
    data = corpus.bytes[base : int(corpus.offsets[last])].tobytes()
    bounds = (corpus.offsets[first : last + 1] - base).tolist()
    starts, ends = bounds[:-1], bounds[1:]
    try:
        data.decode("utf-8")
        split = any(0x80 <= data[a] < 0xC0 for a, b in zip(starts, ends, strict=True) if b > a)
    except UnicodeDecodeError:
        split = True
    if split:  # find the document whose bytes are not UTF-8 on their own, for the message
        for a, b in zip(starts, ends, strict=True):
            _decode(data[a:b], corpus.paths["bin"], base + a)
    return _count_bytes(table, data, starts, ends, special)


# ---------------------------------------------------------------------------------------------
# Driver


def _run(jobs: list, num_workers: int, total_bytes: int, sizes: list[int]) -> PretokenCounts:
    """Run the counting ``jobs`` on threads, each thread into its own table; join the tables.

    A job takes a table and returns it with its chunk counted. Thread ``k`` runs jobs ``k``,
    ``k + workers``, ...; memory holds one chunk per thread. Of several bad chunks, the first
    one's error is raised.
    """
    workers = max(1, min(num_workers, len(jobs)))
    progress = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="pre-tokenize", leave=False)
    lock = threading.Lock()
    character_classes()  # built once, before the threads need it
    first_bad = [len(jobs)]  # chunks after a bad one need not be counted

    def work(k: int) -> tuple[tuple, tuple[int, Exception] | None]:
        table = empty_table()
        for index in range(k, len(jobs), workers):
            if index > first_bad[0]:
                break
            try:
                table = jobs[index](table)
            except Exception as err:
                with lock:
                    first_bad[0] = min(first_bad[0], index)
                return table, (index, err)
            with lock:
                progress.update(sizes[index])
        return table, None

    try:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(work, range(workers)))
    finally:
        progress.close()
    errors = sorted((error for _, error in results if error is not None), key=lambda e: e[0])
    if errors:
        raise errors[0][1]
    table = results[0][0]
    for other, _ in results[1:]:
        table = PretokenCounts.from_table(other).add_to(table)
    return PretokenCounts.from_table(table)


def default_workers() -> int:
    """Worker threads to use by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def count_file_pretokens(
    path: str | Path,
    special_tokens: Sequence[str] = (),
    num_workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> PretokenCounts:
    """Counts of GPT-2 pre-tokens in a UTF-8 text file, special tokens removed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    size = path.stat().st_size
    workers = default_workers() if num_workers is None else num_workers
    chunk_bytes = min(chunk_bytes, max(size // max(workers, 1) + 1, 1 << 20))
    ranges = file_chunks(path, special_tokens, chunk_bytes)
    special = _special_bytes_pattern(special_tokens)
    jobs = [functools.partial(_count_file_range, path, a, b, special) for a, b in ranges]
    return _run(jobs, workers, size, [b - a for a, b in ranges])


def count_corpus_pretokens(
    prefix: str | Path,
    special_tokens: Sequence[str] = (),
    num_workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> PretokenCounts:
    """Counts of GPT-2 pre-tokens over the documents of a byte corpus, each on its own."""
    from toklab.data.byte_corpus import ByteCorpus

    corpus = ByteCorpus(prefix)
    workers = default_workers() if num_workers is None else num_workers
    chunk_bytes = min(chunk_bytes, max(corpus.num_bytes // max(workers, 1) + 1, 1 << 20))
    ranges = corpus_chunks(corpus.offsets, chunk_bytes)
    special = _special_bytes_pattern(special_tokens)
    jobs = [functools.partial(_count_corpus_range, corpus, a, b, special) for a, b in ranges]
    sizes = [int(corpus.offsets[b] - corpus.offsets[a]) for a, b in ranges]
    return _run(jobs, workers, corpus.num_bytes, sizes)
