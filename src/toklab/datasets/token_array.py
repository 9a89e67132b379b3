"""Token arrays: a byte corpus's documents as token ids, ``.bin`` + ``.idx`` + ``.meta.json``.

The ``.bin`` holds every document's ids back to back (uint16 when the vocabulary fits, else
uint32), the ``.idx`` the ``n + 1`` int64 document offsets, and the meta what a consumer must
check before trusting them: dtype, vocabulary size, the SHA-256 of the tokenizer file and of
the source byte corpus, and the counts of documents, tokens and UTF-8 bytes (bits per byte
divides by the latter). Documents carry no BOS/EOS: the exports and the trainer add those.

Encoding streams the documents in batches through ``tokenizers``' batch encoder (parallel in
Rust: set ``RAYON_NUM_THREADS``), so memory is bounded by a batch, not by the corpus.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.data.arrays import INDEX_DTYPE, array_paths, map_array, read_index
from toklab.data.byte_corpus import ByteCorpus
from toklab.errors import DataError
from toklab.io import atomic_path, read_json, sha256_file, write_json
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger(__name__)

FORMAT = "toklab-tokens-v1"
SUFFIXES = ("bin", "idx", "meta.json")
#: Documents per encode call: large enough to keep every Rust thread busy, small in memory.
BATCH_DOCUMENTS = 2048


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits, else uint32; an error past 2^32 ids."""
    if vocab_size <= 1 << 16:
        return np.dtype("<u2")
    if vocab_size <= 1 << 32:
        return np.dtype("<u4")
    raise DataError(f"a vocabulary of {vocab_size} tokens does not fit in uint32 token ids")


def check_tokenizer_digest(recorded: Any, tokenizer_path: str | Path, what: str) -> None:
    """An error unless ``recorded`` (a meta's ``tokenizer_sha256``) is the tokenizer file's digest.

    ``what`` opens the message, e.g. ``"PREFIX: encoded"``: "PREFIX: encoded with another
    tokenizer than TOKENIZER (sha256 RECORDED… != ACTUAL…)".
    """
    digest = sha256_file(tokenizer_path)
    if recorded != digest:
        raise DataError(
            f"{what} with another tokenizer than {tokenizer_path} "
            f"(sha256 {str(recorded)[:12]}… != {digest[:12]}…)"
        )


def require_ids_below(
    path: str | Path, max_id: int, vocab_size: int, what: str = "the vocab size"
) -> None:
    """An error unless ``max_id``, the largest id of the array at ``path``, is below ``vocab_size``.

    The :class:`DataError` reads "PATH: the largest id MAX_ID is not below WHAT VOCAB_SIZE";
    ``what`` names the limit, e.g. ``"the vocab size"`` (of the tokenizer or model) or
    ``"the size of its word table"``. A ``max_id`` below 0 (an empty array) always passes. The
    trainer and bits per byte share this check, so an id that an embedding would index past its
    table is refused with one line instead of an ``IndexError`` (or a CUDA assert).
    """
    if max_id >= vocab_size:
        raise DataError(f"{path}: the largest id {max_id} is not below {what} {vocab_size}")


def token_array_paths(prefix: str | Path) -> dict[str, Path]:
    """The three files of a token array."""
    return array_paths(prefix, SUFFIXES)


