"""Disjoint subsets of a corpus, written as parquet shards with a manifest.

A corpus is a source plus an ordered list of subsets, each with a quota in documents or UTF-8
bytes (per language when the corpus declares languages). Documents are assigned in stream order:
each document goes to the first subset, in the order the config lists them, whose quota for the
document's language is not yet met. So with ByteSpan's layout (LM training, tokenizer training,
tokenizer evaluation, validation) the subsets are consecutive, disjoint slices of the stream.

* A byte quota is met once the subset holds at least that many bytes; the document that crosses
  the limit is kept whole, so a subset overshoots by less than one document.
* A subset without a quota takes everything that is left; it must be the last of its source.
* A subset may name its own ``source`` (e.g. a dataset's validation split); subsets that share
  a source split its stream in order.
* If a source runs out before its quotas are met, nothing is written and the error names the
  subset, what it asked for and what the source had.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from toklab.data.demo import DEMO_LANGUAGES
from toklab.data.document import Document
from toklab.data.shards import iter_shard_batches
from toklab.data.sources import Source, SourceStats, open_source
from toklab.errors import ConfigError, DataError
from toklab.io import atomic_directory, read_json, sha256_file, write_json

log = logging.getLogger(__name__)

DEFAULT_MAX_SHARD_ROWS = 100_000
DEFAULT_MAX_SHARD_BYTES = 256 * 2**20


@dataclass(frozen=True)
class SubsetSpec:
    """One subset: its name, its quota (documents or bytes, or neither for 'the rest'), source."""

    name: str
    documents: int | None = None
    bytes: int | None = None
    source: dict[str, Any] | None = None

    @property
    def quota(self) -> int | None:
        """The quota in its own unit, or None for 'the rest of the source'."""
        return self.documents if self.documents is not None else self.bytes

    @property
    def unit(self) -> str:
        """``documents`` or ``bytes``."""
        return "bytes" if self.bytes is not None else "documents"


@dataclass(frozen=True)
class CorpusSpec:
    """A corpus as declared in config: name, source, ordered subsets and sharding."""

    name: str
    source: dict[str, Any]
    subsets: tuple[SubsetSpec, ...]
    languages: tuple[str, ...] | None = None
    max_shard_rows: int = DEFAULT_MAX_SHARD_ROWS
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES

    @classmethod
    def from_config(cls, name: str, config: dict[str, Any]) -> CorpusSpec:
        """Build and check a spec from a corpus's config block."""
        where = f"corpus '{name}'"
        if not isinstance(config.get("source"), dict):
            raise ConfigError(f"{where}: missing 'source' block")
        raw_subsets = config.get("subsets") or {}
        if not raw_subsets:
            raise ConfigError(f"{where}: no subsets declared")
        subsets = []
        for subset_name, raw in raw_subsets.items():
            raw = raw or {}
            documents, size = raw.get("documents"), raw.get("bytes")
            if documents is not None and size is not None:
                raise ConfigError(f"{where}: subset '{subset_name}' sets both documents and bytes")
            for value, unit in ((documents, "documents"), (size, "bytes")):
                if value is not None and (not isinstance(value, int) or value <= 0):
                    raise ConfigError(
                        f"{where}: subset '{subset_name}' {unit} must be a positive integer"
                    )
            subsets.append(SubsetSpec(subset_name, documents, size, raw.get("source")))
        languages = config.get("languages")
        if languages is None and config["source"].get("type") == "demo":
            languages = config["source"].get("languages", list(DEMO_LANGUAGES))
        shard = config.get("shard") or {}
        spec = cls(
            name=name,
            source=config["source"],
            subsets=tuple(subsets),
            languages=tuple(languages) if languages else None,
            max_shard_rows=int(shard.get("max_rows", DEFAULT_MAX_SHARD_ROWS)),
            max_shard_bytes=int(shard.get("max_bytes", DEFAULT_MAX_SHARD_BYTES)),
        )
        spec.check()
        return spec

    def source_groups(self) -> list[tuple[dict[str, Any], list[SubsetSpec]]]:
        """Subsets grouped by the source they read, in config order."""
        groups: list[tuple[dict[str, Any], list[SubsetSpec]]] = []
        for subset in self.subsets:
            source = subset.source or self.source
            for group_source, members in groups:
                if group_source == source:
                    members.append(subset)
                    break
            else:
                groups.append((source, [subset]))
        return groups

    def check(self) -> None:
        """Reject specs that cannot be satisfied, before any data is read."""
        where = f"corpus '{self.name}'"
        if self.max_shard_rows <= 0 or self.max_shard_bytes <= 0:
            raise ConfigError(f"{where}: shard max_rows and max_bytes must be positive")
        for source, members in self.source_groups():
            for subset in members[:-1]:
                if subset.quota is None:
                    raise ConfigError(
                        f"{where}: subset '{subset.name}' has no size but is not the last subset "
                        f"of its source; give it documents or bytes"
                    )
            if source.get("type") == "demo" and members[-1].quota is None:
                raise ConfigError(
                    f"{where}: subset '{members[-1].name}' needs a size: the demo source is endless"
                )


