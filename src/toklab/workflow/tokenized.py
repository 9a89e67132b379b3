"""The tokenized stage's plan: token arrays of each corpus's subsets, variants and exports.

A token array holds a subset's ids by a *tokenization*: a tokenizer's own ids, or a variant of
them (StochasTok's expansion, BPE-dropout, characters; :class:`toklab.names.TokenizationName`).
Exports (Delphi, CS336, nanoGPT, T-Free's byte stores) are written from them. A corpus of token
ids (source ``hf_tokens``) has no text: its subsets are imported from the published dataset as
the arrays of its tokenizer (:mod:`toklab.datasets.hub_tokens`), which StochasTok may expand
and the exports and LMs read as any other. Rules: ``workflow/rules/tokenized.smk``; scripts:
``tokenized.py``, ``stochastok.py``, ``import_tokens.py``.
"""

from __future__ import annotations

import json
import re

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.families import family_of
from toklab.workflow.tokenizers import BYTE_TOKENIZER, TokenizersPlan

#: Settings of the tokenize rule for a corpus without a ``tokenized`` block (which tokenizes
#: only the byte LM's subsets): the schema's defaults of that block.
TOKENIZE_DEFAULTS: Block = {"batch_documents": 2048}


class TokenizedPlan:
    """Config → the token arrays and exports of each corpus, and the inputs of their jobs."""

    def __init__(self, config: WorkflowConfig, tokenizers: TokenizersPlan) -> None:
        self.config = config
        self.tokenizers = tokenizers

    def block(self, corpus: str) -> Block:
        """The corpus's ``tokenized`` block."""
        return self.config.block(corpus, "tokenized")

    def tokenized_tokenizers(self, corpus: str, subset: str | None = None) -> list[tuple[str, str]]:
        """``(tokenizer corpus, name)`` of every tokenizer that tokenizes the corpus's subsets.

        A corpus of token ids has its imported tokenizer's arrays of every subset first.
        """
        imported = self.imported_tokenizer(corpus)
        pairs = [imported] if imported else []
        block = self.config.corpus(corpus).get("tokenized")
        if not block or (subset is not None and subset not in block["subsets"]):
            return pairs
        listed = [self.config.resolve_tokenizer(corpus, ref) for ref in block["tokenizers"]]
        return list(dict.fromkeys([*pairs, *listed]))

    def tokenized_subsets(self, corpus: str) -> list[str]:
        """The subsets with token arrays: ``tokenized.subsets``, and every imported one."""
        block = self.config.corpus(corpus).get("tokenized") or {}
        imported = (
            list(self.config.corpus(corpus)["subsets"]) if self.imported_tokenizer(corpus) else []
        )
        return list(dict.fromkeys([*imported, *block.get("subsets", [])]))

    # -----------------------------------------------------------------------------------------
    # A corpus of token ids (source hf_tokens): its subsets are imported, not tokenized

    def imported_tokenizer(self, corpus: str) -> tuple[str, str] | None:
        """``(tokenizer corpus, name)`` whose ids a corpus of token ids holds; None for text."""
        source = self.config.token_source(corpus)
        return self.config.resolve_tokenizer(corpus, source["tokenizer"]) if source else None

    def imported_corpora(self) -> list[str]:
        """The corpora of token ids."""
        return [corpus for corpus in self.config.corpora if self.config.token_source(corpus)]

    def imported_corpus_pattern(self) -> str:
        """The import rule's ``corpus`` constraint: a corpus of token ids (none: no match)."""
        corpora = self.imported_corpora()
        return "|".join(re.escape(corpus) for corpus in corpora) if corpora else "(?!)"

    def import_split(self, corpus: str, subset: str) -> str:
        """The dataset split a subset of a corpus of token ids imports (default: its name)."""
        if not self.config.token_source(corpus):
            raise ConfigError(f"corpus '{corpus}' is not a corpus of token ids (source hf_tokens)")
        subsets = self.config.corpus(corpus)["subsets"]
        if subset not in subsets:
            raise ConfigError(
                f"corpus '{corpus}' has no subset '{subset}' (has {', '.join(subsets)})"
            )
        return (subsets[subset] or {}).get("split", subset)

    def import_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The tokenizer whose vocabulary an imported subset's ids are checked against."""
        self.import_split(corpus, subset)
        imported = self.imported_tokenizer(corpus)
        if (tokenizer_corpus, tokenization) != imported:
            raise ConfigError(
                f"corpus '{corpus}' holds ids of '{imported[0]}/{imported[1]}', not of "
                f"'{tokenizer_corpus}/{tokenization}' (a corpus of token ids has no text to "
                "tokenize)"
            )
        return {"tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenization)}

    def import_options(self, corpus: str, subset: str) -> str:
        """``import_tokens.py``'s options for one subset: the dataset, split, layout, ..."""
        source = self.config.token_source(corpus)
        split = self.import_split(corpus, subset)
        options = {
            "--dataset": source["dataset"],
            "--split": split,
            "--column": source["column"],
            "--layout": source.get("layout", "documents"),
            "--name": source.get("name"),
            "--revision": source.get("revision"),
            "--data-dir": source.get("data_dir"),
            "--data-files": (
                json.dumps(source["data_files"]) if source.get("data_files") is not None else None
            ),
            "--eos-token": source.get("eos_token"),
            "--bos-token": source.get("bos_token"),
            "--max-documents": (self.config.corpus(corpus)["subsets"][subset] or {}).get(
                "documents"
            ),
        }
        rendered = [shell.repeated(k, [v]) for k, v in options.items() if v is not None]
        if source.get("trailing_eos"):
            rendered.append("--trailing-eos")
        return " ".join(rendered)

    def token_array_tokenizers(self, corpus: str, subset: str) -> list[tuple[str, str]]:
        """``(tokenizer corpus, name)`` of every token array of one of the corpus's subsets.

        Those of the ``tokenized`` block, the tokenizer's own arrays of every variant it lists
        (StochasTok expands them; LMs trained on stochastic variants are validated on them), and
        the byte-level tokenizer's arrays of the byte LM's training and validation subsets.
        """
        pairs = self.tokenized_tokenizers(corpus, subset)
        for tokenizer_corpus, name in list(pairs):  # a variant's tokenizer: its base, validation
            base = (tokenizer_corpus, names.tokenizer_of(name))
            if base not in pairs:
                pairs.append(base)
        lm = self.config.corpus(corpus).get("bytelm")
        byte_level = (corpus, BYTE_TOKENIZER)
        if lm and subset in (lm["train_subset"], lm["valid_subset"]) and byte_level not in pairs:
            pairs.append(byte_level)
        return pairs

    def tokenize_settings(self, corpus: str) -> Block:
        """Settings of the tokenize rule: the ``tokenized`` block's, or the schema's defaults."""
        return self.config.corpus(corpus).get("tokenized") or TOKENIZE_DEFAULTS

    def token_array_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The tokenizer and the byte corpus of one token array by the tokenizer's own ids."""
        if self.tokenization(corpus, subset, tokenizer_corpus, tokenization).method is not None:
            raise ConfigError(f"'{tokenization}' is a variant tokenization, not a tokenizer")
        return {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenization),
            **layout.byte_corpus_files(corpus, subset, "corpus"),
        }

    def tokenizer_json(self, tokenizer_corpus: str, tokenization: str) -> str:
        """The ``tokenizer.json`` whose ids a tokenization's arrays hold (a variant's: its base's).

        A T-Free hasher's word arrays are checked against its ``tfree.json`` instead.
        """
        tokenizer = names.tokenizer_of(tokenization)
        return layout.tokenizer_file(tokenizer_corpus, tokenizer, family_of(tokenizer).definition)

    def tokenization(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> names.TokenizationName:
        """The parsed name of one of the subset's token arrays; an error unless configured."""
        configured = self.token_array_tokenizers(corpus, subset)
        if (tokenizer_corpus, tokenization) not in configured:
            raise ConfigError(
                f"corpus '{corpus}' does not tokenize subset '{subset}' with "
                f"'{tokenizer_corpus}/{tokenization}' (tokenized: "
                f"{', '.join(f'{c}/{n}' for c, n in configured) or 'none'})"
            )
        return names.TokenizationName.parse(tokenization)

    def _variant(
        self, method: str, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> names.TokenizationName:
        parsed = self.tokenization(corpus, subset, tokenizer_corpus, tokenization)
        if parsed.method != method:
            raise ConfigError(f"'{tokenization}' is not a {method} tokenization")
        return parsed

    def stochastok_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The tokenizer's own array, its tokenizer and split table, which StochasTok expands."""
        variant = self._variant("stochastok", corpus, subset, tokenizer_corpus, tokenization)
        return {
            "tokenizer": self.tokenizer_json(tokenizer_corpus, tokenization),
            "splits": layout.path(
                layout.STOCHASTOK_SPLITS, corpus=tokenizer_corpus, tokenizer=variant.tokenizer
            ),
            **layout.token_array_files(
                corpus, subset, tokenizer_corpus, variant.tokenizer, "tokens"
            ),
        }

    def reencoding_inputs(
        self, method: str, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The tokenizer and byte corpus that BPE-dropout or character encoding re-encodes."""
        self._variant(method, corpus, subset, tokenizer_corpus, tokenization)
        return {
            "tokenizer": self.tokenizer_json(tokenizer_corpus, tokenization),
            **layout.byte_corpus_files(corpus, subset, "corpus"),
        }

    def variant_params(self, corpus: str) -> Block:
        """The stochastic tokenizations' base seed (their stream is the subset's name)."""
        return {"seed": self.block(corpus)["seed"]}

    def split_table_inputs(self, corpus: str, tokenizer: str) -> dict[str, str]:
        """The tokenizer a StochasTok split table is built from (one of the corpus's)."""
        self.tokenizers.tokenizer(corpus, tokenizer)
        return {"tokenizer": layout.tokenizer_file(corpus, tokenizer)}

    def export_tokenizers(self, corpus: str, export: str) -> list[tuple[str, str]]:
        """The tokenizers an export applies to (default: every tokenized one)."""
        chosen = self.export_settings(corpus, export).get("tokenizers")
        if chosen is None:  # every tokenized one with a token vocabulary (no T-Free words)
            return [
                (c, name)
                for c, name in self.tokenized_tokenizers(corpus)
                if not names.is_tfree(name)
            ]
        return [self.config.resolve_tokenizer(corpus, ref) for ref in chosen]

    def export_inputs(
        self, export: str, corpus: str, subset: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The token array (and its tokenizer) an export of one subset reads."""
        if (tokenizer_corpus, tokenization) not in self.export_tokenizers(corpus, export):
            raise ConfigError(
                f"corpus '{corpus}': the {export} export does not include "
                f"'{tokenizer_corpus}/{tokenization}'"
            )
        return {
            "tokenizer": self.tokenizer_json(tokenizer_corpus, tokenization),
            **layout.token_array_files(corpus, subset, tokenizer_corpus, tokenization, "tokens"),
        }

    def nanogpt_inputs(
        self, corpus: str, split: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The token array of the subset a nanoGPT split (train or val) is made of."""
        subset = self.block(corpus)["exports"].get("nanogpt", {}).get(split)
        return self.export_inputs("nanogpt", corpus, subset, tokenizer_corpus, tokenization)

    def export_settings(self, corpus: str, export: str) -> Block:
        """The settings of one export."""
        settings = self.block(corpus)["exports"].get(export)
        if settings is None:
            raise ConfigError(f"corpus '{corpus}' configures no {export} export")
        return settings

    def tfree_inputs(self, corpus: str, subset: str) -> dict[str, str]:
        """The byte corpus T-Free's byte stores are written from."""
        self.export_settings(corpus, "tfree")
        if subset not in self.block(corpus)["subsets"]:
            raise ConfigError(f"corpus '{corpus}' does not tokenize subset '{subset}'")
        return layout.byte_corpus_files(corpus, subset, "corpus")

    def targets(self, corpus: str) -> list[str]:
        """Every token array and export the corpus's ``tokenized`` block asks for.

        A corpus of token ids has its imported arrays of every subset, block or not.
        """
        imported = self.imported_tokenizer(corpus)
        targets = [
            path
            for subset in (self.config.corpus(corpus)["subsets"] if imported else [])
            for path in layout.token_array_files(corpus, subset, *imported).values()
        ]
        block = self.config.corpus(corpus).get("tokenized")
        if not block:
            return targets
        targets += [
            path
            for subset in block["subsets"]
            for c, name in self.tokenized_tokenizers(corpus)
            for path in layout.token_array_files(corpus, subset, c, name).values()
        ]
        targets = list(dict.fromkeys(targets))
        exports = block["exports"]
        fields = {"corpus": corpus}
        for export, template in (("delphi", layout.DELPHI_EXPORT), ("cs336", layout.CS336_EXPORT)):
            if export in exports:
                targets += [
                    layout.path(template, **fields, subset=s, tokenizer_corpus=c, tokenization=n)
                    for c, n in self.export_tokenizers(corpus, export)
                    for s in block["subsets"]
                ]
        if "nanogpt" in exports:
            targets += [
                layout.path(
                    layout.NANOGPT_EXPORT, **fields, split=split, tokenizer_corpus=c, tokenization=n
                )
                for c, n in self.export_tokenizers(corpus, "nanogpt")
                for split in ("train", "val")
            ]
        if "tfree" in exports:
            targets += [
                path
                for subset in block["subsets"]
                for suffixes, prefix in (
                    (layout.TFREE_SUFFIXES, layout.TFREE_EXPORT),
                    (layout.TFREE_ALIGNED_SUFFIXES, layout.TFREE_EXPORT),
                )
                for path in layout.files_of(
                    layout.path(prefix, corpus=corpus, subset=subset), suffixes
                ).values()
            ]
        return targets
