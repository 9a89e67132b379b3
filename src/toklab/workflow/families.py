"""The registry of tokenizer families.

A family is configured by one block of a corpus (``bpe:``, ``bytespan:``, ...). Its entry owns
everything the workflow knows of it: its name grammar (:mod:`toklab.names`), which tokenizers
its block names, which subset each trains on, which other blocks and subsets it needs, the
range checks of its block, the files its training rule reads (:meth:`Family.inputs`) and
writes, and the command of ``train_tokenizer.py`` that trains one (:meth:`Family.command`).
Everything that lists tokenizers (targets, statistics, tables, plots, checks) iterates over
:data:`FAMILIES`, and every family's rule in ``workflow/rules/tokenizers.smk`` binds the same
two plan functions (``plan.tokenizers.training_inputs`` and ``training_command``), so a new
family is one entry here, one rule and one script subcommand.
"""

from __future__ import annotations

from dataclasses import dataclass

from toklab import names
from toklab.errors import ConfigError
from toklab.tokenizers import bytespan
from toklab.tokenizers.bpe import unique_special_tokens
from toklab.workflow import layout, shell
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

    def requires(self, corpus: Block) -> tuple[str, ...]:
        """Other blocks of ``corpus`` the family needs."""
        return ()

    def subset_references(self, corpus: Block) -> dict[str, str]:
        """``{config key: subset}`` of every subset the family's block names."""
        return {}

    def min_vocab(self, block: Block) -> tuple[int, str] | None:
        """The smallest vocabulary its trainer can make, and what it holds (None: no bound)."""
        return None

    def check(self, corpus_name: str, corpus: Block) -> None:
        """Ranges that depend on other fields of its block: its vocabularies' minimum."""
        block = corpus[self.block]
        bound = self.min_vocab(block)
        if bound is None:
            return
        minimum, why = bound
        for i, vocab in enumerate(block["vocab_sizes"]):
            if vocab < minimum:
                raise ConfigError(
                    f"corpus '{corpus_name}': {self.block}.vocab_sizes[{i}]: {vocab} is less "
                    f"than the minimum of {minimum}, {why} (allowed: an integer >= {minimum})"
                )

    def inputs(self, corpus_name: str, corpus: Block, name: names.Grammar) -> dict[str, str]:
        """The files its training rule reads to make tokenizer ``name`` (none by default)."""
        return {}

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """The subcommand and options of its training script that make tokenizer ``name``.

        Its rule adds the output directory, and the threads where the trainer uses several.
        """
        raise NotImplementedError


def _specials(corpus: Block, block: str) -> str:
    """``--special-token`` options of a family's block."""
    return shell.special_tokens(corpus[block]["special_tokens"])


class ByteLevelSubwordFamily(Family):
    """A family of byte-level subword tokenizers trained on the byte corpus of its ``subset``."""

    def training_subset(self, corpus: Block) -> str:
        """The block's ``subset``."""
        return corpus[self.block]["subset"]

    def subset_references(self, corpus: Block) -> dict[str, str]:
        """The block's ``subset``."""
        return {f"{self.block}.subset": corpus[self.block]["subset"]}

    def min_vocab(self, block: Block) -> tuple[int, str]:
        """The 256 bytes and the special tokens."""
        specials = len(unique_special_tokens(block["special_tokens"]))
        return 256 + specials, f"the 256 bytes and {specials} special token(s)"

    def inputs(self, corpus_name: str, corpus: Block, name: names.Grammar) -> dict[str, str]:
        """The byte corpus of its training subset."""
        return layout.byte_corpus_files(corpus_name, self.training_subset(corpus), "train")

    def corpus_prefix(self, corpus_name: str, corpus: Block) -> str:
        """``--corpus-prefix`` of its trainer: that byte corpus's prefix, quoted."""
        subset = self.training_subset(corpus)
        return shell.quote(layout.path(layout.BYTE_CORPUS, corpus=corpus_name, subset=subset))


