"""T-Free's byte stores, ``MemoryMap`` and ``AlignedMMap``, exported from toklab's byte corpora.

T-Free (Aleph-Alpha/trigrams) reads its pretraining text from two layers of flat files: a
memory map of documents, and an aligned index over it that groups pieces of documents into
items of about ``max_bytes`` bytes. Both are written here, byte for byte in T-Free's layout.

**MemoryMap** at prefix ``P`` (:func:`write_memory_map`):

* ``P.bin``: the documents' UTF-8 bytes back to back (uint8), a copy of the byte corpus's
  ``.bin`` (not a hard link: it would share the corpus's modification time, which Snakemake
  reads to decide what is out of date);
* ``P.idx``: one ``[start, length]`` pair per document, little-endian uint64, in elements
  (bytes here);
* ``P.meta.json``: ``{"dtype": "uint8", "index_dtype": "uint64", "document_count": n}``, the key
  set and numpy dtype names that T-Free's ``MemoryMapBuilder.finalize`` writes and its
  ``MemoryMap`` reads back with ``np.dtype(...)``.

**AlignedMMap** at prefix ``Q`` (:func:`write_aligned_memory_map`), one entry per chunk:

* ``Q.indices.bin``: uint32, the item the chunk belongs to (0, 0, 1, 1, 1, 2, ...);
* ``Q.lengths.bin``: uint16, the chunk's length in bytes;
* ``Q.offsets.bin``: uint64, the chunk's absolute byte offset in the memory map's ``.bin``.

Chunks are listed in the order of the documents, so an item's chunks are consecutive entries,
which T-Free's reader relies on. T-Free's reader opens ``Q.bin`` for the bytes: to be read by
T-Free, ``Q`` must be the memory map's prefix. Like the original, no meta file goes with the
three arrays, so nothing records the parameters: outputs built with other than the defaults
should have names that say so.

How items are cut
-----------------
Right before every split character (``" .,!?"`` by default) a document is cut into *words*: a
word is the document's start or a split character, and everything up to the next split
character or the document's end. A *chunk* is a run of whole words of one document, so every
chunk starts at its document's start or at a split character and ends right before a split
character or at its document's end; the split character at a cut starts the next chunk. An
*item* is a list of chunks of at most ``max_bytes`` bytes, possibly from several documents.
The documents are poured, in order, into the open item, which has room for ``max_bytes`` minus
what it holds, and which is closed as soon as it holds at least ``max_bytes - tolerance``:

1. if the rest of the document fits into the room, it becomes one chunk;
2. otherwise the chunk ends right before the last split character that keeps it in the room;
3. if no split character does, the word at hand is longer than the room: a word longer than
   ``max_bytes`` fits no item and is dropped (its bytes are counted in ``bytes_dropped``), and
   the document goes on after it; a shorter one closes the item early and starts the next.

So every item but the last holds ``max_bytes - tolerance`` to ``max_bytes`` bytes, unless the
word that starts the next item was longer than the room it had left (T-Free's original closes
items early in that case too, and in others). Chunks are valid UTF-8 because cuts
fall before ASCII bytes and every document is checked to be valid UTF-8. The only bytes dropped
are words longer than ``max_bytes``.

Differences from the original
-----------------------------
Based on ``src/trigram_tokenizer/data/aligned_mmap.py`` and ``memory_map.py`` of
Aleph-Alpha/trigrams at commit 016100042cdbc8fa11f3757b6dd95c9af169d451; line numbers refer to
``aligned_mmap.py`` there.

* **Document ends are cuts** (l. 96-134). The original looks for a split character even when its
  window reaches the document's end, so every document loses its last word (at least a final
  "." or the word after the last space): a tail of up to ``tolerance`` bytes is skipped
  (l. 105), a longer one finds no split character but its own first byte and is ditched
  (l. 136-148), and documents under ``tolerance`` bytes are skipped outright (l. 96). A
  document's end is as good a place to cut as a split character and the format needs no minimum
  chunk size (T-Free's dataset appends ``<|endoftext|>`` to each chunk and packs as many as it
  needs), so here short documents and tails are kept: they are "what fits".
* **A word longer than ``max_bytes``** is the only thing dropped; the original drops the whole
  rest of its document (l. 136-148).
* **The last item is kept** even when short; the original drops it (l. 180). Note that T-Free's
  reader takes ``indices.max()`` as its item count (l. 17), so it never serves the last item
  id; the item count is ``indices.max() + 1``.
* **A chunk may fill the room exactly** when a split character sits right after it; the
  original's backward search starts inside its window (l. 121-134), one byte shorter.
* **Parameters.** The original asserts the defaults (l. 83-85) because file names do not record
  them; here any ``max_bytes`` up to 65535 (chunk lengths are uint16), ``0 <= tolerance <
  max_bytes`` and ASCII split characters (the original compares single decoded bytes, l. 131,
  so only ASCII can ever match) are accepted, and anything else is a :class:`ConfigError`.
* **Invalid UTF-8** is a :class:`DataError` naming the byte offset; the original silently skips
  chunks that do not decode (l. 155-163). A result without any chunk is an error too: T-Free's
  reader cannot open an empty index.
* **The memory map** is T-Free's format unchanged, except that its ``.idx`` is little-endian by
  definition (``memory_map.py`` l. 224-227 writes native order, little-endian on every machine
  T-Free runs on) and its meta is key-sorted, indented JSON (l. 238-243 writes one line).
  Every file is written atomically.
"""

