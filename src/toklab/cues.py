"""Per-byte prediction cues of a byte-level LM, written to zarr aligned with the byte corpus.

The corpus is read as the packed stream ``EOS d0 EOS d1 ... EOS`` the model was trained on.
Windows of ``context`` tokens start every ``stride`` tokens; window ``k`` covers stream positions
``[k*stride, k*stride + context)``. Window 0 keeps all its predictions; window ``k > 0`` keeps
only its last ``stride`` ones, so every byte is predicted with at least
``context - stride + 1`` tokens of left context (or all of it, near the start). ByteSpan used
context 2048 and stride 512.

Cues, in nats, computed from float32 log-probabilities at the position before each byte:

* ``entropy``: entropy of the next-token distribution;
* ``surprisal``: -log P(actual byte);
* ``space_nll``: -log P(space byte, 0x20);
* ``eos_nll``: -log P(EOS).

The zarr group holds one float32 array per cue (length = bytes of the corpus), plus
``doc_offsets`` and ``pretoken_start`` copied from the byte corpus; its attributes record the
model's hash, context, stride and the chunks completed. Work proceeds chunk by chunk and each
finished chunk is recorded, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from toklab import fingerprint as fingerprints
from toklab.data.byte_corpus import ByteCorpus
from toklab.data.packed_stream import PackedStream
from toklab.errors import DataError
from toklab.io import replace_directory, sha256_file
from toklab.sorting import distinct

if TYPE_CHECKING:
    import torch
    import zarr

# torch is imported where the model runs: the readers (Predictions, used by every ByteSpan
# training job) would otherwise carry about 230 MB of torch in memory for nothing

log = logging.getLogger(__name__)

CUES = ("entropy", "surprisal", "space_nll", "eos_nll")
SPACE_BYTE = 0x20
FORMAT = "toklab-predictions-v1"


def window_of_target(target: np.ndarray, context: int, stride: int) -> np.ndarray:
    """The window that predicts each stream position ``target`` (>= 1)."""
    later = np.ceil((target - context) / stride).astype(np.int64)
    return np.maximum(later, 0)


def cues_for_targets(
    model: torch.nn.Module,
    stream: PackedStream,
    targets: np.ndarray,
    context: int,
    stride: int,
    batch_size: int,
    eos_id: int,
    device: torch.device,
) -> dict[str, np.ndarray]:
    """The cues of the given (sorted) stream positions."""
    import torch

    with torch.no_grad():
        return _cues_for_targets(
            model, stream, targets, context, stride, batch_size, eos_id, device
        )


def _cues_for_targets(model, stream, targets, context, stride, batch_size, eos_id, device):
    import torch

    windows = window_of_target(targets, context, stride)
    out = {cue: np.empty(len(targets), dtype=np.float32) for cue in CUES}
    unique = distinct(windows)
    for first in range(0, len(unique), batch_size):
        group = unique[first : first + batch_size]
        # context + 1 tokens: the model reads the first `context`, the last one is a target
        tokens = np.stack(
            [stream.slice(int(k) * stride, int(k) * stride + context + 1) for k in group]
        )
        logits = model(torch.from_numpy(tokens[:, :context]).to(device)).float()
        log_probs = torch.log_softmax(logits, dim=-1)
        for row, k in enumerate(group):
            select = np.flatnonzero(windows == k)
            # logits at window position j predict stream position k*stride + j + 1
            positions = torch.from_numpy(targets[select] - int(k) * stride - 1).to(device)
            lp = log_probs[row, positions]
            actual = torch.from_numpy(tokens[row, targets[select] - int(k) * stride]).to(device)
            out["entropy"][select] = -(lp.exp() * lp).sum(-1).cpu().numpy()
            out["surprisal"][select] = -lp.gather(1, actual[:, None])[:, 0].cpu().numpy()
            out["space_nll"][select] = -lp[:, SPACE_BYTE].cpu().numpy()
            out["eos_nll"][select] = -lp[:, eos_id].cpu().numpy()
    return out


def extract_predictions(
    checkpoint: str | Path,
    corpus_prefix: str | Path,
    output: str | Path,
    *,
    context: int = 2048,
    stride: int = 512,
    batch_size: int = 8,
    chunk_bytes: int = 1 << 20,
    eos_id: int = 256,
    device: str | None = None,
) -> Path:
    """Write the cue arrays of a byte corpus to a zarr group at ``output`` (resumable)."""
    if not 0 < stride <= context:
        raise DataError(f"stride {stride} must be in 1..context ({context})")
    import torch

    from toklab.models.causal_lm import load_model

    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = load_model(checkpoint, map_location=torch_device).eval()
    if model.config.vocab_size <= max(eos_id, 255):
        raise DataError(
            f"{checkpoint}: vocab size {model.config.vocab_size} has no room for 256 bytes and "
            f"EOS id {eos_id}; is this a byte-level model?"
        )
    if context > model.config.max_position_embeddings:
        raise DataError(
            f"context {context} exceeds the model's max_position_embeddings "
            f"{model.config.max_position_embeddings}"
        )
    corpus = ByteCorpus(corpus_prefix)
    stream = PackedStream(corpus_prefix, eos_id)
    model_hash = sha256_file(Path(checkpoint) / "model.safetensors")
    corpus_hash = corpus.bin_sha256
    expected = {
        "format": FORMAT,
        "model_sha256": model_hash,
        "corpus_sha256": corpus_hash,
        "context": context,
        "stride": stride,
        "eos_id": eos_id,
        "chunk_bytes": chunk_bytes,
    }

    def compute(first: int, last: int) -> dict[str, np.ndarray]:
        targets = stream.token_positions(first, last)
        return cues_for_targets(
            model, stream, targets, context, stride, batch_size, eos_id, torch_device
        )

    return write_predictions(output, expected, corpus, chunk_bytes, compute)


def write_predictions(
    output: str | Path,
    expected: dict,
    corpus: ByteCorpus,
    chunk_bytes: int,
    compute: Callable[[int, int], dict[str, np.ndarray]],
) -> Path:
    """Write the cues ``compute(first, last)`` gives for each chunk of ``corpus`` (resumable).

    ``expected`` is the group's fingerprint (its ``format`` and what made the cues); a partial
    group with the same fingerprint is resumed chunk by chunk, another one is started over.
    """
    # Work happens in OUTPUT.partial, renamed to OUTPUT when complete: a failed job (whose
    # declared output Snakemake deletes) leaves the partial group to resume from.
    output = Path(output)
    n = corpus.num_bytes
    chunks = max(1, math.ceil(n / chunk_bytes))
    partial = output.with_name(output.name + ".partial")
    group = _open_or_create(partial, expected, n, chunk_bytes, corpus)
    done = set(group.attrs.get("chunks_done", []))
    with tqdm(total=n, unit="B", unit_scale=True, desc="predictions") as progress:
        for chunk in range(chunks):
            first, last = chunk * chunk_bytes, min((chunk + 1) * chunk_bytes, n)
            if chunk in done:
                progress.update(last - first)
                continue
            cues = compute(first, last)
            for cue in CUES:
                group[cue][first:last] = cues[cue]
            done.add(chunk)
            group.attrs["chunks_done"] = sorted(done)
            progress.update(last - first)
    group.attrs["complete"] = True
    replace_directory(partial, output)
    return output


def _open_or_create(output: Path, expected: dict, n: int, chunk_bytes: int, corpus: ByteCorpus):
    import zarr

    if output.exists():
        try:
            group = zarr.open_group(str(output), mode="r+")
            attrs = dict(group.attrs)
        except Exception as err:
            raise DataError(
                f"{output}: unreadable zarr group ({err}); delete it to start over"
            ) from None
        # the group's fingerprint is the attrs that ``expected`` names (toklab.fingerprint)
        recorded = {key: attrs[key] for key in expected if key in attrs}
        reason = fingerprints.mismatch(recorded, expected)
        if reason is None and not all(c in group for c in CUES):
            reason = "cue arrays missing"
        if reason is None:
            log.info("resuming %s: %d chunks done", output, len(attrs.get("chunks_done", [])))
            return group
        log.warning("%s is another extraction's (%s): starting over", output, reason)
        shutil.rmtree(output)
    group = zarr.open_group(str(output), mode="w")
    chunk = max(1, min(chunk_bytes, n))
    # uncompressed: an LM's cues shrink by under a tenth with zstd, and ByteSpan reads them
    # several times (the global constraint once per wave), where decoding was most of a read
    for cue in CUES:
        group.create_array(
            cue, shape=(n,), chunks=(chunk,), dtype="float32", fill_value=np.nan, compressors=None
        )
    offsets = group.create_array("doc_offsets", shape=corpus.offsets.shape, dtype="int64")
    offsets[:] = corpus.offsets
    flags = group.create_array("pretoken_start", shape=(n,), chunks=(chunk,), dtype="uint8")
    if n:
        flags[:] = np.asarray(corpus.pretoken_start)
    group.attrs.update(
        {**expected, "cues": list(CUES), "units": "nats", "chunks_done": [], "complete": False}
    )
    return group


class Predictions:
    """Read access to a predictions zarr group, checked for completeness and alignment.

    Opening names what is wrong with a group that is not one: a wrong or absent ``format``
    attribute, or the arrays it lacks. Reading names the group, the array and the chunk (its
    file under the group) that cannot be decoded, e.g. a truncated chunk, instead of the codec's
    bare error.
    """

    def __init__(self, path: str | Path, corpus_prefix: str | Path | None = None) -> None:
        import zarr

        path = Path(path)
        self.path = path
        try:
            self.group = zarr.open_group(str(path), mode="r")
            attrs = dict(self.group.attrs)
        except Exception as err:
            raise DataError(f"{path}: not a readable predictions zarr ({one_line(err)})") from None
        found = attrs.get("format")
        if found != FORMAT:
            what = "no 'format' attribute" if found is None else f"format {found!r}"
            raise DataError(f"{path}: not a toklab predictions group ({what}, expected {FORMAT!r})")
        self.arrays: dict[str, zarr.Array] = {}
        missing = []
        for name in (*CUES, "doc_offsets"):
            try:
                array = self.group[name]
            except KeyError:
                array = None
            except Exception as err:
                raise DataError(f"{path}: array '{name}' is unreadable ({one_line(err)})") from None
            if isinstance(array, zarr.Array):
                self.arrays[name] = array
            else:
                missing.append(name)
        if missing:
            raise DataError(
                f"{path}: not a toklab predictions group (missing arrays: {', '.join(missing)})"
            )
        if not attrs.get("complete"):
            raise DataError(f"{path}: extraction did not finish (rerun it to resume)")
        self.attrs = attrs
        self._raw: dict[str, Callable[[int], Path] | None] = {}  # a cue's raw chunk files
        if corpus_prefix is not None:
            corpus = ByteCorpus(corpus_prefix)
            if corpus.bin_sha256 != attrs["corpus_sha256"]:
                raise DataError(
                    f"{path}: computed for a different byte corpus than {corpus_prefix}"
                )

    def __len__(self) -> int:
        """The number of bytes (cue values per cue)."""
        return int(self.arrays[CUES[0]].shape[0])

    def cue(self, name: str) -> np.ndarray:
        """One cue array (float32, one value per corpus byte)."""
        return self.read(name, 0, len(self))

    def read(self, name: str, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Values ``start:stop`` of one cue (float32): read a large group chunk by chunk.

        With ``out`` (float32, at least ``stop - start`` long) they are decoded into its start,
        which is returned: no new array, for passes that read the cue many times.
        """
        if name not in CUES:
            raise DataError(f"unknown cue '{name}' (one of {', '.join(CUES)})")
        array = self.arrays[name]
        stop = min(stop, len(self))
        if name not in self._raw:
            self._raw[name] = _raw_chunks(array)
        try:
            if out is None:
                out = np.empty(max(stop - start, 0), dtype=np.float32)
            values = out[: max(stop - start, 0)]
            raw = self._raw[name]
            if (
                raw is None
                or values.dtype != np.dtype("<f4")
                or not values.flags.c_contiguous
                or not _read_raw(raw, array.chunks[0], start, stop, values)
            ):
                _read_into(array, start, stop, values)
        except Exception as err:
            raise self._unreadable(name, start, stop, err) from None
        if len(values) and np.isnan(values.min()):  # the min is NaN where any value is
            raise DataError(
                f"{self.path}: cue '{name}' has missing values in bytes {start}..{stop}: the zarr "
                f"group is corrupt"
            )
        return values

    def _unreadable(self, name: str, start: int, stop: int, err: Exception) -> DataError:
        """The error for a failed read of ``name[start:stop]``, naming the first bad chunk.

        The chunks of the range are read again one at a time to find the one that fails (only
        on this error path); its key is the chunk's file under ``PATH/NAME/``.
        """
        array = self.arrays[name]
        size, length = array.chunks[0], array.shape[0]
        first, last = max(start, 0) // size, -(-min(stop, length) // size)
        for index in range(first, last):
            begin, end = index * size, min((index + 1) * size, length)
            try:
                array[begin:end]
            except Exception as chunk_err:
                key = array.metadata.encode_chunk_key((index,))
                return DataError(
                    f"{self.path}: cannot read array '{name}', chunk {self.path / name / key} "
                    f"(bytes {begin}..{end}): {one_line(chunk_err)}"
                )
        return DataError(
            f"{self.path}: cannot read array '{name}' (bytes {start}..{stop}): {one_line(err)}"
        )

    def reader(self, name: str) -> CueArrayReader:
        """``read`` for one cue, as a function of (start, stop); an unknown cue fails now."""
        if name not in CUES:
            raise DataError(f"unknown cue '{name}' (one of {', '.join(CUES)})")
        return CueArrayReader(self, name)


