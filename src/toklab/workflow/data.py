"""The data stage's plan: each corpus's sources, byte subsets, downloads and gold morphology.

Rules: ``workflow/rules/data.smk``; scripts: ``download.py``, ``prepare_corpus.py``.
"""

from __future__ import annotations

import glob
import json

from toklab.errors import ConfigError
from toklab.workflow import layout
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.families import FAMILIES

#: Corpus keys that decide the data (the other blocks only use it).
DATA_KEYS = ("source", "subsets", "languages", "shard")


def _with_local_paths(source: Block) -> Block:
    """A source block as the data scripts read it: a downloaded ``url`` becomes ``paths``."""
    if source.get("type") == "local" and source.get("url"):
        rest = {k: v for k, v in source.items() if k != "url"}
        return {**rest, "paths": [layout.download_path(source["url"])]}
    return source


def _local_files(source: Block) -> list[str]:
    """The files a local source reads (its download for a ``url``), in sorted glob order."""
    if source.get("type") != "local":
        return []
    if source.get("url"):
        return [layout.download_path(source["url"])]
    patterns = [source["paths"]] if isinstance(source["paths"], str) else source["paths"]
    return [
        path
        for pattern in patterns
        for path in (sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
        or [pattern]
    ]


class DataPlan:
    """Config → the data stage's targets and the inputs of its jobs."""

    def __init__(self, config: WorkflowConfig) -> None:
        self.config = config

    def corpus_script_config(self, corpus: str) -> Block:
        """The corpus's data keys as ``prepare_corpus.py`` reads them (downloads as paths)."""
        block = {k: v for k, v in self.config.corpus(corpus).items() if k in DATA_KEYS}
        block["source"] = _with_local_paths(block["source"])
        block["subsets"] = {
            name: (
                {**subset, "source": _with_local_paths(subset["source"])}
                if subset.get("source")
                else subset
            )
            for name, subset in block["subsets"].items()
        }
        return block

    def corpus_spec(self, corpus: str) -> str:
        """:meth:`corpus_script_config` as JSON for ``prepare_corpus.py shards`` (order kept)."""
        return json.dumps(self.corpus_script_config(corpus))

    def source_files(self, corpus: str) -> list[str]:
        """Local and downloaded files a corpus reads (none for hf and demo sources)."""
        return [path for source in self.config.sources(corpus) for path in _local_files(source)]

    def download_url(self, filename: str) -> str:
        """The configured url whose download is ``resources/downloads/{filename}``."""
        target = layout.path(layout.DOWNLOAD, filename=filename)
        for corpus in self.config.corpora:
            for source in self.config.sources(corpus):
                if source.get("url") and layout.download_path(source["url"]) == target:
                    return source["url"]
        raise ConfigError(f"no configured source downloads a file named '{filename}'")

    def byte_subsets(self, corpus: str) -> list[str]:
        """Subsets converted to byte corpora: those configured (default all) and those used.

        None for a corpus of token ids (``hf_tokens``), which has no text.
        """
        block = self.config.corpus(corpus)
        if self.config.token_source(corpus):
            return []
        listed = block["subsets"] if block.get("byte_subsets") is None else block["byte_subsets"]
        used = [
            subset
            for family in FAMILIES
            if family.configured(block)
            for subset in family.subset_references(block).values()
        ]
        if block.get("bytelm"):
            lm = block["bytelm"]
            used += [lm["train_subset"], lm["valid_subset"], lm["predict_subset"]]
        if block.get("ngram"):
            used += [block["ngram"]["train_subset"], block["ngram"]["predict_subset"]]
        if block.get("tokenized"):
            used += block["tokenized"]["subsets"]
        tasks = block.get("stochastok") or {}
        if tasks.get("langgame") and "subset" in tasks["langgame"]["words"]:
            used.append(tasks["langgame"]["words"]["subset"])
        if tasks.get("addition"):
            used += tasks["addition"]["splits"]
        return list(dict.fromkeys([*listed, *used]))

    def demo_languages(self, corpus: str) -> list[str]:
        """Languages with generated gold morphology: those of a demo source, else none."""
        source = self.config.corpus(corpus)["source"]
        return list(source["languages"]) if source["type"] == "demo" else []

    def demo_source(self, corpus: str, language: str) -> Block:
        """The demo source that generates ``language``'s gold morphology."""
        if language not in self.demo_languages(corpus):
            raise ConfigError(
                f"gold morphology is generated only for the languages of demo corpora; corpus "
                f"'{corpus}' has no demo language '{language}'"
            )
        return self.config.corpus(corpus)["source"]

    def targets(self, corpus: str) -> list[str]:
        """Manifest, byte corpora and (for a demo source) gold morphology of a corpus.

        A corpus of token ids has none: its data are token arrays (the tokenized stage's).
        """
        if self.config.token_source(corpus):
            return []
        targets = [layout.path(layout.MANIFEST, corpus=corpus)]
        targets += [
            path
            for subset in self.byte_subsets(corpus)
            for path in layout.byte_corpus_files(corpus, subset, "bytes").values()
        ]
        targets += [
            layout.path(layout.MORPHOLOGY, corpus=corpus, language=language)
            for language in self.demo_languages(corpus)
        ]
        return targets
