"""Training data: windows of packed token streams, or the fixed-length samples of a Delphi export.

Samplers with one interface (``window``, ``batch``, ``sequential``, ``num_windows``),
each a pure function of (seed, index), so exact resume needs only the step:

* :class:`WindowSampler`: non-overlapping windows of a :class:`PackedStream` (token arrays or
  byte corpora), in a seeded order per epoch;
* :class:`ChunkSampler`: Delphi's semantics, epochs over the samples of a Delphi export
  (:mod:`toklab.datasets.delphi`), each epoch ``samples // batch_size`` steps over a seeded
  permutation (the remainder is dropped, as Delphi does);
* :class:`ExampleSampler`: instruction examples (:mod:`toklab.datasets.examples`) packed whole
  into rows, attention within each example, loss on the answers only; its ``batch`` is a
  :class:`Batch` with the document ids and loss weights;
* :class:`AlignedSampler`: T-Free's pretraining samples, from the items of its aligned export
  (:func:`~toklab.datasets.tfree_words.tokenize_aligned_words`), filled and cut as the original
  does; its ``batch`` is a :class:`Batch` with separate inputs and targets;
* :class:`WordExampleSampler`: T-Free's fine-tuning samples, one example of ``has_loss``
  segments per row (:func:`~toklab.datasets.tfree_examples.tokenize_word_examples`).

Windows are cut from a :class:`~toklab.data.packed_stream.PackedStream` (token arrays or byte
corpora, EOS before every document).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from toklab.data.arrays import array_paths, open_array
from toklab.data.packed_stream import PackedStream
from toklab.datasets.delphi import read_export_meta
from toklab.errors import DataError
from toklab.io import read_json, sha256_file

#: Files beside ``PREFIX.{bin,idx,meta.json}`` that training reads where they exist: the
#: answers of instruction examples, T-Free's word table, aligned items and word weights.
SIDE_FILES = ("answers.bin", "words.json", "items.idx", "weights.bin")


def data_digests(path: str | Path, kind: str) -> dict[str, str]:
    """SHA-256 of every file of a run's data (``kind``: the config's ``data``), by suffix.

    The data's identity in the run's fingerprint. Hashing is also the check of the contents:
    where the meta records a file's SHA-256 (token arrays, byte corpora), a file that differs,
    even at the same size, is an error instead of training on it. It reads the data once
    (0.55 s per GB on a core with SHA instructions: ``benchmarks/bench_data_digests.py``).
    """
    path = Path(path)
    if kind == "chunks":
        names = ["meta.json", *read_export_meta(path)["files"]]
        files = {name: path / name for name in names}
    else:
        files = array_paths(path, ("bin", "idx", "meta.json"))
        files.update({s: p for s, p in array_paths(path, SIDE_FILES).items() if p.is_file()})
    for file in files.values():
        if not file.is_file():
            raise DataError(f"{file}: training data file not found")
    digests = {name: sha256_file(file) for name, file in files.items()}
    recorded = read_json(files["meta.json"]).get("sha256") if kind != "chunks" else None
    for name, digest in (recorded or {}).items():
        if name in digests and digests[name] != digest:
            raise DataError(
                f"{files[name]}: its SHA-256 is not the one its meta records "
                f"({digests[name][:12]}… != {digest[:12]}…): corrupt or replaced, rebuild it"
            )
    return digests


def _original_order(n: int, seed: int) -> np.ndarray:
    """``0 .. n - 1`` in the order of ``numpy.random.RandomState(seed).shuffle``, as T-Free's."""
    order = np.arange(n)
    np.random.RandomState(seed).shuffle(order)
    return order


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


class Batch(NamedTuple):
    """Rows of ``seq_len + 1`` ids; optionally the inputs' document ids and the targets' weights.

    ``documents`` (rows x seq_len) keeps attention within a document; ``weights`` (rows x
    seq_len) weighs each target's loss (0: not trained on). With ``targets`` (rows x seq_len),
    ``tokens`` holds only the inputs (rows x seq_len) and ``targets`` what each position
    predicts, for samples whose targets are not the inputs shifted by one.
    """

    tokens: np.ndarray
    documents: np.ndarray | None = None
    weights: np.ndarray | None = None
    targets: np.ndarray | None = None

    @property
    def inputs(self) -> np.ndarray:
        """The ids the model reads (rows x seq_len)."""
        return self.tokens if self.targets is not None else self.tokens[:, :-1]

    @property
    def next_ids(self) -> np.ndarray:
        """The ids each position predicts (rows x seq_len)."""
        return self.targets if self.targets is not None else self.tokens[:, 1:]


