"""Instruction examples as token arrays: a token array whose documents are prompt + answer.

Files ``PREFIX.{bin,idx,meta.json}`` are a token array (:mod:`toklab.datasets.token_array`), one
document per example, and ``PREFIX.answers.bin`` holds, per example, the little-endian int64
index within it where the answer begins: fine-tuning computes the loss on the answer's tokens
only (StochasTok's ``idxs_for_masks``, without its uint16 limit and fixed-width rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toklab.data.arrays import array_paths
from toklab.datasets.token_array import TokenArray, TokenArrayWriter
from toklab.errors import DataError
from toklab.io import atomic_path

ANSWERS_SUFFIX = "answers.bin"
SUFFIXES = ("bin", "idx", "meta.json", ANSWERS_SUFFIX)
ANSWER_DTYPE = np.dtype("<i8")


def write_examples(
    prefix: str | Path,
    tokens: np.ndarray,
    offsets: np.ndarray,
    answer_starts: np.ndarray,
    vocab_size: int,
    meta: dict[str, Any],
) -> dict[str, Any]:
    """Write examples (flat ``tokens``, ``offsets``, per-example ``answer_starts``) atomically."""
    lengths = np.diff(offsets)
    answer_starts = np.asarray(answer_starts, dtype=ANSWER_DTYPE)
    if len(answer_starts) != len(lengths):
        raise DataError(f"{prefix}: {len(answer_starts)} answer starts for {len(lengths)} examples")
    if np.any(answer_starts < 1) or np.any(answer_starts >= lengths):
        raise DataError(f"{prefix}: every example needs a prompt and a non-empty answer")
    with atomic_path(array_paths(prefix, (ANSWERS_SUFFIX,))[ANSWERS_SUFFIX]) as tmp:
        answer_starts.tofile(tmp)
    writer = TokenArrayWriter(prefix, vocab_size)
    with writer:
        writer.write(np.asarray(tokens), np.asarray(offsets) - offsets[0])
    return writer.finish({**meta, "examples": True})


@dataclass(frozen=True)
class ExampleArray:
    """Examples on disk: the token array and every example's answer start."""

    tokens: TokenArray
    answer_starts: np.ndarray

    @classmethod
    def open(cls, prefix: str | Path) -> ExampleArray:
        """Open and check the examples at ``prefix``."""
        tokens = TokenArray.open(prefix)
        path = array_paths(prefix, (ANSWERS_SUFFIX,))[ANSWERS_SUFFIX]
        if not path.is_file():
            raise DataError(f"{path}: answer starts not found (not an examples array?)")
        if path.stat().st_size != len(tokens) * ANSWER_DTYPE.itemsize:
            raise DataError(f"{path}: {path.stat().st_size} bytes for {len(tokens)} examples")
        starts = np.fromfile(path, dtype=ANSWER_DTYPE)
        if np.any(starts < 1) or np.any(starts >= np.diff(tokens.offsets)):
            raise DataError(f"{path}: answer starts outside their examples")
        return cls(tokens, starts)

    def __len__(self) -> int:
        return len(self.tokens)

    def example(self, index: int) -> tuple[np.ndarray, int]:
        """The ids of one example and the index where its answer begins."""
        return self.tokens.document(index), int(self.answer_starts[index])
