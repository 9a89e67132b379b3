"""The T-Free stage's plan: hashers with their dictionaries, word arrays and T-Free's tables.

A corpus's ``tfree`` block configures it (T-Free is the tokenizer family ``tfree``,
:data:`toklab.workflow.families.TFREE`, named ``tfree-{v}-m{m}[-k{k}][-words]``):

- ``hashers``: each a tokenizer directory ``results/tokenizers/{corpus}/tfree-.../`` holding its
  settings (``tfree.json``) and its decoding dictionary (``dictionary.tsv``: the most frequent
  words of the block's ``dictionary.subset`` and their counts, counted once per corpus into
  ``results/tfree/{corpus}/{subset}.word_counts.tsv``).
- Word arrays: a hasher listed in ``tokenized.tokenizers`` splits every tokenized subset into
  words, ``results/tokenized/.../{subset}.{bin,idx,meta.json,words.json}``; an LM of the ``lm``
  block on it is T-Free's model (trigram embedding, multi-label head), trained by the one
  trainer and compared with the others in ``lm_{corpus}.csv`` by next-word accuracy.
- ``samples``: what those LMs train on. ``aligned`` (the default, as the original): the
  original's samples from the items of the subset's T-Free export (``tokenized.exports.tfree``),
  whose chunks a hasher splits into ``results/tokenized/.../{subset}.aligned.*`` (with
  ``items.idx``); ``windows``: windows of the word arrays, as token LMs train.
- ``fertility``: tokens per whitespace-separated word of every tokenizer of the corpus on the
  block's subsets, per language: ``results/tables/tfree_fertility_{corpus}.csv``.
- ``params``: embedding and head parameters of each hasher against dense vocabularies, for
  the block's model presets: ``results/tables/tfree_params_{corpus}.csv``.
"""

from __future__ import annotations

from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.families import TFREE
from toklab.workflow.tokenized import TokenizedPlan
from toklab.workflow.tokenizers import TokenizersPlan


