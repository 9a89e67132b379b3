#!/usr/bin/env python
"""Per-byte cues of a byte n-gram model (entropy, surprisal, space_nll, eos_nll), to a zarr group."""

from __future__ import annotations

from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging


@click.command()
@click.option(
    "--train-prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Byte corpus the n-grams are counted on (PREFIX.bin/.idx/.pretok).",
)
@click.option(
    "--corpus-prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Byte corpus whose bytes get cues.",
)
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Zarr group path.")
@click.option("--order", default=5, show_default=True, help="n: contexts of n - 1 bytes (1..7).")
@click.option("--discount", default=0.75, show_default=True, help="Absolute discount, in (0, 1).")
@click.option("--chunk-bytes", default=1 << 20, show_default=True, help="Resumable unit.")
@one_line_errors
def main(
    train_prefix: Path,
    corpus_prefix: Path,
    output: Path,
    order: int,
    discount: float,
    chunk_bytes: int,
) -> None:
    """Count the n-grams, then write the cues; a rerun after an interruption resumes."""
    setup_logging()
    from toklab.ngram_cues import write_ngram_predictions

    write_ngram_predictions(
        train_prefix, corpus_prefix, output, order=order, discount=discount, chunk_bytes=chunk_bytes
    )


if __name__ == "__main__":
    main()