@dataclass(frozen=True)
class CueArrayReader:
    """One cue of a group: ``reader(start, stop)`` reads values, ``reader.into(...)`` into a buffer."""

    predictions: Predictions
    name: str

    def __call__(self, start: int, stop: int) -> np.ndarray:
        """Values ``start:stop``, a new array."""
        return self.predictions.read(self.name, start, stop)

    def into(self, start: int, stop: int, out: np.ndarray) -> np.ndarray:
        """Values ``start:stop`` decoded into ``out``; the part of ``out`` they fill."""
        return self.predictions.read(self.name, start, stop, out)


def _raw_chunks(array: zarr.Array) -> Callable[[int], Path] | None:
    """Each chunk's file of ``array``, where each holds the chunk's values as they lie in memory.

    That is toklab's own layout for cues (float32, little-endian, uncompressed, one local file
    a chunk); any other array (compressed, sharded, remote) is read through zarr.
    """
    from zarr.codecs import BytesCodec
    from zarr.storage import LocalStore

    codecs = getattr(array.metadata, "codecs", None)
    if (
        not isinstance(array.store, LocalStore)
        or array.dtype != np.dtype("<f4")
        or codecs is None
        or len(codecs) != 1
        or not isinstance(codecs[0], BytesCodec)
        or codecs[0].endian is None
        or codecs[0].endian.value != "little"
    ):
        return None
    folder = Path(array.store.root) / array.path
    return lambda index: folder / array.metadata.encode_chunk_key((index,))