from __future__ import annotations

import logging
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numba
import numpy as np
from tqdm import tqdm

from toklab.data.arrays import array_paths, map_array
from toklab.data.byte_corpus import ByteCorpus
from toklab.data.sources import invalid_utf8_error
from toklab.errors import ConfigError, DataError
from toklab.io import atomic_path, atomic_write, read_json, write_json

log = logging.getLogger(__name__)

MEMORY_MAP_SUFFIXES = ("bin", "idx", "meta.json")
ALIGNED_SUFFIXES = ("indices.bin", "lengths.bin", "offsets.bin")
#: T-Free's defaults (its ``AlignedMMap.index_text_mmap_file`` asserts exactly these).
MAX_BYTES = 20_000
TOLERANCE = 100
SPLIT_CHARS = " .,!?"

DATA_DTYPE = np.dtype("uint8")
INDEX_DTYPE = np.dtype("<u8")
ITEM_DTYPE = np.dtype("<u4")
LENGTH_DTYPE = np.dtype("<u2")
OFFSET_DTYPE = np.dtype("<u8")

#: Documents whose index is read, checked and aligned at a time.
BLOCK_DOCUMENTS = 1 << 20
#: Chunks collected before they are appended to the three files.
BLOCK_CHUNKS = 1 << 20

# The aligner's state between calls, an int64 array: the document at hand (in the block), the
# position in the data (-1: at the document's start), the bytes the open item holds, the open
# item's id, and counts of dropped bytes, dropped words and items closed short.
_DOC, _POS, _FILLED, _ITEM, _DROPPED, _DROPPED_WORDS, _SHORT = range(7)


def memory_map_paths(prefix: str | Path) -> dict[str, Path]:
    """The three files of the T-Free memory map at ``prefix``: ``bin``, ``idx``, ``meta.json``."""
    return array_paths(prefix, MEMORY_MAP_SUFFIXES)


