#!/usr/bin/env python
"""Train (or fetch) tokenizers and write them as Hugging Face tokenizer.json and its companions."""

from __future__ import annotations

import logging
import os
import resource
import time
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging
from toklab.errors import ConfigError
from toklab.tokenizers.base import save_directory

log = logging.getLogger("train_tokenizer")


@click.group()
def cli() -> None:
    """Train a tokenizer from a byte corpus or a text file."""
    setup_logging()


@cli.command()
@click.option(
    "--corpus-prefix",
    type=click.Path(path_type=Path),
    help="Byte corpus to train on (PREFIX.bin/.idx), document by document.",
)
@click.option(
    "--input",
    "input_path",
    type=click.Path(path_type=Path),
    help="Or a UTF-8 text file, split at the special tokens.",
)
@click.option("--vocab-size", required=True, type=int, help="Bytes + special tokens + merges.")
@click.option(
    "--special-token",
    "special_tokens",
    multiple=True,
    help="A special token (repeat for several); ids follow the 256 bytes in this order.",
)
@click.option(
    "--min-frequency",
    default=0,
    show_default=True,
    help="Pairs counted fewer times are never merged.",
)
@click.option(
    "--backend",
    type=click.Choice(["toklab", "hf"]),
    default="toklab",
    show_default=True,
    help="toklab: exact CS336 semantics; hf: tokenizers' BpeTrainer (Delphi).",
)
@click.option("--workers", default=None, type=int, help="Processes for pre-tokenization.")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@one_line_errors
def bpe(
    corpus_prefix: Path | None,
    input_path: Path | None,
    vocab_size: int,
    special_tokens: tuple[str, ...],
    min_frequency: int,
    backend: str,
    workers: int | None,
    out_dir: Path,
) -> None:
    """Train byte-level BPE and save it to OUT_DIR."""
    from toklab.tokenizers.bpe import (
        BPETokenizer,
        check_vocab_size,
        train_bpe,
        train_bpe_on_corpus,
        unique_special_tokens,
    )

    if (corpus_prefix is None) == (input_path is None):
        raise ConfigError("give exactly one of --corpus-prefix and --input")
    specials = unique_special_tokens(special_tokens)
    check_vocab_size(vocab_size, specials)
    start = time.perf_counter()
    if backend == "toklab":
        if corpus_prefix is not None:
            vocab, merges = train_bpe_on_corpus(
                corpus_prefix,
                vocab_size,
                specials,
                min_frequency=min_frequency,
                num_workers=workers,
            )
        else:
            vocab, merges = train_bpe(
                input_path, vocab_size, specials, min_frequency=min_frequency, num_workers=workers
            )
    else:
        from toklab.tokenizers.hf_bpe import train_hf_bpe

        vocab, merges = train_hf_bpe(
            _texts(corpus_prefix, input_path, specials),
            vocab_size,
            specials,
            min_frequency=min_frequency,
        )
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log.info(
        "trained %d merges (vocab %d) in %.2f s, peak RSS %.0f MB",
        len(merges),
        len(vocab),
        elapsed,
        peak,
    )
    save_directory(BPETokenizer(vocab, merges, specials), out_dir)


