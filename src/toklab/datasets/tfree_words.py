"""T-Free word arrays: a byte corpus's documents as ids into a table of their words.

T-Free (:mod:`toklab.tokenizers.tfree`) has no token vocabulary: a model reads and predicts
*words*, each embedded from and trained towards its hashed trigram ids. A word array stores the
words once: it is a token array (``PREFIX.bin``/``.idx``/``.meta.json``, as
:mod:`toklab.datasets.token_array` writes them, so :class:`~toklab.datasets.token_array.TokenArray`
and the training stream read it) whose ids index ``PREFIX.words.json``, a JSON list of the
distinct words. The meta's ``vocab_size`` is the table's length.

- Word 0 is always ``<|endoftext|>`` (:data:`EOT`), the separator the training stream puts
  between documents; the others follow in order of first appearance, so the files are a pure
  function of the corpus (and the settings file, whose digest the meta records). A literal
  ``<|endoftext|>`` inside a text is a special span of :func:`~toklab.tokenizers.tfree.split_words`
  and so id 0, as a token array encodes it as the tokenizer's special token.
- A document is the :func:`~toklab.tokenizers.tfree.split_words` of its text, nothing added;
  :func:`~toklab.tokenizers.tfree.join_words` of its words gives the text back.
- The words themselves do not depend on ``v``, ``m`` or ``k``: the settings only tie the array
  to a tokenizer file (``tokenizer_sha256``, and ``meta["tfree"]`` for the record).

:class:`WordPatterns` turns a table into what a model consumes: each word's input ids (summed by
``embedding_bag``) and its multi-hot target ids, gathered for a batch of word ids at once.
"""

from __future__ import annotations

import logging
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from toklab.data.arrays import INDEX_DTYPE
from toklab.datasets.tfree_memmap import memory_map_paths, open_aligned_memory_map
from toklab.datasets.token_array import (
    BATCH_DOCUMENTS,
    TokenArrayWriter,
    document_batches,
    open_corpus,
    token_array_paths,
)
from toklab.errors import DataError
from toklab.io import atomic_write, read_json, sha256_file, write_json
from toklab.sorting import distinct

if TYPE_CHECKING:
    import torch

    from toklab.models.llama import TrigramInputs

from toklab.tokenizers.tfree import TrigramHasher, hasher_settings, load_settings, split_words
from toklab.tokenizers.tfree_trigrams import is_whole_word, trigram_ids

__all__ = [
    "EOT",
    "EOT_ID",
    "WordPatterns",
    "aligned_word_array_paths",
    "read_aligned_items",
    "read_words",
    "tokenize_aligned_words",
    "tokenize_words",
    "word_array_paths",
    "write_word_array",
]

log = logging.getLogger(__name__)

EOT = "<|endoftext|>"
EOT_ID = 0
WORDS_SUFFIX = "words.json"
ITEMS_SUFFIX = "items.idx"
_ID_DTYPE = np.dtype("<u4")  # the scratch file's ids, before the table's size is known


def word_array_paths(prefix: str | Path) -> dict[str, Path]:
    """The four files of a word array: the token array's three and ``words.json``."""
    paths = token_array_paths(prefix)
    prefix = Path(prefix)
    paths[WORDS_SUFFIX] = prefix.with_name(f"{prefix.name}.{WORDS_SUFFIX}")
    return paths


def tokenize_words(
    settings_path: str | Path,
    corpus_prefix: str | Path,
    out_prefix: str | Path,
    *,
    batch_documents: int = BATCH_DOCUMENTS,
    workers: int = 1,
) -> dict[str, Any]:
    """Split every document of the byte corpus at ``corpus_prefix`` into words; return the meta.

    ``settings_path`` is a T-Free settings file (:func:`~toklab.tokenizers.tfree.save_settings`);
    the meta records its SHA-256 as ``tokenizer_sha256`` and its settings as ``tfree``. The ids
    go to an unnamed scratch file while the table grows, then into the token array once its
    dtype is known. The words file is written before the ``.idx`` and the meta, the meta last;
    an exception leaves none of the four files (and, before the first is written, any previous
    array untouched). The split runs on ``workers`` processes; the files do not depend on it.
    """
    corpus = open_corpus(corpus_prefix)
    return write_word_array(
        settings_path,
        document_batches(corpus, batch_documents),
        out_prefix,
        num_bytes=corpus.num_bytes,
        where=f"{corpus_prefix}: document",
        meta={"source_sha256": corpus.bin_sha256},
        workers=workers,
    )


