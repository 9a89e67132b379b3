"""Byte corpora: the UTF-8 bytes of a subset, its document offsets and pre-token-start flags.

Files for a prefix ``P`` (e.g. ``results/data/demo/bytes/tok_train``):

* ``P.bin``: uint8, the documents' UTF-8 bytes concatenated with nothing between them;
* ``P.idx``: little-endian int64, ``n_docs + 1`` document start offsets (the last is the total);
* ``P.pretok``: uint8 per byte, 1 where a GPT-2 pre-token starts (see
  :mod:`toklab.pretokenization` for the no-prefix-space convention);
* ``P.meta.json``: counts, hashes of the three arrays and of the source shards.

A trainer inserts EOS between documents itself; the ``.bin`` alone is a valid nanoGPT-style
stream of bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.data.arrays import array_paths, map_array, read_index
from toklab.data.shards import iter_shard_batches, language_counts
from toklab.errors import DataError
from toklab.io import atomic_write, read_json, sha256_file, write_json
from toklab.pretokenization import pretoken_start_flags

log = logging.getLogger(__name__)

FORMAT = "toklab-bytes-v1"
BATCH_DOCUMENTS = 1024


def byte_corpus_paths(prefix: str | Path) -> dict[str, Path]:
    """The four files of the byte corpus at ``prefix``."""
    return array_paths(prefix, ("bin", "idx", "pretok", "meta.json"))


def encode_documents(texts: Sequence[str]) -> tuple[bytes, np.ndarray, np.ndarray]:
    """UTF-8 bytes of ``texts`` concatenated, their byte lengths, and pre-token-start flags."""
    encoded = [text.encode("utf-8") for text in texts]
    lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
    flags = [pretoken_start_flags(text) for text in texts]
    empty = np.zeros(0, dtype=np.uint8)
    return b"".join(encoded), lengths, np.concatenate(flags) if flags else empty


def write_byte_corpus(shards: Sequence[str | Path], prefix: str | Path, workers: int = 1) -> dict:
    """Convert parquet shards (in order) to the byte corpus at ``prefix``; return its metadata.

    Encoding and pre-tokenization run on ``workers`` processes; the output does not depend on it.
    """
    shards = [Path(p) for p in shards]
    if not shards:
        raise DataError(f"{prefix}: no shards to convert")
    paths = byte_corpus_paths(prefix)
    lengths: list[np.ndarray] = []
    pool = get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        batches = (
            texts for texts, _ in iter_shard_batches(shards, BATCH_DOCUMENTS, languages=False)
        )
        results = pool.imap(encode_documents, batches) if pool else map(encode_documents, batches)
        with (
            atomic_write(paths["bin"]) as bin_file,
            atomic_write(paths["pretok"]) as flag_file,
            tqdm(desc=f"bytes {Path(prefix).name}", unit="B", unit_scale=True) as progress,
        ):
            for data, batch_lengths, flags in results:
                bin_file.write(data)
                flag_file.write(flags.tobytes())
                lengths.append(batch_lengths)
                progress.update(len(data))
    finally:
        if pool:
            pool.close()
            pool.join()
    all_lengths = np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(all_lengths) + 1, dtype="<i8")
    np.cumsum(all_lengths, out=offsets[1:])
    with atomic_write(paths["idx"]) as idx_file:
        idx_file.write(offsets.tobytes())
    meta: dict[str, Any] = {
        "format": FORMAT,
        "dtype": "uint8",
        "num_documents": len(all_lengths),
        "num_bytes": int(offsets[-1]),
        "pretokenizer": "gpt2",
        "prefix_space": False,
        "languages": language_counts(shards),
        "sha256": {name: sha256_file(paths[name]) for name in ("bin", "idx", "pretok")},
        "shards_sha256": [sha256_file(p) for p in shards],
    }
    write_json(paths["meta.json"], meta)
    return meta


class ByteCorpus:
    """Read-only, memory-mapped view of a byte corpus, checked for consistency on open."""

    def __init__(self, prefix: str | Path) -> None:
        self.paths = byte_corpus_paths(prefix)
        for path in self.paths.values():
            if not path.exists():
                raise DataError(f"{path}: byte corpus file not found")
        self.bytes = map_array(self.paths["bin"], np.uint8)
        self.offsets = read_index(self.paths["idx"], self.paths["bin"], len(self.bytes), "bytes")
        flag_size = self.paths["pretok"].stat().st_size
        if flag_size != len(self.bytes):
            raise DataError(
                f"{self.paths['pretok']}: {flag_size} flags for {len(self.bytes)} bytes"
            )
        self.pretoken_start = map_array(self.paths["pretok"], np.uint8)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_bytes(self) -> int:
        """Total number of bytes."""
        return int(self.offsets[-1])

    @cached_property
    def meta(self) -> dict[str, Any]:
        """The contents of ``.meta.json`` (read on first use)."""
        return read_json(self.paths["meta.json"])

    @cached_property
    def bin_sha256(self) -> str:
        """SHA-256 of the ``.bin``: the one its metadata records (hashed only if it records none)."""
        recorded = self.meta.get("sha256", {}).get("bin")
        return recorded if isinstance(recorded, str) else sha256_file(self.paths["bin"])

    def document_bytes(self, index: int) -> np.ndarray:
        """The bytes of document ``index``."""
        return self.bytes[self.offsets[index] : self.offsets[index + 1]]

    def document_text(self, index: int) -> str:
        """The text of document ``index``."""
        return self.document_bytes(index).tobytes().decode("utf-8")

    def document_pretoken_start(self, index: int) -> np.ndarray:
        """The pre-token-start flags of document ``index``."""
        return self.pretoken_start[self.offsets[index] : self.offsets[index + 1]]
