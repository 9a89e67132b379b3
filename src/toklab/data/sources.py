"""Document sources: Hugging Face datasets, local files, the demo generator, addition problems.

The addition source yields StochasTok's multi-digit addition problems, one per document.

Every source yields :class:`Document` records in a deterministic order. A source never loads a
whole corpus into memory: text files are read in blocks and split at the delimiter, jsonl line by
line, parquet in record batches, and Hugging Face datasets in streaming mode.
"""

from __future__ import annotations

import glob
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toklab.data.demo import DEMO_LANGUAGES, generate_documents
from toklab.data.document import Document
from toklab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SOURCE_TYPES = ("hf", "local", "demo", "addition")
LOCAL_FORMATS = ("text", "jsonl", "parquet")
INVALID_UTF8_POLICIES = ("error", "replace")


@dataclass
class SourceStats:
    """Counters a source keeps while it is read; they end up in the corpus manifest."""

    invalid_utf8_replacements: int = 0
    skipped_empty_documents: int = 0
    skipped_other_language: int = 0


@dataclass
class Source:
    """Base class: ``documents()`` yields documents; ``stats`` counts what was replaced or skipped."""

    corpus: str
    spec: dict[str, Any]
    stats: SourceStats = field(default_factory=SourceStats)

    #: Whether documents carry a language.
    has_language: bool = False

    def documents(self) -> Iterator[Document]:
        """Yield the documents of this source, in a deterministic order."""
        raise NotImplementedError

    def _with_language(self, docs: Iterator[Document]) -> Iterator[Document]:
        constant = self.spec.get("language")
        for doc in docs:
            if not doc.text:
                self.stats.skipped_empty_documents += 1
                continue
            if constant is not None and doc.language is None:
                doc = doc._replace(language=constant)
            yield doc


def _require(spec: dict[str, Any], key: str, where: str) -> Any:
    if spec.get(key) in (None, "", []):
        raise ConfigError(f"{where}: the source needs '{key}'")
    return spec[key]


def resolve_paths(patterns: list[str] | str, where: str) -> list[Path]:
    """Expand file paths and glob patterns, sorted; fail on a pattern that matches nothing."""
    if isinstance(patterns, str):
        patterns = [patterns]
    paths: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches or not Path(matches[0]).exists():
            raise DataError(f"{where}: input file not found: {pattern}")
        paths.extend(Path(m) for m in matches)
    for path in paths:
        if not path.is_file():
            raise DataError(f"{where}: not a file: {path}")
    return paths


def invalid_utf8_error(
    where: str | Path, offset: int, err: UnicodeDecodeError, hint: str | None = None
) -> DataError:
    """The one-line error for data that is not valid UTF-8, naming the file and byte offset.

    ``where`` names the file, ``offset`` is the offset in it of the first byte of the data that
    failed to decode, and ``hint`` an optional remedy, shown in parentheses.
    """
    remedy = f" ({hint})" if hint else ""
    return DataError(f"{where}: invalid UTF-8 at byte offset {offset + err.start}{remedy}")


