"""Flat arrays on disk: ``PREFIX.bin`` (the items) + ``PREFIX.idx`` (document offsets).

Byte corpora (:mod:`toklab.data.byte_corpus`) and token arrays share this layout: the ``.bin``
holds the items of every document back to back, the ``.idx`` holds ``n_docs + 1`` little-endian
int64 offsets into it (the first 0, the last the number of items), and sibling files with other
suffixes (``.meta.json``, ``.pretok``) describe or annotate them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from toklab.errors import DataError
from toklab.io import read_json

INDEX_DTYPE = np.dtype("<i8")


def array_paths(prefix: str | Path, suffixes: Iterable[str]) -> dict[str, Path]:
    """``{suffix: PREFIX.suffix}`` for each of ``suffixes`` (``"bin"``, ``"idx"``, ...)."""
    prefix = Path(prefix)
    return {suffix: prefix.with_name(prefix.name + "." + suffix) for suffix in suffixes}


def map_array(path: Path, dtype: npt.DTypeLike) -> np.ndarray:
    """The file as a read-only memory-mapped 1-D array (an empty array for an empty file)."""
    if path.stat().st_size:
        return np.memmap(path, dtype=dtype, mode="r")
    return np.zeros(0, dtype=dtype)


def read_index(idx_path: Path, bin_path: Path, length: int, unit: str) -> np.ndarray:
    """The document offsets in ``idx_path``, checked against a ``.bin`` of ``length`` items.

    A corrupt index is a :class:`DataError` naming the file and the problem: a size that is not
    a whole number of offsets, offsets that do not start at 0 or decrease, or a last offset that
    is not the ``length`` of ``bin_path`` (counted in ``unit``, e.g. ``"bytes"``).
    """
    size = idx_path.stat().st_size
    if size % INDEX_DTYPE.itemsize or size < INDEX_DTYPE.itemsize:
        raise DataError(f"{idx_path}: corrupt index ({size} bytes)")
    offsets = np.fromfile(idx_path, dtype=INDEX_DTYPE)
    if offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        raise DataError(f"{idx_path}: corrupt index (offsets not increasing from 0)")
    if offsets[-1] != length:
        raise DataError(
            f"{idx_path}: index ends at {offsets[-1]} but {bin_path} has {length} {unit}"
        )
    return offsets


def open_array(prefix: str | Path, unit: str, dtype: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """The ids, document offsets and meta of the ``.bin``/``.idx`` array at ``prefix``.

    ``unit`` names the ids in errors (``"token"``, ``"word"``); ``dtype`` is the ids' dtype
    when the meta records none.
    """
    paths = array_paths(prefix, ("bin", "idx", "meta.json"))
    for path in paths.values():
        if not path.exists():
            raise DataError(f"{path}: {unit} array file not found")
    meta = read_json(paths["meta.json"])
    tokens = map_array(paths["bin"], np.dtype(meta.get("dtype", dtype)))
    return tokens, read_index(paths["idx"], paths["bin"], len(tokens), f"{unit}s"), meta
