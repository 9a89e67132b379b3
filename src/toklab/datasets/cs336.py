"""CS336 assignment 1's tokenized data: one ``.npy`` of uint16 ids per split.

The assignment encodes its text files (``TinyStoriesV2-GPT4-{train,valid}.txt``, the OWT
sample) whole and serialises the ids with ``np.save`` as a uint16 array, which the training
loop opens with ``np.load(path, mmap_mode="r")``. In those files every document is followed by
``<|endoftext|>`` (the assignment's own sample, taken from TinyStories, ends its last story with
one too), so the export puts the separator after every document, the last included. The ids
are then the same as nanoGPT's ``.bin`` (:mod:`toklab.datasets.nanogpt`) behind a ``.npy``
header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toklab.datasets.nanogpt import (
    STREAM_CHUNK_TOKENS,
    UINT16,
    TerminatedStream,
    check_uint16,
    write_stream,
)
from toklab.datasets.token_array import TokenArray
from toklab.io import atomic_write


def export_cs336(
    array: TokenArray,
    out_path: str | Path,
    separator_id: int,
    *,
    chunk_tokens: int = STREAM_CHUNK_TOKENS,
) -> dict[str, int]:
    """Write the array as CS336's ``.npy``: uint16 ids, ``separator_id`` after every document.

    The file is byte for byte what ``np.save`` writes for the whole array, but the header comes
    from ``numpy.lib.format`` and the ids are streamed after it, so the array is never in
    memory; it is written atomically to ``out_path`` exactly (no ``.npy`` is appended). The
    vocabulary must fit uint16 (a :class:`DataError` otherwise) and ``separator_id`` must be one
    of its ids (a :class:`ConfigError`). Returns the number of ``tokens`` written (separators
    included) and of ``documents``.
    """
    check_uint16(array, "a CS336 .npy")
    stream = TerminatedStream(array, separator_id, "separator_id")
    header = {
        "descr": np.lib.format.dtype_to_descr(UINT16),
        "fortran_order": False,
        "shape": (len(stream),),
    }
    with atomic_write(out_path) as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        write_stream(stream, handle, f"cs336 {Path(out_path).name}", chunk_tokens)
    return {"tokens": len(stream), "documents": stream.documents}
