"""The findings table of a corpus: which of its paper tables and learning curves it reads.

``results/tables/findings_{corpus}.csv`` (:mod:`toklab.evaluation.findings`) checks the papers'
claims of ``resources/paper_findings.yaml`` against the corpus's other tables; it reads those
the config builds, and the learning curves of its token LMs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from toklab.workflow import layout, shell
from toklab.workflow.config import WorkflowConfig
from toklab.workflow.lm import LmPlan

#: The tables whose rows the claims read (every other table of a corpus is left out).
EVIDENCE_TABLES = (
    "tokenizer_stats",
    "compression",
    "lm",
    "stochastok_addition",
    "stochastok_langgame",
    "stochastok_benchmarks",
    "tfree_fertility",
    "tfree_params",
)
#: The claims, the papers' values and their sources.
CLAIMS = "resources/paper_findings.yaml"


class Stage(Protocol):
    """A stage plan: its targets for a corpus."""

    def targets(self, corpus: str) -> list[str]:
        """The files the stage builds for ``corpus``."""
        ...


class FindingsPlan:
    """The findings table of every corpus whose config builds one of its evidence tables."""

    def __init__(self, config: WorkflowConfig, lm: LmPlan, stages: Sequence[Stage]) -> None:
        self.config = config
        self.lm = lm
        self.stages = stages

    def tables(self, corpus: str) -> list[tuple[str, str]]:
        """``(table, CSV)`` of the evidence tables the config builds for the corpus."""
        built = {target for stage in self.stages for target in stage.targets(corpus)}
        return [
            (name, layout.table(name, corpus))
            for name in EVIDENCE_TABLES
            if layout.table(name, corpus) in built
        ]

    def curves(self, corpus: str) -> list[tuple[str, str]]:
        """``(label, metrics.jsonl)`` of the corpus's token LMs."""
        if not self.lm.runs(corpus):
            return []
        return [(label, metrics) for label, metrics, _ in self.lm.curve_runs(corpus)]

    def inputs(self, corpus: str) -> dict[str, Any]:
        """The claims file, the evidence tables and the learning curves."""
        return {
            "claims": self.config.resource(CLAIMS),
            "tables": [path for _, path in self.tables(corpus)],
            "curves": [path for _, path in self.curves(corpus)],
        }

    def options(self, corpus: str) -> str:
        """``--table NAME CSV``, ``--curve LABEL METRICS`` and ``--scale`` options."""
        return " ".join(
            part
            for part in (
                shell.entries(self.tables(corpus), option="--table"),
                shell.entries(self.curves(corpus), option="--curve"),
                f"--scale {self.config.run_scale}",
            )
            if part
        )

    def targets(self, corpus: str) -> list[str]:
        """The corpus's findings table, when it builds any evidence table."""
        return [layout.table("findings", corpus)] if self.tables(corpus) else []
