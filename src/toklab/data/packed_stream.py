"""The packed stream of a ``.bin``/``.idx`` array: ``EOS d0 EOS d1 EOS ... d(n-1) EOS``.

Every document is kept whole, first token included (ByteSpan's loader dropped it), with one EOS
before it, so a model always sees the start of a document after an EOS, as in training. The
stream is never materialised: any slice is gathered from the memory-mapped array. Token arrays
(:mod:`toklab.datasets.token_array`) and byte corpora (:mod:`toklab.data.byte_corpus`) are read
alike; the trainer's windows (:mod:`toklab.training.data`) and the byte LM's cues
(:mod:`toklab.cues`) both read it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toklab.data.arrays import array_paths, open_array
from toklab.errors import DataError


class PackedStream:
    """Random access to the EOS-separated stream of a ``.bin``/``.idx`` array."""

    def __init__(self, prefix: str | Path, eos_id: int) -> None:
        self.tokens, self.offsets, meta = open_array(prefix, "token", "uint8")
        if len(self.offsets) < 2:
            paths = array_paths(prefix, ("bin", "idx"))
            raise DataError(f"{paths['idx']}: no documents in {paths['bin']}")
        self.eos_id = eos_id
        self.vocab_size = int(meta.get("vocab_size", 256))
        if eos_id < self.vocab_size and self.tokens.dtype == np.uint8:
            raise DataError(f"{prefix}: EOS id {eos_id} collides with byte values")
        self.num_documents = len(self.offsets) - 1
        #: stream position of every document's EOS (and of the final EOS)
        self.eos_positions = self.offsets + np.arange(self.num_documents + 1)

    def __len__(self) -> int:
        return int(self.eos_positions[-1]) + 1

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Tokens at stream positions ``[start, stop)`` as int64 (EOS past the end)."""
        positions = np.arange(start, stop, dtype=np.int64)
        out = np.full(len(positions), self.eos_id, dtype=np.int64)
        inside = positions < len(self)
        pos = positions[inside]
        doc = np.searchsorted(self.eos_positions, pos, side="right") - 1
        local = pos - self.eos_positions[doc] - 1
        is_token = local >= 0
        values = np.full(len(pos), self.eos_id, dtype=np.int64)
        values[is_token] = self.tokens[self.offsets[doc[is_token]] + local[is_token]]
        out[inside] = values
        return out

    def token_positions(self, first: int, last: int) -> np.ndarray:
        """Stream positions of the corpus tokens ``[first, last)`` (corpus coordinates)."""
        index = np.arange(first, last, dtype=np.int64)
        doc = np.searchsorted(self.offsets, index, side="right") - 1
        return index + doc + 1