@dataclass
class _SubsetState:
    spec: SubsetSpec
    languages: tuple[str, ...] | None
    documents: dict[str | None, int] = field(default_factory=dict)
    bytes: dict[str | None, int] = field(default_factory=dict)

    def filled(self, language: str | None) -> int:
        counts = self.bytes if self.spec.bytes is not None else self.documents
        return counts.get(language, 0)

    def wants(self, language: str | None) -> bool:
        return self.spec.quota is None or self.filled(language) < self.spec.quota

    def complete(self) -> bool:
        if self.spec.quota is None:
            return False
        keys = self.languages if self.languages else (None,)
        return all(not self.wants(key) for key in keys)

    def add(self, language: str | None, size: int) -> None:
        self.documents[language] = self.documents.get(language, 0) + 1
        self.bytes[language] = self.bytes.get(language, 0) + size


class _ShardWriter:
    """Buffers rows of one subset and writes ``part-{i:05d}.parquet`` files of bounded size."""

    def __init__(self, directory: Path, with_language: bool, max_rows: int, max_bytes: int):
        self.directory = directory
        self.with_language = with_language
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.rows: list[Document] = []
        self.row_bytes = 0
        self.shards: list[dict[str, Any]] = []
        directory.mkdir(parents=True, exist_ok=True)

    def add(self, doc: Document, size: int) -> None:
        self.rows.append(doc)
        self.row_bytes += size
        if len(self.rows) >= self.max_rows or self.row_bytes >= self.max_bytes:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, Any] = {
            "id": pa.array([d.id for d in self.rows], pa.string()),
            "text": pa.array([d.text for d in self.rows], pa.large_string()),
        }
        if self.with_language:
            columns["language"] = pa.array([d.language for d in self.rows], pa.string())
        path = self.directory / f"part-{len(self.shards):05d}.parquet"
        pq.write_table(pa.table(columns), path, compression="zstd")
        self.shards.append(
            {
                "path": f"{self.directory.name}/{path.name}",
                "rows": len(self.rows),
                "bytes": self.row_bytes,
                "sha256": sha256_file(path),
            }
        )
        self.rows, self.row_bytes = [], 0


def _limited(source: Source, limit: dict[str, int] | None) -> Iterator[tuple[Document, int]]:
    """Documents with their UTF-8 size, stopping at the source's row or byte limit."""
    max_rows = (limit or {}).get("rows")
    max_bytes = (limit or {}).get("bytes")
    total = 0
    for rows, doc in enumerate(source.documents()):
        if (max_rows is not None and rows >= max_rows) or (
            max_bytes is not None and total >= max_bytes
        ):
            return
        size = len(doc.text.encode("utf-8"))
        total += size
        yield doc, size


def _describe_quota(state: _SubsetState, language: str | None) -> str:
    target = f" of language '{language}'" if language is not None else ""
    return (
        f"subset '{state.spec.name}' asks for {state.spec.quota} {state.spec.unit}{target} "
        f"but the source had only {state.filled(language)} left for it"
    )


