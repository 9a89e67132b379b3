#!/usr/bin/env python
"""Data stage: a corpus's subsets as parquet shards, byte corpora, and demo gold morphology."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.data.byte_corpus import write_byte_corpus
from toklab.data.corpus import CorpusSpec, prepare_corpus, subset_shard_paths
from toklab.data.demo import DEMO_LANGUAGES, gold_segmentations, morphscore_csv
from toklab.errors import ConfigError
from toklab.io import atomic_write


@click.group()
def cli() -> None:
    """Prepare corpora: shards, byte corpora and demo morphology files."""
    setup_logging()


@cli.command()
@click.option("--corpus", required=True, help="Corpus name (for messages and ids).")
@click.option("--spec-json", required=True, help="The corpus's config block, as JSON.")
@click.option("--shards-dir", required=True, type=click.Path(path_type=Path))
@click.option("--manifest", required=True, type=click.Path(path_type=Path))
@one_line_errors
def shards(corpus: str, spec_json: str, shards_dir: Path, manifest: Path) -> None:
    """Stream the corpus's source into disjoint subsets of parquet shards plus a manifest."""
    try:
        config = json.loads(spec_json)
    except json.JSONDecodeError as err:
        raise ConfigError(f"corpus '{corpus}': --spec-json is not valid JSON ({err})") from None
    prepare_corpus(CorpusSpec.from_config(corpus, config), shards_dir, manifest)


@cli.command(name="bytes")
@click.option("--manifest", required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--subset", required=True, help="Subset to convert, e.g. tok_train.")
@click.option(
    "--prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Output prefix: writes PREFIX.bin, .idx, .pretok and .meta.json.",
)
@click.option("--workers", default=1, show_default=True, help="Processes for pre-tokenization.")
@one_line_errors
def bytes_(manifest: Path, subset: str, prefix: Path, workers: int) -> None:
    """Write a subset's byte corpus with GPT-2 pre-token-start flags."""
    write_byte_corpus(subset_shard_paths(manifest, subset), prefix, workers=workers)


@cli.command()
@click.option("--language", required=True, help="A demo language.")
@click.option("--seed", default=0, show_default=True, help="The demo corpus's seed.")
@click.option("--count", default=1000, show_default=True, help="Number of gold words.")
@click.option("--output", required=True, type=click.Path(path_type=Path))
@one_line_errors
def morphology(language: str, seed: int, count: int, output: Path) -> None:
    """Write gold segmentations of a demo language in MorphScore's CSV layout."""
    if language not in DEMO_LANGUAGES:
        raise ConfigError(f"unknown demo language '{language}' (available: {DEMO_LANGUAGES})")
    with atomic_write(output, "w") as handle:
        handle.write(morphscore_csv(gold_segmentations(language, seed, count)))


if __name__ == "__main__":
    cli()
