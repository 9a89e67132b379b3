"""Parallel, streaming counts of GPT-2 pre-tokens, the input of BPE training.

The text is split at special tokens (which are never counted), then pre-tokenized with the GPT-2
pattern. Work is cut into chunks that workers read themselves, so memory holds a few chunks and
the table of distinct pre-tokens, never the corpus:

* a text file is cut at *safe* offsets: the start of a special token, or a newline directly
  after an ASCII letter, digit or punctuation character. At such an offset every GPT-2 pattern
  alternative has just ended and a new pre-token starts, whatever follows, so cutting there
  changes no pre-token (tested against whole-file counting);
* a byte corpus (``.bin``/``.idx``) is cut between documents; every document is a segment of
  its own, so nothing is merged across documents.
"""

from __future__ import annotations

import itertools
import logging
import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import regex
from tqdm import tqdm

from toklab.data.sources import invalid_utf8_error
from toklab.errors import DataError
from toklab.pretokenization import GPT2_REGEX

log = logging.getLogger(__name__)

DEFAULT_CHUNK_BYTES = 8 * 2**20
_WINDOW_BYTES = 2**20
_SAFE_NEWLINE = re.compile(rb"[\x21-\x7e]\n")


def special_splitter(special_tokens: Sequence[str]) -> regex.Pattern[str] | None:
    """A pattern matching any special token, longest first (so overlapping specials resolve)."""
    if not special_tokens:
        return None
    ordered = sorted(set(special_tokens), key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(s) for s in ordered))


def count_text(text: str, splitter: regex.Pattern[str] | None, counts: Counter[str]) -> None:
    """Add the pre-tokens of ``text`` (minus its special tokens) to ``counts``."""
    for segment in splitter.split(text) if splitter else (text,):
        if segment:
            counts.update(GPT2_REGEX.findall(segment))


def _decode(data: bytes, path: str | Path, offset: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise invalid_utf8_error(path, offset, err) from None


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


def _count_file_range(task: tuple[str, int, int, tuple[str, ...]]) -> Counter[str]:
    path, start, end, special_tokens = task
    with open(path, "rb") as handle:
        handle.seek(start)
        text = _decode(handle.read(end - start), path, start)
    counts: Counter[str] = Counter()
    count_text(text, special_splitter(special_tokens), counts)
    return counts


# ---------------------------------------------------------------------------------------------
# Byte corpora


def corpus_chunks(offsets: np.ndarray, chunk_bytes: int) -> list[tuple[int, int]]:
    """Document ranges of about ``chunk_bytes`` each."""
    targets = np.arange(chunk_bytes, int(offsets[-1]), chunk_bytes)
    cuts = np.unique(np.concatenate([[0], np.searchsorted(offsets, targets), [len(offsets) - 1]]))
    return [(int(a), int(b)) for a, b in itertools.pairwise(cuts) if b > a]


def _count_corpus_range(task: tuple[str, int, int, tuple[str, ...]]) -> Counter[str]:
    from toklab.data.byte_corpus import ByteCorpus

    prefix, first, last, special_tokens = task
    corpus = ByteCorpus(prefix)
    base = int(corpus.offsets[first])
    data = corpus.bytes[base : int(corpus.offsets[last])].tobytes()
    splitter = special_splitter(special_tokens)
    counts: Counter[str] = Counter()
    for doc in range(first, last):
        a, b = int(corpus.offsets[doc]) - base, int(corpus.offsets[doc + 1]) - base
        count_text(_decode(data[a:b], corpus.paths["bin"], base + a), splitter, counts)
    return counts


# ---------------------------------------------------------------------------------------------
# Driver


def _pool_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _run(worker, tasks: list, num_workers: int, total_bytes: int, sizes: list[int]) -> Counter[str]:
    counts: Counter[str] = Counter()
    progress = tqdm(total=total_bytes, unit="B", unit_scale=True, desc="pre-tokenize", leave=False)
    results: Iterator[tuple[int, Counter[str]]]
    if num_workers <= 1 or len(tasks) <= 1:
        results = ((size, worker(task)) for size, task in zip(sizes, tasks, strict=True))
        pool = None
    else:
        pool = _pool_context().Pool(min(num_workers, len(tasks)))
        sized = pool.imap_unordered(
            _sized_call, [(worker, s, t) for s, t in zip(sizes, tasks, strict=True)]
        )
        results = iter(sized)
    try:
        for size, chunk_counts in results:
            if counts:
                counts.update(chunk_counts)
            else:
                counts = chunk_counts
            progress.update(size)
    finally:
        progress.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    return counts


def _sized_call(args):
    worker, size, task = args
    return size, worker(task)


def default_workers() -> int:
    """Worker processes to use by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def count_file_pretokens(
    path: str | Path,
    special_tokens: Sequence[str] = (),
    num_workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Counter[str]:
    """Counts of GPT-2 pre-tokens in a UTF-8 text file, special tokens removed."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: input file not found")
    size = path.stat().st_size
    workers = default_workers() if num_workers is None else num_workers
    chunk_bytes = min(chunk_bytes, max(size // max(workers, 1) + 1, 1 << 20))
    ranges = file_chunks(path, special_tokens, chunk_bytes)
    tasks = [(str(path), a, b, tuple(special_tokens)) for a, b in ranges]
    return _run(_count_file_range, tasks, workers, size, [b - a for a, b in ranges])


def count_corpus_pretokens(
    prefix: str | Path,
    special_tokens: Sequence[str] = (),
    num_workers: int | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
) -> Counter[str]:
    """Counts of GPT-2 pre-tokens over the documents of a byte corpus, each on its own."""
    from toklab.data.byte_corpus import ByteCorpus

    corpus = ByteCorpus(prefix)
    workers = default_workers() if num_workers is None else num_workers
    chunk_bytes = min(chunk_bytes, max(corpus.num_bytes // max(workers, 1) + 1, 1 << 20))
    ranges = corpus_chunks(corpus.offsets, chunk_bytes)
    tasks = [(str(prefix), a, b, tuple(special_tokens)) for a, b in ranges]
    sizes = [int(corpus.offsets[b] - corpus.offsets[a]) for a, b in ranges]
    return _run(_count_corpus_range, tasks, workers, corpus.num_bytes, sizes)
