#!/usr/bin/env python
"""Score a trained LM on a validation token array: bits per byte, loss, parameters, tokens seen.

With --text (the validation subset's byte corpus) also next-word accuracy. The kind of LM is
the tokenizer file's (:func:`~toklab.training.lm_kinds.lm_kind`): a T-Free model (--tfree
SETTINGS --dictionary TSV instead of --tokenizer) is scored on its word array: its multi-label
loss, words per byte and next-word accuracy; it has no bits per byte.
"""

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
@click.option("--tokenizer", "tokenizer_path", type=path_option, help="The data's tokenizer.json.")
@click.option("--tfree", "tfree_path", type=path_option, help="T-Free: the hasher's tfree.json.")
@click.option("--dictionary", type=path_option, help="T-Free: the decoding dictionary (TSV).")
@click.option("--text", "text_prefix", type=path_option, help="Byte corpus of the next-word items.")
@click.option("--next-word-context", default=32, show_default=True, help="Words of context.")
@click.option("--next-word-items", default=500, show_default=True, help="Most items.")
@click.option("--next-word-per-document", default=8, show_default=True)
@click.option("--next-word-new-tokens", default=24, show_default=True, help="Token models.")
@click.option(
    "--next-word-frequent",
    default=0,
    show_default=True,
    help="Targets only among the N most frequent words (0: all).",
)
@click.option(
    "--next-word-choices",
    default=10,
    show_default=True,
    help="Candidates of the choice measure, the target's among them (0: off).",
)
@click.option("--next-word-seed", default=0, show_default=True, help="Seeds the distractors.")
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
    tokenizer_path: Path | None,
    tfree_path: Path | None,
    dictionary: Path | None,
    text_prefix: Path | None,
    next_word_context: int,
    next_word_items: int,
    next_word_per_document: int,
    next_word_new_tokens: int,
    next_word_frequent: int,
    next_word_choices: int,
    next_word_seed: int,
    context: int,
    stride: int,
    batch_size: int,
    labels: tuple[tuple[str, str], ...],
    output: Path,
) -> None:
    """Bits per byte of MODEL_DIR on VALID, every document scored in full."""
    setup_logging()
    import torch

    from toklab.evaluation.language_models import NextWordSettings, evaluate_language_model
    from toklab.training.lm_kinds import lm_kind

    if (tokenizer_path is None) == (tfree_path is None):
        raise click.UsageError("give --tokenizer, or --tfree with --dictionary")
    if tfree_path is not None and dictionary is None:
        raise click.UsageError("--tfree needs --dictionary")
    kind = lm_kind(tokenizer_path or tfree_path, dictionary)
    next_word = None
    if text_prefix is not None:
        next_word = NextWordSettings(
            text_prefix, next_word_context, next_word_items, next_word_per_document,
            next_word_new_tokens, next_word_frequent, next_word_choices, next_word_seed,
        )  # fmt: skip
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = evaluate_language_model(
        model_dir, valid_prefix, kind, context=context, stride=stride, batch_size=batch_size,
        train_prefix=train_prefix, next_word=next_word, device=device,
    )  # fmt: skip
    result = {**dict(labels), **result}
    with atomic_write(output, "w") as handle:
        json.dump(result, handle, indent=2, sort_keys=True)
        handle.write("\n")
    log.info(
        "%s: %.4f bits per byte, validation loss %.4f, next-word accuracy %s, choice %s",
        model_dir,
        result["bits_per_byte"],
        result["val_loss"],
        result.get("next_word_accuracy"),
        result.get("next_word_choice_accuracy"),
    )


if __name__ == "__main__":
    main()