class ExampleSampler:
    """Instruction examples packed whole into rows of ``seq_len + 1`` ids, in a seeded order.

    Each epoch packs a permutation of the examples (seeded by ``(seed, epoch)``) greedily: a row
    takes the next examples while they fit and is padded with ``pad_id`` (weight 0, a document
    of its own). Attention stays within an example; only the targets inside an example's
    answer have weight 1. StochasTok's loader draws examples with replacement and cuts the last
    one of a row at the context length; toklab keeps every example whole and sees each once
    per epoch.
    """

    def __init__(self, examples, seq_len: int, seed: int, pad_id: int) -> None:
        self.examples = examples
        self.seq_len = seq_len
        self.seed = seed
        self.pad_id = pad_id
        self.lengths = np.diff(examples.tokens.offsets)
        longest = int(self.lengths.max()) if len(self.lengths) else 0
        if not len(self.lengths):
            raise DataError(f"{examples.tokens.prefix}: no examples")
        if longest > seq_len + 1:
            raise DataError(
                f"{examples.tokens.prefix}: an example of {longest} tokens does not fit a row of "
                f"seq_len + 1 = {seq_len + 1}"
            )
        self._rows: dict[int, list[np.ndarray]] = {}
        self._epoch_sizes: list[int] = []  # rows of epochs 0, 1, ... (packed once to count)
        #: rows of the examples in file order (validation), and their count
        self._file_rows = self._pack(np.arange(len(self.lengths)))
        self.num_windows = len(self._file_rows)

    def _pack(self, order: np.ndarray) -> list[np.ndarray]:
        """Examples in ``order`` packed greedily into rows: arrays of example indices."""
        rows, current, used = [], [], 0
        for example, length in zip(order.tolist(), self.lengths[order].tolist(), strict=True):
            if used + length > self.seq_len + 1:
                rows.append(np.array(current, dtype=np.int64))
                current, used = [], 0
            current.append(example)
            used += length
        rows.append(np.array(current, dtype=np.int64))
        return rows

    def _epoch_rows(self, epoch: int) -> list[np.ndarray]:
        """The rows of one epoch (one epoch cached at a time: steps advance through epochs)."""
        if epoch not in self._rows:
            order = np.random.default_rng([self.seed, epoch]).permutation(len(self.lengths))
            self._rows = {epoch: self._pack(order)}
        return self._rows[epoch]

    def _locate(self, index: int) -> tuple[int, int]:
        """(epoch, row) of the run's ``index``-th row: epochs differ in their number of rows.

        Each epoch's row count is computed once (by packing it), so finding a row of epoch k
        does not repack the epochs before it.
        """
        epoch = 0
        while True:
            if epoch == len(self._epoch_sizes):
                self._epoch_sizes.append(len(self._epoch_rows(epoch)))
            if index < self._epoch_sizes[epoch]:
                return epoch, index
            index -= self._epoch_sizes[epoch]
            epoch += 1

    def _row(self, examples: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        tokens = np.full(self.seq_len + 1, self.pad_id, dtype=np.int64)
        documents = np.full(self.seq_len + 1, len(examples), dtype=np.int64)
        weights = np.zeros(self.seq_len + 1, dtype=np.float32)
        at = 0
        for number, example in enumerate(examples.tolist()):
            ids, answer = self.examples.example(example)
            tokens[at : at + len(ids)] = ids
            documents[at : at + len(ids)] = number
            weights[at + answer : at + len(ids)] = 1.0
            at += len(ids)
        # inputs are positions 0..L-1, targets 1..L: a target's weight is its own position's
        return tokens, documents[:-1], weights[1:]

    def window(self, index: int) -> Batch:
        """The run's ``index``-th row (epoch after epoch)."""
        epoch, row = self._locate(index)
        return Batch(*self._row(self._epoch_rows(epoch)[row]))

    def batch(self, first: int, size: int) -> Batch:
        """Rows ``first .. first + size - 1``."""
        rows = [
            self._row(self._epoch_rows(e)[r])
            for e, r in map(self._locate, range(first, first + size))
        ]
        return Batch(*(np.stack(parts) for parts in zip(*rows, strict=True)))

    def sequential(self, first: int, size: int) -> Batch:
        """Rows ``first .. first + size - 1`` of the examples packed in file order (validation)."""
        rows = [self._row(self._file_rows[i]) for i in range(first, first + size)]
        return Batch(*(np.stack(parts) for parts in zip(*rows, strict=True)))

    def epoch_steps(self, batch_size: int) -> int:
        """Optimizer steps per pass over the examples (epoch 0's rows; at least one)."""
        return max(len(self._epoch_rows(0)) // batch_size, 1)


class AlignedSampler:
    """T-Free's pretraining samples of ``seq_len`` positions from the items of an aligned export.

    The data is an aligned word array (:func:`~toklab.datasets.tfree_words.tokenize_aligned_words`):
    one document per chunk of the export, its words ending with ``<|endoftext|>``, grouped into
    the export's items. As T-Free's ``TextDataset`` builds sample ``i``: the items are visited in
    the order of ``numpy.random.RandomState(seed).shuffle`` (its seed 42 by default); starting at
    item ``order[i]``, every chunk of ``n`` words gives ``n - 1`` positions (its words predict
    their next word, no position crosses into the next chunk) until there are at least
    ``seq_len``, which are cut to ``seq_len``. As in the original the next item read is
    ``order[i + chunks read so far]`` (it counts chunks, not items) and indices wrap around the
    items; the sample sequence repeats every ``items`` samples, with no reshuffle. ``documents``
    numbers the chunks of a row (attention stays within a chunk: the original resets attention
    and position ids per chunk, which under rotary embeddings is the same).
    """

    def __init__(self, prefix: str | Path, seq_len: int, seed: int) -> None:
        from toklab.datasets.tfree_words import read_aligned_items

        self.tokens, self.offsets, _ = open_array(prefix, "word", "uint16")
        self.items = read_aligned_items(prefix, len(self.offsets) - 1)
        self.seq_len = seq_len
        self.seed = seed
        self.num_windows = len(self.items) - 1
        if not (np.diff(self.offsets) > 1).any():
            raise DataError(f"{prefix}: no chunk of two words or more: nothing to predict")
        self.order = _original_order(self.num_windows, seed)

    def _row(self, order: np.ndarray, index: int) -> tuple[np.ndarray, ...]:
        inputs, targets, documents = [], [], []
        positions = read = 0
        while positions < self.seq_len:
            item = int(order[(index + read) % len(order)])
            for chunk in range(int(self.items[item]), int(self.items[item + 1])):
                words = self.tokens[self.offsets[chunk] : self.offsets[chunk + 1]].astype(np.int64)
                inputs.append(words[:-1])
                targets.append(words[1:])
                documents.append(np.full(len(words) - 1, len(documents), dtype=np.int64))
                positions += len(words) - 1
                read += 1
        return tuple(np.concatenate(part)[: self.seq_len] for part in (inputs, documents, targets))

    def window(self, index: int) -> Batch:
        """The run's ``index``-th sample."""
        inputs, documents, targets = self._row(self.order, index)
        return Batch(inputs, documents, None, targets)

    def batch(self, first: int, size: int) -> Batch:
        """Samples ``first .. first + size - 1``."""
        rows = [self._row(self.order, first + i) for i in range(size)]
        inputs, documents, targets = (np.stack(part) for part in zip(*rows, strict=True))
        return Batch(inputs, documents, None, targets)

    def sequential(self, first: int, size: int) -> Batch:
        """Samples starting at the items in file order (validation: the same ones every time)."""
        order = np.arange(self.num_windows)
        rows = [self._row(order, first + i) for i in range(size)]
        inputs, documents, targets = (np.stack(part) for part in zip(*rows, strict=True))
        return Batch(inputs, documents, None, targets)

    def epoch_steps(self, batch_size: int) -> int:
        """Optimizer steps per pass over the items (at least one)."""
        return max(self.num_windows // batch_size, 1)


class WordExampleSampler:
    """T-Free's fine-tuning samples: one example per row, its loss on the ``has_loss`` words.

    The data is word examples (:func:`~toklab.datasets.tfree_examples.tokenize_word_examples`).
    As T-Free's ``TextDataset`` (``pretraining: false``) builds sample ``i``: example
    ``order[i]`` of ``numpy.random.RandomState(seed).shuffle``, its words predicting their next
    word, each position weighted by its target word's ``has_loss``; cut to ``seq_len``
    positions, or padded (word 0, weight 0, a document of its own). The sequence repeats every
    ``examples`` samples.
    """

    def __init__(self, prefix: str | Path, seq_len: int, seed: int) -> None:
        from toklab.datasets.tfree_examples import read_word_weights

        self.tokens, self.offsets, _ = open_array(prefix, "word", "uint16")
        self.weights = read_word_weights(prefix, len(self.tokens))
        self.seq_len = seq_len
        self.num_windows = len(self.offsets) - 1
        if not self.num_windows:
            raise DataError(f"{prefix}: no examples")
        self.order = _original_order(self.num_windows, seed)

    def _row(self, example: int) -> tuple[np.ndarray, ...]:
        start, end = int(self.offsets[example]), int(self.offsets[example + 1])
        words = self.tokens[start:end].astype(np.int64)
        count = min(max(len(words) - 1, 0), self.seq_len)
        inputs = np.zeros(self.seq_len, dtype=np.int64)
        targets = np.zeros(self.seq_len, dtype=np.int64)
        weights = np.zeros(self.seq_len, dtype=np.float32)
        documents = np.ones(self.seq_len, dtype=np.int64)  # padding: a document of its own
        inputs[:count], targets[:count] = words[:count], words[1 : count + 1]
        weights[:count] = self.weights[start + 1 : start + 1 + count]
        documents[:count] = 0
        return inputs, documents, weights, targets

    def _stack(self, examples) -> Batch:
        rows = [self._row(int(example)) for example in examples]
        return Batch(*(np.stack(part) for part in zip(*rows, strict=True)))

    def window(self, index: int) -> Batch:
        """The run's ``index``-th sample."""
        return self._stack([self.order[index % self.num_windows]])

    def batch(self, first: int, size: int) -> Batch:
        """Samples ``first .. first + size - 1``."""
        return self._stack(self.order[np.arange(first, first + size) % self.num_windows])

    def sequential(self, first: int, size: int) -> Batch:
        """Examples in file order (validation: the same ones every time)."""
        return self._stack(np.arange(first, first + size) % self.num_windows)

    def epoch_steps(self, batch_size: int) -> int:
        """Optimizer steps per pass over the examples (at least one)."""
        return max(self.num_windows // batch_size, 1)
