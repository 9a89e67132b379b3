"""The publishing plan: repo ids, inputs and cards of the optional targets that publish to the Hub.

A config's top-level ``publish`` block (``organisation``, ``prefix``, ``private``, ``license``)
names where things go; the targets are markers under ``results/published/`` (:mod:`layout`),
asked for by name and never part of the default target. Each repo's name is the prefix, the
corpus and what is published, joined by ``-``:

=========================  ================================================================
tokenizer                  ``{prefix}-{corpus}-{tokenizer}`` (a model repo)
Delphi / nanoGPT dataset   ``{prefix}-{corpus}-[{tokenizer_corpus}-]{tokenization}-delphi``
                           (or ``-nanogpt``; dataset repos)
LM, and its suite          ``{prefix}-{corpus}-[{tokenizer_corpus}-]{tokenization}-{model}``
                           (a model repo; the suite's checkpoints are its ``step-{N}`` branches)
=========================  ================================================================

(``{tokenizer_corpus}-`` only for another corpus's tokenizer.) The parse-time checks
(:func:`toklab.workflow.checks.check_publish`) validate every repo id with the Hub's own rules
and refuse two targets of one repo. Rules: ``workflow/rules/publish.smk``; script:
``publish.py``; library: :mod:`toklab.publishing`.
"""

from __future__ import annotations

import json
from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.cues import LmRun
from toklab.workflow.families import family_of
from toklab.workflow.lm import LmPlan
from toklab.workflow.tasks import TasksPlan
from toklab.workflow.tokenized import TokenizedPlan
from toklab.workflow.tokenizers import TokenizersPlan

#: The token datasets that can be published: an export and its marker.
DATASET_EXPORTS = {"delphi": layout.PUBLISHED_DELPHI, "nanogpt": layout.PUBLISHED_NANOGPT}
#: Per-checkpoint evaluations a suite's checkpoints are published with, when the config has them.
CHECKPOINT_EVALUATIONS = {"benchmarks": layout.BENCHMARKS_EVAL, "addition": layout.ADDITION_EVAL}