def decode_utf8(data: bytes, policy: str, where: str, offset: int, stats: SourceStats) -> str:
    """Decode UTF-8; fail naming the absolute byte offset, or replace and count the bad sequences."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        if policy == "error":
            raise invalid_utf8_error(
                where,
                offset,
                err,
                "set on_invalid_utf8: replace to substitute U+FFFD and count replacements",
            ) from None
    text = data.decode("utf-8", errors="replace")
    # Count only the replacements the decoder made, not U+FFFD characters already in the text.
    stats.invalid_utf8_replacements += text.count("\ufffd") - _count_literal_replacement(data)
    return text


def _count_literal_replacement(data: bytes) -> int:
    return data.count("\ufffd".encode())


class LocalSource(Source):
    """Local text files (split at a delimiter), jsonl files, or parquet files."""

    def __init__(self, corpus: str, spec: dict[str, Any]) -> None:
        super().__init__(corpus, spec)
        where = f"corpus '{corpus}'"
        self.format = spec.get("format", "text")
        if self.format not in LOCAL_FORMATS:
            raise ConfigError(
                f"{where}: unknown local format '{self.format}' (expected one of "
                f"{', '.join(LOCAL_FORMATS)})"
            )
        self.paths = resolve_paths(_require(spec, "paths", where), where)
        self.policy = spec.get("on_invalid_utf8", "error")
        if self.policy not in INVALID_UTF8_POLICIES:
            raise ConfigError(f"{where}: on_invalid_utf8 must be 'error' or 'replace'")
        self.text_column = spec.get("text_column", "text")
        self.id_column = spec.get("id_column")
        self.language_column = spec.get("language_column")
        self.has_language = bool(self.language_column or spec.get("language"))

    def documents(self) -> Iterator[Document]:
        """Yield documents from every file in order."""
        reader = {"text": self._text, "jsonl": self._jsonl, "parquet": self._parquet}[self.format]
        for path in self.paths:
            yield from self._with_language(reader(path))

    def _text(self, path: Path) -> Iterator[Document]:
        delimiter = self.spec.get("delimiter", "\n\n").encode("utf-8")
        strip = self.spec.get("strip", True)
        block_bytes = int(self.spec.get("block_bytes", 1 << 24))
        where = f"corpus '{self.corpus}': {path}"
        for index, (raw, offset) in enumerate(_split_stream(path, delimiter, block_bytes)):
            text = decode_utf8(raw, self.policy, where, offset, self.stats)
            if strip:
                text = text.strip()
            if text:
                yield Document(f"{path.name}:{index}", text, None)
            else:
                self.stats.skipped_empty_documents += 1

    def _row_to_document(self, row: dict[str, Any], default_id: str, where: str) -> Document:
        if self.text_column not in row:
            raise DataError(f"{where}: no text column '{self.text_column}' (has {sorted(row)})")
        text = row[self.text_column]
        if not isinstance(text, str):
            raise DataError(f"{where}: column '{self.text_column}' is not a string")
        doc_id = str(row[self.id_column]) if self.id_column else default_id
        language = row.get(self.language_column) if self.language_column else None
        return Document(doc_id, text, language)

    def _jsonl(self, path: Path) -> Iterator[Document]:
        offset = 0
        with open(path, "rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                where = f"corpus '{self.corpus}': {path} line {line_number}"
                line = decode_utf8(raw, self.policy, where, offset, self.stats).strip()
                offset += len(raw)
                if not line:
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(f"{where}: invalid JSON ({err.msg})") from None
                if not isinstance(row, dict):
                    raise DataError(f"{where}: expected a JSON object per line")
                yield self._row_to_document(row, f"{path.name}:{line_number - 1}", where)

    def _parquet(self, path: Path) -> Iterator[Document]:
        import pyarrow.parquet as pq

        where = f"corpus '{self.corpus}': {path}"
        try:
            parquet = pq.ParquetFile(path)
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise DataError(f"{where}: not a readable parquet file ({err})") from None
        columns = [c for c in (self.text_column, self.id_column, self.language_column) if c]
        missing = [c for c in columns if c not in parquet.schema_arrow.names]
        if missing:
            raise DataError(
                f"{where}: missing column(s) {missing} (has {parquet.schema_arrow.names})"
            )
        row_index = 0
        for batch in parquet.iter_batches(batch_size=4096, columns=columns):
            for row in batch.to_pylist():
                yield self._row_to_document(row, f"{path.name}:{row_index}", where)
                row_index += 1


def _split_stream(path: Path, delimiter: bytes, block_bytes: int) -> Iterator[tuple[bytes, int]]:
    """Yield (document bytes, byte offset in the file) for ``delimiter``-separated documents."""
    if not delimiter:
        raise ConfigError(f"{path}: the text delimiter must not be empty")
    pending = b""
    pending_offset = 0
    with open(path, "rb") as handle:
        while block := handle.read(block_bytes):
            pending += block
            pieces = pending.split(delimiter)
            for piece in pieces[:-1]:
                yield piece, pending_offset
                pending_offset += len(piece) + len(delimiter)
            pending = pieces[-1]
    yield pending, pending_offset


class HFSource(Source):
    """A Hugging Face dataset read with ``datasets.load_dataset(..., streaming=True)``.

    ``dataset`` is a hub id (``HuggingFaceFW/fineweb-edu``) or a builder name such as ``parquet``
    or ``json`` used with ``data_files``; both go through the same streaming code path.
    """

    def __init__(self, corpus: str, spec: dict[str, Any]) -> None:
        super().__init__(corpus, spec)
        where = f"corpus '{corpus}'"
        self.dataset = _require(spec, "dataset", where)
        self.text_column = spec.get("text_column", "text")
        self.id_column = spec.get("id_column")
        self.language_column = spec.get("language_column")
        self.has_language = bool(self.language_column or spec.get("language"))

    def load(self) -> Any:
        """Open the dataset as an ``IterableDataset`` (no download of the whole dataset)."""
        import datasets

        kwargs: dict[str, Any] = {"split": self.spec.get("split", "train"), "streaming": True}
        for key in ("name", "data_dir", "data_files", "revision"):
            if self.spec.get(key) is not None:
                kwargs[key] = self.spec[key]
        try:
            dataset = datasets.load_dataset(self.dataset, **kwargs)
        except Exception as err:
            raise DataError(
                f"corpus '{self.corpus}': cannot open Hugging Face dataset '{self.dataset}' "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            ) from err
        columns = [c for c in (self.text_column, self.id_column, self.language_column) if c]
        if dataset.column_names is not None:
            missing = [c for c in columns if c not in dataset.column_names]
            if missing:
                raise DataError(
                    f"corpus '{self.corpus}': dataset '{self.dataset}' has no column(s) {missing} "
                    f"(has {dataset.column_names})"
                )
        return dataset.select_columns(columns)

    def documents(self) -> Iterator[Document]:
        """Stream rows in the dataset's order."""
        where = f"corpus '{self.corpus}': dataset '{self.dataset}'"
        for index, row in enumerate(self.load()):
            text = row[self.text_column]
            if not isinstance(text, str):
                raise DataError(f"{where}: row {index} has no text in '{self.text_column}'")
            doc_id = str(row[self.id_column]) if self.id_column else f"{index}"
            language = row[self.language_column] if self.language_column else None
            yield from self._with_language(iter([Document(doc_id, text, language)]))


