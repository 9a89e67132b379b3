"""The tokenizers stage's plan: which tokenizers a corpus configures, and each one's job.

Every family of :data:`~toklab.workflow.families.FAMILIES` lists its tokenizers; this plan
parses a name against the corpus's config and gives its training subset, its targets, and its
training job's inputs and command (the family's, :class:`~toklab.workflow.families.Family`). Rules: ``workflow/rules/tokenizers.smk``; script: ``train_tokenizer.py``.
"""

from __future__ import annotations

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout
from toklab.workflow.config import WorkflowConfig
from toklab.workflow.families import FAMILIES, Family, family_of

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

    def training_subset(self, corpus: str, tokenizer: str) -> str:
        """The subset one of the corpus's tokenizers is trained on."""
        self.tokenizer(corpus, tokenizer)
        return family_of(tokenizer).training_subset(self.config.corpus(corpus))

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

    def training_inputs(self, corpus: str, tokenizer: str) -> dict[str, str]:
        """The files the training rule of one of the corpus's tokenizers reads."""
        parsed = self.tokenizer(corpus, tokenizer)
        return family_of(tokenizer).inputs(corpus, self.config.corpus(corpus), parsed)

    def training_command(self, corpus: str, tokenizer: str) -> str:
        """The training script's subcommand and options for one of the corpus's tokenizers."""
        parsed = self.tokenizer(corpus, tokenizer)
        return family_of(tokenizer).command(corpus, self.config.corpus(corpus), parsed)
