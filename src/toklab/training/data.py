"""Training data: windows of packed token streams, or the fixed-length samples of a Delphi export.

Two samplers with one interface (``window``, ``batch``, ``sequential``, ``num_windows``), both
a pure function of (seed, index), so exact resume needs only the step:

* :class:`WindowSampler`: non-overlapping windows of a :class:`PackedStream` (token arrays or
  byte corpora), in a seeded order per epoch;
* :class:`ChunkSampler`: Delphi's semantics, epochs over the samples of a Delphi export
  (:mod:`toklab.datasets.delphi`), each epoch ``samples // batch_size`` steps over a seeded
  permutation (the remainder is dropped, as Delphi does).

The packed stream is ``EOS d0 EOS d1 EOS ... d(n-1) EOS``: every document is kept whole, first token
included (ByteSpan's loader dropped it), with one EOS before it, so a model always sees the
start of a document after an EOS, as in training. The stream is never materialised: any slice
is gathered from the memory-mapped array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toklab.data.arrays import array_paths, map_array, read_index
from toklab.datasets.delphi import read_export_meta
from toklab.errors import DataError
from toklab.io import read_json


class PackedStream:
    """Random access to the EOS-separated stream of a ``.bin``/``.idx`` array."""

    def __init__(self, prefix: str | Path, eos_id: int) -> None:
        paths = array_paths(prefix, ("bin", "idx", "meta.json"))
        for path in paths.values():
            if not path.exists():
                raise DataError(f"{path}: token array file not found")
        meta = read_json(paths["meta.json"])
        dtype = np.dtype(meta.get("dtype", "uint8"))
        self.tokens = map_array(paths["bin"], dtype)
        self.offsets = read_index(paths["idx"], paths["bin"], len(self.tokens), "tokens")
        if len(self.offsets) < 2:
            raise DataError(f"{paths['idx']}: no documents in {paths['bin']}")
        self.eos_id = eos_id
        self.vocab_size = int(meta.get("vocab_size", 256))
        if eos_id < self.vocab_size and dtype == np.uint8:
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


class WindowSampler:
    """Non-overlapping training windows of ``seq_len + 1`` tokens, in a seeded order per epoch.

    The order depends only on (seed, epoch), so the window of any global step is known without
    replaying the run: exact resume needs only the step number.
    """

    def __init__(self, stream: PackedStream, seq_len: int, seed: int) -> None:
        self.stream = stream
        self.seq_len = seq_len
        self.seed = seed
        self.num_windows = (len(stream) - 1) // seq_len
        if self.num_windows < 1:
            raise DataError(f"training data holds {len(stream)} tokens, fewer than seq_len + 1")
        self._epoch = -1
        self._order = np.zeros(0, dtype=np.int64)

    def window(self, index: int) -> np.ndarray:
        """The ``index``-th window of the endless sequence (epoch after epoch)."""
        epoch, position = divmod(index, self.num_windows)
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)
            self._epoch = epoch
        start = int(self._order[position]) * self.seq_len
        return self.stream.slice(start, start + self.seq_len + 1)

    def batch(self, first: int, size: int) -> np.ndarray:
        """Windows ``first .. first + size - 1`` as a (size, seq_len + 1) array."""
        return np.stack([self.window(first + i) for i in range(size)])

    def sequential(self, first: int, size: int) -> np.ndarray:
        """Windows in stream order, unshuffled (validation: the same ones every time)."""
        return np.stack(
            [
                self.stream.slice(i * self.seq_len, i * self.seq_len + self.seq_len + 1)
                for i in range(first, first + size)
            ]
        )

    def epoch_steps(self, batch_size: int) -> int:
        """Optimizer steps per pass over the windows (at least one)."""
        return max(self.num_windows // batch_size, 1)


def read_chunks(directory: str | Path) -> tuple[np.ndarray, dict]:
    """The samples of a Delphi export directory as a (samples, seq_len) array, and its meta."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    directory = Path(directory)
    meta = read_export_meta(directory)
    seq_len, samples = int(meta["seq_len"]), int(meta["samples"])
    dtype = np.uint16 if int(meta.get("vocab_size", 1 << 31)) <= 1 << 16 else np.int32
    parts = []
    for name in meta["files"]:
        path = directory / name
        try:
            column = pq.read_table(path, columns=["tokens"]).column("tokens")
        except (OSError, KeyError, ValueError) as err:
            raise DataError(f"{path}: unreadable Delphi parquet file ({err})") from None
        parts.append(pc.list_flatten(column).to_numpy().astype(dtype))
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype)
    if flat.size != samples * seq_len:
        raise DataError(
            f"{directory}: {flat.size} ids in its parquet files, but meta.json promises "
            f"{samples} samples of {seq_len}"
        )
    return flat.reshape(samples, seq_len), meta


class ChunkSampler:
    """Fixed-length samples (Delphi's chunks) in a seeded order per epoch, whole batches only.

    Index ``i`` is sample ``i % batch_size`` of global step ``i // batch_size``; step ``s``
    belongs to epoch ``s // epoch_steps`` and takes the next ``batch_size`` samples of that
    epoch's permutation (seeded by ``(seed, epoch)``), like Delphi's per-epoch shuffle.
    """

    def __init__(self, chunks: np.ndarray, batch_size: int, seed: int) -> None:
        self.chunks = chunks
        self.seq_len = chunks.shape[1] - 1  # a sample of L ids gives L - 1 predictions
        self.batch_size = batch_size
        self.seed = seed
        self.num_windows = len(chunks)
        if self.num_windows < batch_size:
            raise DataError(f"{self.num_windows} samples are fewer than one batch of {batch_size}")
        self._epoch = -1
        self._order = np.zeros(0, dtype=np.int64)

    def epoch_steps(self, batch_size: int) -> int:
        """Optimizer steps per epoch (Delphi's ``len(train) // batch_size``)."""
        return self.num_windows // batch_size

    def window(self, index: int) -> np.ndarray:
        """The sample at global index ``index`` of the run, as int64."""
        step, within = divmod(index, self.batch_size)
        epoch, position = divmod(step, self.epoch_steps(self.batch_size))
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.num_windows)
            self._epoch = epoch
        return self.chunks[self._order[position * self.batch_size + within]].astype(np.int64)

    def batch(self, first: int, size: int) -> np.ndarray:
        """Samples ``first .. first + size - 1`` of the run as a (size, L) array."""
        return np.stack([self.window(first + i) for i in range(size)])

    def sequential(self, first: int, size: int) -> np.ndarray:
        """Samples in file order (validation)."""
        return self.chunks[first : first + size].astype(np.int64)