class PublishingPlan:
    """Config → the publish targets of each corpus: their repo ids, inputs and card contexts."""

    def __init__(
        self,
        config: WorkflowConfig,
        tokenizers: TokenizersPlan,
        tokenized: TokenizedPlan,
        lm: LmPlan,
        tasks: TasksPlan,
    ) -> None:
        self.config = config
        self.tokenizers = tokenizers
        self.tokenized = tokenized
        self.lm = lm
        self.tasks = tasks

    def settings(self) -> Block:
        """The ``publish`` block."""
        if not self.config.publish:
            raise ConfigError(
                "the config has no 'publish' block: publishing needs one "
                "(publish: {organisation: <hub user or organisation>, prefix: toklab})"
            )
        return self.config.publish

    def repo_id(self, corpus: str, *parts: str) -> str:
        """``{organisation}/{prefix}-{corpus}-{parts...}`` (the prefix left out when empty)."""
        settings = self.settings()
        name = "-".join(part for part in (settings["prefix"], corpus, *parts) if part)
        return f"{settings['organisation']}/{name}"

    def _common(self, repo_id: str, corpus: str) -> dict[str, Any]:
        """What every publish job's params hold: repo, visibility, the card's corpus fields."""
        settings = self.settings()
        return {
            "repo_id": repo_id,
            "visibility": "--private" if settings["private"] else "--public",
            "context": {
                "corpus": corpus,
                "source": self.source(corpus),
                "datasets": self.hub_datasets(corpus),
                "license": settings.get("license"),
            },
        }

    @staticmethod
    def _params(common: dict[str, Any], **context: Any) -> dict[str, Any]:
        """The params of a publish job: the card's context as JSON (``card``)."""
        card = {**common.pop("context"), **context}
        return {**common, "card": json.dumps(card, sort_keys=True)}

    def source(self, corpus: str) -> str:
        """Where the corpus's text comes from, in words, for the cards."""
        source = self.config.corpus(corpus)["source"]
        kind = source["type"]
        if kind == "hf":
            name = f" ({source['name']})" if source.get("name") else ""
            return f"the Hub dataset {source['dataset']}{name}"
        return {
            "local": "local files",
            "demo": "toklab's synthetic demo languages",
            "addition": "StochasTok's three-digit addition problems",
        }.get(kind, kind)

    def hub_datasets(self, corpus: str) -> list[str]:
        """The Hub datasets (``owner/name``) the corpus's sources read, for the cards' metadata."""
        found = [
            source["dataset"]
            for source in self.config.sources(corpus)
            if source["type"] == "hf" and "/" in source["dataset"]
        ]
        return list(dict.fromkeys(found))

    @staticmethod
    def _tokenization_parts(corpus: str, tokenizer_corpus: str, tokenization: str) -> list[str]:
        return [tokenization] if tokenizer_corpus == corpus else [tokenizer_corpus, tokenization]

    # -----------------------------------------------------------------------------------------
    # Tokenizers

    def tokenizer_repo(self, corpus: str, tokenizer: str) -> str:
        """The repo of one of the corpus's tokenizers."""
        self.tokenizers.tokenizer(corpus, tokenizer)
        return self.repo_id(corpus, tokenizer)

    def tokenizer_inputs(self, corpus: str, tokenizer: str) -> dict[str, str]:
        """The tokenizer's files (its family's), keyed by name (``tokenizer``, ``merges``, ...)."""
        self.tokenizer_repo(corpus, tokenizer)
        return {
            filename.split(".")[0]: layout.tokenizer_file(corpus, tokenizer, filename)
            for filename in family_of(tokenizer).files
        }

    def tokenizer_params(self, corpus: str, tokenizer: str) -> dict[str, Any]:
        """``repo_id``, ``visibility``, the tokenizer's ``directory`` and its ``card`` context."""
        family = family_of(tokenizer)
        block = self.config.corpus(corpus)
        subset = family.training_subset(block) if family.trained else None
        params = self._params(
            self._common(self.tokenizer_repo(corpus, tokenizer), corpus),
            tokenizer=tokenizer,
            family=family.block,
            subset=subset,
        )
        return {
            **params,
            "directory": layout.path(layout.TOKENIZER_DIR, corpus=corpus, tokenizer=tokenizer),
        }

    # -----------------------------------------------------------------------------------------
    # Token datasets: Delphi's parquet export, nanoGPT's .bin files

    def dataset_repo(
        self, export: str, corpus: str, tokenizer_corpus: str, tokenization: str
    ) -> str:
        """The dataset repo of one tokenization's Delphi or nanoGPT export."""
        if export not in DATASET_EXPORTS:
            raise ConfigError(
                f"'{export}' exports are not published (only {', '.join(DATASET_EXPORTS)})"
            )
        if (tokenizer_corpus, tokenization) not in self.tokenized.export_tokenizers(corpus, export):
            raise ConfigError(
                f"corpus '{corpus}': the {export} export does not include "
                f"'{tokenizer_corpus}/{tokenization}'"
            )
        parts = self._tokenization_parts(corpus, tokenizer_corpus, tokenization)
        return self.repo_id(corpus, *parts, export)

    def _export_files(
        self, export: str, corpus: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """``{split: export path}``: Delphi's subset directories, or nanoGPT's two files."""
        fields = {
            "corpus": corpus,
            "tokenizer_corpus": tokenizer_corpus,
            "tokenization": tokenization,
        }
        if export == "delphi":
            return {
                subset: layout.path(layout.DELPHI_EXPORT, **fields, subset=subset)
                for subset in self.tokenized.block(corpus)["subsets"]
            }
        return {
            split: layout.path(layout.NANOGPT_EXPORT, **fields, split=split)
            for split in ("train", "val")
        }

    def dataset_inputs(
        self, export: str, corpus: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, str]:
        """The export's files (``split_{name}``) and its tokenizer."""
        self.dataset_repo(export, corpus, tokenizer_corpus, tokenization)
        files = self._export_files(export, corpus, tokenizer_corpus, tokenization)
        return {
            "tokenizer": self.tokenized.tokenizer_json(tokenizer_corpus, tokenization),
            **{f"split_{split}": path for split, path in files.items()},
        }

    def dataset_params(
        self, export: str, corpus: str, tokenizer_corpus: str, tokenization: str
    ) -> dict[str, Any]:
        """``repo_id``, ``visibility``, ``--split NAME PATH`` options (``splits``), ``card``."""
        repo = self.dataset_repo(export, corpus, tokenizer_corpus, tokenization)
        files = self._export_files(export, corpus, tokenizer_corpus, tokenization)
        nanogpt = self.tokenized.block(corpus)["exports"].get("nanogpt", {})
        subsets = {split: nanogpt.get(split) for split in files} if export == "nanogpt" else {}
        params = self._params(
            self._common(repo, corpus),
            tokenizer_corpus=tokenizer_corpus,
            tokenization=tokenization,
            export=export,
            subsets=subsets,
        )
        return {**params, "splits": shell.entries(files.items(), option="--split")}

    # -----------------------------------------------------------------------------------------
    # LMs and their suites of kept checkpoints

    def _run(self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str) -> LmRun:
        """One of the LM table's token LMs (evaluated in bits per byte); an error otherwise."""
        run = (tokenizer_corpus, tokenization, model)
        self.lm.job(corpus, *run)
        if names.is_tfree(tokenization):
            raise ConfigError(
                f"corpus '{corpus}': the T-Free LM '{model}' on '{tokenization}' has no bits per "
                "byte for its model card; only token LMs are published"
            )
        if run not in self.lm.token_runs(corpus):
            raise ConfigError(
                f"corpus '{corpus}': LM '{model}' on '{tokenizer_corpus}/{tokenization}' is not "
                "one of the lm block's, whose evaluation (bits per byte) its model card reports"
            )
        return run

    def lm_repo(self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str) -> str:
        """The model repo of one LM (its suite's checkpoints are branches of it)."""
        self._run(corpus, tokenizer_corpus, tokenization, model)
        parts = self._tokenization_parts(corpus, tokenizer_corpus, tokenization)
        return self.repo_id(corpus, *parts, model)

    def lm_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM's files and its evaluation (``evaluation``: bits per byte)."""
        run = self._run(corpus, tokenizer_corpus, tokenization, model)
        return {
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
            "evaluation": layout.lm_path(layout.LM_EVAL, corpus, *run),
        }

    def keeps_checkpoints(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> bool:
        """Whether the LM's training keeps checkpoints (``keep_checkpoints``, extra steps)."""
        training = self.lm.job(corpus, tokenizer_corpus, tokenization, model).training
        return bool(training.get("keep_checkpoints") or training.get("extra_checkpoint_steps"))

    def lm_params(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, Any]:
        """``repo_id``, ``visibility``, the model's ``directory`` and its ``card`` context."""
        run = self._run(corpus, tokenizer_corpus, tokenization, model)
        job = self.lm.job(corpus, *run)
        params = self._params(
            self._common(self.lm_repo(corpus, *run), corpus),
            tokenizer_corpus=tokenizer_corpus,
            tokenization=tokenization,
            model=model,
            preset=job.preset,
            train_subset=job.train_subset,
            valid_subset=job.valid_subset,
            suite=self.keeps_checkpoints(corpus, *run),
        )
        return {**params, "directory": layout.lm_path(layout.LM_DIR, corpus, *run)}

    def checkpoint_evaluations(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The per-checkpoint evaluations the config makes of the LM: benchmarks, addition."""
        run = self._run(corpus, tokenizer_corpus, tokenization, model)
        evaluated = {
            "benchmarks": self.tasks.has(corpus, "benchmarks")
            and run in self.tasks.benchmark_runs(corpus),
            "addition": self.tasks.has(corpus, "addition")
            and run in self.tasks.addition_runs(corpus),
        }
        return {
            name: layout.lm_path(template, corpus, *run)
            for name, template in CHECKPOINT_EVALUATIONS.items()
            if evaluated[name]
        }

    def _suite(self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str) -> LmRun:
        run = self._run(corpus, tokenizer_corpus, tokenization, model)
        if not self.keeps_checkpoints(corpus, *run):
            job = self.lm.job(corpus, *run)
            raise ConfigError(
                f"corpus '{corpus}': {job.key} keeps no checkpoints (training.keep_checkpoints "
                "or extra_checkpoint_steps): it has no suite to publish"
            )
        return run

    def suite_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The LM's inputs, its publication's marker (main first), per-checkpoint evaluations."""
        run = self._suite(corpus, tokenizer_corpus, tokenization, model)
        evaluations = self.checkpoint_evaluations(corpus, *run)
        return {
            **self.lm_inputs(corpus, *run),
            "published": layout.lm_path(layout.PUBLISHED_LM, corpus, *run),
            **{f"checkpoint_{name}": path for name, path in evaluations.items()},
        }

    def suite_params(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, Any]:
        """The LM's params and ``--checkpoint-evaluation NAME JSON`` options (``evaluations``)."""
        run = self._suite(corpus, tokenizer_corpus, tokenization, model)
        evaluations = self.checkpoint_evaluations(corpus, *run)
        return {
            **self.lm_params(corpus, *run),
            "evaluations": shell.entries(evaluations.items(), option="--checkpoint-evaluation"),
        }

    # -----------------------------------------------------------------------------------------
    # Every publish target of a corpus (none without a publish block)

    def repos(self, corpus: str) -> list[tuple[str, str, str]]:
        """``(marker, repo type, repo id)`` of every target that can be published.

        A suite publishes to its LM's repo, as branches; it is listed with it.
        """
        if not self.config.publish:
            return []
        found = [
            (layout.path(layout.PUBLISHED_TOKENIZER, corpus=corpus, tokenizer=name), "model",
             self.tokenizer_repo(corpus, name))
            for name in self.tokenizers.tokenizer_names(corpus)
        ]  # fmt: skip
        exports = (self.config.corpus(corpus).get("tokenized") or {}).get("exports", {})
        for export, template in DATASET_EXPORTS.items():
            if export not in exports:
                continue
            for tokenizer_corpus, tokenization in self.tokenized.export_tokenizers(corpus, export):
                fields = {"tokenizer_corpus": tokenizer_corpus, "tokenization": tokenization}
                found.append(
                    (
                        layout.path(template, corpus=corpus, **fields),
                        "dataset",
                        self.dataset_repo(export, corpus, tokenizer_corpus, tokenization),
                    )
                )
        for run in self.lm.token_runs(corpus):
            found.append(
                (
                    layout.lm_path(layout.PUBLISHED_LM, corpus, *run),
                    "model",
                    self.lm_repo(corpus, *run),
                )
            )
        return found

    def targets(self, corpus: str) -> list[str]:
        """Every marker that can be asked for: tokenizers, datasets, LMs, suites (not default)."""
        markers = [marker for marker, _, _ in self.repos(corpus)]
        if self.config.publish:
            markers += [
                layout.lm_path(layout.PUBLISHED_SUITE, corpus, *run)
                for run in self.lm.token_runs(corpus)
                if self.keeps_checkpoints(corpus, *run)
            ]
        return markers
