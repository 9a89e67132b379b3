"""The config as the stage plans read it: corpora, their blocks, sources and repository files.

Every stage plan (:mod:`toklab.workflow.plan`) holds one :class:`WorkflowConfig`: a validated
config (defaults filled by the schema) whose accessors raise
:class:`~toklab.errors.ConfigError` for anything it does not configure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from toklab.errors import ConfigError

#: The source type of a corpus of token ids (:mod:`toklab.datasets.hub_tokens`): no text, so
#: no shards or byte corpora; its subsets are the dataset's splits, imported as token arrays.
TOKEN_SOURCE = "hf_tokens"

#: A block of the config (a corpus, its ``bpe:``, ``lm:``, ...), as the schema fills it.
Block = dict[str, Any]


class WorkflowConfig:
    """A validated config's corpora, and the repository whose ``resources/`` it may name."""

    def __init__(self, config: dict[str, Any], repository: str | os.PathLike | None = None) -> None:
        self.corpora: dict[str, Block] = config["corpora"]
        #: the scale the findings tables report (demo, miniature or paper)
        self.run_scale: str = config.get("run_scale", "paper")
        #: where the publish targets go on the Hugging Face Hub (None: nothing is published)
        self.publish: Block | None = config.get("publish")
        #: the repository, whose resources/ a config may name (Snakemake may run elsewhere)
        self.repository = repository

    def resource(self, path: str) -> str:
        """A file the config names, relative to the working directory.

        ``resources/...`` is the repository's: project-authored inputs such as the demo's
        benchmark files, found wherever Snakemake's working directory is.
        """
        if self.repository is None or os.path.isabs(path) or not path.startswith("resources/"):
            return path
        return os.path.relpath(os.path.join(self.repository, path))

    def corpus(self, corpus: str) -> Block:
        """The config block of a corpus."""
        if corpus not in self.corpora:
            raise ConfigError(
                f"unknown corpus '{corpus}': configured corpora are {', '.join(self.corpora)}"
            )
        return self.corpora[corpus]

    def block(self, corpus: str, key: str) -> Block:
        """One block (``bpe``, ``bytelm``, ``evaluation``, ...) of a corpus."""
        block = self.corpus(corpus).get(key)
        if not block:
            raise ConfigError(f"corpus '{corpus}' has no '{key}' block")
        return block

    def sources(self, corpus: str) -> Iterator[Block]:
        """The corpus's source and every subset-level source, in config order."""
        block = self.corpus(corpus)
        yield block["source"]
        for subset in block["subsets"].values():
            if subset.get("source"):
                yield subset["source"]

    def token_source(self, corpus: str) -> Block | None:
        """The corpus's ``hf_tokens`` source (a dataset of token ids, no text), or None."""
        source = self.corpus(corpus)["source"]
        return source if source.get("type") == TOKEN_SOURCE else None

    def resolve_tokenizer(self, corpus: str, reference: str) -> tuple[str, str]:
        """``(tokenizer corpus, name)`` of a reference: ``name`` (the corpus's) or ``corpus/name``."""
        other, _, name = reference.rpartition("/")
        return (other or corpus, name)
