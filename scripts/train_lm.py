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
    "--tokenizer",
    "tokenizer_path",
    type=click.Path(path_type=Path),
    help="Token arrays: the tokenizer.json they were made with (checked by hash); it sets the "
    "vocabulary size and the EOS id.",
)
@click.option("--vocab-size", default=257, show_default=True, help="Byte corpora: bytes + EOS.")
@click.option("--eos-id", default=256, show_default=True, help="Byte corpora: the EOS id.")
@one_line_errors
def main(
    train_prefix: Path,
    valid_prefix: Path | None,
    out_dir: Path,
    configs: tuple[Path, ...],
    overrides: tuple[str, ...],
    presets: Path,
    tokenizer_path: Path | None,
    vocab_size: int,
    eos_id: int,
) -> None:
    """Train or resume a Llama-style LM."""
    setup_logging()
    from toklab.training.config import load_train_config
    from toklab.training.trainer import train

    config = load_train_config(list(configs), list(overrides))
    if tokenizer_path is not None:
        from toklab.datasets.token_array import TokenArray
        from toklab.tokenizers.tokenizer_files import load_tokenizer, require_special_token

        for prefix in filter(None, (train_prefix, valid_prefix)):
            TokenArray.open(prefix).check_tokenizer(tokenizer_path)
        vocab_size = load_tokenizer(tokenizer_path).get_vocab_size(with_added_tokens=True)
        eos_id = require_special_token(tokenizer_path, "eos")
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
