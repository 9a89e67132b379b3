#!/usr/bin/env python
"""The paper tables as CSV: tokenizer statistics, compression, tokenizer training cost, LMs."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.evaluation import tables

log = logging.getLogger("tables")


@click.group()
def cli() -> None:
    """Assemble one paper table."""
    setup_logging()


@cli.command()
@click.option(
    "--table",
    required=True,
    type=click.Choice(sorted(tables.STATS_TABLES)),
    help="tokenizer_stats: ByteSpan's statistics; compression: CS336's bytes per token.",
)
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def stats(table: str, results: tuple[Path, ...], output: Path) -> None:
    """A table of `tokenizer_stats.py` results (RESULTS: its JSON files)."""
    n = tables.write_stats_table(table, tables.read_stats_results(results), output)
    log.info("%s: %d rows", output, n)


@cli.command()
@click.option(
    "--entry",
    "entries",
    multiple=True,
    required=True,
    type=(str, str, click.Path(path_type=Path), click.Path(path_type=Path)),
    metavar="NAME SUBSET TOKENIZER_JSON BENCHMARK_TSV",
    help="One trained tokenizer, the subset it was trained on and its job's benchmark (repeat).",
)
@click.option("--manifest", required=True, type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def training(
    entries: tuple[tuple[str, str, Path, Path], ...], manifest: Path, output: Path
) -> None:
    """Training wall time and peak memory per tokenizer, from the rules' benchmark files."""
    rows = tables.training_rows(entries, manifest)
    n = tables.write_csv(output, list(tables.TRAINING_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


@cli.command()
@click.option(
    "--entry",
    "entries",
    multiple=True,
    required=True,
    type=(click.Path(path_type=Path), click.Path(path_type=Path)),
    metavar="RESULT_JSON BENCHMARK_TSV",
    help="One trained LM: its evaluate_lm.py result and its training job's benchmark (repeat).",
)
@click.option(
    "--reference-bits-per-byte",
    "reference",
    type=float,
    help="A published bits per byte to compare every row with (reference columns).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def lm(entries: tuple[tuple[Path, Path], ...], reference: float | None, output: Path) -> None:
    """Bits per byte, loss, parameters and cost of every LM trained on a corpus."""
    rows = tables.lm_rows(entries, reference)
    n = tables.write_csv(output, list(tables.LM_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


@cli.command()
@click.option("--claims", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--table",
    "evidence_tables",
    multiple=True,
    type=(str, click.Path(path_type=Path)),
    metavar="NAME CSV",
    help="One of the corpus's tables the claims read (repeat).",
)
@click.option(
    "--curve",
    "curves",
    multiple=True,
    type=(str, click.Path(path_type=Path)),
    metavar="LABEL METRICS_JSONL",
    help="One LM's learning curve (repeat).",
)
@click.option(
    "--scale", required=True, type=click.Choice(["demo", "miniature", "paper"]), help="run_scale."
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def findings(
    claims: Path,
    evidence_tables: tuple[tuple[str, Path], ...],
    curves: tuple[tuple[str, Path], ...],
    scale: str,
    output: Path,
) -> None:
    """The reproduction scorecard: every claim of CLAIMS against the corpus's tables."""
    from toklab.evaluation import findings as scorecard

    rows = scorecard.findings_rows(
        scorecard.read_claims(claims),
        scorecard.evidence_from_files(evidence_tables, curves),
        scale,
    )
    n = tables.write_csv(output, list(scorecard.FINDINGS_COLUMNS), rows)
    held = sum(row["holds"] == scorecard.YES for row in rows)
    log.info("%s: %d claims, %d hold", output, n, held)


@cli.command("lm-harness")
@click.option(
    "--entry",
    "entries",
    multiple=True,
    required=True,
    type=(str, str, str, click.Path(path_type=Path)),
    metavar="TOKENIZER_CORPUS TOKENIZATION MODEL RESULTS_JSON",
    help="One LM's lm-eval results (scripts/lm_harness.py; repeat).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def lm_harness(entries: tuple[tuple[str, str, str, Path], ...], output: Path) -> None:
    """lm-evaluation-harness results: a row per LM, task and metric."""
    rows = tables.lm_harness_rows(entries)
    n = tables.write_csv(output, list(tables.LM_HARNESS_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


def task_table_command(name: str, table: tables.TaskTable) -> click.Command:
    """The ``name`` command of ``tables.TASK_TABLES``: its ``--entry`` results as one table."""

    def command(entries: tuple[tuple[str, str, str, Path], ...], output: Path) -> None:
        n = tables.write_task_table(name, entries, output)
        log.info("%s: %d rows", output, n)

    command = one_line_errors(command)
    command = click.option("--output", required=True, type=click.Path(path_type=Path))(command)
    command = click.option(
        "--entry",
        "entries",
        multiple=True,
        required=True,
        type=(str, str, str, click.Path(path_type=Path)),
        metavar="TOKENIZER_CORPUS TOKENIZATION MODEL RESULT_JSON",
        help=table.entry_help,
    )(command)
    return cli.command(name, help=table.summary)(command)


for _name, _table in tables.TASK_TABLES.items():
    task_table_command(_name, _table)


if __name__ == "__main__":
    cli()