@cli.command()
@click.option(
    "--corpus-prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Byte corpus to train on (PREFIX.bin/.idx), document by document.",
)
@click.option(
    "--vocab-size",
    required=True,
    type=int,
    help="Special tokens + the 256 bytes + pieces; fewer when the corpus supports fewer pieces.",
)
@click.option(
    "--special-token",
    "special_tokens",
    multiple=True,
    help="A special token (repeat for several); ids 0, 1, ... in this order.",
)
@click.option(
    "--workers",
    default=None,
    type=click.IntRange(min=1),
    help="Trainer threads (RAYON_NUM_THREADS); all cores by default. The result is the same.",
)
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@one_line_errors
def unigram(
    corpus_prefix: Path,
    vocab_size: int,
    special_tokens: tuple[str, ...],
    workers: int | None,
    out_dir: Path,
) -> None:
    """Train a byte-level Unigram LM (tokenizers' UnigramTrainer) and save it to OUT_DIR."""
    from toklab.tokenizers.bpe import unique_special_tokens
    from toklab.tokenizers.unigram import train_unigram

    if workers is not None:  # read once, when rayon's thread pool starts (at the first training)
        os.environ["RAYON_NUM_THREADS"] = str(workers)
    specials = unique_special_tokens(special_tokens)
    start = time.perf_counter()
    tokenizer = train_unigram(
        _texts(corpus_prefix, None, specials), vocab_size, specials, source=corpus_prefix
    )
    log.info(
        "trained %d tokens (%d asked for) in %.2f s, peak RSS %.0f MB",
        tokenizer.hf_tokenizer.get_vocab_size(),
        vocab_size,
        time.perf_counter() - start,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    save_directory(tokenizer, out_dir)


@cli.command()
@click.option(
    "--corpus-prefix",
    required=True,
    type=click.Path(path_type=Path),
    help="Byte corpus the cues were extracted for (PREFIX.bin/.idx/.pretok).",
)
@click.option(
    "--predictions",
    required=True,
    type=click.Path(path_type=Path),
    help="Predictions zarr of that corpus.",
)
@click.option(
    "--cue", required=True, type=click.Choice(["entropy", "surprisal", "space_nll", "eos_nll"])
)
@click.option("--constraint", required=True, type=click.Choice(["global", "monotonic", "combined"]))
@click.option(
    "--percentile",
    default=30.0,
    show_default=True,
    help="combined: the threshold is this percentile of the cue.",
)
@click.option("--vocab-size", required=True, type=int, help="Including the special tokens.")
@click.option(
    "--min-frequency",
    default=20,
    show_default=True,
    help="global: a span type enters the vocabulary once it occurs this often.",
)
@click.option(
    "--variant",
    default="frequency",
    show_default=True,
    help="frequency, or seeding<P>: P% of V from spans, the rest by BPE on the spans "
    "(monotonic and combined only; seeding0 is BPE with WordPiece inference).",
)
@click.option(
    "--manifest",
    type=click.Path(exists=True, path_type=Path),
    help="balanced: the corpus manifest, for the documents' languages.",
)
@click.option("--subset", help="balanced: the subset the byte corpus holds.")
@click.option("--special-token", "special_tokens", multiple=True, help="Repeat for several.")
@click.option(
    "--inference",
    type=click.Choice(["wordpiece", "bpe"]),
    default="wordpiece",
    show_default=True,
    help="wordpiece: greedy longest match (ByteSpan's); bpe: merge-rank BPE with merges built so "
    "that every token is reachable (also writes vocab.json and merges.txt).",
)
@click.option(
    "--chunk-bytes",
    default=1 << 20,
    show_default=True,
    help="monotonic/combined: cue values read from the zarr at a time (chunks end at "
    "pre-token starts; at most 1 MiB, the zarr chunk of an extraction).",
)
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@one_line_errors
def bytespan(
    corpus_prefix: Path,
    predictions: Path,
    cue: str,
    constraint: str,
    percentile: float,
    vocab_size: int,
    min_frequency: int,
    variant: str,
    manifest: Path | None,
    subset: str | None,
    special_tokens: tuple[str, ...],
    inference: str,
    chunk_bytes: int,
    out_dir: Path,
) -> None:
    """Train a ByteSpan tokenizer and save tokenizer.json and stats.csv."""
    from toklab.data.byte_corpus import ByteCorpus
    from toklab.tokenizers.bytespan_tokenizer import parse_variant, train_bytespan

    parse_variant(variant, constraint)
    if variant == "balanced" and (manifest is None or subset is None):
        raise ConfigError("the balanced variant needs --manifest and --subset (for languages)")
    start = time.perf_counter()
    tokenizer = train_bytespan(
        corpus_prefix,
        predictions,
        cue,
        constraint,
        vocab_size,
        variant=variant,
        percentile=percentile,
        min_frequency=min_frequency,
        languages=_languages(manifest, subset) if variant == "balanced" else None,
        special_tokens=special_tokens,
        inference=inference,
        chunk_bytes=chunk_bytes,
    )
    elapsed = time.perf_counter() - start
    num_bytes = ByteCorpus(corpus_prefix).num_bytes
    log.info(
        "%s %s %s (%s inference): %d tokens from %d bytes in %.2f s (%.0f bytes/s), peak RSS %.0f MB",
        constraint,
        variant,
        cue,
        inference,
        vocab_size,
        num_bytes,
        elapsed,
        num_bytes / max(elapsed, 1e-9),
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    save_directory(tokenizer, out_dir)


@cli.command("byte-level")
@click.option("--special-token", "special_tokens", multiple=True, help="Repeat for several.")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@one_line_errors
def byte_level(special_tokens: tuple[str, ...], out_dir: Path) -> None:
    """Write the byte-level tokenizer: bytes as ids 0..255, then the special tokens."""
    from toklab.tokenizers.byte_level import byte_level_tokenizer

    save_directory(byte_level_tokenizer(special_tokens), out_dir)


@cli.command()
@click.option(
    "--source", required=True, help="A Hugging Face hub id (gpt2) or a local tokenizer directory."
)
@click.option("--revision", default=None, help="A hub revision (branch, tag or commit).")
@click.option("--out-dir", required=True, type=click.Path(path_type=Path))
@one_line_errors
def pretrained(source: str, revision: str | None, out_dir: Path) -> None:
    """Fetch a pretrained tokenizer and save its tokenizer.json and configs to OUT_DIR."""
    from toklab.io import atomic_directory
    from toklab.tokenizers.pretrained import fetch_pretrained

    with atomic_directory(out_dir) as tmp:
        fetch_pretrained(source, tmp, revision)


def _languages(manifest: Path, subset: str) -> list[str]:
    """The language of every document of a subset, in byte-corpus order (from its shards)."""
    from toklab.data.corpus import subset_shard_paths
    from toklab.data.shards import shard_languages
    from toklab.errors import DataError

    languages: list[str] = []
    for path in subset_shard_paths(manifest, subset):
        shard = shard_languages(path)
        if shard is None:
            raise DataError(f"{path}: no language column; the balanced variant needs languages")
        languages += shard
    return languages


def _texts(corpus_prefix: Path | None, input_path: Path | None, specials: list[str]):
    """Documents of a byte corpus, or the special-token-separated segments of a text file."""
    if corpus_prefix is not None:
        from toklab.data.byte_corpus import ByteCorpus

        corpus = ByteCorpus(corpus_prefix)
        for index in range(len(corpus)):
            yield corpus.document_text(index)
        return
    from toklab.tokenizers.pretoken_counts import special_splitter

    splitter = special_splitter(specials)
    text = Path(input_path).read_text(encoding="utf-8")
    yield from (splitter.split(text) if splitter else [text])


if __name__ == "__main__":
    cli()