def prepare_corpus(spec: CorpusSpec, shards_dir: str | Path, manifest_path: str | Path) -> dict:
    """Stream the corpus's sources into disjoint subsets of parquet shards; write the manifest.

    The shard directory appears (atomically) only when every subset is complete; the manifest is
    written last. Returns the manifest.
    """
    where = f"corpus '{spec.name}'"
    stats = SourceStats()
    states = {s.name: _SubsetState(s, spec.languages) for s in spec.subsets}
    with atomic_directory(shards_dir) as tmp_dir:
        writers: dict[str, _ShardWriter] = {}
        for source_config, members in spec.source_groups():
            source = open_source(source_config, spec.name)
            with_language = source.has_language or spec.languages is not None
            for subset in members:
                writers[subset.name] = _ShardWriter(
                    tmp_dir / subset.name, with_language, spec.max_shard_rows, spec.max_shard_bytes
                )
            group = [states[s.name] for s in members]
            progress = tqdm(desc=f"{spec.name}: {'+'.join(s.name for s in members)}", unit=" docs")
            for doc, size in _limited(source, source_config.get("limit")):
                if spec.languages is not None:
                    if doc.language not in spec.languages:
                        stats.skipped_other_language += 1
                        continue
                    language: str | None = doc.language
                else:
                    language = None
                target = next((s for s in group if s.wants(language)), None)
                if target is not None:
                    target.add(language, size)
                    writers[target.spec.name].add(doc, size)
                    progress.update()
                if all(s.complete() for s in group):
                    break
            progress.close()
            for name, value in vars(source.stats).items():
                setattr(stats, name, getattr(stats, name) + value)
            for state in group:
                keys = spec.languages if spec.languages else (None,)
                for language in keys:
                    if state.spec.quota is not None and state.wants(language):
                        raise DataError(f"{where}: {_describe_quota(state, language)}")
                    if state.documents.get(language, 0) == 0:
                        target = f" in language '{language}'" if language is not None else ""
                        raise DataError(
                            f"{where}: subset '{state.spec.name}' received no documents{target} "
                            f"(the source is empty or exhausted)"
                        )
                writers[state.spec.name].flush()
        manifest = {
            "corpus": spec.name,
            "source": spec.source,
            "languages": list(spec.languages) if spec.languages else None,
            "subsets": {
                name: {
                    "source": state.spec.source or spec.source,
                    "documents": sum(state.documents.values()),
                    "bytes": sum(state.bytes.values()),
                    "per_language": (
                        {
                            lang: {"documents": state.documents[lang], "bytes": state.bytes[lang]}
                            for lang in spec.languages
                        }
                        if spec.languages
                        else None
                    ),
                    "shards": writers[name].shards,
                }
                for name, state in states.items()
            },
            **vars(stats),
        }
        manifest["shards_dir"] = os.path.relpath(shards_dir, Path(manifest_path).parent)
        json.dumps(manifest)  # fail here, not after the rename, if the config holds odd values
    write_json(manifest_path, manifest)
    log.info("%s: wrote %d subsets to %s", where, len(states), shards_dir)
    return manifest


def subset_shard_paths(manifest_path: str | Path, subset: str) -> list[Path]:
    """The shard files of ``subset``, in order, as listed by the corpus manifest."""
    manifest_path = Path(manifest_path)
    manifest = read_json(manifest_path)
    if subset not in manifest["subsets"]:
        raise DataError(
            f"{manifest_path}: no subset '{subset}' (has {', '.join(manifest['subsets'])})"
        )
    shards_dir = manifest_path.parent / manifest["shards_dir"]
    return [shards_dir / shard["path"] for shard in manifest["subsets"][subset]["shards"]]


def iter_subset_documents(
    manifest_path: str | Path, subset: str, batch_rows: int = 1024
) -> Iterator[tuple[str | None, str]]:
    """``(language, text)`` of every document of ``subset``, in order, streamed from its shards.

    The language is ``None`` for corpora whose shards carry no language column.
    """
    for texts, languages in iter_shard_batches(
        subset_shard_paths(manifest_path, subset), batch_rows
    ):
        yield from zip(languages, texts, strict=True)
