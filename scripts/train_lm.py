#!/usr/bin/env python
"""Train a language model on packed .bin/.idx arrays; resumes from OUT_DIR/checkpoint.

Single process:  python scripts/train_lm.py --train PREFIX --out-dir DIR [--config F] [--set k=v]
Several GPUs:    torchrun --nproc-per-node N scripts/train_lm.py ...
Exit status 75 means "preempted, checkpoint written: run again to resume".
"""

from __future__ import annotations

from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

REPO = Path(__file__).resolve().parents[1]


@click.command()
@click.option(
    "--train",
    "train_prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Training array prefix (PREFIX.bin/.idx/.meta.json).",
)
@click.option(
    "--valid",
    "valid_prefix",
    type=click.Path(path_type=Path),
    help="Validation array prefix (loss and bits per byte).",
)
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@click.option(
    "--config",
    "configs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="YAML/JSON config files, merged in order.",
)
@click.option("--set", "overrides", multiple=True, help="key=value overrides, e.g. optim.lr=3e-4.")
@click.option(
    "--presets",
    type=click.Path(exists=True, path_type=Path),
    default=REPO / "resources" / "model_presets.yaml",
    show_default=True,
)
@click.option(
    "--vocab-size", default=257, show_default=True, help="Model vocabulary (bytes + EOS)."
)
@click.option("--eos-id", default=256, show_default=True, help="Id inserted between documents.")
@one_line_errors
def main(
    train_prefix: Path,
    valid_prefix: Path | None,
    out_dir: Path,
    configs: tuple[Path, ...],
    overrides: tuple[str, ...],
    presets: Path,
    vocab_size: int,
    eos_id: int,
) -> None:
    """Train or resume a Llama-style LM."""
    setup_logging()
    from toklab.training.config import load_train_config
    from toklab.training.trainer import train

    config = load_train_config(list(configs), list(overrides))
    train(
        config,
        train_prefix,
        out_dir,
        valid_prefix=valid_prefix,
        presets_path=presets,
        eos_id=eos_id,
        vocab_size=vocab_size,
    )


if __name__ == "__main__":
    main()
