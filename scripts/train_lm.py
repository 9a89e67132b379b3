#!/usr/bin/env python
"""Train a language model on token arrays (or a Delphi export); resumes from OUT_DIR/checkpoint.

--train/--valid are token-array prefixes (PREFIX.bin/.idx/.meta.json), or with --set data=chunks
Delphi export directories (fixed-length samples, epochs with a seeded per-epoch shuffle). With
--tfree SETTINGS they are T-Free word arrays and the model is T-Free's (trigram embedding,
multi-label head): with --set data=aligned aligned word arrays (the original's samples), with
--set data=examples word examples (fine-tuning, loss on the has_loss segments).

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
    help="Training array prefix (PREFIX.bin/.idx/.meta.json), or a Delphi export directory.",
)
@click.option(
    "--valid",
    "valid_prefix",
    type=click.Path(path_type=Path),
    help="Validation array prefix (or Delphi export directory): the loss during training.",
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
    help="The tokenizer.json the data were made with (checked by hash); it sets the vocabulary "
    "size and the EOS id, and its directory's files go into every checkpoint.",
)
@click.option(
    "--tfree",
    "tfree_path",
    type=click.Path(path_type=Path),
    help="Instead of --tokenizer: the tfree.json of T-Free word arrays (checked by hash); its "
    "directory's files go into every checkpoint.",
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
    tfree_path: Path | None,
    vocab_size: int,
    eos_id: int,
) -> None:
    """Train or resume a Llama-style LM."""
    setup_logging()
    from toklab.training.config import load_train_config
    from toklab.training.lm_kinds import TokenLM, lm_kind
    from toklab.training.trainer import train

    config = load_train_config(list(configs), list(overrides))
    if tokenizer_path is not None and tfree_path is not None:
        raise click.UsageError("--tokenizer and --tfree exclude each other")
    tokenizer_file = tfree_path or tokenizer_path
    if tokenizer_file is None:  # a byte corpus
        lm = TokenLM(vocab_size, eos_id)
    else:
        # T-Free word arrays are token arrays of word ids, whatever the samples cut from them
        kind = "windows" if tfree_path is not None else config.data
        for data in filter(None, (train_prefix, valid_prefix)):
            check_data_tokenizer(data, tokenizer_file, kind)
        lm = lm_kind(tokenizer_file)
    train(config, train_prefix, out_dir, valid_prefix=valid_prefix, presets_path=presets, lm=lm)


def check_data_tokenizer(data: Path, tokenizer_path: Path, kind: str) -> None:
    """An error unless the token array (examples too) or Delphi export was made with it."""
    if kind in ("windows", "examples"):
        from toklab.datasets.token_array import TokenArray

        TokenArray.open(data).check_tokenizer(tokenizer_path)
    else:
        from toklab.datasets.delphi import check_export_tokenizer

        check_export_tokenizer(data, tokenizer_path)


if __name__ == "__main__":
    main()