class BpeFamily(ByteLevelSubwordFamily):
    """Byte-level BPE: toklab's exact trainer (``bpe-V``) and tokenizers' (``hfbpe-V``)."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per backend and vocabulary size."""
        return [
            names.BpeName(backend, vocab)
            for backend in block["backends"]
            for vocab in block["vocab_sizes"]
        ]

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``bpe`` with the corpus, vocabulary size, specials, minimum frequency and backend."""
        return (
            f"bpe --corpus-prefix {self.corpus_prefix(corpus_name, corpus)}"
            f" --vocab-size {name.vocab_size}"
            f" {_specials(corpus, self.block)}"
            f" --min-frequency {corpus[self.block]['min_frequency']} --backend {name.backend}"
        )


class UnigramFamily(ByteLevelSubwordFamily):
    """Byte-level Unigram LMs (``unigram-V``) trained by tokenizers' UnigramTrainer."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per vocabulary size."""
        return [names.UnigramName(vocab) for vocab in block["vocab_sizes"]]

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``unigram`` with the corpus, the vocabulary size and the special tokens."""
        return (
            f"unigram --corpus-prefix {self.corpus_prefix(corpus_name, corpus)}"
            f" --vocab-size {name.vocab_size}"
            f" {_specials(corpus, self.block)}"
        )


class ByteSpanFamily(Family):
    """ByteSpan tokenizers from the cues of the byte LM or the byte n-gram model.

    Both sources predict the same subset (their ``predict_subset``), where the tokenizers train.
    """

    def settings(self, block: Block) -> list[names.Grammar]:
        """Cues x constraints x variants x inferences x sizes (variants: not for global)."""
        percentile = block["percentile"]
        return [
            names.ByteSpanName(
                source=source,
                cue=cue,
                constraint=constraint,
                variant=variant,
                inference=inference,
                vocab_size=vocab,
                percentile=percentile if constraint == "combined" else None,
            )
            for source, cue in map(names.bytespan_cue, block["cues"])
            for constraint in block["constraints"]
            for variant in block["variants"]
            if constraint != "global" or variant == "frequency"  # seeding: monotonic, combined
            for inference in block["inference"]
            for vocab in block["vocab_sizes"]
        ]

    def training_subset(self, corpus: Block) -> str:
        """The cue sources' prediction subset, where the cues are."""
        return corpus[self.requires(corpus)[0]]["predict_subset"]

    def requires(self, corpus: Block) -> tuple[str, ...]:
        """The byte LM and/or the byte n-gram model whose cues the tokenizers segment by."""
        sources = (names.bytespan_cue(cue)[0] for cue in corpus[self.block]["cues"])
        return tuple(dict.fromkeys(sources))

    def check(self, name: str, corpus: Block) -> None:
        """The vocabulary sizes, and one prediction subset for both cue sources."""
        super().check(name, corpus)
        subsets = {
            source: corpus[source]["predict_subset"]
            for source in self.requires(corpus)
            if corpus.get(source)  # a missing one: check_families names it
        }
        if len(set(subsets.values())) > 1:
            found = ", ".join(f"{source}.predict_subset '{s}'" for source, s in subsets.items())
            raise ConfigError(
                f"corpus '{name}': ByteSpan trains on the subset its cues predict, one for "
                f"both sources ({found})"
            )

    def min_vocab(self, block: Block) -> tuple[int, str]:
        """Its initial tokens, the special tokens and the unknown token.

        The rule of :func:`toklab.tokenizers.bytespan.check_room`, which its training applies.
        """
        initial = len(bytespan.initial_tokens())
        specials = bytespan.with_unk(list(dict.fromkeys(block["special_tokens"])))
        why = (
            f"the {initial} initial tokens (bytes, their word-initial and continuation "
            f"forms), the special tokens and {bytespan.UNK}"
        )
        return initial + len(specials), why

    def inputs(self, corpus_name: str, corpus: Block, name: names.Grammar) -> dict[str, str]:
        """The manifest, the cue source's predictions zarr and the byte corpus it belongs to."""
        if name.source == "ngram":
            predictions = layout.path(layout.NGRAM_PREDICTIONS, corpus=corpus_name)
        else:
            model = corpus["bytelm"]["name"]
            predictions = layout.path(layout.PREDICTIONS, corpus=corpus_name, model=model)
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus_name),
            "predictions": predictions,
            **layout.byte_corpus_files(
                corpus_name, corpus[name.source]["predict_subset"], "corpus"
            ),
        }

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``bytespan`` with the cues, the options its name spells and the block's others."""
        block = corpus[self.block]
        inputs = self.inputs(corpus_name, corpus, name)
        # the trainer reads the percentile for the combined constraint only
        percentile = block["percentile"] if name.percentile is None else name.percentile
        return (
            f"bytespan --corpus-prefix {shell.quote(layout.prefix(inputs['corpus_bin']))}"
            f" --predictions {shell.quote(inputs['predictions'])} --cue {name.cue}"
            f" --constraint {name.constraint} --percentile {percentile}"
            f" --vocab-size {name.vocab_size} --min-frequency {block['min_frequency']}"
            f" --variant {name.variant} --inference {name.inference}"
            f" --manifest {shell.quote(inputs['manifest'])}"
            f" --subset {self.training_subset(corpus)} {_specials(corpus, self.block)}"
        )


