"""Delphi's tokenized datasets: samples of ``seq_len`` ids, each opened by ``<bos>``, overlapping.

Delphi (``scripts/tokenize_dataset.py``) follows every document with ``<eos>``, runs them
together into one stream and cuts samples of exactly ``seq_len`` ids from it: ``<bos>``, then
``seq_len - 1`` stream ids. The last of those is seen by a model only as a target, so it comes
again, right after ``<bos>``, at the start of the next sample. Sample ``k`` is therefore
``<bos>`` and stream positions ``[k * (seq_len - 2), k * (seq_len - 2) + seq_len - 1)``: the sample
matrix is a sliding window of width ``seq_len - 1`` and stride ``seq_len - 2`` over the stream,
built here with index arithmetic over :class:`~toklab.datasets.nanogpt.TerminatedStream`.

The files are Delphi's: ``{split}-{i:05d}.parquet`` with at most ``chunk_size`` rows each and
one column, ``tokens``, of arrow type ``list<int64>`` (what ``datasets.Dataset.from_dict``
infers from Python ints; Delphi's trainer casts it to int32 sequences when it loads it), plus a
``meta.json``. ``datasets.load_dataset("parquet", data_files=...)`` reads them.

Where this differs from Delphi: Delphi makes one more sample after the last batch of documents
has been read and silently drops the rest of its buffer, which can hold many more samples (and
raises ``IndexError`` when that last refill leaves less than a sample). Here every full sample is
kept and only a tail shorter than the stride (``seq_len - 2`` ids) is dropped; its size is
recorded as ``dropped_tokens``. Where Delphi finishes, its samples are the first of these.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from toklab.datasets.nanogpt import TerminatedStream, check_token_id
from toklab.datasets.token_array import TokenArray, check_tokenizer_digest
from toklab.errors import ConfigError, DataError
from toklab.io import atomic_directory, read_json, write_json

log = logging.getLogger(__name__)

FORMAT = "toklab-delphi-v1"
#: The column as ``datasets.Dataset.from_dict({"tokens": [[int, ...], ...]})`` types it.
SCHEMA = pa.schema([pa.field("tokens", pa.list_(pa.int64()))])
#: Ids per parquet row group (and per block of samples built at once): 8 MiB of int64.
ROW_GROUP_TOKENS = 1 << 20
_SPLIT = re.compile(r"[A-Za-z0-9_.]+")


def sample_count(stream_tokens: int, seq_len: int) -> int:
    """How many full samples of ``seq_len`` (at least 3) a stream of ``stream_tokens`` ids gives."""
    if seq_len < 3:
        raise ConfigError(f"seq_len: {seq_len} is too short for a Delphi sample (seq_len >= 3)")
    if stream_tokens < seq_len - 1:
        return 0
    return (stream_tokens - (seq_len - 1)) // (seq_len - 2) + 1


def delphi_samples(
    stream: TerminatedStream, seq_len: int, bos_id: int, first: int, last: int
) -> np.ndarray:
    """Samples ``[first, last)`` of the stream as an int64 matrix of ``last - first`` rows."""
    stride = seq_len - 2
    rows = last - first
    samples = np.empty((rows, seq_len), dtype=np.int64)
    samples[:, 0] = bos_id
    if rows:
        start = first * stride
        ids = stream.slice(start, start + (rows - 1) * stride + seq_len - 1)
        window = np.lib.stride_tricks.sliding_window_view(ids, seq_len - 1)
        samples[:, 1:] = window[::stride]
    return samples


def _table(samples: np.ndarray) -> pa.Table:
    rows, width = samples.shape
    offsets = pa.array(np.arange(0, rows * width + 1, width, dtype=np.int32))
    column = pa.ListArray.from_arrays(offsets, pa.array(samples.reshape(-1)))
    return pa.Table.from_arrays([column], schema=SCHEMA)


def _check_settings(split: str, seq_len: int, chunk_size: int) -> None:
    if not isinstance(split, str) or not _SPLIT.fullmatch(split):
        raise ConfigError(f"split: {split!r} is not a split name (letters, digits, _ and .)")
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 3:
        raise ConfigError(
            f"seq_len: {seq_len!r} is too short; a Delphi sample is <bos>, then at least one new "
            "token and the one it shares with the next sample (seq_len >= 3)"
        )
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"chunk_size: must be a positive number of rows, got {chunk_size!r}")


def export_delphi(
    array: TokenArray,
    out_dir: str | Path,
    split: str,
    seq_len: int,
    bos_id: int,
    eos_id: int,
    chunk_size: int = 200_000,
) -> dict[str, Any]:
    """Write the array as one split of a Delphi tokenized dataset in ``out_dir``; return its meta.

    ``out_dir`` holds that split alone: ``{split}-00000.parquet`` ... and ``meta.json``
    (``seq_len``, ``samples``, ``files``, ``dropped_tokens``, ``tokenizer_sha256``, the BOS/EOS
    ids and counts). It appears atomically, replacing what was there. A ``seq_len`` below 3, a
    bad split name or ``chunk_size``, or ids outside the vocabulary are a :class:`ConfigError`;
    an array without documents, or one too short for a single sample, a :class:`DataError`.
    """
    _check_settings(split, seq_len, chunk_size)
    bos_id = check_token_id(array, "bos_id", bos_id)
    stream = TerminatedStream(array, eos_id)
    samples = sample_count(len(stream), seq_len)
    if samples == 0:
        raise DataError(
            f"{array.prefix}: {len(stream)} tokens (EOS included) are too few for one sample "
            f"of seq_len {seq_len}"
        )
    covered = (samples - 1) * (seq_len - 2) + seq_len - 1
    group = max(1, min(chunk_size, ROW_GROUP_TOKENS // seq_len))
    files = [f"{split}-{i:05d}.parquet" for i in range(-(-samples // chunk_size))]
    with (
        atomic_directory(out_dir) as tmp,
        tqdm(total=samples, desc=f"delphi {split}", unit="samples") as progress,
    ):
        for index, name in enumerate(files):
            file_first = index * chunk_size
            file_last = min(file_first + chunk_size, samples)
            with pq.ParquetWriter(tmp / name, SCHEMA) as writer:
                for first in range(file_first, file_last, group):
                    last = min(first + group, file_last)
                    block = delphi_samples(stream, seq_len, bos_id, first, last)
                    writer.write_table(_table(block), row_group_size=last - first)
                    progress.update(last - first)
        meta = {
            "format": FORMAT,
            "split": split,
            "seq_len": seq_len,
            "samples": samples,
            "files": files,
            "chunk_size": chunk_size,
            "documents": stream.documents,
            "stream_tokens": len(stream),
            "dropped_tokens": len(stream) - covered,
            "bos_id": bos_id,
            "eos_id": stream.eos_id,
            "vocab_size": array.vocab_size,
            "tokenizer_sha256": array.meta.get("tokenizer_sha256"),
        }
        write_json(tmp / "meta.json", meta)
    log.info(
        "%s: %d samples of %d in %d files, %d of %d stream tokens dropped",
        out_dir, samples, seq_len, len(files), meta["dropped_tokens"], len(stream),
    )  # fmt: skip
    return meta


def read_export_meta(directory: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of the Delphi export in ``directory``; an error unless it is one."""
    meta_path = Path(directory) / "meta.json"
    if not meta_path.is_file():
        raise DataError(f"{meta_path}: Delphi export meta not found")
    meta = read_json(meta_path)
    if meta.get("format") != FORMAT:
        raise DataError(f"{meta_path}: not a toklab Delphi export (format {meta.get('format')!r})")
    return meta


def check_export_tokenizer(directory: str | Path, tokenizer_path: str | Path) -> None:
    """An error unless the Delphi export in ``directory`` was made with ``tokenizer_path``."""
    recorded = read_export_meta(directory).get("tokenizer_sha256")
    check_tokenizer_digest(recorded, tokenizer_path, f"{directory}: exported")
