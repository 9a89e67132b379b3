"""Token arrays from published datasets of token ids: the reverse of the exports.

Where the authors of a method published their tokenized data, toklab can train on it as it is,
without the text: a dataset of token ids (on the Hugging Face Hub, or any dataset that
``datasets.load_dataset`` opens, such as a directory of parquet files) becomes a token array
(:mod:`toklab.datasets.token_array`) of the tokenizer it was made with. Two layouts of rows:

``documents``
    One row per document, e.g. StochasTok's ``anyasims/openwebtext-tokenized`` (splits ``train``
    and ``val``, column ``ids``: GPT-2 ids with ``<|endoftext|>`` appended to every document).
    With ``trailing_eos`` every row must end with the tokenizer's EOS, which is removed.
``delphi``
    Delphi's tokenized datasets (``delphi-suite/stories-tokenized``, column ``tokens``; toklab's
    own Delphi export, :mod:`toklab.datasets.delphi`): samples that open with ``<bos>`` and
    repeat the previous sample's last id, cut from one stream of documents each followed by
    ``<eos>``. The stream is rebuilt (each ``<bos>`` and repeated id dropped, after checking
    them) and split at every ``<eos>``; the ids after the last ``<eos>``, a document the samples
    end inside, are dropped and counted (``dropped_tokens``).

Separators: toklab's arrays hold documents without BOS or EOS (the trainer and the exports add
them), so both layouts drop the separators the format added and keep the documents' own ids.
Documents left empty are skipped and counted. Every id must be in the tokenizer's vocabulary
(``0 <= id < vocab size``, added tokens included): the first that is not stops the import with
one line naming its row. The UTF-8 bytes that bits per byte divide by are those of each
document decoded by the tokenizer (for a byte-level BPE such as GPT-2's, the original text).

Rows are streamed (``streaming=True``) in Arrow batches, so memory is bounded by a batch and
``max_documents`` reads only the start of a split. A Hub dataset's revision is resolved to its
commit first, streamed at that commit and recorded in the meta.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from toklab.errors import ConfigError, DataError
from toklab.io import sha256_file
from toklab.tokenizers.tokenizer_files import load_tokenizer, require_special_token

log = logging.getLogger(__name__)

LAYOUTS = ("documents", "delphi")
#: Rows per Arrow batch read from the stream.
BATCH_ROWS = 1024
#: ``load_dataset`` builders (not Hub repos) a source may name with ``data_files``.
BUILDERS = ("parquet", "json", "arrow", "csv")


@dataclass(frozen=True)
class TokenSource:
    """A split of a dataset of token ids, and how its rows hold documents."""

    #: A Hub dataset id, a local dataset directory, or a builder (``parquet``) with data_files.
    dataset: str
    column: str
    split: str = "train"
    layout: str = "documents"
    #: documents layout: every row ends with the tokenizer's EOS (removed here)
    trailing_eos: bool = False
    name: str | None = None
    revision: str | None = None
    data_dir: str | None = None
    data_files: Any = None
    #: the EOS and BOS as token strings; None: the tokenizer's own (tokenizer_config.json)
    eos_token: str | None = None
    bos_token: str | None = None

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ConfigError(
                f"dataset '{self.dataset}': unknown layout {self.layout!r} "
                f"(expected one of {', '.join(LAYOUTS)})"
            )

    @property
    def where(self) -> str:
        """The dataset, split and column, for messages."""
        return f"dataset '{self.dataset}' split '{self.split}' column '{self.column}'"

    def is_hub_repo(self) -> bool:
        """Whether ``dataset`` names a Hub repo (not a local directory or a builder)."""
        return (
            self.dataset not in BUILDERS
            and not os.path.exists(self.dataset)
            and self.dataset.count("/") == 1
        )


# ---------------------------------------------------------------------------------------------
# Reading rows


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def hub_commit(repo_id: str, revision: str | None) -> str:
    """The commit of a Hub dataset repo at ``revision`` (default branch when None)."""
    from huggingface_hub import HfApi

    return HfApi(library_name="toklab").dataset_info(repo_id, revision=revision).sha


def resolve_revision(source: TokenSource) -> str | None:
    """The commit the rows are read at: a Hub repo's, resolved once; None for local data.

    An unreachable Hub, an unknown repo or revision is a one-line :class:`DataError`.
    """
    if not source.is_hub_repo():
        return source.revision
    try:
        return hub_commit(source.dataset, source.revision)
    except Exception as err:
        revision = f" at revision '{source.revision}'" if source.revision else ""
        raise DataError(
            f"dataset '{source.dataset}'{revision}: cannot resolve it on the Hugging Face Hub "
            f"({_first_line(err)})"
        ) from None


def _row_batches(source: TokenSource, commit: str | None, batch_rows: int) -> Iterator[Any]:
    import datasets

    kwargs: dict[str, Any] = {"split": source.split, "streaming": True}
    for key, value in (
        ("name", source.name),
        ("revision", commit),
        ("data_dir", source.data_dir),
        ("data_files", source.data_files),
    ):
        if value is not None:
            kwargs[key] = value
    try:
        dataset = datasets.load_dataset(source.dataset, **kwargs)
    except Exception as err:
        raise DataError(f"{source.where}: cannot open it ({_first_line(err)})") from None
    names = dataset.column_names
    if names is not None and source.column not in names:
        raise DataError(f"{source.where}: no such column (has {', '.join(names)})")
    rows = dataset.select_columns([source.column]).with_format("arrow")
    iterator = iter(rows.iter(batch_size=batch_rows))
    while True:
        try:
            table = next(iterator)
        except StopIteration:
            return
        except Exception as err:
            raise DataError(f"{source.where}: reading failed ({_first_line(err)})") from None
        if source.column not in table.column_names:
            raise DataError(f"{source.where}: no such column (has {', '.join(table.column_names)})")
        yield table.column(source.column).combine_chunks()


def id_rows(column: Any, first_row: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """A batch's rows (an Arrow list array) as flat int64 ids and ``n + 1`` row offsets.

    A column that does not hold lists of integers, or a missing row or id, is a
    :class:`DataError` naming the row.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if not (pa.types.is_list(kind) or pa.types.is_large_list(kind)) or not pa.types.is_integer(
        kind.value_type
    ):
        raise DataError(f"{where}: holds {kind}, not lists of token ids")
    if column.null_count:
        row = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{where}: row {first_row + row} is missing (null)")
    offsets = column.offsets.to_numpy().astype(np.int64)
    values = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
    offsets -= offsets[0]
    if values.null_count:
        position = int(np.flatnonzero(pc.is_null(values).to_numpy(zero_copy_only=False))[0])
        row = int(np.searchsorted(offsets, position, side="right")) - 1
        raise DataError(f"{where}: row {first_row + row} has a missing (null) id")
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), offsets


