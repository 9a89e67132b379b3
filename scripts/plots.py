#!/usr/bin/env python
"""PNG figures: MorphScore vs fertility, vocabulary overlap, a document coloured by surprisal."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.cues import Predictions
from toklab.data.byte_corpus import ByteCorpus
from toklab.errors import DataError
from toklab.evaluation import plots
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger("plots")

#: ``--tokenizer NAME TOKENIZER_JSON``, repeated: the tokenizers a figure compares, by name.
tokenizer_option = click.option(
    "--tokenizer",
    "tokenizers",
    multiple=True,
    required=True,
    type=(str, click.Path(exists=True, path_type=Path)),
    metavar="NAME TOKENIZER_JSON",
    help="A tokenizer: its label in the figure and its tokenizer.json (repeat).",
)


def read_table(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV table written by scripts/tables.py."""
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@click.group()
def cli() -> None:
    """Draw one figure."""
    setup_logging()


@cli.command("vocab-overlap")
@tokenizer_option
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def vocab_overlap(tokenizers: tuple[tuple[str, Path], ...], output: Path) -> None:
    """The vocabulary-overlap matrix of several tokenizers."""
    names = [name for name, _ in tokenizers]
    matrix = plots.overlap_matrix([plots.vocabulary_bytes(path) for _, path in tokenizers])
    plots.plot_overlap(names, matrix, output)
    log.info("%s: %d tokenizers", output, len(names))


@cli.command("surprisal-example")
@click.option("--predictions", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--corpus-prefix", required=True, type=click.Path(path_type=Path))
@click.option("--cue", default="surprisal", show_default=True)
@click.option("--document", default=0, show_default=True, help="Document index.")
@click.option("--max-bytes", default=240, show_default=True, help="Bytes of it to show.")
@tokenizer_option
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def surprisal_example(
    predictions: Path,
    corpus_prefix: Path,
    cue: str,
    document: int,
    max_bytes: int,
    tokenizers: tuple[tuple[str, Path], ...],
    output: Path,
) -> None:
    """One document coloured by the byte LM's cue, with each tokenizer's token boundaries."""
    corpus = ByteCorpus(corpus_prefix)
    if not 0 <= document < len(corpus):
        raise DataError(f"{corpus_prefix}: no document {document} (it has {len(corpus)})")
    start = int(corpus.offsets[document])
    data = corpus.document_bytes(document).tobytes()
    # cut at a character boundary so the shown bytes decode
    cut = min(max_bytes, len(data))
    while cut < len(data) and data[cut] & 0xC0 == 0x80:
        cut -= 1
    data = data[:cut]
    values = Predictions(predictions).read(cue, start, start + len(data))
    text = data.decode("utf-8")
    boundaries = {
        name: plots.token_boundaries(load_tokenizer(path), text) for name, path in tokenizers
    }
    plots.plot_surprisal_example(data, values, boundaries, output, cue_name=cue)
    log.info("%s: document %d, %d bytes", output, document, len(data))


@cli.command("stochastok-addition")
@click.option("--table", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--split", default="validation", show_default=True)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def stochastok_addition(table: Path, split: str, output: Path) -> None:
    """Addition accuracy per training step and question tokenization, from its table."""
    plots.plot_addition(read_table(table), output, split)


@cli.command("lm-curves")
@click.option(
    "--run",
    "runs",
    multiple=True,
    required=True,
    type=(str, click.Path(exists=True, path_type=Path), click.Path(exists=True, path_type=Path)),
    metavar="LABEL METRICS_JSONL RESULT_JSON",
    help="A trained LM: its label, metrics.jsonl and evaluate_lm.py result (repeat).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def lm_curves(runs: tuple[tuple[str, Path, Path], ...], output: Path) -> None:
    """Validation loss against training bytes seen, for several LMs."""
    import json

    curves = []
    for label, metrics, result_path in runs:
        records = [json.loads(line) for line in metrics.read_text().splitlines() if line]
        result = json.loads(result_path.read_text())
        curves.append((label, records, result["train_bytes_seen"] / result["train_tokens_seen"]))
    plots.plot_lm_curves(curves, output)


@cli.command("lm-logprobs")
@click.option(
    "--run",
    "runs",
    multiple=True,
    required=True,
    type=(str, click.Path(exists=True, path_type=Path)),
    metavar="LABEL LOGPROBS_DIR",
    help="A run: its label and its lm_logprobs.py directory (repeat).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def lm_logprobs(runs: tuple[tuple[str, Path], ...], output: Path) -> None:
    """Per-token loss of the first documents along each run's kept checkpoints."""
    from toklab.evaluation.lm_logprobs import read_logprobs

    plots.plot_logprobs([(label, read_logprobs(directory)) for label, directory in runs], output)


#: The figures drawn from one table alone, by command: the plotting function (rows of the
#: ``--table`` CSV and the ``--output`` PNG) and the command's help.
TABLE_PLOTS: dict[str, tuple[Callable[[list[dict[str, str]], Path], None], str]] = {
    "morphscore-fertility": (
        plots.plot_morphscore_fertility,
        "MorphScore against fertility from a tokenizer_stats table.",
    ),
    "lm-bits-per-byte": (
        plots.plot_lm_bits_per_byte,
        "Bits per byte against vocabulary size, from an lm table.",
    ),
    "stochastok-langgame": (
        plots.plot_langgame,
        "LangGame normalized accuracy during fine-tuning, from a stochastok_langgame table.",
    ),
    "stochastok-benchmarks": (
        plots.plot_benchmarks,
        "Benchmark accuracy per training step, from a stochastok_benchmarks table.",
    ),
}


def table_plot_command(
    name: str, plot: Callable[[list[dict[str, str]], Path], None], summary: str
) -> click.Command:
    """The ``name`` command of ``TABLE_PLOTS``: ``plot`` of the rows of ``--table``."""

    def command(table: Path, output: Path) -> None:
        rows = read_table(table)
        plot(rows, output)
        log.info("%s: %d rows plotted", output, len(rows))

    command = one_line_errors(command)
    command = click.option("--output", required=True, type=click.Path(path_type=Path))(command)
    existing = click.Path(exists=True, path_type=Path)
    command = click.option("--table", required=True, type=existing)(command)
    return cli.command(name, help=summary)(command)


for _name, (_plot, _summary) in TABLE_PLOTS.items():
    table_plot_command(_name, _plot, _summary)


if __name__ == "__main__":
    cli()
