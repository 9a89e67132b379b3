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

import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.data.arrays import INDEX_DTYPE
from toklab.datasets.token_array import (
    BATCH_DOCUMENTS,
    TokenArrayWriter,
    document_batches,
    open_corpus,
    token_array_paths,
)
from toklab.errors import DataError
from toklab.io import read_json, sha256_file, write_json
from toklab.tokenizers.tfree import TrigramHasher, hasher_settings, load_settings, split_words

__all__ = [
    "EOT",
    "EOT_ID",
    "WordPatterns",
    "read_words",
    "tokenize_words",
    "word_array_paths",
]

EOT = "<|endoftext|>"
EOT_ID = 0
WORDS_SUFFIX = "words.json"
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
) -> dict[str, Any]:
    """Split every document of the byte corpus at ``corpus_prefix`` into words; return the meta.

    ``settings_path`` is a T-Free settings file (:func:`~toklab.tokenizers.tfree.save_settings`);
    the meta records its SHA-256 as ``tokenizer_sha256`` and its settings as ``tfree``. The ids
    go to an unnamed scratch file while the table grows, then into the token array once its
    dtype is known. The words file is written before the ``.idx`` and the meta, the meta last;
    an exception leaves none of the four files (and, before the first is written, any previous
    array untouched).
    """
    settings_path = Path(settings_path)
    hasher = load_settings(settings_path)
    digest = sha256_file(settings_path)
    corpus = open_corpus(corpus_prefix)
    paths = word_array_paths(out_prefix)
    paths["bin"].parent.mkdir(parents=True, exist_ok=True)
    table: dict[str, int] = {EOT: EOT_ID}
    batches: list[np.ndarray] = []  # each batch's document offsets, from 0
    with (
        tempfile.TemporaryFile(dir=paths["bin"].parent) as scratch,
        tqdm(total=corpus.num_bytes, desc=f"split words {Path(out_prefix).name}", unit="B",
             unit_scale=True) as progress,
    ):  # fmt: skip
        first = 0
        for texts, num_bytes in document_batches(corpus, batch_documents):
            ids: list[int] = []
            counts = np.empty(len(texts), dtype=INDEX_DTYPE)
            for i, text in enumerate(texts):
                try:
                    words = split_words(text)
                except DataError as err:
                    raise DataError(f"{corpus_prefix}: document {first + i}: {err}") from None
                # intern: a new word gets the next id (len(table) is evaluated before the insert)
                ids.extend([table.setdefault(word, len(table)) for word in words])
                counts[i] = len(words)
            scratch.write(np.asarray(ids, dtype=_ID_DTYPE).tobytes())
            batches.append(np.concatenate([[0], np.cumsum(counts)]).astype(INDEX_DTYPE))
            first += len(texts)
            progress.update(num_bytes)
        scratch.seek(0)
        paths["meta.json"].unlink(missing_ok=True)  # an old array is no longer complete
        try:
            with TokenArrayWriter(out_prefix, len(table)) as writer:
                for offsets in batches:
                    count = int(offsets[-1])
                    data = scratch.read(count * _ID_DTYPE.itemsize)
                    writer.write(np.frombuffer(data, dtype=_ID_DTYPE), offsets)
            write_json(paths[WORDS_SUFFIX], list(table))
            return writer.finish(
                {
                    "num_bytes": corpus.num_bytes,
                    "tokenizer_sha256": digest,
                    "source_sha256": corpus.bin_sha256,
                    "words_sha256": sha256_file(paths[WORDS_SUFFIX]),
                    "tfree": hasher_settings(hasher),
                }
            )
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
    """The hashed patterns of a word table: each word's input ids and target ids, flattened.

    Word ``w``'s input ids are ``input_ids[input_offsets[w]:input_offsets[w + 1]]``, its
    :meth:`~toklab.tokenizers.tfree.TrigramHasher.word_rows` flattened (repeats kept: its
    embedding sums them all), and its target ids ``target_ids[target_offsets[w]:...]``, the
    sorted distinct ids of those rows (the ids of
    :meth:`~toklab.tokenizers.tfree.TrigramHasher.encode_word`). All arrays are int64.
    """

    v: int
    input_ids: np.ndarray
    input_offsets: np.ndarray
    target_ids: np.ndarray
    target_offsets: np.ndarray

    @classmethod
    def from_words(cls, words: Sequence[str], hasher: TrigramHasher) -> WordPatterns:
        """The patterns of ``words`` under ``hasher`` (all words at once, vectorised)."""
        rows, row_offsets = hasher.words_rows(list(words))
        m, v, count = hasher.m, hasher.v, len(words)
        input_ids = rows.reshape(-1).astype(np.int64)
        input_offsets = (row_offsets * m).astype(np.int64)
        # distinct ids per word: unique (word, id) keys, sorted by word then id
        word_of = np.repeat(np.arange(count, dtype=np.int64), np.diff(input_offsets))
        keys = np.sort(word_of * v + input_ids)
        # np.unique is hash-based in NumPy >= 2.3 and many times slower than sorting here
        keys = keys[np.concatenate([keys[:1] >= 0, keys[1:] != keys[:-1]])]
        target_offsets = np.zeros(count + 1, dtype=np.int64)
        np.cumsum(np.bincount(keys // v, minlength=count), out=target_offsets[1:])
        return cls(v, input_ids, input_offsets, keys % v, target_offsets)

    @classmethod
    def for_array(cls, prefix: str | Path, hasher: TrigramHasher) -> WordPatterns:
        """The patterns of the word table of the word array at ``prefix`` (:func:`read_words`).

        The hasher's settings need not be the ones the array recorded: the words do not depend
        on them.
        """
        return cls.from_words(read_words(prefix), hasher)

    def __len__(self) -> int:
        return len(self.input_offsets) - 1

    def inputs(self, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(flat_ids, bag_offsets)`` of the words ``word_ids.ravel()`` (row-major).

        For ``torch.nn.functional.embedding_bag(flat_ids, weight, bag_offsets, mode="sum")``:
        one bag per position, ``bag_offsets`` (``word_ids.size`` entries) its start in
        ``flat_ids``.
        """
        index, _, bag_starts = _gather(self.input_offsets, word_ids, len(self))
        return self.input_ids[index], bag_starts

    def targets(self, word_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, ids)``: every active pair of a flat position and a target id.

        ``multi_hot[positions, ids] = 1`` on a zero ``(word_ids.size, v)`` array builds the
        binary targets; ``positions`` index ``word_ids.ravel()`` and are non-decreasing.
        """
        index, lengths, _ = _gather(self.target_offsets, word_ids, len(self))
        positions = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
        return positions, self.target_ids[index]


def count_words(corpus_prefix: str | Path, batch_documents: int = BATCH_DOCUMENTS) -> Counter:
    """How often each word of T-Free's split occurs in the byte corpus at ``corpus_prefix``.

    The counts a decoding dictionary is cut from (``WordDictionary.from_counts``); text with NUL
    characters or lone surrogates is the one-line error :func:`split_words` gives.
    """
    corpus = open_corpus(corpus_prefix)
    counts: Counter = Counter()
    with tqdm(total=corpus.num_bytes, desc="count words", unit="B", unit_scale=True) as bar:
        first = 0
        for texts, num_bytes in document_batches(corpus, batch_documents):
            for i, text in enumerate(texts):
                try:
                    counts.update(split_words(text))
                except DataError as err:
                    raise DataError(f"{corpus_prefix}: document {first + i}: {err}") from None
            first += len(texts)
            bar.update(num_bytes)
    return counts