class TokenArrayWriter:
    """Writes a token array document batch by document batch; the files appear at :meth:`close`.

    The ``.bin`` streams to a temporary file while the offsets and hashes accumulate; closing
    writes the ``.idx`` and then the meta, each atomically, the meta last, so a reader that finds
    the meta finds a complete array. An exception inside the ``with`` block leaves nothing.
    """

    def __init__(self, out_prefix: str | Path, vocab_size: int) -> None:
        self.prefix = Path(out_prefix)
        self.paths = token_array_paths(out_prefix)
        self.vocab_size = vocab_size
        self.dtype = token_dtype(vocab_size)
        self._bin_hash = hashlib.sha256()
        self._offsets = [np.zeros(1, dtype=INDEX_DTYPE)]  # one small array per batch
        self._total = 0
        self._stack = ExitStack()
        self._file: Any = None

    def __enter__(self) -> TokenArrayWriter:
        with ExitStack() as stack:
            tmp = stack.enter_context(atomic_path(self.paths["bin"]))
            self._file = stack.enter_context(open(tmp, "wb"))
            self._stack = stack.pop_all()
        return self

    def write(self, tokens: np.ndarray, offsets: np.ndarray) -> None:
        """Append documents: flat ``tokens`` and their ``offsets`` (starting at 0)."""
        if tokens.size and int(tokens.max()) >= self.vocab_size:
            raise DataError(
                f"{self.prefix}: token id {int(tokens.max())} >= vocabulary size {self.vocab_size}"
            )
        data = np.asarray(tokens, dtype=self.dtype).tobytes()
        self._file.write(data)
        self._bin_hash.update(data)
        self._offsets.append(self._total + np.asarray(offsets[1:], dtype=INDEX_DTYPE))
        self._total += int(offsets[-1])

    def __exit__(self, kind, value, traceback) -> None:
        self._stack.__exit__(kind, value, traceback)

    def finish(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write the ``.idx`` and the meta (``meta`` plus format, dtype, counts and hashes)."""
        index = np.concatenate(self._offsets).astype(INDEX_DTYPE)
        with atomic_path(self.paths["idx"]) as idx_tmp:
            index.tofile(idx_tmp)
        meta = {
            "format": FORMAT,
            "dtype": self.dtype.name,
            "vocab_size": self.vocab_size,
            "num_documents": len(index) - 1,
            "num_tokens": self._total,
            **meta,
            "sha256": {
                "bin": self._bin_hash.hexdigest(),
                "idx": hashlib.sha256(index.tobytes()).hexdigest(),
            },
        }
        write_json(self.paths["meta.json"], meta)
        log.info(
            "%s: %d documents, %d tokens, %d bytes (%.3f bytes per token)",
            self.prefix, meta["num_documents"], meta["num_tokens"], meta["num_bytes"],
            meta["num_bytes"] / max(meta["num_tokens"], 1),
        )  # fmt: skip
        return meta


def document_batches(corpus: ByteCorpus, batch: int) -> Iterator[tuple[list[str], int]]:
    """The corpus's documents as text, ``batch`` at a time (with their bytes), one ``read`` each.

    Reading the ``.bin`` sequentially (not slicing its memory map) keeps the resident memory at
    one batch: pages of a memory map, once touched, stay resident and count in the job's RSS.
    """
    offsets = corpus.offsets
    with open(corpus.paths["bin"], "rb") as handle:
        for first in range(0, len(corpus), batch):
            last = min(first + batch, len(corpus))
            data = handle.read(int(offsets[last] - offsets[first]))
            bounds = (offsets[first : last + 1] - offsets[first]).tolist()
            yield [data[a:b].decode("utf-8") for a, b in pairwise(bounds)], len(data)


def encoded_batches(
    tokenizer: Any, batches: Iterator[tuple[list[str], int]]
) -> Iterator[tuple[list[list[int]], int]]:
    """Each batch's ids (and its bytes), the next batch encoded while this one is written.

    ``encode_batch_fast`` releases the GIL while Rust encodes, so a thread encodes batch
    ``k + 1`` while the caller turns batch ``k``'s ids into an array and writes it: the
    conversion, which needs the GIL, no longer leaves the encoder's cores idle.
    """

    def encode(texts: list[str]) -> list[list[int]]:
        return [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]

    with ThreadPoolExecutor(1) as encoder:
        ahead: tuple[Future, int] | None = None
        for texts, num_bytes in batches:
            job = encoder.submit(encode, texts)
            if ahead is not None:
                yield ahead[0].result(), ahead[1]
            ahead = (job, num_bytes)
        if ahead is not None:
            yield ahead[0].result(), ahead[1]


def open_corpus(corpus_prefix: str | Path) -> ByteCorpus:
    """The byte corpus at ``corpus_prefix``; an error when it has no documents."""
    corpus = ByteCorpus(corpus_prefix)
    if len(corpus) == 0:
        raise DataError(f"{corpus_prefix}: the byte corpus has no documents to tokenize")
    return corpus


def flat_ids(ids: list[list[int]], writer: TokenArrayWriter, count: int) -> np.ndarray:
    """A batch's ids back to back, built in the writer's dtype (no int64 copy to convert).

    The writer still checks every id against the vocabulary size: an id that fits the dtype
    is stored exactly, and one that does not (e.g. >= 2^16 into uint16) is no wrap-around
    either, since NumPy 2 refuses an out-of-bounds Python integer with an ``OverflowError``,
    which becomes the writer's own "token id >= vocabulary size" error here.
    """
    try:
        return np.fromiter(chain.from_iterable(ids), dtype=writer.dtype, count=count)
    except OverflowError:
        largest = max(chain.from_iterable(ids))
        raise DataError(
            f"{writer.prefix}: token id {largest} >= vocabulary size {writer.vocab_size}"
        ) from None


def tokenize_corpus(
    tokenizer_path: str | Path,
    corpus_prefix: str | Path,
    out_prefix: str | Path,
    *,
    batch_documents: int = BATCH_DOCUMENTS,
) -> dict[str, Any]:
    """Encode every document of the byte corpus at ``corpus_prefix``; return the meta written.

    The three files appear atomically and are a pure function of the tokenizer and the corpus.
    """
    tokenizer_path = Path(tokenizer_path)
    tokenizer = load_tokenizer(tokenizer_path)
    corpus = open_corpus(corpus_prefix)
    writer = TokenArrayWriter(out_prefix, tokenizer.get_vocab_size(with_added_tokens=True))
    with (
        writer,
        tqdm(total=corpus.num_bytes, desc=f"tokenize {Path(out_prefix).name}", unit="B",
             unit_scale=True) as progress,
    ):  # fmt: skip
        for ids, num_bytes in encoded_batches(tokenizer, document_batches(corpus, batch_documents)):
            counts = np.fromiter(map(len, ids), dtype=INDEX_DTYPE, count=len(ids))
            flat = flat_ids(ids, writer, int(counts.sum()))
            writer.write(flat, np.concatenate([[0], np.cumsum(counts)]))
            progress.update(num_bytes)
    return writer.finish(
        {
            "num_bytes": corpus.num_bytes,
            "tokenizer_sha256": sha256_file(tokenizer_path),
            "source_sha256": corpus.bin_sha256,
        }
    )


@dataclass(frozen=True)
class TokenArray:
    """A token array on disk, memory-mapped: ``tokens``, ``offsets`` and its ``meta``.

    Opening checks that the files exist and agree: the ``.bin`` size against the dtype and the
    meta's token count, the ``.idx`` against the ``.bin`` and the meta's document count.
    """

    prefix: Path
    tokens: np.ndarray
    offsets: np.ndarray
    meta: dict[str, Any]

    @classmethod
    def open(cls, prefix: str | Path) -> TokenArray:
        """Open and check the token array at ``prefix``."""
        paths = token_array_paths(prefix)
        for path in paths.values():
            if not path.is_file():
                raise DataError(f"{path}: token array file not found")
        try:
            meta = read_json(paths["meta.json"])
            dtype = np.dtype(meta["dtype"])
            expected = (meta["num_tokens"], meta["num_documents"], meta["vocab_size"])
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{paths['meta.json']}: not a token array meta ({err})") from None
        size = paths["bin"].stat().st_size
        if size % dtype.itemsize or size // dtype.itemsize != expected[0]:
            raise DataError(
                f"{paths['bin']}: {size} bytes, but the meta says {expected[0]} {dtype.name} tokens"
            )
        tokens = map_array(paths["bin"], dtype)
        offsets = read_index(paths["idx"], paths["bin"], len(tokens), "tokens")
        if len(offsets) - 1 != expected[1]:
            raise DataError(
                f"{paths['idx']}: {len(offsets) - 1} documents, but the meta says {expected[1]}"
            )
        return cls(Path(prefix), tokens, offsets, meta)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_tokens(self) -> int:
        """Tokens of all documents."""
        return int(self.offsets[-1])

    @property
    def num_bytes(self) -> int:
        """UTF-8 bytes of the original documents."""
        return int(self.meta["num_bytes"])

    @property
    def vocab_size(self) -> int:
        """The tokenizer's vocabulary size, added tokens included."""
        return int(self.meta["vocab_size"])

    def max_id(self) -> int:
        """The largest token id of all documents (-1 when there are none); reads the ``.bin``."""
        return int(self.tokens.max()) if len(self.tokens) else -1

    def require_ids_below(self, vocab_size: int, what: str = "the vocab size") -> None:
        """:func:`require_ids_below` for this array's ids (reads the ``.bin``)."""
        require_ids_below(self.prefix, self.max_id(), vocab_size, what)

    def document(self, index: int) -> np.ndarray:
        """The token ids of one document."""
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def documents(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens of documents ``[first, last)`` and their offsets into that slice."""
        start, stop = self.offsets[first], self.offsets[last]
        return self.tokens[start:stop], self.offsets[first : last + 1] - start

    def check_tokenizer(self, tokenizer_path: str | Path) -> None:
        """An error unless the array was encoded with the tokenizer file at ``tokenizer_path``."""
        check_tokenizer_digest(
            self.meta.get("tokenizer_sha256"), tokenizer_path, f"{self.prefix}: encoded"
        )
