"""Config → what the workflow builds: the targets of every stage and the inputs of each job.

:class:`Plan` wraps a validated config (defaults filled by the schema). Its methods take plain
names (corpus, subset, tokenizer), never Snakemake objects, and raise
:class:`~toklab.errors.ConfigError` for anything the config does not configure;
``workflow/rules/common.smk`` turns wildcards into these calls.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.families import (
    BPE,
    BYTE_LEVEL,
    BYTESPAN,
    FAMILIES,
    PRETRAINED,
    Block,
    Family,
    family_of,
)

#: Languages of MorphScore's gold data (catherinearnett/morphscore, data/{language}_morph_data.csv).
MORPHSCORE_LANGUAGES = frozenset(
    {
        "armenian", "basque", "bulgarian", "cebuano", "english", "georgian", "greek",
        "gujarati", "hungarian", "icelandic", "indonesian", "irish", "japanese", "korean",
        "kurdish", "persian", "slovenian", "spanish", "tamil", "turkish", "urdu", "zulu",
    }
)  # fmt: skip
DEFAULT_MORPHSCORE_URL = (
    "https://raw.githubusercontent.com/catherinearnett/morphscore/"
    "b0901a49c20e2ed760bb56334bcc47f33b76272e/data/{language}_morph_data.csv"
)
#: Corpus keys that decide the data (the other blocks only use it).
DATA_KEYS = ("source", "subsets", "languages", "shard")
#: The tables of a corpus with an evaluation block.
EVALUATION_TABLES = ("tokenizer_stats", "compression", "bpe_training")
#: The byte-level tokenizer, whose token arrays the byte LM trains on.
BYTE_TOKENIZER = names.ByteLevelName().format()
#: Settings of the tokenize rule for a corpus without a ``tokenized`` block (which tokenizes
#: only the byte LM's subsets): the schema's defaults of that block.
TOKENIZE_DEFAULTS: Block = {"batch_documents": 2048}

#: One LM training job: ``(tokenizer corpus, tokenizer, model)`` of a corpus.
LmRun = tuple[str, str, str]


@dataclass(frozen=True)
class LmJob:
    """What the config sets for one LM training job (an ``lm`` block's model, or the byte LM)."""

    #: The config key that sets it: ``lm.models.<model>`` or ``bytelm``.
    key: str
    #: The model's size preset (resources/model_presets.yaml).
    preset: str
    #: TrainConfig fields, dotted for nested ones, as the config gives them.
    training: Block
    train_subset: str
    valid_subset: str
    gpus: int

    @property
    def chunks(self) -> bool:
        """Whether it trains on the samples of a Delphi export (``training.data: chunks``)."""
        return self.training.get("data") == "chunks"

    def same_settings(self, other: LmJob) -> bool:
        """Whether both train the same model on the same data (everything but the key agrees)."""
        return replace(other, key=self.key) == self


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


class Plan:
    """The targets and job inputs a config asks for."""

    def __init__(self, config: dict[str, Any], repository: str | os.PathLike | None = None) -> None:
        from toklab.workflow.tasks import TasksPlan
        from toklab.workflow.tfree import TfreePlan

        self.config = config
        self.corpora: dict[str, Block] = config["corpora"]
        #: the repository, whose resources/ a config may name (Snakemake may run elsewhere)
        self.repository = repository
        #: the tasks stage: StochasTok's tasks of the LMs (:mod:`toklab.workflow.tasks`)
        self.tasks = TasksPlan(self)
        #: T-Free's dictionaries, word arrays' inputs and tables (:mod:`toklab.workflow.tfree`)
        self.tfree = TfreePlan(self)

    # -----------------------------------------------------------------------------------------
    # Config access

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

    # -----------------------------------------------------------------------------------------
    # Data stage

    def corpus_script_config(self, corpus: str) -> Block:
        """The corpus's data keys as ``prepare_corpus.py`` reads them (downloads as paths)."""
        block = {k: v for k, v in self.corpus(corpus).items() if k in DATA_KEYS}
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

    def source_files(self, corpus: str) -> list[str]:
        """Local and downloaded files a corpus reads (none for hf and demo sources)."""
        return [path for source in self.sources(corpus) for path in _local_files(source)]

    def download_url(self, filename: str) -> str:
        """The configured url whose download is ``resources/downloads/{filename}``."""
        target = layout.path(layout.DOWNLOAD, filename=filename)
        for corpus in self.corpora:
            for source in self.sources(corpus):
                if source.get("url") and layout.download_path(source["url"]) == target:
                    return source["url"]
        raise ConfigError(f"no configured source downloads a file named '{filename}'")

    def byte_subsets(self, corpus: str) -> list[str]:
        """Subsets converted to byte corpora: those configured (default all) and those used."""
        block = self.corpus(corpus)
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
        source = self.corpus(corpus)["source"]
        return list(source["languages"]) if source["type"] == "demo" else []

    def demo_source(self, corpus: str, language: str) -> Block:
        """The demo source that generates ``language``'s gold morphology."""
        if language not in self.demo_languages(corpus):
            raise ConfigError(
                f"gold morphology is generated only for the languages of demo corpora; corpus "
                f"'{corpus}' has no demo language '{language}'"
            )
        return self.corpus(corpus)["source"]

    def data_targets(self, corpus: str) -> list[str]:
        """Manifest, byte corpora and (for a demo source) gold morphology of a corpus."""
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

    # -----------------------------------------------------------------------------------------
    # Byte LM and predictions (the byte LM is trained as the LM of the byte-level tokenizer)

    def bytelm(self, corpus: str, model: str) -> Block:
        """The corpus's byte LM block, which must be named ``model``."""
        lm = self.corpus(corpus).get("bytelm")
        if not lm or lm["name"] != model:
            raise ConfigError(f"no byte LM '{model}' is configured for corpus '{corpus}'")
        return lm

    def bytelm_run(self, corpus: str) -> LmRun | None:
        """``(corpus, bytes, name)``: the byte LM's run among the corpus's LMs, if it has one."""
        lm = self.corpus(corpus).get("bytelm")
        return (corpus, BYTE_TOKENIZER, lm["name"]) if lm else None

    def prediction_inputs(self, corpus: str, model: str) -> dict[str, str]:
        """The trained byte LM and the byte corpus its predictions are extracted for."""
        lm = self.bytelm(corpus, model)
        run = (corpus, corpus, BYTE_TOKENIZER, model)
        return {
            "model": layout.lm_file(*run, "model.safetensors"),
            "config": layout.lm_file(*run, "config.json"),
            **layout.byte_corpus_files(corpus, lm["predict_subset"], "corpus"),
        }

    def prediction_params(self, corpus: str, model: str) -> dict[str, Any]:
        """Extraction settings and GPUs (one when the byte LM trains on any)."""
        lm = self.bytelm(corpus, model)
        return {"gpus": min(lm["gpus"], 1), **lm["extraction"]}

    def bytelm_targets(self, corpus: str) -> list[str]:
        """The byte LM's final weights and its predictions zarr, if the corpus has one."""
        run = self.bytelm_run(corpus)
        if run is None:
            return []
        return [
            layout.lm_file(corpus, *run, "model.safetensors"),
            layout.path(layout.PREDICTIONS, corpus=corpus, model=run[2]),
        ]

    # -----------------------------------------------------------------------------------------
    # Tokenizers

    def tokenizer_names(self, corpus: str) -> list[str]:
        """Every tokenizer the corpus configures, family by family, in config order."""
        block = self.corpus(corpus)
        return [name for family in FAMILIES for name in family.names(block)]

    def vocabulary_tokenizers(self, corpus: str) -> list[str]:
        """The corpus's tokenizers with a token vocabulary (all but T-Free's hashers)."""
        block = self.corpus(corpus)
        return [name for family in FAMILIES if family.vocabulary for name in family.names(block)]

    def tokenizer(self, corpus: str, name: str, family: Family | None = None) -> names.Grammar:
        """The parsed name of one of the corpus's tokenizers (of ``family``, if given)."""
        configured = family.names(self.corpus(corpus)) if family else self.tokenizer_names(corpus)
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
        return family_of(name).training_subset(self.corpus(corpus))

    def tokenizer_targets(self, corpus: str) -> list[str]:
        """The files of every configured tokenizer that the default target asks for."""
        block = self.corpus(corpus)
        return [
            layout.tokenizer_file(corpus, name, filename)
            for family in FAMILIES
            for name in family.names(block)
            for filename in family.files
        ]

    def bpe_training_inputs(self, corpus: str, name: str) -> dict[str, str]:
        """The byte corpus a BPE tokenizer trains on."""
        self.tokenizer(corpus, name, BPE)
        return layout.byte_corpus_files(corpus, BPE.training_subset(self.corpus(corpus)), "train")

    def bpe_params(self, corpus: str, name: str) -> dict[str, Any]:
        """Backend, vocabulary size, minimum pair frequency and special-token options."""
        tokenizer = self.tokenizer(corpus, name, BPE)
        block = self.block(corpus, "bpe")
        return {
            "backend": tokenizer.backend,
            "vocab_size": tokenizer.vocab_size,
            "min_frequency": block["min_frequency"],
            "specials": shell.special_tokens(block["special_tokens"]),
        }

    def bytespan_params(self, corpus: str, name: str) -> dict[str, Any]:
        """The ByteSpan trainer's options spelled by the name, and the block's other settings."""
        tokenizer = self.tokenizer(corpus, name, BYTESPAN)
        block = self.block(corpus, "bytespan")
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
        lm = self.block(corpus, "bytelm")
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "predictions": layout.path(layout.PREDICTIONS, corpus=corpus, model=lm["name"]),
            **layout.byte_corpus_files(corpus, lm["predict_subset"], "corpus"),
        }

    def pretrained_source(self, corpus: str, name: str) -> dict[str, str]:
        """The ``source`` of a pretrained tokenizer and its ``--revision`` option."""
        tokenizer = self.tokenizer(corpus, name, PRETRAINED)
        source = self.block(corpus, "pretrained")[tokenizer.key]
        revision = source.get("revision")
        return {
            "source": source["source"],
            "revision_option": shell.repeated("--revision", [revision] if revision else []),
        }

    def byte_level_params(self, corpus: str, name: str) -> dict[str, Any]:
        """The byte-level tokenizer's special-token options."""
        self.tokenizer(corpus, name, BYTE_LEVEL)
        block = self.corpus(corpus)["byte_level"]
        return {"specials": shell.special_tokens(block["special_tokens"])}

    # -----------------------------------------------------------------------------------------
    # Tokenized datasets

    def tokenized(self, corpus: str) -> Block:
        """The corpus's ``tokenized`` block."""
        return self.block(corpus, "tokenized")

    def resolve_tokenizer(self, corpus: str, reference: str) -> tuple[str, str]:
        """``(tokenizer corpus, name)`` of a reference: ``name`` (the corpus's) or ``corpus/name``."""
        other, _, name = reference.rpartition("/")
        return (other or corpus, name)

    def tokenized_tokenizers(self, corpus: str, subset: str | None = None) -> list[tuple[str, str]]:
        """``(tokenizer corpus, name)`` of every tokenizer that tokenizes the corpus's subsets."""
        block = self.corpus(corpus).get("tokenized")
        if not block or (subset is not None and subset not in block["subsets"]):
            return []
        return [self.resolve_tokenizer(corpus, ref) for ref in block["tokenizers"]]

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
        lm = self.corpus(corpus).get("bytelm")
        byte_level = (corpus, BYTE_TOKENIZER)
        if lm and subset in (lm["train_subset"], lm["valid_subset"]) and byte_level not in pairs:
            pairs.append(byte_level)
        return pairs

    def tokenize_settings(self, corpus: str) -> Block:
        """Settings of the tokenize rule: the ``tokenized`` block's, or the schema's defaults."""
        return self.corpus(corpus).get("tokenized") or TOKENIZE_DEFAULTS

    def token_array_inputs(
        self, corpus: str, subset: str, tokenizer_corpus: str, tokenizer: str
    ) -> dict[str, str]:
        """The tokenizer and the byte corpus of one token array by the tokenizer's own ids."""
        if self.tokenization(corpus, subset, tokenizer_corpus, tokenizer).method is not None:
            raise ConfigError(f"'{tokenizer}' is a variant tokenization, not a tokenizer")
        return {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenizer),
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
        return {"seed": self.tokenized(corpus)["seed"]}

    def split_table_inputs(self, corpus: str, tokenizer: str) -> dict[str, str]:
        """The tokenizer a StochasTok split table is built from (one of the corpus's)."""
        self.tokenizer(corpus, tokenizer)
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
        return [self.resolve_tokenizer(corpus, ref) for ref in chosen]

    def export_inputs(
        self, export: str, corpus: str, subset: str, tokenizer_corpus: str, tokenizer: str
    ) -> dict[str, str]:
        """The token array (and its tokenizer) an export of one subset reads."""
        if (tokenizer_corpus, tokenizer) not in self.export_tokenizers(corpus, export):
            raise ConfigError(
                f"corpus '{corpus}': the {export} export does not include "
                f"'{tokenizer_corpus}/{tokenizer}'"
            )
        return {
            "tokenizer": self.tokenizer_json(tokenizer_corpus, tokenizer),
            **layout.token_array_files(corpus, subset, tokenizer_corpus, tokenizer, "tokens"),
        }

    def nanogpt_inputs(
        self, corpus: str, split: str, tokenizer_corpus: str, tokenizer: str
    ) -> dict[str, str]:
        """The token array of the subset a nanoGPT split (train or val) is made of."""
        subset = self.tokenized(corpus)["exports"].get("nanogpt", {}).get(split)
        return self.export_inputs("nanogpt", corpus, subset, tokenizer_corpus, tokenizer)

    def export_settings(self, corpus: str, export: str) -> Block:
        """The settings of one export."""
        settings = self.tokenized(corpus)["exports"].get(export)
        if settings is None:
            raise ConfigError(f"corpus '{corpus}' configures no {export} export")
        return settings

    def tfree_inputs(self, corpus: str, subset: str) -> dict[str, str]:
        """The byte corpus T-Free's byte stores are written from."""
        self.export_settings(corpus, "tfree")
        if subset not in self.tokenized(corpus)["subsets"]:
            raise ConfigError(f"corpus '{corpus}' does not tokenize subset '{subset}'")
        return layout.byte_corpus_files(corpus, subset, "corpus")

    def tokenized_targets(self, corpus: str) -> list[str]:
        """Every token array and export the corpus's ``tokenized`` block asks for."""
        block = self.corpus(corpus).get("tokenized")
        if not block:
            return []
        targets = [
            path
            for subset in block["subsets"]
            for c, name in self.tokenized_tokenizers(corpus)
            for path in layout.token_array_files(corpus, subset, c, name).values()
        ]
        exports = block["exports"]
        fields = {"corpus": corpus}
        for export, template in (("delphi", layout.DELPHI_EXPORT), ("cs336", layout.CS336_EXPORT)):
            if export in exports:
                targets += [
                    layout.path(template, **fields, subset=s, tokenizer_corpus=c, tokenizer=n)
                    for c, n in self.export_tokenizers(corpus, export)
                    for s in block["subsets"]
                ]
        if "nanogpt" in exports:
            targets += [
                layout.path(
                    layout.NANOGPT_EXPORT, **fields, split=split, tokenizer_corpus=c, tokenizer=n
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

    # -----------------------------------------------------------------------------------------
    # Language models: an LM per tokenizer (the lm block, the LM table) and the byte LM

    def lm_runs(self, corpus: str) -> list[LmRun]:
        """The runs of the LM table: every LM the ``lm`` block trains, evaluated in bits per byte."""
        block = self.corpus(corpus).get("lm")
        if not block:
            return []
        return [
            (*self.resolve_tokenizer(corpus, reference), model)
            for reference in block["tokenizers"]
            for model in block["models"]
        ]

    def token_lm_runs(self, corpus: str) -> list[LmRun]:
        """The runs of :meth:`lm_runs` whose LMs read token ids: every one but T-Free's."""
        return [run for run in self.lm_runs(corpus) if not names.is_tfree(run[1])]

    def trained_lm_runs(self, corpus: str) -> list[LmRun]:
        """Every LM training job of the corpus: the ``lm`` block's runs, then the byte LM's."""
        runs = self.lm_runs(corpus)
        byte_lm = self.bytelm_run(corpus)
        return [*runs, byte_lm] if byte_lm and byte_lm not in runs else runs

    def _lm_jobs(self, corpus: str, run: LmRun) -> list[LmJob]:
        """What the ``lm`` block and the ``bytelm`` block each set for one run (none, one, both)."""
        jobs = []
        block = self.corpus(corpus)
        if run in self.lm_runs(corpus):
            lm, spec = block["lm"], block["lm"]["models"][run[2]]
            jobs.append(
                LmJob(
                    key=f"lm.models.{run[2]}",
                    preset=spec["preset"],
                    training=spec["training"],
                    train_subset=lm["train_subset"],
                    valid_subset=lm["valid_subset"],
                    gpus=lm["gpus"],
                )
            )
        if run == self.bytelm_run(corpus):
            lm = block["bytelm"]
            jobs.append(
                LmJob(
                    key="bytelm",
                    preset=lm["preset"],
                    training=lm["training"],
                    train_subset=lm["train_subset"],
                    valid_subset=lm["valid_subset"],
                    gpus=lm["gpus"],
                )
            )
        return jobs

    def lm_job(self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str) -> LmJob:
        """The settings of one LM training job (the lm block's model or the byte LM).

        A byte LM that the ``lm`` block also trains (its name, on ``bytes`` of its corpus) has
        one output directory, so both blocks must set the same model, data and GPUs.
        """
        run = (tokenizer_corpus, tokenizer, model)
        jobs = self._lm_jobs(corpus, run)
        if not jobs:
            raise ConfigError(
                f"corpus '{corpus}' trains no LM '{model}' on '{tokenizer_corpus}/{tokenizer}'"
            )
        if any(not job.same_settings(jobs[0]) for job in jobs[1:]):
            directory = layout.lm_path(layout.LM_DIR, corpus, *run)
            raise ConfigError(
                f"corpus '{corpus}': bytelm and lm.models.{model} both train {directory}/ with "
                "different settings (preset, training, subsets, gpus); rename the byte LM or "
                "make them identical"
            )
        return jobs[0]

    def _chunk_export(self, corpus: str, run: LmRun, job: LmJob) -> Block:
        """The settings of the Delphi export that a ``data: chunks`` job trains on.

        The export must include the run's tokenizer, and its subsets must be tokenized ones.
        """
        where = f"corpus '{corpus}': {job.key}.training.data is chunks"
        tokenized = self.corpus(corpus).get("tokenized") or {}
        if "delphi" not in tokenized.get("exports", {}):
            raise ConfigError(f"{where}, but the corpus configures no delphi export")
        tokenizer_corpus, tokenizer, _ = run
        if (tokenizer_corpus, tokenizer) not in self.export_tokenizers(corpus, "delphi"):
            raise ConfigError(
                f"{where}, but the delphi export does not include '{tokenizer_corpus}/{tokenizer}'"
            )
        for subset in (job.train_subset, job.valid_subset):
            if subset not in tokenized["subsets"]:
                raise ConfigError(
                    f"{where}, but its subset '{subset}' is not one of tokenized.subsets"
                )
        return self.export_settings(corpus, "delphi")

    def lm_training_settings(
        self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str
    ) -> Block:
        """The trainer's fields of one LM: its preset and training fields.

        A ``data: chunks`` job predicts the export's seq_len - 1 next tokens of each sample, so
        its ``seq_len`` is that (added when the config leaves it out); a T-Free LM of a corpus
        with ``tfree.samples: aligned`` gets ``data: aligned``.
        """
        run = (tokenizer_corpus, tokenizer, model)
        job = self.lm_job(corpus, *run)
        settings = {"model_preset": job.preset, **job.training}
        if self._aligned(corpus, tokenizer):
            settings["data"] = "aligned"
        if job.chunks:
            sample = self._chunk_export(corpus, run, job)["seq_len"]
            seq_len = settings.setdefault("seq_len", sample - 1)
            if seq_len != sample - 1:
                raise ConfigError(
                    f"corpus '{corpus}': {job.key}.training.seq_len is {seq_len}, but chunks of "
                    f"the delphi export's {sample} tokens give {sample - 1} predictions; set "
                    f"seq_len: {sample - 1} or leave it out"
                )
        return settings

    def _aligned(self, corpus: str, tokenizer: str) -> bool:
        """Whether an LM on ``tokenizer`` is a T-Free LM trained on aligned samples."""
        return names.is_tfree(tokenizer) and self.tfree.samples(corpus) == "aligned"

    def _lm_token_arrays(self, corpus: str, run: LmRun, job: LmJob) -> dict[str, str]:
        """The training and validation token arrays of one LM (``train_bin``, ``valid_bin``, ...).

        An LM trained on a stochastic tokenization (StochasTok, BPE-dropout) is validated on the
        tokenizer's own ids, the text as it is tokenized at test time.
        """
        tokenizer_corpus, tokenization, _ = run
        parsed = names.TokenizationName.parse(tokenization)
        valid = parsed.tokenizer if parsed.stochastic else tokenization
        return {
            **layout.token_array_files(
                corpus, job.train_subset, tokenizer_corpus, tokenization, "train"
            ),
            **layout.token_array_files(corpus, job.valid_subset, tokenizer_corpus, valid, "valid"),
        }

    def lm_training_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str
    ) -> dict[str, str]:
        """The tokenizer and the training and validation data of one LM.

        The data are token arrays, the Delphi export directories (``train``, ``valid``) of a
        ``data: chunks`` job, or a T-Free LM's aligned word arrays (``tfree.samples: aligned``).
        """
        run = (tokenizer_corpus, tokenizer, model)
        job = self.lm_job(corpus, *run)
        inputs = {"tokenizer": self.tokenizer_json(tokenizer_corpus, tokenizer)}
        if self._aligned(corpus, tokenizer):
            for subset in (job.train_subset, job.valid_subset):
                self.tfree.aligned_inputs(corpus, subset)
            return {
                **inputs,
                **layout.aligned_word_array_files(
                    corpus, job.train_subset, tokenizer_corpus, tokenizer, "train"
                ),
                **layout.aligned_word_array_files(
                    corpus, job.valid_subset, tokenizer_corpus, tokenizer, "valid"
                ),
            }
        if not job.chunks:
            return {**inputs, **self._lm_token_arrays(corpus, run, job)}
        self._chunk_export(corpus, run, job)
        fields = {"corpus": corpus, "tokenizer_corpus": tokenizer_corpus, "tokenizer": tokenizer}
        return {
            **inputs,
            "train": layout.path(layout.DELPHI_EXPORT, **fields, subset=job.train_subset),
            "valid": layout.path(layout.DELPHI_EXPORT, **fields, subset=job.valid_subset),
        }

    def lm_params(
        self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str
    ) -> dict[str, Any]:
        """GPUs of training and evaluation, ``--train``/``--valid`` and the ``--set`` options.

        ``train`` and ``valid`` are array prefixes, or Delphi export directories for chunks.
        """
        run = (tokenizer_corpus, tokenizer, model)
        job = self.lm_job(corpus, *run)
        data = self.lm_training_inputs(corpus, *run)
        if not job.chunks:
            data = {key: layout.prefix(data[f"{key}_bin"]) for key in ("train", "valid")}
        return {
            "gpus": job.gpus,
            "eval_gpus": min(job.gpus, 1),
            # T-Free's word arrays come with its hasher's settings instead of a tokenizer.json
            "tokenizer_option": "--tfree" if names.is_tfree(tokenizer) else "--tokenizer",
            "train": data["train"],
            "valid": data["valid"],
            "settings": shell.settings(self.lm_training_settings(corpus, *run)),
        }

    def lm_eval_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str
    ) -> dict[str, str]:
        """The trained LM, its tokenizer and token arrays (every document is scored in full).

        With next-word accuracy on, the validation subset's byte corpus (``text_*``); a T-Free
        LM also needs its hasher's decoding dictionary.
        """
        run = (tokenizer_corpus, tokenizer, model)
        job = self.lm_job(corpus, *run)
        inputs = {
            "tokenizer": self.tokenizer_json(tokenizer_corpus, tokenizer),
            **self._lm_token_arrays(corpus, run, job),
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
        }
        if self.block(corpus, "lm")["evaluation"]["next_word"]["items"]:
            inputs.update(layout.byte_corpus_files(corpus, job.valid_subset, "text"))
        if names.is_tfree(tokenizer):
            inputs["dictionary"] = layout.tokenizer_file(
                tokenizer_corpus, tokenizer, "dictionary.tsv"
            )
        return inputs

    def lm_eval_params(
        self, corpus: str, tokenizer_corpus: str, tokenizer: str, model: str
    ) -> Block:
        """The evaluation's context, stride, batch size and ``options``.

        The options: ``--tokenizer``, or ``--tfree`` with ``--dictionary``, and next-word
        accuracy's (``--text`` and its settings).
        """
        inputs = self.lm_eval_inputs(corpus, tokenizer_corpus, tokenizer, model)
        block = self.block(corpus, "lm")["evaluation"]
        next_word = block["next_word"]
        if names.is_tfree(tokenizer):
            files = {"--tfree": inputs["tokenizer"], "--dictionary": inputs["dictionary"]}
        else:
            files = {"--tokenizer": inputs["tokenizer"]}
        if next_word["items"]:
            files["--text"] = layout.prefix(inputs["text_bin"])
        options = [shell.repeated(option, [path]) for option, path in files.items()]
        if next_word["items"]:
            options += [
                f"--next-word-{option} {next_word[key]}"
                for option, key in (
                    ("context", "context_words"),
                    ("items", "items"),
                    ("per-document", "per_document"),
                    ("new-tokens", "max_new_tokens"),
                )
            ]
        return {key: value for key, value in block.items() if key != "next_word"} | {
            "options": " ".join(options)
        }

    def lm_results(self, corpus: str) -> list[tuple[str, str]]:
        """``(result JSON, training benchmark TSV)`` of every run of the LM table."""
        return [
            (
                layout.lm_path(layout.LM_EVAL, corpus, *run),
                layout.lm_path(layout.LM_BENCHMARK, corpus, *run),
            )
            for run in self.lm_runs(corpus)
        ]

    def lm_table_inputs(self, corpus: str) -> list[str]:
        """Every result JSON and training benchmark of the LM table."""
        return [path for pair in self.lm_results(corpus) for path in pair]

    def lm_table_options(self, corpus: str) -> str:
        """``--entry RESULT_JSON BENCHMARK_TSV`` options of the LM table (and its reference)."""
        if not self.lm_runs(corpus):
            raise ConfigError(f"corpus '{corpus}' trains no LMs")
        reference = self.block(corpus, "lm").get("reference")
        option = f" --reference-bits-per-byte {reference['bits_per_byte']}" if reference else ""
        return shell.entries(self.lm_results(corpus)) + option

    def lm_curve_runs(self, corpus: str) -> list[tuple[str, str, str]]:
        """``(label, metrics.jsonl, result JSON)`` of every token LM of the LM table.

        T-Free's validation loss is its multi-label loss, not a likelihood: not on this axis.
        """
        return [
            (
                f"{name} ({model})" if c == corpus else f"{c}/{name} ({model})",
                layout.lm_file(corpus, c, name, model, "metrics.jsonl"),
                layout.lm_path(layout.LM_EVAL, corpus, c, name, model),
            )
            for c, name, model in self.token_lm_runs(corpus)
        ]

    def lm_curve_inputs(self, corpus: str) -> list[str]:
        """Every metrics.jsonl and result JSON of the learning curves."""
        return [path for _, *paths in self.lm_curve_runs(corpus) for path in paths]

    def lm_curve_options(self, corpus: str) -> str:
        """``--run LABEL METRICS RESULT`` options of the learning curves."""
        if not self.lm_runs(corpus):
            raise ConfigError(f"corpus '{corpus}' trains no LMs")
        return shell.entries(self.lm_curve_runs(corpus), option="--run")

    def lm_targets(self, corpus: str) -> list[str]:
        """Every run's weights and result, the LM table and its two figures."""
        runs = self.lm_runs(corpus)
        if not runs:
            return []
        # the figures need a token LM (T-Free's LMs have no bits per byte)
        figures = ("lm_bits_per_byte", "lm_curves") if self.lm_curve_runs(corpus) else ()
        return [
            *(layout.lm_file(corpus, *run, "model.safetensors") for run in runs),
            *(result for result, _ in self.lm_results(corpus)),
            layout.table("lm", corpus),
            *(layout.plot(name, corpus) for name in figures),
        ]

    # -----------------------------------------------------------------------------------------
    # Evaluation

    def evaluation(self, corpus: str) -> Block:
        """The corpus's evaluation block (tokenizer statistics, tables and plots need one)."""
        block = self.corpus(corpus).get("evaluation")
        if block is None:
            raise ConfigError(
                f"corpus '{corpus}' has no 'evaluation' block, so it has no tokenizer statistics"
            )
        return block

    def evaluation_languages(self, corpus: str) -> list[str]:
        """Languages of the evaluation subset, where the config names them."""
        block = self.corpus(corpus)
        subset = block["subsets"].get(self.evaluation(corpus)["subset"], {})
        source = subset.get("source") or block["source"]
        if source["type"] == "demo":
            return list(source["languages"])
        if block.get("languages"):
            return list(block["languages"])
        return [source["language"]] if source.get("language") else []

    def morphscore_gold_files(self, corpus: str) -> dict[str, str]:
        """``{language: gold CSV}`` of the evaluation languages that have gold data."""
        if self.corpus(corpus)["source"]["type"] == "demo":
            return {
                language: layout.path(layout.MORPHOLOGY, corpus=corpus, language=language)
                for language in self.demo_languages(corpus)
            }
        settings = self.evaluation(corpus)["morphscore"]
        files = {}
        for language in self.evaluation_languages(corpus):
            gold = settings["languages"].get(language, language.lower())
            if gold in MORPHSCORE_LANGUAGES:
                folder = settings["dir"] or os.path.dirname(layout.MORPHSCORE_GOLD)
                files[language] = os.path.join(folder, f"{gold}_morph_data.csv")
        return files

    def morphscore_url(self, language: str) -> str:
        """Download address of one language's MorphScore gold file."""
        urls = {
            block["evaluation"]["morphscore"]["url"]
            for block in self.corpora.values()
            if block.get("evaluation")
        }
        url = urls.pop() if urls else DEFAULT_MORPHSCORE_URL
        return url.format(language=language)

    def trained_tokenizers(self, corpus: str) -> list[str]:
        """The tokenizers trained on the corpus (the training table and the overlap plot)."""
        block = self.corpus(corpus)
        return [name for family in FAMILIES if family.trained for name in family.names(block)]

    def evaluated_tokenizers(self, corpus: str) -> list[tuple[str, str]]:
        """(tokenizer corpus, name) of every tokenizer applied to the evaluation subset."""
        foreign = self.evaluation(corpus)["foreign_tokenizers"]
        return [(corpus, name) for name in self.vocabulary_tokenizers(corpus)] + [
            tuple(spec.split("/", 1)) for spec in foreign
        ]

    def stats_inputs(self, corpus: str, tokenizer_corpus: str, tokenizer: str) -> dict[str, Any]:
        """The tokenizer, the corpus manifest and the gold files of one statistics job."""
        known = [f"{c}/{name}" for c, name in self.evaluated_tokenizers(corpus)]
        requested = f"{tokenizer_corpus}/{tokenizer}"
        if requested not in known:
            raise ConfigError(
                f"tokenizer '{requested}' is not evaluated on corpus '{corpus}' "
                f"(configured: {', '.join(known) or 'none'})"
            )
        return {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenizer),
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "gold": list(self.morphscore_gold_files(corpus).values()),
        }

    def stats_params(self, corpus: str) -> dict[str, Any]:
        """Evaluation subset, Rényi order, MorphScore's prefix-space flag and gold options."""
        block = self.evaluation(corpus)
        return {
            "subset": block["subset"],
            "alpha": block["renyi_alpha"],
            "prefix_space": (
                "--prefix-space" if block["morphscore"]["prefix_space"] else "--no-prefix-space"
            ),
            "gold": shell.gold_files(self.morphscore_gold_files(corpus)),
        }

    def _stats_files(self, corpus: str, pairs: list[tuple[str, str]]) -> list[str]:
        return [
            layout.path(layout.STATS, corpus=corpus, tokenizer_corpus=c, tokenizer=name)
            for c, name in pairs
        ]

    def stats_files(self, corpus: str) -> list[str]:
        """Statistics JSON of every tokenizer applied to the evaluation subset."""
        return self._stats_files(corpus, self.evaluated_tokenizers(corpus))

    def own_stats_files(self, corpus: str) -> list[str]:
        """Statistics JSON of the corpus's own tokenizers."""
        self.evaluation(corpus)
        return self._stats_files(
            corpus, [(corpus, name) for name in self.vocabulary_tokenizers(corpus)]
        )

    # -----------------------------------------------------------------------------------------
    # Tables and plots

    def training_table_entries(self, corpus: str) -> list[dict[str, str]]:
        """Each trained tokenizer with its training subset, tokenizer.json and benchmark file."""
        self.evaluation(corpus)
        entries = [
            {
                "name": name,
                "subset": self.training_subset(corpus, name),
                "tokenizer": layout.tokenizer_file(corpus, name),
                "benchmark": layout.path(layout.TOKENIZER_BENCHMARK, corpus=corpus, tokenizer=name),
            }
            for name in self.trained_tokenizers(corpus)
        ]
        if not entries:
            raise ConfigError(f"corpus '{corpus}' configures no trained tokenizers")
        return entries

    def training_table_inputs(self, corpus: str) -> dict[str, Any]:
        """The manifest, and each trained tokenizer with the benchmark file of its training job."""
        entries = self.training_table_entries(corpus)
        return {
            "manifest": layout.path(layout.MANIFEST, corpus=corpus),
            "tokenizers": [entry["tokenizer"] for entry in entries],
            "benchmarks": [entry["benchmark"] for entry in entries],
        }

    def training_table_options(self, corpus: str) -> str:
        """``--entry NAME SUBSET TOKENIZER BENCHMARK`` options of the training table."""
        return shell.entries(
            (e["name"], e["subset"], e["tokenizer"], e["benchmark"])
            for e in self.training_table_entries(corpus)
        )

    def table_targets(self, corpus: str) -> list[str]:
        """The paper tables of a corpus with an evaluation block."""
        if self.corpus(corpus).get("evaluation") is None:
            return []
        return [layout.table(name, corpus) for name in EVALUATION_TABLES]

    def overlap_tokenizers(self, corpus: str) -> list[str]:
        """The tokenizers of the vocabulary-overlap plot: those trained on the corpus."""
        names_ = self.trained_tokenizers(corpus)
        if len(names_) < 2:
            raise ConfigError(f"corpus '{corpus}' has fewer than two tokenizers to compare")
        return names_

    def overlap_inputs(self, corpus: str) -> list[str]:
        """tokenizer.json of every tokenizer of the vocabulary-overlap plot."""
        return [layout.tokenizer_file(corpus, name) for name in self.overlap_tokenizers(corpus)]

    def overlap_tokenizer_options(self, corpus: str) -> str:
        """``--tokenizer NAME PATH`` options of the vocabulary-overlap plot."""
        return self.tokenizer_options(corpus, self.overlap_tokenizers(corpus))

    def tokenizer_options(self, corpus: str, tokenizers: list[str]) -> str:
        """``--tokenizer NAME PATH`` options for some of the corpus's tokenizers."""
        return shell.tokenizers((name, layout.tokenizer_file(corpus, name)) for name in tokenizers)

    def example_tokenizers(self, corpus: str) -> list[str]:
        """A ByteSpan tokenizer (monotonic frequency if built) and the BPE closest in size."""
        block = self.corpus(corpus)
        bytespan, bpe = BYTESPAN.names(block), BPE.names(block)
        if not bytespan or not bpe:
            return []
        shown = min(bytespan, key=lambda name: "-monotonic-frequency-" not in name)
        size = names.vocab_size(shown)
        closest = min(
            bpe,
            key=lambda name: (abs(names.vocab_size(name) - size), not name.startswith("bpe-")),
        )
        return [closest, shown]

    def example_inputs(self, corpus: str) -> dict[str, Any]:
        """Predictions, their byte corpus and the two tokenizers of the surprisal example."""
        shown = self.example_tokenizers(corpus)
        if not shown:
            raise ConfigError(f"corpus '{corpus}' needs BPE and ByteSpan tokenizers for this plot")
        return {
            **self.bytespan_inputs(corpus, shown[1]),
            "tokenizers": [layout.tokenizer_file(corpus, name) for name in shown],
        }

    def example_tokenizer_options(self, corpus: str) -> str:
        """``--tokenizer NAME PATH`` options of the surprisal example."""
        return self.tokenizer_options(corpus, self.example_tokenizers(corpus))

    def example_settings(self, corpus: str) -> dict[str, Any]:
        """Cue, document index and byte count of the surprisal example."""
        plots = self.evaluation(corpus)["plots"]
        return {
            "cue": self.block(corpus, "bytespan")["cues"][0],
            "document": plots["example_document"],
            "bytes": plots["example_bytes"],
        }

    def plot_targets(self, corpus: str) -> list[str]:
        """The figures of a corpus with an evaluation block (each where its inputs exist)."""
        if self.corpus(corpus).get("evaluation") is None:
            return []
        plots = []
        if self.morphscore_gold_files(corpus):
            plots.append("morphscore_fertility")
        if len(self.trained_tokenizers(corpus)) > 1:
            plots.append("vocab_overlap")
        if self.example_tokenizers(corpus):
            plots.append("surprisal_example")
        return [layout.plot(name, corpus) for name in plots]

    # -----------------------------------------------------------------------------------------
    # Everything

    def final_targets(self) -> list[str]:
        """The default target: every stage landed so far, for every configured corpus.

        Each file once: a byte LM that the ``lm`` block also trains is one of its runs.
        """
        targets = [
            target
            for corpus in self.corpora
            for target in self.data_targets(corpus)
            + self.tokenizer_targets(corpus)
            + self.bytelm_targets(corpus)
            + self.tokenized_targets(corpus)
            + self.lm_targets(corpus)
            + self.tasks.targets(corpus)
            + self.tfree.targets(corpus)
            + self.table_targets(corpus)
            + self.plot_targets(corpus)
        ]
        return list(dict.fromkeys(targets))
