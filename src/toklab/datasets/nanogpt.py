"""nanoGPT's flat token files (StochasTok's ``train.bin``/``val.bin``), and the stream they hold.

Every export of a token array starts from the same *terminated stream*: the documents back to
back, each followed by one end-of-document id (GPT-2's ``<|endoftext|>`` = 50256, Delphi's
``<eos>``). :class:`TerminatedStream` gives any slice of it without building it whole, so the
exports stream over arrays of any size in bounded memory.

nanoGPT's format is that stream and nothing else: little-endian uint16 ids, no header, no index,
read with ``np.memmap(path, dtype=np.uint16, mode="r")``. StochasTok writes one such file per
split, each document ``encode_ordinary(text) + [50256]``; :func:`export_nanogpt` writes one
split, so the workflow calls it once for ``train.bin`` and once for ``val.bin``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.datasets.token_array import TokenArray
from toklab.errors import ConfigError, DataError
from toklab.io import atomic_write

#: Stream tokens per piece written: 32 MiB of uint16, whatever the documents' lengths.
STREAM_CHUNK_TOKENS = 1 << 24
UINT16 = np.dtype("<u2")


def check_token_id(array: TokenArray, setting: str, value: Any) -> int:
    """``value`` as an int, or a :class:`ConfigError` unless it is an id of the array's vocabulary."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{setting}: a token id must be an integer, got {value!r}")
    if not 0 <= value < array.vocab_size:
        raise ConfigError(
            f"{setting}: token id {value} is outside the vocabulary of {array.prefix} "
            f"(0..{array.vocab_size - 1})"
        )
    return int(value)


def check_uint16(array: TokenArray, what: str) -> None:
    """A :class:`DataError` unless every id of the array's vocabulary fits in uint16."""
    if array.vocab_size > 1 << 16:
        raise DataError(
            f"{array.prefix}: a vocabulary of {array.vocab_size} tokens does not fit the uint16 "
            f"ids of {what}"
        )


class TerminatedStream:
    """A token array's documents back to back, each followed by ``eos_id``; sliced on demand.

    Position ``j`` of the stream is a token of document ``d`` or the ``eos_id`` that ends it;
    :meth:`slice` finds the documents by binary search over their end positions and inserts the
    ids between their tokens, so a slice costs its own length (plus a log), never the stream's.
    An array without documents has no stream: a :class:`DataError`.
    """

    def __init__(self, array: TokenArray, eos_id: int, setting: str = "eos_id") -> None:
        if len(array) == 0:
            raise DataError(f"{array.prefix}: the token array has no documents to export")
        self.array = array
        self.eos_id = check_token_id(array, setting, eos_id)
        ends = np.asarray(array.offsets[1:], dtype=np.int64)
        #: Stream position just past each document's ``eos_id``.
        self.ends = ends + np.arange(1, len(ends) + 1, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.ends[-1])

    @property
    def documents(self) -> int:
        """The number of documents (and of ``eos_id`` tokens) in the stream."""
        return len(self.ends)

    def slice(self, start: int, stop: int) -> np.ndarray:
        """Stream positions ``[start, stop)`` as a new array of the token array's dtype."""
        if not 0 <= start <= stop <= len(self):
            raise IndexError(f"stream slice [{start}, {stop}) outside [0, {len(self)})")
        # Documents whose eos lies before ``start``, resp. before ``stop``: their count is also
        # the number of eos ids to skip when mapping a stream position to a token position.
        first = int(np.searchsorted(self.ends, start, side="right"))
        last = int(np.searchsorted(self.ends, stop, side="right"))
        tokens = self.array.tokens[start - first : stop - last]
        # Each eos in the slice goes after the slice's tokens that precede it.
        at = self.ends[first:last] - (start + 1) - np.arange(last - first, dtype=np.int64)
        return np.insert(np.asarray(tokens), at, self.eos_id)

    def chunks(self, chunk_tokens: int = STREAM_CHUNK_TOKENS) -> Iterator[np.ndarray]:
        """The whole stream, in consecutive pieces of ``chunk_tokens`` (the last one shorter)."""
        if chunk_tokens < 1:
            raise ConfigError(f"chunk_tokens: must be at least 1, got {chunk_tokens}")
        for start in range(0, len(self), chunk_tokens):
            yield self.slice(start, min(start + chunk_tokens, len(self)))


def write_stream(
    stream: TerminatedStream, handle: Any, desc: str, chunk_tokens: int = STREAM_CHUNK_TOKENS
) -> None:
    """Write the stream to the binary file ``handle`` as little-endian uint16, piece by piece."""
    with tqdm(total=len(stream), desc=desc, unit="tok", unit_scale=True) as progress:
        for piece in stream.chunks(chunk_tokens):
            handle.write(np.ascontiguousarray(piece, dtype=UINT16).data)
            progress.update(len(piece))


def export_nanogpt(
    array: TokenArray,
    out_path: str | Path,
    eos_id: int,
    *,
    chunk_tokens: int = STREAM_CHUNK_TOKENS,
) -> dict[str, int]:
    """Write the array as a nanoGPT/StochasTok ``.bin``: every document followed by ``eos_id``.

    The file is flat little-endian uint16 with no header, written atomically; the vocabulary
    must fit uint16 (a :class:`DataError` otherwise) and ``eos_id`` must be one of its ids (a
    :class:`ConfigError`). Returns the number of ``tokens`` written (EOS included) and of
    ``documents``.
    """
    check_uint16(array, "a nanoGPT .bin")
    stream = TerminatedStream(array, eos_id)
    with atomic_write(out_path) as handle:
        write_stream(stream, handle, f"nanogpt {Path(out_path).name}", chunk_tokens)
    return {"tokens": len(stream), "documents": stream.documents}
