#!/usr/bin/env python
"""Tokenizer statistics (fertility, Rényi efficiency, MorphScore, ...) and the tables built on them."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click
from tqdm import tqdm

from toklab.cli import one_line_errors, setup_logging
from toklab.data.corpus import iter_subset_documents
from toklab.errors import DataError
from toklab.evaluation import tables
from toklab.evaluation.metrics import RENYI_ALPHA
from toklab.evaluation.morphscore import read_gold
from toklab.evaluation.tokenizer_stats import evaluate_tokenizer
from toklab.io import read_json, write_json

log = logging.getLogger("tokenizer_stats")


def load_tokenizer(path: Path):
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``, with a one-line error if unreadable."""
    from tokenizers import Tokenizer

    if not path.is_file():
        raise DataError(f"{path}: tokenizer file not found")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a Hugging Face tokenizer.json ({err})") from None


@click.group()
def cli() -> None:
    """Evaluate tokenizers and assemble the paper tables."""
    setup_logging()


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Tokenizer name recorded in the output.")
@click.option("--tokenizer-corpus", required=True, help="Corpus the tokenizer was trained on.")
@click.option("--manifest", required=True, type=click.Path(path_type=Path))
@click.option("--corpus", required=True, help="Corpus whose subset is tokenized.")
@click.option("--subset", required=True, help="The evaluation subset.")
@click.option(
    "--gold",
    "gold_files",
    multiple=True,
    metavar="LANGUAGE=CSV",
    help="MorphScore gold data of one language (repeat for several).",
)
@click.option(
    "--prefix-space/--no-prefix-space",
    default=True,
    show_default=True,
    help="Tokenize gold words as ' word', as they occur in running text.",
)
@click.option("--alpha", default=RENYI_ALPHA, show_default=True, help="Rényi order.")
@click.option("--batch-size", default=256, show_default=True, help="Documents per encode call.")
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def evaluate(
    tokenizer_path: Path,
    name: str,
    tokenizer_corpus: str,
    manifest: Path,
    corpus: str,
    subset: str,
    gold_files: tuple[str, ...],
    prefix_space: bool,
    alpha: float,
    batch_size: int,
    output: Path,
) -> None:
    """Statistics of one tokenizer on one evaluation subset, per language, as JSON."""
    tokenizer = load_tokenizer(tokenizer_path)
    gold = {}
    for item in gold_files:
        language, sep, path = item.partition("=")
        if not sep or not language or not path:
            raise DataError(f"--gold {item!r}: expected LANGUAGE=PATH")
        gold[language] = read_gold(path)
        log.info(
            "%s: %d gold words (%d rows skipped)",
            path,
            len(gold[language].words),
            gold[language].skipped,
        )
    total = read_json(manifest)["subsets"].get(subset, {}).get("bytes")
    start = time.perf_counter()
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, mininterval=10) as bar:
        rows = evaluate_tokenizer(
            tokenizer,
            iter_subset_documents(manifest, subset),
            gold=gold,
            prefix_space=prefix_space,
            alpha=alpha,
            batch_size=batch_size,
            progress=bar.update,
        )
    seconds = time.perf_counter() - start
    text_bytes = sum(r["total_bytes"] for r in rows if r["language"] != "all" or len(rows) == 1)
    log.info(
        "%s: %.1f MB in %.1f s (%.2f MB/s)",
        name,
        text_bytes / 1e6,
        seconds,
        text_bytes / 1e6 / seconds,
    )
    write_json(
        output,
        {
            "tokenizer": name,
            "tokenizer_corpus": tokenizer_corpus,
            "corpus": corpus,
            "subset": subset,
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "prefix_space": prefix_space,
            "alpha": alpha,
            "rows": rows,
        },
    )


def _read_results(paths: tuple[Path, ...]) -> list[dict]:
    return [json.loads(Path(p).read_text()) for p in paths]


@cli.command("stats-table")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def stats_table(results: tuple[Path, ...], output: Path) -> None:
    """ByteSpan's tokenizer-statistics table from `evaluate` results."""
    rows = tables.tokenizer_stats_rows(_read_results(results))
    n = tables.write_csv(output, list(tables.TOKENIZER_STATS_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


@cli.command("compression-table")
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def compression_table(results: tuple[Path, ...], output: Path) -> None:
    """CS336's bytes-per-token table from `evaluate` results."""
    rows = tables.compression_rows(_read_results(results))
    n = tables.write_csv(output, list(tables.COMPRESSION_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


@cli.command("training-table")
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
def training_table(
    entries: tuple[tuple[str, str, Path, Path], ...], manifest: Path, output: Path
) -> None:
    """Training wall time and peak memory per tokenizer, from the rules' benchmark files."""
    subsets = read_json(manifest)["subsets"]
    rows = []
    for name, subset, tokenizer, benchmark in entries:
        if subset not in subsets:
            raise DataError(f"{manifest}: no subset '{subset}' (tokenizer {name})")
        rows.append(
            tables.training_row(
                name,
                load_tokenizer(tokenizer).get_vocab_size(with_added_tokens=True),
                int(subsets[subset]["bytes"]),
                tables.read_benchmark(benchmark),
            )
        )
    n = tables.write_csv(output, list(tables.TRAINING_COLUMNS), rows)
    log.info("%s: %d rows", output, n)


if __name__ == "__main__":
    cli()
