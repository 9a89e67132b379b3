"""Reading a subset's parquet shards (columns ``id``, ``text`` and, where known, ``language``).

The shards are written by :func:`toklab.data.corpus.prepare_corpus`; everything downstream
(byte corpora, statistics, tokenizer training) reads them through these functions, so an
unreadable shard is reported the same way everywhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toklab.errors import DataError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

LANGUAGE = "language"


def open_shard(path: Path) -> pq.ParquetFile:
    """Open one shard; an unreadable file is a :class:`DataError` naming it."""
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise DataError(f"{path}: not a readable parquet shard ({err})") from None


def has_language(shard: pq.ParquetFile) -> bool:
    """Whether the shard has a language column."""
    return LANGUAGE in shard.schema_arrow.names


def iter_shard_batches(
    paths: Iterable[Path], batch_rows: int = 1024, *, languages: bool = True
) -> Iterator[tuple[list[str], list[str | None]]]:
    """``(texts, languages)`` of each record batch of the shards, in order.

    A document's language is ``None`` when its shard has no language column, and for every
    document when ``languages`` is false (the column is then not read at all).
    """
    for path in paths:
        shard = open_shard(path)
        with_language = languages and has_language(shard)
        columns = ["text", LANGUAGE] if with_language else ["text"]
        for batch in shard.iter_batches(batch_size=batch_rows, columns=columns):
            texts = batch.column("text").to_pylist()
            if with_language:
                yield texts, batch.column(LANGUAGE).to_pylist()
            else:
                yield texts, [None] * len(texts)


def shard_languages(path: Path) -> list[str] | None:
    """The language of every document of one shard, or ``None`` if it has no language column."""
    shard = open_shard(path)
    if not has_language(shard):
        return None
    return shard.read(columns=[LANGUAGE]).column(0).to_pylist()


def language_counts(paths: Iterable[Path]) -> dict[str, int] | None:
    """Documents per language over the shards, sorted by language.

    ``None`` as soon as one shard has no language column.
    """
    counts: Counter[str] = Counter()
    for path in paths:
        languages = shard_languages(path)
        if languages is None:
            return None
        counts.update(languages)
    return dict(sorted(counts.items()))