def aligned_memory_map_paths(prefix: str | Path) -> dict[str, Path]:
    """The three arrays of the T-Free aligned memory map at ``prefix``."""
    return array_paths(prefix, ALIGNED_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# MemoryMap


def write_memory_map(corpus_prefix: str | Path, out_prefix: str | Path) -> dict[str, Any]:
    """Export the byte corpus at ``corpus_prefix`` as a T-Free ``MemoryMap``; return its meta.

    One document per corpus document, as its UTF-8 bytes. The ``.bin`` is a copy of the corpus's
    ``.bin``; the ``.idx`` pairs are the corpus's offsets and lengths.
    """
    corpus = ByteCorpus(corpus_prefix)
    if len(corpus) == 0:
        raise DataError(f"{corpus.paths['idx']}: the byte corpus has no documents to export")
    paths = memory_map_paths(out_prefix)
    if paths["idx"].resolve() == corpus.paths["idx"].resolve():
        raise ConfigError(f"{out_prefix}: the memory map would overwrite the byte corpus there")
    with atomic_path(paths["bin"]) as bin_tmp, atomic_write(paths["idx"]) as idx_file:
        shutil.copyfile(corpus.paths["bin"], bin_tmp)
        for first in range(0, len(corpus), BLOCK_DOCUMENTS):
            offsets = corpus.offsets[first : first + BLOCK_DOCUMENTS + 1]
            pairs = np.empty((len(offsets) - 1, 2), dtype=INDEX_DTYPE)
            pairs[:, 0] = offsets[:-1]
            pairs[:, 1] = np.diff(offsets)
            idx_file.write(pairs.tobytes())
    meta = {
        "dtype": DATA_DTYPE.name,
        "index_dtype": INDEX_DTYPE.name,
        "document_count": len(corpus),
    }
    write_json(paths["meta.json"], meta)
    log.info("%s: %d documents, %d bytes", out_prefix, len(corpus), corpus.num_bytes)
    return meta


def open_memory_map(prefix: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """The bytes and the ``(n, 2)`` index of the T-Free memory map of text at ``prefix``.

    Both are memory-mapped. Opening checks what the aligner relies on: the three files exist,
    the meta names uint8 data and an integer index, the index holds ``document_count`` pairs,
    there is at least one document, and every document lies inside the ``.bin``.
    """
    paths = memory_map_paths(prefix)
    for path in paths.values():
        if not path.is_file():
            raise DataError(f"{path}: memory map file not found")
    try:
        meta = read_json(paths["meta.json"])
        dtype = np.dtype(meta["dtype"])
        index_dtype = np.dtype(meta["index_dtype"])
        count = meta["document_count"]
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{paths['meta.json']}: not a T-Free memory map meta ({err!r})") from None
    if dtype != DATA_DTYPE:
        raise DataError(f"{paths['meta.json']}: dtype {dtype.name}, but text needs uint8 bytes")
    if index_dtype.kind not in "iu":
        raise DataError(f"{paths['meta.json']}: index_dtype {index_dtype.name} is not an integer")
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise DataError(f"{paths['meta.json']}: document_count {count!r} is not a count")
    size = paths["idx"].stat().st_size
    if size != 2 * count * index_dtype.itemsize:
        raise DataError(
            f"{paths['idx']}: {size} bytes, but {count} documents need "
            f"{2 * count * index_dtype.itemsize} ({index_dtype.name} pairs)"
        )
    if count == 0:
        raise DataError(f"{paths['idx']}: the memory map has no documents")
    data = map_array(paths["bin"], DATA_DTYPE)
    index = np.memmap(paths["idx"], dtype=index_dtype, mode="r").reshape(count, 2)
    for first in range(0, count, BLOCK_DOCUMENTS):
        _document_spans(index, first, paths["idx"], len(data))
    return data, index


def _document_spans(
    index: np.ndarray, first: int, idx_path: Path, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths (int64) of the documents of the block at ``first``, checked for bounds."""
    block = index[first : first + BLOCK_DOCUMENTS]
    if block.dtype.kind == "u" and block.dtype.itemsize == 8:
        too_large = (block > np.iinfo(np.int64).max).any(axis=1)
        block = np.where(too_large[:, None], -1, block.astype(np.int64))
    starts = np.ascontiguousarray(block[:, 0], dtype=np.int64)
    lengths = np.ascontiguousarray(block[:, 1], dtype=np.int64)
    bad = (starts < 0) | (lengths < 0) | (lengths > size)
    bad |= starts > size - np.minimum(lengths, size)
    if bad.any():
        doc = first + int(np.argmax(bad))
        raise DataError(
            f"{idx_path}: document {doc} ([{index[doc, 0]}, {index[doc, 1]}]) lies outside "
            f"the {size} bytes of the .bin"
        )
    return starts, lengths


# ---------------------------------------------------------------------------------------------
# AlignedMMap


def _is_integer(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def check_aligned_parameters(max_bytes: int, tolerance: int, split_chars: str) -> None:
    """A :class:`ConfigError` unless the parameters describe an aligned memory map toklab writes."""
    if not _is_integer(max_bytes) or max_bytes < 1:
        raise ConfigError(f"max_bytes must be a positive integer, got {max_bytes!r}")
    if max_bytes > np.iinfo(LENGTH_DTYPE).max:
        raise ConfigError(
            f"max_bytes={max_bytes} does not fit the aligned map's uint16 chunk lengths "
            f"(at most {np.iinfo(LENGTH_DTYPE).max})"
        )
    if not _is_integer(tolerance) or tolerance < 0:
        raise ConfigError(f"tolerance must be a non-negative integer, got {tolerance!r}")
    if tolerance >= max_bytes:
        raise ConfigError(f"tolerance={tolerance} must be smaller than max_bytes={max_bytes}")
    if not isinstance(split_chars, str) or not split_chars or not split_chars.isascii():
        raise ConfigError(
            f"split_chars must be a non-empty string of ASCII characters, got {split_chars!r}"
        )


def write_aligned_memory_map(
    memory_map_prefix: str | Path,
    out_prefix: str | Path,
    max_bytes: int = MAX_BYTES,
    tolerance: int = TOLERANCE,
    split_chars: str = SPLIT_CHARS,
) -> dict[str, int]:
    """Write T-Free's ``AlignedMMap`` arrays over the memory map at ``memory_map_prefix``.

    Items of ``max_bytes - tolerance`` to ``max_bytes`` bytes are cut as the module docstring
    describes. The three arrays go to ``out_prefix`` (for T-Free's reader, the memory map's own
    prefix). Returns a summary: ``items``, ``chunks``, ``short_items`` (under ``max_bytes -
    tolerance``, the last included), ``bytes_kept``, ``bytes_dropped`` and ``words_dropped``
    (words longer than ``max_bytes``).
    """
    check_aligned_parameters(max_bytes, tolerance, split_chars)
    max_bytes, tolerance = int(max_bytes), int(tolerance)
    data, index = open_memory_map(memory_map_prefix)
    source = memory_map_paths(memory_map_prefix)
    paths = aligned_memory_map_paths(out_prefix)
    is_split = np.zeros(256, dtype=np.bool_)
    is_split[list(split_chars.encode("ascii"))] = True
    plain = data.view(np.ndarray)  # numba takes ndarrays, not the memmap subclass
    state = np.zeros(7, dtype=np.int64)
    out = np.empty((3, BLOCK_CHUNKS), dtype=np.int64)  # offsets, item ids, lengths
    chunks = bytes_kept = 0
    with ExitStack() as stack:
        files = {name: stack.enter_context(atomic_write(path)) for name, path in paths.items()}
        progress = stack.enter_context(
            tqdm(desc=f"align {Path(out_prefix).name}", unit="B", unit_scale=True)
        )
        for first in range(0, len(index), BLOCK_DOCUMENTS):
            starts, lengths = _document_spans(index, first, source["idx"], len(data))
            bad = _first_invalid_document(plain, starts, lengths)
            if bad >= 0:
                raise _utf8_error(source["bin"], plain, int(starts[bad]), int(lengths[bad]))
            state[_DOC], state[_POS] = 0, -1
            while state[_DOC] < len(starts):
                n = _align(plain, starts, lengths, is_split, max_bytes, tolerance, state, out)
                offsets, items, chunk_lengths = out[:, :n]
                if n and items[-1] > np.iinfo(ITEM_DTYPE).max:
                    raise DataError(f"{source['bin']}: more items than uint32 item ids can number")
                files["indices.bin"].write(items.astype(ITEM_DTYPE).tobytes())
                files["lengths.bin"].write(chunk_lengths.astype(LENGTH_DTYPE).tobytes())
                files["offsets.bin"].write(offsets.astype(OFFSET_DTYPE).tobytes())
                chunks += n
                bytes_kept += int(chunk_lengths.sum())
            progress.update(int(lengths.sum()))
        if chunks == 0:
            raise DataError(
                f"{source['bin']}: no text to align: the documents are empty or hold only "
                f"words longer than max_bytes={max_bytes}"
            )
    still_open = int(state[_FILLED] > 0)
    summary = {
        "items": int(state[_ITEM]) + still_open,
        "chunks": chunks,
        "short_items": int(state[_SHORT]) + int(0 < state[_FILLED] < max_bytes - tolerance),
        "bytes_kept": bytes_kept,
        "bytes_dropped": int(state[_DROPPED]),
        "words_dropped": int(state[_DROPPED_WORDS]),
    }
    log.info("%s: %s", out_prefix, summary)
    return summary


@dataclass(frozen=True)
class AlignedMemoryMap:
    """An aligned memory map opened for reading: its chunks' bytes, grouped into items.

    ``chunk_offsets``/``chunk_lengths`` (int64) locate chunk ``c`` in ``data``, the memory map's
    bytes; item ``i`` is chunks ``item_chunks[i]`` to ``item_chunks[i + 1] - 1``. Every item is
    counted, the last included (T-Free's reader takes ``indices.max()`` as its count and so
    never serves the last one).
    """

    data: np.ndarray
    chunk_offsets: np.ndarray
    chunk_lengths: np.ndarray
    item_chunks: np.ndarray

    @property
    def num_chunks(self) -> int:
        """How many chunks the items hold."""
        return len(self.chunk_offsets)

    @property
    def num_items(self) -> int:
        """How many items there are."""
        return len(self.item_chunks) - 1

    def chunk_bytes(self, chunk: int) -> bytes:
        """The UTF-8 bytes of chunk ``chunk``."""
        start = int(self.chunk_offsets[chunk])
        return self.data[start : start + int(self.chunk_lengths[chunk])].tobytes()


def open_aligned_memory_map(
    memory_map_prefix: str | Path, aligned_prefix: str | Path | None = None
) -> AlignedMemoryMap:
    """The aligned memory map at ``aligned_prefix`` (default: the memory map's own prefix).

    A :class:`~toklab.errors.DataError` naming the file when one is missing, the three arrays
    differ in length or are not whole elements, item ids do not count up from 0 in steps of at
    most one, or a chunk lies outside the memory map's bytes.
    """
    data, _ = open_memory_map(memory_map_prefix)
    paths = aligned_memory_map_paths(
        aligned_prefix if aligned_prefix is not None else memory_map_prefix
    )
    dtypes = {"indices.bin": ITEM_DTYPE, "lengths.bin": LENGTH_DTYPE, "offsets.bin": OFFSET_DTYPE}
    arrays = {}
    for name, path in paths.items():
        if not path.is_file():
            raise DataError(f"{path}: aligned memory map file not found")
        if path.stat().st_size % dtypes[name].itemsize:
            raise DataError(f"{path}: corrupt aligned memory map (not whole {dtypes[name].name})")
        arrays[name] = map_array(path, dtypes[name])
    counts = {len(array) for array in arrays.values()}
    if len(counts) != 1:
        raise DataError(
            f"{paths['indices.bin']}: corrupt aligned memory map (the three arrays hold "
            f"{', '.join(str(len(a)) for a in arrays.values())} chunks)"
        )
    if not counts.pop():
        raise DataError(f"{paths['indices.bin']}: the aligned memory map has no chunks")
    items = arrays["indices.bin"].astype(np.int64)
    steps = np.diff(items)
    if items[0] != 0 or (steps < 0).any() or (steps > 1).any():
        raise DataError(
            f"{paths['indices.bin']}: corrupt aligned memory map (item ids do not count up "
            "from 0 in chunk order)"
        )
    offsets = arrays["offsets.bin"].astype(np.int64)
    lengths = arrays["lengths.bin"].astype(np.int64)
    if (offsets < 0).any() or (offsets + lengths > len(data)).any():
        raise DataError(
            f"{paths['offsets.bin']}: corrupt aligned memory map (a chunk lies outside the "
            f"{len(data)} bytes of the memory map)"
        )
    item_chunks = np.concatenate([[0], np.flatnonzero(steps) + 1, [len(items)]]).astype(np.int64)
    return AlignedMemoryMap(data, offsets, lengths, item_chunks)


def _utf8_error(bin_path: Path, data: np.ndarray, start: int, length: int) -> DataError:
    """The error for the invalid UTF-8 in the document at ``[start, start + length)``."""
    try:
        data[start : start + length].tobytes().decode("utf-8")
    except UnicodeDecodeError as err:
        return invalid_utf8_error(bin_path, start, err)
    return DataError(f"{bin_path}: invalid UTF-8 in the document at byte offset {start}")


@numba.njit(cache=True)
def _first_invalid_document(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> int:
    """The first document that is not valid UTF-8 (RFC 3629: no overlongs, no surrogates), or -1."""
    for doc in range(len(starts)):
        i, end = starts[doc], starts[doc] + lengths[doc]
        while i < end:
            lead = data[i]
            if lead < 0x80:
                i += 1
                continue
            # The continuation count, and the range of the second byte, for each lead byte.
            low, high = 0x80, 0xBF
            if 0xC2 <= lead <= 0xDF:
                more = 1
            elif 0xE0 <= lead <= 0xEF:
                more = 2
                if lead == 0xE0:
                    low = 0xA0
                elif lead == 0xED:
                    high = 0x9F
            elif 0xF0 <= lead <= 0xF4:
                more = 3
                if lead == 0xF0:
                    low = 0x90
                elif lead == 0xF4:
                    high = 0x8F
            else:
                return doc
            if i + more >= end or not low <= data[i + 1] <= high:
                return doc
            for k in range(2, more + 1):
                if not 0x80 <= data[i + k] <= 0xBF:
                    return doc
            i += more + 1
    return -1


@numba.njit(cache=True)
def _align(
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    is_split: np.ndarray,
    max_bytes: int,
    tolerance: int,
    state: np.ndarray,
    out: np.ndarray,
) -> int:
    """Cut chunks from a block of documents, resuming from ``state``; the number written.

    Each chunk goes to a column of ``out``: its offset, its item's id and its length. Stops when
    the documents are done or ``out`` is full; ``state`` then says where to resume (see
    ``_DOC`` ... ``_SHORT``).
    """
    doc, pos, filled, item = state[_DOC], state[_POS], state[_FILLED], state[_ITEM]
    n = 0
    while doc < len(starts) and n < out.shape[1]:
        end = starts[doc] + lengths[doc]
        if pos < 0:
            pos = starts[doc]
        if pos >= end:
            doc, pos = doc + 1, -1
            continue
        room = max_bytes - filled
        if end - pos <= room:
            cut = end
        else:
            cut = pos + room  # < end: a split character here still leaves the chunk in the room
            while cut > pos and not is_split[data[cut]]:
                cut -= 1
            if cut == pos:  # the word at pos is longer than the room
                cut = pos + room + 1
                while cut < end and not is_split[data[cut]]:
                    cut += 1
                if cut - pos > max_bytes:  # and longer than any item: drop it
                    state[_DROPPED] += cut - pos
                    state[_DROPPED_WORDS] += 1
                    pos = cut
                else:  # close the open item, short of max_bytes - tolerance; the word starts anew
                    item, filled = item + 1, 0
                    state[_SHORT] += 1
                continue
        out[0, n], out[1, n], out[2, n] = pos, item, cut - pos
        n += 1
        filled += cut - pos
        if filled >= max_bytes - tolerance:
            item, filled = item + 1, 0
        pos = cut
    state[_DOC], state[_POS], state[_FILLED], state[_ITEM] = doc, pos, filled, item
    return n
