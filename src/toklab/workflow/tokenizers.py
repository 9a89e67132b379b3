"""The tokenizers stage's plan: which tokenizers a corpus configures, and each one's job.

Every family of :data:`~toklab.workflow.families.FAMILIES` lists its tokenizers; this plan
parses a name against the corpus's config and gives its training subset, targets, inputs and
parameters. Rules: ``workflow/rules/tokenizers.smk``; script: ``train_tokenizer.py``.
"""

from __future__ import annotations

from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import WorkflowConfig
from toklab.workflow.families import (
    BPE,
    BYTE_LEVEL,
    BYTESPAN,
    FAMILIES,
    PRETRAINED,
    Family,
    family_of,
)

#: The byte-level tokenizer, whose token arrays the byte LM trains on.
BYTE_TOKENIZER = names.ByteLevelName().format()


class TokenizersPlan:
    """Config → the tokenizers of each corpus, their files, and their training jobs."""

    def __init__(self, config: WorkflowConfig) -> None:
        self.config = config

    def tokenizer_names(self, corpus: str) -> list[str]:
        """Every tokenizer the corpus configures, family by family, in config order."""
        block = self.config.corpus(corpus)
        return [name for family in FAMILIES for name in family.names(block)]

    def vocabulary_tokenizers(self, corpus: str) -> list[str]:
        """The corpus's tokenizers with a token vocabulary (all but T-Free's hashers)."""
        block = self.config.corpus(corpus)
        return [name for family in FAMILIES if family.vocabulary for name in family.names(block)]

    def tokenizer(self, corpus: str, name: str, family: Family | None = None) -> names.Grammar:
        """The parsed name of one of the corpus's tokenizers (of ``family``, if given)."""
        configured = (
            family.names(self.config.corpus(corpus)) if family else self.tokenizer_names(corpus)
        )
        if name not in configured:
            kind = f"{family.grammar.FAMILY} tokenizer" if family else "tokenizer"
            raise ConfigError(
                f"{kind} '{name}' is not configured for corpus '{corpus}' "
                f"(configured: {', '.join(configured) or 'none'})"
            )
        return family_of(name).grammar.parse(name)

    def training_subset(self, corpus: str, name: str) -> str:
        """The subset one of the corpus's tokenizers is trained on."""
        self.tokenizer(corpus, name)
        return family_of(name).training_subset(self.config.corpus(corpus))

    def targets(self, corpus: str) -> list[str]:
        """The files of every configured tokenizer that the default target asks for."""
        block = self.config.corpus(corpus)
        return [
            layout.tokenizer_file(corpus, name, filename)
            for family in FAMILIES
            for name in family.names(block)
            for filename in family.files
        ]

    def trained_tokenizers(self, corpus: str) -> list[str]:
        """The tokenizers trained on the corpus (the training table and the overlap plot)."""
        block = self.config.corpus(corpus)
        return [name for family in FAMILIES if family.trained for name in family.names(block)]

    def bpe_training_inputs(self, corpus: str, name: str) -> dict[str, str]:
        """The byte corpus a BPE tokenizer trains on."""
        self.tokenizer(corpus, name, BPE)
        return layout.byte_corpus_files(
            corpus, BPE.training_subset(self.config.corpus(corpus)), "train"
        )

    def bpe_params(self, corpus: str, name: str) -> dict[str, Any]:
        """Backend, vocabulary size, minimum pair frequency and special-token options."""
        tokenizer = self.tokenizer(corpus, name, BPE)
        block = self.config.block(corpus, "bpe")
        return {
            "backend": tokenizer.backend,
            "vocab_size": tokenizer.vocab_size,
            "min_frequency": block["min_frequency"],
            "specials": shell.special_tokens(block["special_tokens"]),
        }

    def bytespan_params(self, corpus: str, name: str) -> dict[str, Any]:
        """The ByteSpan trainer's options spelled by the name, and the block's other settings."""
        tokenizer = self.tokenizer(corpus, name, BYTESPAN)
        block = self.config.block(corpus, "bytespan")
        return {
            "subset": self.training_subset(corpus, name),
            "cue": tokenizer.cue,
            "constraint": tokenizer.constraint,
            "variant": tokenizer.variant,
            "inference": tokenizer.inference,
            "vocab_size": tokenizer.vocab_size,
            # the trainer reads it for the combined constraint only
            "percentile": block["percentile"]
            if tokenizer.percentile is None
            else tokenizer.percentile,
            "min_frequency": block["min_frequency"],
            "specials": shell.special_tokens(block["special_tokens"]),
        }

    def bytespan_inputs(self, corpus: str, name: str) -> dict[str, str]:
        """The manifest, the predictions zarr and the byte corpus it belongs to."""
        self.tokenizer(corpus, name, BYTESPAN)
        lm = self.config.block(corpus, "bytelm")
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "predictions": layout.path(layout.PREDICTIONS, corpus=corpus, model=lm["name"]),
            **layout.byte_corpus_files(corpus, lm["predict_subset"], "corpus"),
        }

    def pretrained_source(self, corpus: str, name: str) -> dict[str, str]:
        """The ``source`` of a pretrained tokenizer and its ``--revision`` option."""
        tokenizer = self.tokenizer(corpus, name, PRETRAINED)
        source = self.config.block(corpus, "pretrained")[tokenizer.key]
        revision = source.get("revision")
        return {
            "source": source["source"],
            "revision_option": shell.repeated("--revision", [revision] if revision else []),
        }

    def byte_level_params(self, corpus: str, name: str) -> dict[str, Any]:
        """The byte-level tokenizer's special-token options."""
        self.tokenizer(corpus, name, BYTE_LEVEL)
        block = self.config.corpus(corpus)["byte_level"]
        return {"specials": shell.special_tokens(block["special_tokens"])}
