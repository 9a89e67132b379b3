#!/usr/bin/env python
"""Tokenized datasets: token arrays of byte corpora, and their exports to other formats."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("tokenized")

path_option = click.Path(path_type=Path)


@click.group()
def cli() -> None:
    """Tokenize a subset, or export its token array to another format."""
    setup_logging()


def tokens_options(command):
    """--tokenizer and --tokens: a token array and the tokenizer it must have been made with."""
    command = click.option(
        "--tokens", "tokens_prefix", required=True, type=path_option,
        help="Token array prefix (PREFIX.bin/.idx/.meta.json).",
    )(command)  # fmt: skip
    return click.option(
        "--tokenizer", "tokenizer_path", required=True, type=path_option,
        help="The tokenizer.json the array was encoded with (checked by hash).",
    )(command)  # fmt: skip


def open_tokens(tokens_prefix: Path, tokenizer_path: Path):
    """The token array, checked against the tokenizer named."""
    from toklab.datasets.token_array import TokenArray

    array = TokenArray.open(tokens_prefix)
    array.check_tokenizer(tokenizer_path)
    return array


def export_with_eos(export, tokens_prefix: Path, tokenizer_path: Path, output: Path) -> None:
    """An export of the documents each followed by the tokenizer's EOS (nanoGPT, CS336)."""
    from toklab.tokenizers.tokenizer_files import require_special_token

    array = open_tokens(tokens_prefix, tokenizer_path)
    export(array, output, require_special_token(tokenizer_path, "eos"))


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option(
    "--corpus-prefix", required=True, type=path_option, help="Byte corpus (PREFIX.bin/.idx)."
)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--batch-documents", default=2048, show_default=True, help="Documents per call.")
@one_line_errors
def tokenize(
    tokenizer_path: Path, corpus_prefix: Path, output_prefix: Path, batch_documents: int
) -> None:
    """Encode every document of a byte corpus into a token array."""
    from toklab.datasets.token_array import tokenize_corpus

    tokenize_corpus(tokenizer_path, corpus_prefix, output_prefix, batch_documents=batch_documents)


@cli.command()
@tokens_options
@click.option("--split", required=True, help="The files' name prefix (a subset name).")
@click.option("--seq-len", required=True, type=int, help="Tokens per sample, <bos> included.")
@click.option("--chunk-size", default=200_000, show_default=True, help="Rows per parquet file.")
@click.option("--out-dir", required=True, type=path_option)
@one_line_errors
def delphi(
    tokens_prefix: Path,
    tokenizer_path: Path,
    split: str,
    seq_len: int,
    chunk_size: int,
    out_dir: Path,
) -> None:
    """Delphi's parquet chunks: samples of SEQ_LEN tokens, <bos> first, <eos> after documents."""
    from toklab.datasets.delphi import export_delphi
    from toklab.tokenizers.tokenizer_files import require_special_token

    array = open_tokens(tokens_prefix, tokenizer_path)
    bos = require_special_token(tokenizer_path, "bos")
    eos = require_special_token(tokenizer_path, "eos")
    export_delphi(array, out_dir, split, seq_len, bos, eos, chunk_size=chunk_size)


@cli.command()
@tokens_options
@click.option("--output", required=True, type=path_option)
@one_line_errors
def nanogpt(tokens_prefix: Path, tokenizer_path: Path, output: Path) -> None:
    """StochasTok's / nanoGPT's flat uint16 .bin, EOS after every document."""
    from toklab.datasets.nanogpt import export_nanogpt

    export_with_eos(export_nanogpt, tokens_prefix, tokenizer_path, output)


@cli.command()
@tokens_options
@click.option("--output", required=True, type=path_option)
@one_line_errors
def cs336(tokens_prefix: Path, tokenizer_path: Path, output: Path) -> None:
    """CS336's uint16 .npy, documents separated by <|endoftext|>."""
    from toklab.datasets.cs336 import export_cs336

    export_with_eos(export_cs336, tokens_prefix, tokenizer_path, output)


@cli.command()
@click.option("--corpus-prefix", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--max-bytes", default=20_000, show_default=True)
@click.option("--tolerance", default=100, show_default=True)
@one_line_errors
def tfree(corpus_prefix: Path, output_prefix: Path, max_bytes: int, tolerance: int) -> None:
    """T-Free's MemoryMap of a byte corpus and its AlignedMemoryMap, sharing OUTPUT_PREFIX."""
    from toklab.datasets.tfree_memmap import write_aligned_memory_map, write_memory_map

    write_memory_map(corpus_prefix, output_prefix)
    summary = write_aligned_memory_map(
        output_prefix, output_prefix, max_bytes=max_bytes, tolerance=tolerance
    )
    log.info("%s: %s", output_prefix, summary)


if __name__ == "__main__":
    cli()