class TfreePlan:
    """Config → the T-Free stage's targets and the inputs of its jobs."""

    def __init__(
        self, config: WorkflowConfig, tokenizers: TokenizersPlan, tokenized: TokenizedPlan
    ) -> None:
        self.config = config
        self.tokenizers = tokenizers
        self.tokenized = tokenized

    def block(self, corpus: str) -> Block:
        """The corpus's ``tfree`` block."""
        return self.config.block(corpus, "tfree")

    def configured(self, corpus: str) -> bool:
        """Whether the corpus configures T-Free."""
        return TFREE.configured(self.config.corpus(corpus))

    def hasher(self, corpus: str, tokenizer: str) -> names.TfreeName:
        """The parsed name of one of the corpus's hashers."""
        return self.tokenizers.tokenizer(corpus, tokenizer, TFREE)

    # -----------------------------------------------------------------------------------------
    # Dictionaries and word arrays

    def word_counts(self, corpus: str) -> str:
        """The word counts of the dictionary subset."""
        return TFREE.word_counts(corpus, self.config.corpus(corpus))

    def word_count_inputs(self, corpus: str, subset: str) -> dict[str, str]:
        """The byte corpus whose words are counted (the dictionary subset only)."""
        dictionary = self.block(corpus)["dictionary"]["subset"]
        if subset != dictionary:
            raise ConfigError(
                f"corpus '{corpus}': T-Free counts the words of tfree.dictionary.subset "
                f"'{dictionary}', not '{subset}'"
            )
        return layout.byte_corpus_files(corpus, subset, "corpus")

    def word_array_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The hasher's settings and the byte corpus of one word array."""
        parsed = self.tokenized.tokenization(corpus, subset, tokenizer_corpus, tokenization)
        if parsed.method is not None or not names.is_tfree(tokenization):
            raise ConfigError(f"'{tokenization}' is not a T-Free hasher")
        return {
            "settings": layout.tokenizer_file(tokenizer_corpus, tokenization, "tfree.json"),
            **layout.byte_corpus_files(corpus, subset, "corpus"),
        }

    def samples(self, corpus: str) -> str:
        """What the corpus's T-Free LMs train on: ``aligned`` samples or ``windows`` of words."""
        return self.block(corpus)["samples"]

    def aligned_inputs(self, corpus: str, subset: str) -> dict[str, str]:
        """The T-Free export of a subset (memory map and aligned arrays) that LMs sample from.

        Only for a corpus whose T-Free LMs train on aligned samples, with a ``tfree`` export.
        """
        if self.samples(corpus) != "aligned":
            raise ConfigError(
                f"corpus '{corpus}': tfree.samples is windows, so no LM reads aligned samples"
            )
        if "tfree" not in (self.config.corpus(corpus).get("tokenized") or {}).get("exports", {}):
            raise ConfigError(
                f"corpus '{corpus}': tfree.samples is aligned (the original's samples from the "
                "items of its aligned export), but tokenized.exports configures no tfree "
                "export; add one or set tfree.samples: windows"
            )
        self.tokenized.tfree_inputs(corpus, subset)
        prefix = layout.path(layout.TFREE_EXPORT, corpus=corpus, subset=subset)
        return {
            **layout.files_of(prefix, layout.TFREE_SUFFIXES, "memory_map"),
            **layout.files_of(prefix, layout.TFREE_ALIGNED_SUFFIXES, "aligned"),
        }

    def aligned_word_array_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The hasher's settings and the T-Free export of one aligned word array."""
        if not names.is_tfree(tokenization):
            raise ConfigError(f"'{tokenization}' is not a T-Free hasher")
        self.hasher(tokenizer_corpus, tokenization)
        return {
            "settings": layout.tokenizer_file(tokenizer_corpus, tokenization, "tfree.json"),
            **self.aligned_inputs(corpus, subset),
        }

    # -----------------------------------------------------------------------------------------
    # Tables

    def fertility_tokenizers(self, corpus: str) -> list[tuple[str, str]]:
        """``(tokenizer corpus, name)`` of the fertility table: the block's, or all but T-Free.

        T-Free's own row comes from the word split, whichever hasher (it has no vocabulary).
        """
        chosen = self.block(corpus)["fertility"].get("tokenizers")
        if chosen is None:
            return [(corpus, name) for name in self.tokenizers.vocabulary_tokenizers(corpus)]
        return [self.config.resolve_tokenizer(corpus, reference) for reference in chosen]

    def fertility_inputs(self, corpus: str) -> dict[str, Any]:
        """The corpus manifest (documents and languages) and every compared ``tokenizer.json``."""
        self.block(corpus)["fertility"]
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "tokenizers": [
                layout.tokenizer_file(c, name) for c, name in self.fertility_tokenizers(corpus)
            ],
        }

    def fertility_options(self, corpus: str) -> str:
        """``--subset S ... --tokenizer NAME PATH ...`` of the fertility table."""
        fertility = self.block(corpus)["fertility"]
        entries = [
            (name if c == corpus else f"{c}/{name}", layout.tokenizer_file(c, name))
            for c, name in self.fertility_tokenizers(corpus)
        ]
        return f"{shell.repeated('--subset', fertility['subsets'])} {shell.tokenizers(entries)}"

    def params_models(self, corpus: str) -> list[str]:
        """The presets of the parameter table: the block's, or every model of the lm block."""
        chosen = self.block(corpus)["params"].get("presets")
        if chosen is not None:
            return list(chosen)
        models = (self.config.corpus(corpus).get("lm") or {}).get("models") or {}
        presets = list(dict.fromkeys(spec["preset"] for spec in models.values()))
        if not presets:
            raise ConfigError(
                f"corpus '{corpus}': tfree.params needs presets (tfree.params.presets or an lm "
                "block's models)"
            )
        return presets

    def params_options(self, corpus: str) -> str:
        """``--hasher NAME ... --preset P ... --dense-vocab V ...`` of the parameter table."""
        block = self.block(corpus)
        hashers = TFREE.names(self.config.corpus(corpus))
        return " ".join(
            [
                shell.repeated("--hasher", hashers),
                shell.repeated("--preset", self.params_models(corpus)),
                shell.repeated("--dense-vocab", [str(v) for v in block["params"]["dense_vocab"]]),
            ]
        )

    def targets(self, corpus: str) -> list[str]:
        """The word counts and the tables the corpus's ``tfree`` block asks for."""
        if not self.configured(corpus):
            return []
        block = self.block(corpus)
        targets = [self.word_counts(corpus)]
        if block.get("fertility"):
            targets.append(layout.table("tfree_fertility", corpus))
        if block.get("params"):
            targets.append(layout.table("tfree_params", corpus))
        return targets
