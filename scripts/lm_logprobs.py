#!/usr/bin/env python
"""Next-token log-probabilities of a run's final model and kept checkpoints (Delphi's dynamics)."""

from __future__ import annotations

from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging


@click.command()
@click.option(
    "--model-dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The run's directory (its final model and checkpoints/step-N/).",
)
@click.option(
    "--valid",
    required=True,
    type=click.Path(path_type=Path),
    help="Validation token array prefix (PREFIX.bin/.idx/.meta.json).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Directory.")
@click.option("--documents", default=100, show_default=True, help="The first documents.")
@click.option("--max-tokens", default=512, show_default=True, help="Each document's first ids.")
@click.option("--batch-size", default=8, show_default=True, help="Documents per forward pass.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@one_line_errors
def main(
    model_dir: Path,
    valid: Path,
    output: Path,
    documents: int,
    max_tokens: int,
    batch_size: int,
    device: str | None,
) -> None:
    """One parquet file per checkpoint: document, position, token, logprob."""
    setup_logging()
    from toklab.evaluation.lm_logprobs import write_logprobs

    write_logprobs(
        model_dir,
        valid,
        output,
        documents=documents,
        max_tokens=max_tokens,
        batch_size=batch_size,
        device=device,
    )


if __name__ == "__main__":
    main()