def _read_raw(
    chunk_file: Callable[[int], Path], size: int, start: int, stop: int, out: np.ndarray
) -> bool:
    """Read values ``start:stop`` from raw chunk files (:func:`_raw_chunks`) into ``out``.

    ``out`` is contiguous little-endian float32. Returns False, having read part of it or none,
    where a chunk's file is missing or not the size of a whole chunk (zarr writes the last one
    whole too): zarr then reads the range (a fill value, or the error naming the chunk). Zarr's
    own read of such a chunk costs three times the file read, which a pass that reads the cue
    once per wave (the global constraint) pays on every wave.
    """
    target = out.view(np.uint8)
    for index in range(start // size, -(-stop // size)):
        begin, end = max(start, index * size), min(stop, (index + 1) * size)
        try:
            with open(chunk_file(index), "rb") as file:
                if os.fstat(file.fileno()).st_size != 4 * size:
                    return False
                file.seek(4 * (begin - index * size))
                got = file.readinto(target[4 * (begin - start) : 4 * (end - start)])
        except FileNotFoundError:
            return False
        if got != 4 * (end - begin):
            return False
    return True


def _read_into(array: zarr.Array, start: int, stop: int, out: np.ndarray) -> None:
    """``out[:] = array[start:stop]``, decoded straight into ``out`` where zarr can."""
    try:
        from zarr.core.buffer import default_buffer_prototype

        buffer = default_buffer_prototype().nd_buffer.from_numpy_array(out)
    except (ImportError, AttributeError, TypeError):  # another zarr: through a new array
        out[:] = array[start:stop]
        return
    array.get_basic_selection(slice(start, stop), out=buffer)


def one_line(err: BaseException) -> str:
    """An exception's message on one line (its type when it has none)."""
    text = " ".join(str(err).split())
    return text or type(err).__name__