def aligned_word_array_paths(prefix: str | Path) -> dict[str, Path]:
    """The five files of an aligned word array: a word array's four and ``items.idx``."""
    paths = word_array_paths(prefix)
    prefix = Path(prefix)
    paths[ITEMS_SUFFIX] = prefix.with_name(f"{prefix.name}.{ITEMS_SUFFIX}")
    return paths


def tokenize_aligned_words(
    settings_path: str | Path,
    memory_map_prefix: str | Path,
    out_prefix: str | Path,
    *,
    batch_chunks: int = BATCH_DOCUMENTS,
    workers: int = 1,
) -> dict[str, Any]:
    """The chunks of T-Free's aligned memory map as a word array, one document per chunk.

    As T-Free's pretraining dataset encodes a chunk: ``split_words((text +
    "<|endoftext|>").strip())`` (its ``trigramify`` strips the text: a chunk cut at a space
    loses it), so every document ends with word 0. ``PREFIX.items.idx`` (little-endian int64, ``items +
    1`` offsets) groups the documents into the export's items: item ``i`` is documents
    ``items[i]`` to ``items[i + 1] - 1``; :class:`~toklab.training.data.AlignedSampler` draws
    the original's samples from them. The aligned arrays are read at the memory map's prefix.
    The split runs on ``workers`` processes; the files do not depend on it.
    """
    aligned = open_aligned_memory_map(memory_map_prefix)

    def chunk_batches():
        for first in range(0, aligned.num_chunks, batch_chunks):
            last = min(first + batch_chunks, aligned.num_chunks)
            texts = [aligned.chunk_bytes(c) for c in range(first, last)]
            yield (
                [
                    (_decode(text, memory_map_prefix, first + i) + EOT).strip()
                    for i, text in enumerate(texts)
                ],
                sum(map(len, texts)),
            )

    return write_word_array(
        settings_path,
        chunk_batches(),
        out_prefix,
        num_bytes=int(aligned.chunk_lengths.sum()),
        where=f"{memory_map_prefix}: aligned chunk",
        meta={
            "source_sha256": sha256_file(memory_map_paths(memory_map_prefix)["bin"]),
            "aligned_items": aligned.num_items,
        },
        sidecar=(
            aligned_word_array_paths(out_prefix)[ITEMS_SUFFIX],
            lambda: aligned.item_chunks.astype(INDEX_DTYPE).tobytes(),
        ),
        workers=workers,
    )


def read_aligned_items(prefix: str | Path, num_documents: int) -> np.ndarray:
    """The item offsets of an aligned word array (``items + 1`` int64), checked."""
    path = aligned_word_array_paths(prefix)[ITEMS_SUFFIX]
    if not path.is_file():
        raise DataError(f"{path}: aligned word array file not found")
    if path.stat().st_size % INDEX_DTYPE.itemsize:
        raise DataError(f"{path}: corrupt item index (not whole int64 offsets)")
    items = np.fromfile(path, dtype=INDEX_DTYPE).astype(np.int64)
    if len(items) < 2 or items[0] != 0 or items[-1] != num_documents or (np.diff(items) <= 0).any():
        raise DataError(
            f"{path}: corrupt item index (offsets must rise from 0 to the {num_documents} "
            "documents of the array)"
        )
    return items


