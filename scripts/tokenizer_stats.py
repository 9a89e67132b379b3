#!/usr/bin/env python
"""Tokenizer statistics (fertility, Rényi efficiency, MorphScore, duplicate tokens, ...) as JSON."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click
from tqdm import tqdm

from toklab.cli import one_line_errors, setup_logging
from toklab.data.corpus import iter_subset_documents
from toklab.errors import DataError
from toklab.evaluation.metrics import RENYI_ALPHA
from toklab.evaluation.morphscore import read_gold
from toklab.evaluation.tokenizer_stats import evaluate_tokenizer
from toklab.io import read_json, write_json
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger("tokenizer_stats")


@click.command()
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
    setup_logging()
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


if __name__ == "__main__":
    evaluate()