def check_vocabulary(
    ids: np.ndarray, offsets: np.ndarray, first_row: int, vocab_size: int, where: str
) -> None:
    """A :class:`DataError` naming the first id outside ``[0, vocab_size)`` and its row."""
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        position = int(np.argmax(bad))
        row = first_row + int(np.searchsorted(offsets, position, side="right")) - 1
        raise DataError(
            f"{where}: row {row} has token id {int(ids[position])}, which is not in the "
            f"tokenizer's vocabulary (ids 0..{vocab_size - 1})"
        )


# ---------------------------------------------------------------------------------------------
# Rows -> documents (without separators)


def without_trailing_eos(
    ids: np.ndarray, offsets: np.ndarray, eos_id: int, first_row: int, where: str
) -> tuple[np.ndarray, np.ndarray]:
    """Rows that each end with ``eos_id``, without it; an error naming a row that does not."""
    lengths = np.diff(offsets)
    last = offsets[1:] - 1
    ok = lengths > 0
    ok[ok] = ids[last[ok]] == eos_id
    if not ok.all():
        row = int(np.argmin(ok))
        raise DataError(
            f"{where}: row {first_row + row} does not end with the EOS id {eos_id} "
            "(trailing_eos: true says every row does)"
        )
    keep = np.ones(len(ids), dtype=bool)
    keep[last] = False
    return ids[keep], offsets - np.arange(len(offsets), dtype=np.int64)


