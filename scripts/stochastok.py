#!/usr/bin/env python
"""StochasTok and its baselines: split tables, expanded arrays, BPE-dropout and characters."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("stochastok")

path_option = click.Path(path_type=Path)


@click.group()
def cli() -> None:
    """Stochastic and character-level tokenizations of token arrays."""
    setup_logging()


def stream_options(command):
    """--p, --seed and --stream: a stochastic tokenization's settings."""
    command = click.option("--p", "p", required=True, type=float, help="Probability in [0, 1].")(
        command
    )
    command = click.option("--seed", default=0, show_default=True, help="Base seed.")(command)
    return click.option(
        "--stream",
        required=True,
        help="Stream name (the subset): seeds are per (seed, stream, doc).",
    )(command)


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--output", required=True, type=path_option, help="The table (.npz).")
@one_line_errors
def splits(tokenizer_path: Path, output: Path) -> None:
    """Every binary split of every token of TOKENIZER into two tokens of its vocabulary."""
    from toklab.tokenizers.stochastok import build_split_table

    table = build_split_table(tokenizer_path)
    table.save(output)
    log.info(
        "%s: %d splits of %d splittable tokens (of %d)",
        output, len(table.left), table.splittable, table.vocab_size,
    )  # fmt: skip


@cli.command()
@click.option("--tokens", "tokens_prefix", required=True, type=path_option)
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--splits", "splits_path", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@stream_options
@one_line_errors
def expand(
    tokens_prefix: Path,
    tokenizer_path: Path,
    splits_path: Path,
    output_prefix: Path,
    p: float,
    seed: int,
    stream: str,
) -> None:
    """StochasTok-expand a token array: int(len * p) split attempts per document."""
    from toklab.datasets.token_variants import expand_token_array

    expand_token_array(
        tokens_prefix, tokenizer_path, splits_path, output_prefix, p=p, seed=seed, stream=stream
    )


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--corpus-prefix", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--batch-documents", default=2048, show_default=True)
@stream_options
@one_line_errors
def dropout(
    tokenizer_path: Path,
    corpus_prefix: Path,
    output_prefix: Path,
    batch_documents: int,
    p: float,
    seed: int,
    stream: str,
) -> None:
    """Encode a byte corpus with seeded BPE-dropout."""
    from toklab.datasets.token_variants import dropout_corpus

    dropout_corpus(
        tokenizer_path,
        corpus_prefix,
        output_prefix,
        p=p,
        seed=seed,
        stream=stream,
        batch_documents=batch_documents,
    )


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--corpus-prefix", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--batch-documents", default=2048, show_default=True)
@one_line_errors
def characters(
    tokenizer_path: Path, corpus_prefix: Path, output_prefix: Path, batch_documents: int
) -> None:
    """Encode every character of a byte corpus on its own."""
    from toklab.datasets.token_variants import character_corpus

    character_corpus(tokenizer_path, corpus_prefix, output_prefix, batch_documents=batch_documents)


if __name__ == "__main__":
    cli()
