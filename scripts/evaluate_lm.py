#!/usr/bin/env python
"""Score a trained LM on a validation token array: bits per byte, loss, parameters, tokens seen."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.io import atomic_write

log = logging.getLogger("evaluate_lm")
path_option = click.Path(path_type=Path)


@click.command()
@click.option(
    "--model-dir", required=True, type=path_option, help="model.safetensors + config.json."
)
@click.option(
    "--valid", "valid_prefix", required=True, type=path_option, help="Validation token array."
)
@click.option(
    "--train", "train_prefix", type=path_option, help="Training token array (bytes seen)."
)
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option(
    "--context", default=2048, show_default=True, help="Window length (capped by the model)."
)
@click.option("--stride", default=512, show_default=True, help="Window stride.")
@click.option("--batch-size", default=16, show_default=True)
@click.option("--label", "labels", multiple=True, type=(str, str), help="KEY VALUE recorded as is.")
@click.option("--output", required=True, type=path_option, help="JSON result.")
@one_line_errors
def main(
    model_dir: Path,
    valid_prefix: Path,
    train_prefix: Path | None,
    tokenizer_path: Path,
    context: int,
    stride: int,
    batch_size: int,
    labels: tuple[tuple[str, str], ...],
    output: Path,
) -> None:
    """Bits per byte of MODEL_DIR on VALID, every document scored in full."""
    setup_logging()
    import torch

    from toklab.evaluation.language_models import evaluate_language_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = evaluate_language_model(
        model_dir, valid_prefix, tokenizer_path, context=context, stride=stride,
        batch_size=batch_size, train_prefix=train_prefix, device=device,
    )  # fmt: skip
    result = {**dict(labels), **result}
    with atomic_write(output, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    log.info(
        "%s: %.4f bits per byte, %.4f nats per token",
        model_dir,
        result["bits_per_byte"],
        result["val_loss"],
    )


if __name__ == "__main__":
    main()