def _decode(data: bytes, where: str | Path, chunk: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{where}: aligned chunk {chunk} is not valid UTF-8 ({err})") from None


@dataclass(frozen=True)
class _SplitFailure:
    """A text of a batch the split refused: its index in the batch and the reason."""

    index: int
    message: str


def _split_batch(
    texts: list[Any], split: Callable[[Any], list[str]]
) -> tuple[list[str] | _SplitFailure, np.ndarray, np.ndarray]:
    """A batch's distinct words (in order of first appearance), its words' indices into them.

    And each text's number of words; a :class:`_SplitFailure` in place of the words if a text
    fails.
    """
    table: dict[str, int] = {}
    ids: list[int] = []
    counts = np.empty(len(texts), dtype=INDEX_DTYPE)
    for i, text in enumerate(texts):
        try:
            words = split(text)
        except DataError as err:
            return _SplitFailure(i, str(err)), np.empty(0, np.int64), counts
        ids.extend([table.setdefault(word, len(table)) for word in words])
        counts[i] = len(words)
    return list(table), np.asarray(ids, dtype=np.int64), counts


def _split_batches(
    batches_of_texts: Iterator[tuple[list[Any], int]],
    split: Callable[[Any], list[str]],
    workers: int,
) -> Iterator[tuple[tuple[Any, np.ndarray, np.ndarray], int, int]]:
    """:func:`_split_batch` of every batch, in order, with its number of texts and bytes.

    On ``workers`` > 1 processes, with at most two batches per worker in flight: a pool's
    ``imap`` would read the whole corpus ahead into memory.
    """
    if workers <= 1:
        for texts, num_bytes in batches_of_texts:
            yield _split_batch(texts, split), len(texts), num_bytes
        return
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque = deque()
        for texts, num_bytes in batches_of_texts:
            pending.append((pool.submit(_split_batch, texts, split), len(texts), num_bytes))
            if len(pending) >= 2 * workers:
                future, num_texts, done_bytes = pending.popleft()
                yield future.result(), num_texts, done_bytes
        while pending:
            future, num_texts, done_bytes = pending.popleft()
            yield future.result(), num_texts, done_bytes


def write_word_array(
    settings_path: str | Path,
    batches_of_texts: Iterator[tuple[list[Any], int]],
    out_prefix: str | Path,
    *,
    num_bytes: int,
    where: str,
    meta: dict[str, Any],
    split: Callable[[Any], list[str]] | None = None,
    sidecar: tuple[Path, Callable[[], bytes]] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """The word array of the texts, ``(texts, their bytes)`` a batch at a time; its meta.

    ``split`` makes a text's words (default :func:`~toklab.tokenizers.tfree.split_words`), on
    ``workers`` processes when more than one (``split`` must then pickle; the files do not
    depend on ``workers``);
    ``where`` names a text in errors (``"{where} {index}: ..."``); ``meta`` is added to the
    array's meta. ``sidecar`` is ``(path, data)``: one more file of the array, removed first
    and written atomically after the meta, ``data()`` its bytes once every text is split; an
    exception leaves none of the array's files, the sidecar included.
    """
    paths = word_array_paths(out_prefix)
    if sidecar is not None:
        # first: a run killed before the new one is written must not pair the old with it
        paths["sidecar"] = sidecar[0]
        sidecar[0].unlink(missing_ok=True)
    split = split or split_words
    settings_path = Path(settings_path)
    hasher = load_settings(settings_path)
    digest = sha256_file(settings_path)
    paths["bin"].parent.mkdir(parents=True, exist_ok=True)
    table: dict[str, int] = {EOT: EOT_ID}
    batches: list[np.ndarray] = []  # each batch's document offsets, from 0
    with (
        tempfile.TemporaryFile(dir=paths["bin"].parent) as scratch,
        tqdm(total=num_bytes, desc=f"split words {Path(out_prefix).name}", unit="B",
             unit_scale=True) as progress,
    ):  # fmt: skip
        first = 0
        for (words, local_ids, counts), num_texts, batch_bytes in _split_batches(
            batches_of_texts, split, workers
        ):
            if isinstance(words, _SplitFailure):
                raise DataError(f"{where} {first + words.index}: {words.message}")
            # intern: a new word gets the next id (len(table) is evaluated before the insert);
            # batches come in order and each table in order of first appearance, so the ids
            # are those of one pass over all the texts
            remap = np.array([table.setdefault(word, len(table)) for word in words], np.int64)
            scratch.write(remap[local_ids].astype(_ID_DTYPE).tobytes())
            batches.append(np.concatenate([[0], np.cumsum(counts)]).astype(INDEX_DTYPE))
            first += num_texts
            progress.update(batch_bytes)
        scratch.seek(0)
        paths["meta.json"].unlink(missing_ok=True)  # an old array is no longer complete
        try:
            with TokenArrayWriter(out_prefix, len(table)) as writer:
                for offsets in batches:
                    count = int(offsets[-1])
                    data = scratch.read(count * _ID_DTYPE.itemsize)
                    writer.write(np.frombuffer(data, dtype=_ID_DTYPE), offsets)
            write_json(paths[WORDS_SUFFIX], list(table))
            written = writer.finish(
                {
                    "num_bytes": num_bytes,
                    "tokenizer_sha256": digest,
                    **meta,
                    "words_sha256": sha256_file(paths[WORDS_SUFFIX]),
                    "tfree": hasher_settings(hasher),
                }
            )
            if sidecar is not None:
                with atomic_write(paths["sidecar"]) as handle:
                    handle.write(sidecar[1]())
            return written
        except BaseException:
            for path in paths.values():
                path.unlink(missing_ok=True)
            raise


def read_words(prefix: str | Path) -> list[str]:
    """The word table of the word array at ``prefix``: ``words[id]`` is the word of ``id``.

    A :class:`~toklab.errors.DataError` naming the file when it or the meta is missing, it is
    not a JSON list of non-empty strings starting with :data:`EOT`, its length is not the meta's
    ``vocab_size``, or its SHA-256 is not the one the meta recorded.
    """
    paths = word_array_paths(prefix)
    path = paths[WORDS_SUFFIX]
    for need in (path, paths["meta.json"]):
        if not need.is_file():
            raise DataError(f"{need}: word array file not found")
    try:
        words = read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: corrupt word table (not JSON: {err})") from None
    if not isinstance(words, list) or not all(isinstance(w, str) and w for w in words):
        raise DataError(f"{path}: corrupt word table (not a list of non-empty strings)")
    if not words or words[0] != EOT:
        first = words[0] if words else None
        raise DataError(f"{path}: corrupt word table (word 0 is {first!r}, not {EOT!r})")
    try:
        meta = read_json(paths["meta.json"])
        vocab_size = int(meta["vocab_size"])
    except (ValueError, KeyError, TypeError) as err:
        raise DataError(f"{paths['meta.json']}: not a token array meta ({err})") from None
    if len(words) != vocab_size:
        raise DataError(
            f"{path}: {len(words)} words, but the meta says a vocabulary of {vocab_size}"
        )
    recorded = meta.get("words_sha256")
    if recorded is not None and recorded != sha256_file(path):
        raise DataError(f"{path}: not the word table the meta recorded (sha256 differs)")
    return words


def _gather(offsets: np.ndarray, word_ids: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """Indices into a flat per-word array of the words ``word_ids``, their lengths and starts."""
    ids = np.asarray(word_ids)
    if ids.size and not np.issubdtype(ids.dtype, np.integer):
        raise DataError(f"word ids must be integers, got dtype {ids.dtype}")
    ids = ids.reshape(-1).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= size):
        raise DataError(f"word ids must be in [0, {size}), got {ids.min()}..{ids.max()}")
    starts = offsets[ids]
    lengths = offsets[ids + 1] - starts
    bag_starts = np.cumsum(lengths) - lengths
    # element j of bag b is at starts[b] + j, and is output element bag_starts[b] + j
    index = np.repeat(starts - bag_starts, lengths) + np.arange(int(lengths.sum()), dtype=np.int64)
    return index, lengths, bag_starts


@dataclass(frozen=True)
class WordPatterns:
    """The hashed patterns of a word table, compactly: rows of ``m`` ids, and each word's rows.

    ``rows`` (int32, ``(R, m)``) holds the hash row of every distinct trigram of the table and
    of every word hashed whole; word ``w`` is embedded from the rows
    ``rows[row_index[row_offsets[w]:row_offsets[w + 1]]]`` (one per distinct trigram, in
    :meth:`~toklab.tokenizers.tfree.TrigramHasher.word_rows` order; its embedding sums all their
    ids, repeats kept), and its target is the set of those ids (the ids of
    :meth:`~toklab.tokenizers.tfree.TrigramHasher.encode_word`). Storing rows once per trigram,
    not ids per word, keeps a table of millions of words in ``4 (m R + T)`` bytes (``T`` its
    trigram occurrences) instead of the ``8 m T`` of flattened ids; inputs and targets are
    gathered per batch.
    """

    v: int
    m: int
    rows: np.ndarray
    row_index: np.ndarray
    row_offsets: np.ndarray

    @classmethod
    def from_words(cls, words: Sequence[str], hasher: TrigramHasher) -> WordPatterns:
        """The patterns of ``words`` under ``hasher`` (all words at once, vectorised)."""
        words = list(words)
        whole = np.array([is_whole_word(w, hasher.entire_words) for w in words], dtype=bool)
        # words hashed whole have no trigrams here ("" has none): one row of their own each
        ids, offsets = trigram_ids(["" if h else w for w, h in zip(words, whole, strict=True)])
        ordered = np.sort(ids)  # np.unique is hash-based in NumPy >= 2.3, slower than sorting
        distinct = ordered[np.concatenate([ordered[:1] >= 0, ordered[1:] != ordered[:-1]])]
        whole_rows = [hasher.word_hash_row(w) for w, h in zip(words, whole, strict=True) if h]
        rows = np.concatenate(
            [hasher.rows(distinct), np.array(whole_rows, dtype=np.int64).reshape(-1, hasher.m)]
        ).astype(np.int32)
        counts = np.diff(offsets)
        counts[whole] = 1
        row_offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(counts, out=row_offsets[1:])
        row_index = np.empty(int(row_offsets[-1]), dtype=np.int32)
        whole_slots = np.zeros(len(row_index), dtype=bool)
        whole_slots[row_offsets[:-1][whole]] = True
        row_index[~whole_slots] = np.searchsorted(distinct, ids)
        row_index[whole_slots] = len(distinct) + np.arange(int(whole.sum()), dtype=np.int32)
        return cls(hasher.v, hasher.m, rows, row_index, row_offsets)

    @classmethod
    def for_array(cls, prefix: str | Path, hasher: TrigramHasher) -> WordPatterns:
        """The patterns of the word table of the word array at ``prefix`` (:func:`read_words`).

        The hasher's settings need not be the ones the array recorded: the words do not depend
        on them.
        """
        return cls.from_words(read_words(prefix), hasher)

    def __len__(self) -> int:
        return len(self.row_offsets) - 1

    def word_inputs(self, word: int) -> np.ndarray:
        """The input ids of word ``word`` (int64), as :meth:`inputs` gathers them."""
        start, end = self.row_offsets[word], self.row_offsets[word + 1]
        return self.rows[self.row_index[start:end]].reshape(-1).astype(np.int64)

    def word_targets(self, word: int) -> np.ndarray:
        """The sorted distinct target ids of word ``word`` (int64)."""
        return distinct(self.word_inputs(word))

    def inputs(self, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(flat_ids, bag_offsets)`` of the words ``word_ids.ravel()`` (row-major), int64.

        For ``torch.nn.functional.embedding_bag(flat_ids, weight, bag_offsets, mode="sum")``:
        one bag per position, ``bag_offsets`` (``word_ids.size`` entries) its start in
        ``flat_ids``.
        """
        index, _, bag_starts = _gather(self.row_offsets, word_ids, len(self))
        flat = self.rows[self.row_index[index]].reshape(-1).astype(np.int64)
        return flat, bag_starts * self.m

    def bags(self, word_ids: np.ndarray, device: torch.device | str) -> TrigramInputs:
        """The model's input of the (batch, length) ``word_ids``: their embedding bags on ``device``."""
        import torch

        from toklab.models.llama import TrigramInputs

        ids, offsets = self.inputs(word_ids)
        return TrigramInputs(
            torch.from_numpy(ids).to(device), torch.from_numpy(offsets).to(device), word_ids.shape
        )

    def targets(self, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, ids)``: every active pair of a flat position and a target id.

        ``multi_hot[positions, ids] = 1`` on a zero ``(word_ids.size, v)`` array builds the
        binary targets; ``positions`` index ``word_ids.ravel()`` and are non-decreasing, and
        each position's ids are sorted and distinct.
        """
        flat, bag_starts = self.inputs(word_ids)
        sizes = np.diff(np.append(bag_starts, len(flat)))
        positions = np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)
        # np.unique is hash-based in NumPy >= 2.3 and many times slower than sorting here
        keys = np.sort(positions * self.v + flat)
        keep = np.ones(len(keys), dtype=bool)
        keep[1:] = keys[1:] != keys[:-1]
        keys = keys[keep]
        return keys // self.v, keys % self.v


def count_words(corpus_prefix: str | Path, batch_documents: int = BATCH_DOCUMENTS) -> Counter:
    """How often each word of T-Free's split occurs in the byte corpus at ``corpus_prefix``.

    The counts a decoding dictionary is cut from (``WordDictionary.from_counts``). Documents the
    word split refuses (NUL characters) are skipped, counted and logged: one such document
    should not cost hours of counting.
    """
    corpus = open_corpus(corpus_prefix)
    counts: Counter = Counter()
    skipped: list[int] = []
    with tqdm(total=corpus.num_bytes, desc="count words", unit="B", unit_scale=True) as bar:
        first = 0
        for texts, num_bytes in document_batches(corpus, batch_documents):
            for i, text in enumerate(texts):
                try:
                    counts.update(split_words(text))
                except DataError:
                    skipped.append(first + i)
            first += len(texts)
            bar.update(num_bytes)
    if skipped:
        log.warning("%s: %d documents skipped (NUL characters), the first: %d",
                    corpus_prefix, len(skipped), skipped[0])  # fmt: skip
    return counts


def word_bags(
    contexts: Sequence[Sequence[str]], hasher: TrigramHasher, device: torch.device | str
) -> TrigramInputs:
    """Equally long word sequences as one (``len(contexts)``, length) input of their bags.

    The contexts' distinct words (in order of first appearance) are hashed once, as a word table
    (:class:`WordPatterns`) that the positions index: generation and next-word guesses.
    """
    table = list(dict.fromkeys(word for context in contexts for word in context))
    index = {word: i for i, word in enumerate(table)}
    ids = np.array([[index[w] for w in context] for context in contexts], dtype=np.int64)
    return WordPatterns.from_words(table, hasher).bags(ids, device)
