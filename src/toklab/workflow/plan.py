"""Config → what the workflow builds: one plan per stage, and the default targets.

:class:`Plan` wraps a validated config (defaults filled by the schema) in a
:class:`~toklab.workflow.config.WorkflowConfig` and builds the stage plans on it, each given
only the stages it reads, so their dependencies run one way (each reads the config)::

    data        the config's corpora, their sources and byte subsets
    tokenizers  the families' tokenizers
    cues        the byte LM and its predictions
    tokenized   token arrays and exports   ← tokenizers
    tfree       T-Free's hashers and words ← tokenizers, tokenized
    lm          LMs and the LM table       ← cues, tokenized, tfree
    tasks       StochasTok's tasks         ← tokenized, lm
    evaluation  statistics, tables, plots  ← data, tokenizers
    findings    the findings table         ← lm, tasks, tfree, evaluation
    publishing  repos of the publish targets ← tokenizers, tokenized, lm, tasks

The publish targets (the Hub) are asked for by name, never part of :meth:`Plan.final_targets`.

Their methods take plain names (corpus, subset, tokenizer), never Snakemake objects, and raise
:class:`~toklab.errors.ConfigError` for anything the config does not configure;
``workflow/rules/common.smk`` binds them to the rules' wildcards.
"""

from __future__ import annotations

import os
from typing import Any

from toklab.workflow.config import WorkflowConfig
from toklab.workflow.cues import CuesPlan
from toklab.workflow.data import DataPlan
from toklab.workflow.evaluation import EvaluationPlan
from toklab.workflow.findings import FindingsPlan
from toklab.workflow.lm import LmPlan
from toklab.workflow.publishing import PublishingPlan
from toklab.workflow.tasks import TasksPlan
from toklab.workflow.tfree import TfreePlan
from toklab.workflow.tokenized import TokenizedPlan
from toklab.workflow.tokenizers import TokenizersPlan


class Plan:
    """The stage plans of a config, and the targets of every stage for every corpus."""

    def __init__(self, config: dict[str, Any], repository: str | os.PathLike | None = None) -> None:
        self.config = WorkflowConfig(config, repository)
        self.corpora = self.config.corpora
        self.data = DataPlan(self.config)
        self.tokenizers = TokenizersPlan(self.config)
        self.cues = CuesPlan(self.config)
        self.tokenized = TokenizedPlan(self.config, self.tokenizers)
        self.tfree = TfreePlan(self.config, self.tokenizers, self.tokenized)
        self.lm = LmPlan(self.config, self.cues, self.tokenized, self.tfree)
        self.tasks = TasksPlan(self.config, self.tokenized, self.lm)
        self.evaluation = EvaluationPlan(self.config, self.data, self.tokenizers)
        self.findings = FindingsPlan(
            self.config, self.lm, (self.lm, self.tasks, self.tfree, self.evaluation)
        )
        self.publishing = PublishingPlan(
            self.config, self.tokenizers, self.tokenized, self.lm, self.tasks
        )

    def final_targets(self) -> list[str]:
        """The default target: every stage landed so far, for every configured corpus.

        Each file once: a byte LM that the ``lm`` block also trains is one of its runs. Nothing
        is published to the Hub (``publishing``'s targets are asked for by name).
        """
        stages = (
            self.data,
            self.tokenizers,
            self.cues,
            self.tokenized,
            self.lm,
            self.tasks,
            self.tfree,
            self.evaluation,
            self.findings,
        )
        targets = [
            target
            for corpus in self.corpora
            for stage in stages
            for target in stage.targets(corpus)
        ]
        return list(dict.fromkeys(targets))
