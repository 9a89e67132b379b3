"""The registry of tokenizer families.

A family is configured by one block of a corpus (``bpe:``, ``bytespan:``, ...). Its entry says
which tokenizers that block names, which subset each trains on, which other blocks and subsets
it needs, and which files its training rule writes. Everything that lists tokenizers (targets,
statistics, tables, plots, checks) iterates over :data:`FAMILIES`, so a new family is one entry
here, one rule file and one script.
"""

from __future__ import annotations

from dataclasses import dataclass

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow.config import Block


@dataclass(frozen=True)
class Family:
    """A tokenizer family: its config block, its name grammar and its training rule's files."""

    #: The corpus config key that configures the family.
    block: str
    #: The grammar of its names.
    grammar: type[names.Grammar]
    #: Files of a tokenizer's directory that the workflow's targets ask for.
    files: tuple[str, ...]
    #: Whether its tokenizers are trained on the corpus (the training-cost table, the overlap
    #: plot); pretrained and byte-level tokenizers are not.
    trained: bool = True
    #: The file that defines a tokenizer of the family (token arrays are checked against it).
    definition: str = "tokenizer.json"
    #: Whether the statistics table (a ``tokenizers`` Tokenizer on the evaluation subset) and
    #: the token-array exports apply; T-Free has no token vocabulary (its own fertility table).
    vocabulary: bool = True

    def configured(self, corpus: Block) -> bool:
        """Whether the corpus configures this family."""
        return bool(corpus.get(self.block))

    def names(self, corpus: Block) -> list[str]:
        """The corpus's tokenizers of this family, in config order."""
        if not self.configured(corpus):
            return []
        return [name.format() for name in self.settings(corpus[self.block])]

    def settings(self, block: Block) -> list[names.Grammar]:
        """The parsed names a config block asks for."""
        raise NotImplementedError

    def training_subset(self, corpus: Block) -> str:
        """The subset the family's tokenizers are trained on."""
        raise NotImplementedError

    def requires(self) -> tuple[str, ...]:
        """Other corpus blocks the family needs."""
        return ()

    def subset_references(self, corpus: Block) -> dict[str, str]:
        """``{config key: subset}`` of every subset the family's block names."""
        return {}


class BpeFamily(Family):
    """Byte-level BPE: toklab's exact trainer (``bpe-V``) and tokenizers' (``hfbpe-V``)."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per backend and vocabulary size."""
        return [
            names.BpeName(backend, vocab)
            for backend in block["backends"]
            for vocab in block["vocab_sizes"]
        ]

    def training_subset(self, corpus: Block) -> str:
        """The block's ``subset``."""
        return corpus[self.block]["subset"]

    def subset_references(self, corpus: Block) -> dict[str, str]:
        """The block's ``subset``."""
        return {f"{self.block}.subset": corpus[self.block]["subset"]}


class ByteSpanFamily(Family):
    """ByteSpan tokenizers from the byte LM's cues on its prediction subset."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """Cues x constraints x variants x inferences x sizes (variants: not for global)."""
        percentile = block["percentile"]
        return [
            names.ByteSpanName(
                cue=cue,
                constraint=constraint,
                variant=variant,
                inference=inference,
                vocab_size=vocab,
                percentile=percentile if constraint == "combined" else None,
            )
            for cue in block["cues"]
            for constraint in block["constraints"]
            for variant in block["variants"]
            if constraint != "global" or variant == "frequency"  # seeding: monotonic, combined
            for inference in block["inference"]
            for vocab in block["vocab_sizes"]
        ]

    def training_subset(self, corpus: Block) -> str:
        """The byte LM's prediction subset, where its cues are."""
        return corpus["bytelm"]["predict_subset"]

    def requires(self) -> tuple[str, ...]:
        """The byte LM whose cues the tokenizers segment by."""
        return ("bytelm",)


class PretrainedFamily(Family):
    """Hugging Face tokenizers by hub id or local directory, fetched once."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per key of the block."""
        return [names.PretrainedName(key) for key in block]

    def training_subset(self, corpus: Block) -> str:
        """None: pretrained tokenizers are not trained here."""
        raise ConfigError("pretrained tokenizers are not trained on a subset")


class ByteLevelFamily(Family):
    """The byte-level tokenizer (the byte LM's vocabulary)."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """The one tokenizer ``bytes``."""
        return [names.ByteLevelName()]

    def training_subset(self, corpus: Block) -> str:
        """None: the byte-level tokenizer is not trained."""
        raise ConfigError("the byte-level tokenizer is not trained on a subset")

    def configured(self, corpus: Block) -> bool:
        """An empty ``byte_level: {}`` block (defaults filled) configures it too."""
        return corpus.get(self.block) is not None


class TfreeFamily(Family):
    """T-Free's trigram hashers, with a dictionary of the block's most frequent words."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per hasher."""
        return [
            names.TfreeName(h["v"], h["m"], h.get("k", 0), h.get("entire_words", False))
            for h in block["hashers"]
        ]

    def training_subset(self, corpus: Block) -> str:
        """The subset whose word counts make the decoding dictionary."""
        return corpus[self.block]["dictionary"]["subset"]

    def subset_references(self, corpus: Block) -> dict[str, str]:
        """The dictionary's subset and the fertility table's."""
        block = corpus[self.block]
        references = {f"{self.block}.dictionary.subset": block["dictionary"]["subset"]}
        for subset in (block.get("fertility") or {}).get("subsets", []):
            references[f"{self.block}.fertility.subsets[{subset}]"] = subset
        return references


BPE = BpeFamily("bpe", names.BpeName, ("tokenizer.json", "vocab.json", "merges.txt"))
BYTESPAN = ByteSpanFamily("bytespan", names.ByteSpanName, ("tokenizer.json", "stats.csv"))
PRETRAINED = PretrainedFamily(
    "pretrained", names.PretrainedName, ("tokenizer.json", "tokenizer_config.json"), trained=False
)
BYTE_LEVEL = ByteLevelFamily(
    "byte_level", names.ByteLevelName, ("tokenizer.json", "tokenizer_config.json"), trained=False
)

TFREE = TfreeFamily(
    "tfree",
    names.TfreeName,
    ("tfree.json", "dictionary.tsv"),
    trained=False,
    definition="tfree.json",
    vocabulary=False,
)

#: Every family, in the order their tokenizers are listed (targets, tables, plots).
FAMILIES: tuple[Family, ...] = (BPE, BYTESPAN, PRETRAINED, BYTE_LEVEL, TFREE)


def tokenizer_names(corpus: Block) -> list[str]:
    """Every tokenizer a corpus configures, family by family, in config order."""
    return [name for family in FAMILIES for name in family.names(corpus)]


def family_of(name: str) -> Family:
    """The family whose grammar spells ``name``."""
    for family in FAMILIES:
        if family.grammar.match(name) is not None:
            return family
    raise ConfigError(f"'{name}' is not a tokenizer name of any family")