class DelphiStream:
    """Delphi's samples back into documents: check and drop each ``<bos>`` and repeated id.

    :meth:`feed` takes a batch of rows and returns the documents the stream completes (their
    ids and offsets); ids after the last ``<eos>`` wait for the next batch, and those left at
    the end are :attr:`pending`, the document the samples end inside.
    """

    def __init__(self, bos_id: int, eos_id: int, where: str) -> None:
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.where = where
        self.rows = 0
        self.last_id: int | None = None  # the previous sample's last id
        self.pending = np.zeros(0, dtype=np.int64)

    def feed(self, ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The documents that this batch of samples completes."""
        starts, lengths = offsets[:-1], np.diff(offsets)
        short = lengths < 3
        if short.any():
            row = int(np.argmax(short))
            raise DataError(
                f"{self.where}: row {self.rows + row} has {int(lengths[row])} ids; a Delphi "
                "sample has <bos>, new ids and the id it shares with the next (at least 3)"
            )
        not_bos = ids[starts] != self.bos_id
        if not_bos.any():
            row = int(np.argmax(not_bos))
            raise DataError(
                f"{self.where}: row {self.rows + row} starts with id {int(ids[starts[row]])}, "
                f"not the BOS id {self.bos_id} (layout delphi)"
            )
        previous = np.concatenate([[-1 if self.last_id is None else self.last_id],
                                   ids[offsets[1:-1] - 1]])  # fmt: skip
        repeated = ids[starts + 1] == previous
        if self.last_id is None:
            repeated[0] = True  # the first sample repeats nothing
        if not repeated.all():
            row = int(np.argmin(repeated))
            raise DataError(
                f"{self.where}: row {self.rows + row} does not repeat the last id of the row "
                "before it after its <bos> (layout delphi: Delphi's overlapping samples)"
            )
        keep = np.ones(len(ids), dtype=bool)
        keep[starts] = False
        dropped = starts + 1 if self.last_id is not None else starts[1:] + 1
        keep[dropped] = False
        self.rows += len(lengths)
        self.last_id = int(ids[offsets[-1] - 1])
        stream = np.concatenate([self.pending, ids[keep]])
        ends = np.flatnonzero(stream == self.eos_id)
        if not len(ends):
            self.pending = stream
            return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        self.pending = stream[ends[-1] + 1 :]
        body = stream[: ends[-1] + 1]
        keep = np.ones(len(body), dtype=bool)
        keep[ends] = False
        doc_offsets = np.concatenate([[0], ends + 1]) - np.arange(len(ends) + 1)
        return body[keep], doc_offsets.astype(np.int64)


def _drop_empty(ids: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, int]:
    """The offsets without empty documents, and how many there were."""
    lengths = np.diff(offsets)
    empty = int((lengths == 0).sum())
    if empty:
        offsets = np.concatenate([[0], np.cumsum(lengths[lengths > 0])])
    return offsets, empty


# ---------------------------------------------------------------------------------------------
# The import


def _special_id(tokenizer: Any, tokenizer_path: Path, role: str, token: str | None) -> int:
    if token is not None:
        token_id = tokenizer.token_to_id(token)
        if token_id is None:
            raise ConfigError(f"{tokenizer_path}: {role}_token {token!r} is not a token of it")
        return token_id
    return require_special_token(tokenizer_path, role, f"name it with {role}_token")


def import_token_dataset(
    source: TokenSource,
    tokenizer_path: str | Path,
    out_prefix: str | Path,
    *,
    max_documents: int | None = None,
    batch_rows: int = BATCH_ROWS,
) -> dict[str, Any]:
    """Write the split's documents as a token array at ``out_prefix``; return its meta.

    The three files appear atomically (nothing on an error); ``max_documents`` keeps the first
    documents only. Ids outside the vocabulary, rows that break the layout, a missing column, a
    dataset that cannot be opened, or no documents at all are one-line :class:`DataError` errors.
    """
    from toklab.datasets.token_array import TokenArrayWriter

    tokenizer_path = Path(tokenizer_path)
    tokenizer = load_tokenizer(tokenizer_path)
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    needs_eos = source.layout == "delphi" or source.trailing_eos
    eos_id = _special_id(tokenizer, tokenizer_path, "eos", source.eos_token) if needs_eos else None
    bos_id = None
    if source.layout == "delphi":
        bos_id = _special_id(tokenizer, tokenizer_path, "bos", source.bos_token)
        delphi = DelphiStream(bos_id, eos_id, source.where)
    commit = resolve_revision(source)
    counts = {"rows": 0, "documents": 0, "num_bytes": 0, "skipped_empty_documents": 0}
    writer = TokenArrayWriter(out_prefix, vocab_size)
    limit = max_documents if max_documents is not None else float("inf")
    with writer, tqdm(desc=f"import {source.split}", unit="docs") as progress:
        for column in _row_batches(source, commit, batch_rows):
            ids, offsets = id_rows(column, counts["rows"], source.where)
            check_vocabulary(ids, offsets, counts["rows"], vocab_size, source.where)
            if source.layout == "delphi":
                ids, offsets = delphi.feed(ids, offsets)
            elif source.trailing_eos:
                ids, offsets = without_trailing_eos(ids, offsets, eos_id, counts["rows"],
                                                    source.where)  # fmt: skip
            counts["rows"] += len(column)
            offsets, empty = _drop_empty(ids, offsets)
            counts["skipped_empty_documents"] += empty
            take = int(min(len(offsets) - 1, limit - counts["documents"]))
            offsets = offsets[: take + 1]
            ids = ids[: offsets[-1]]
            texts = tokenizer.decode_batch(
                [ids[a:b].tolist() for a, b in pairwise(offsets.tolist())],
                skip_special_tokens=False,
            )
            counts["num_bytes"] += sum(len(text.encode("utf-8")) for text in texts)
            writer.write(ids, offsets)
            counts["documents"] += take
            progress.update(take)
            if counts["documents"] >= limit:
                break
        if counts["documents"] == 0:
            raise DataError(f"{source.where}: no documents to import ({counts['rows']} rows)")
    complete = source.layout == "delphi" and counts["documents"] < limit
    return writer.finish(
        {
            "num_bytes": counts["num_bytes"],
            "tokenizer_sha256": sha256_file(tokenizer_path),
            "imported": {
                **{k: v for k, v in asdict(source).items() if v is not None},
                "commit": commit,
                "rows": counts["rows"],
                "max_documents": max_documents,
                "eos_id": eos_id,
                "bos_id": bos_id,
                "dropped_tokens": len(delphi.pending) if complete else 0,
                "skipped_empty_documents": counts["skipped_empty_documents"],
            },
        }
    )