class PretrainedFamily(Family):
    """Hugging Face tokenizers by hub id or local directory, fetched once."""

    def settings(self, block: Block) -> list[names.Grammar]:
        """One name per key of the block."""
        return [names.PretrainedName(key) for key in block]

    def training_subset(self, corpus: Block) -> str:
        """None: pretrained tokenizers are not trained here."""
        raise ConfigError("pretrained tokenizers are not trained on a subset")

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``pretrained`` with the ``source`` of its key and its ``--revision``, if any."""
        source = corpus[self.block][name.key]
        revision = source.get("revision")
        return (
            f"pretrained --source {shell.quote(source['source'])}"
            f" {shell.repeated('--revision', [revision] if revision else [])}"
        )


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

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``byte-level`` with the special tokens."""
        return f"byte-level {_specials(corpus, self.block)}"


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

    def check(self, corpus_name: str, corpus: Block) -> None:
        """Each hasher's ``m`` is at most its ``v``, its ``k`` at most its ``m``."""
        for i, hasher in enumerate(corpus[self.block]["hashers"]):
            v, m, k = hasher["v"], hasher["m"], hasher.get("k", 0)
            key = f"corpus '{corpus_name}': {self.block}.hashers[{i}]"
            if m > v:
                raise ConfigError(
                    f"{key}.m: {m} is greater than its v {v} (allowed: an integer in [1, v])"
                )
            if k > m:
                raise ConfigError(
                    f"{key}.k: {k} is greater than its m {m} (allowed: an integer in [0, m])"
                )

    def word_counts(self, corpus_name: str, corpus: Block) -> str:
        """The word counts of the dictionary subset, which every hasher's dictionary is cut from."""
        subset = self.training_subset(corpus)
        return layout.path(layout.TFREE_WORD_COUNTS, corpus=corpus_name, subset=subset)

    def inputs(self, corpus_name: str, corpus: Block, name: names.Grammar) -> dict[str, str]:
        """The word counts (:meth:`word_counts`)."""
        return {"counts": self.word_counts(corpus_name, corpus)}

    def command(self, corpus_name: str, corpus: Block, name: names.Grammar) -> str:
        """``tokenizer`` (of ``tfree.py``) with the hasher's settings and the dictionary size."""
        counts = self.word_counts(corpus_name, corpus)
        words = "--entire-words" if name.entire_words else "--no-entire-words"
        return (
            f"tokenizer --counts {shell.quote(counts)} --v {name.v} --m {name.m} --k {name.k}"
            f" {words} --words {corpus[self.block]['dictionary']['words']}"
        )


BPE = BpeFamily("bpe", names.BpeName, ("tokenizer.json", "vocab.json", "merges.txt"))
UNIGRAM = UnigramFamily("unigram", names.UnigramName, ("tokenizer.json", "tokenizer_config.json"))
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
FAMILIES: tuple[Family, ...] = (BPE, UNIGRAM, BYTESPAN, PRETRAINED, BYTE_LEVEL, TFREE)


def tokenizer_names(corpus: Block) -> list[str]:
    """Every tokenizer a corpus configures, family by family, in config order."""
    return [name for family in FAMILIES for name in family.names(corpus)]


def family_of(name: str) -> Family:
    """The family whose grammar spells ``name``."""
    for family in FAMILIES:
        if family.grammar.match(name) is not None:
            return family
    raise ConfigError(f"'{name}' is not a tokenizer name of any family")
