#!/usr/bin/env python
"""Per-byte cues (entropy, surprisal, space_nll, eos_nll) of a byte LM, to a zarr group."""

from __future__ import annotations

from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging


@click.command()
@click.option(
    "--checkpoint",
    required=True,
    type=click.Path(path_type=Path),
    help="Model directory (model.safetensors + config.json).",
)
@click.option(
    "--corpus-prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Byte corpus (PREFIX.bin/.idx/.pretok).",
)
@click.option("--output", required=True, type=click.Path(path_type=Path), help="Zarr group path.")
@click.option("--context", default=2048, show_default=True, help="Window length C.")
@click.option("--stride", default=512, show_default=True, help="Window step S (>= C-S context).")
@click.option("--batch-size", default=8, show_default=True, help="Windows per forward pass.")
@click.option("--chunk-bytes", default=1 << 20, show_default=True, help="Resumable unit.")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@one_line_errors
def main(
    checkpoint: Path,
    corpus_prefix: Path,
    output: Path,
    context: int,
    stride: int,
    batch_size: int,
    chunk_bytes: int,
    device: str | None,
) -> None:
    """Extract predictions; rerunning after an interruption resumes chunk by chunk."""
    setup_logging()
    from toklab.cues import extract_predictions

    extract_predictions(
        checkpoint,
        corpus_prefix,
        output,
        context=context,
        stride=stride,
        batch_size=batch_size,
        chunk_bytes=chunk_bytes,
        device=device,
    )


if __name__ == "__main__":
    main()