class DemoSource(Source):
    """The offline demo generator (see :mod:`toklab.data.demo`); an endless, seeded stream."""

    def __init__(self, corpus: str, spec: dict[str, Any]) -> None:
        super().__init__(corpus, spec)
        self.languages = list(spec.get("languages", DEMO_LANGUAGES))
        unknown = [lang for lang in self.languages if lang not in DEMO_LANGUAGES]
        if unknown or not self.languages:
            raise ConfigError(
                f"corpus '{corpus}': unknown demo language(s) {unknown} "
                f"(available: {', '.join(DEMO_LANGUAGES)})"
            )
        self.seed = int(spec.get("seed", 0))
        self.has_language = True

    def documents(self) -> Iterator[Document]:
        """Yield generated documents, cycling through the languages."""
        yield from generate_documents(self.languages, self.seed)


class AdditionSource(Source):
    """StochasTok's 900,000 three-digit addition problems, one per document, in a seeded shuffle.

    Subsets take them in order: ``train: {documents: 810000}`` then ``validation: {documents:
    90000}`` are the original's split (:mod:`toklab.data.addition`).
    """

    def documents(self) -> Iterator[Document]:
        """Yield every problem (``$a+b=`` and the reversed sum) as a document."""
        from toklab.data.addition import shuffled_problems

        for index, text in enumerate(shuffled_problems(int(self.spec.get("seed", 0)))):
            yield Document(f"addition-{index:06d}", text, self.spec.get("language"))


def open_source(spec: dict[str, Any], corpus: str) -> Source:
    """Build the source described by a corpus's ``source`` config block."""
    kind = spec.get("type")
    if kind == "hf":
        return HFSource(corpus, spec)
    if kind == "local":
        return LocalSource(corpus, spec)
    if kind == "demo":
        return DemoSource(corpus, spec)
    if kind == "addition":
        return AdditionSource(corpus, spec)
    raise ConfigError(
        f"corpus '{corpus}': unknown source type {kind!r} (expected one of {', '.join(SOURCE_TYPES)})"
    )
