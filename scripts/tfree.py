#!/usr/bin/env python
"""T-Free: word counts, hashers with their dictionaries, word arrays and T-Free's tables.

Commands (``--help`` on each): ``word-counts`` (a byte corpus's words), ``tokenizer`` (a
hasher's tfree.json and dictionary.tsv from word counts), ``words`` (a word array of a byte
corpus), ``fertility-table`` (tokens per word of T-Free and of tokenizers, per language) and
``params-table`` (embedding and head parameters against dense vocabularies).
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("tfree")
path_option = click.Path(path_type=Path)


@click.group()
def main() -> None:
    """T-Free's stage."""
    setup_logging()


@main.command("word-counts")
@click.option("--corpus-prefix", required=True, type=path_option, help="A byte corpus prefix.")
@click.option("--output", required=True, type=path_option, help="word<TAB>count TSV.")
@one_line_errors
def word_counts(corpus_prefix: Path, output: Path) -> None:
    """Count the words (T-Free's split) of every document of a byte corpus."""
    from toklab.datasets.tfree_words import count_words
    from toklab.tokenizers.tfree_counts import write_word_counts

    counts = count_words(corpus_prefix)
    write_word_counts(counts, output)
    log.info("%s: %d distinct words, %d in all", output, len(counts), sum(counts.values()))


@main.command()
@click.option("--counts", required=True, type=path_option, help="Word counts (TSV, JSON, pickle).")
@click.option("--v", "v", required=True, type=int, help="Hash ids (embedding rows, head outputs).")
@click.option("--m", "m", required=True, type=int, help="Ids per trigram.")
@click.option("--k", "k", default=0, show_default=True, help="Lowercase-shared slots.")
@click.option("--entire-words/--no-entire-words", default=False, show_default=True)
@click.option("--words", default=100_000, show_default=True, help="Dictionary size (+ specials).")
@click.option("--out-dir", required=True, type=path_option)
@one_line_errors
def tokenizer(
    counts: Path, v: int, m: int, k: int, entire_words: bool, words: int, out_dir: Path
) -> None:
    """Write a hasher's tfree.json and its dictionary.tsv (special words, then the top words)."""
    from toklab.tokenizers.tfree import TrigramHasher, save_settings
    from toklab.tokenizers.tfree_counts import read_word_counts, write_word_counts
    from toklab.tokenizers.tfree_dictionary import select_words

    hasher = TrigramHasher(v, m, k, entire_words)
    # the words only: their patterns are computed where the dictionary decodes
    selected = select_words(read_word_counts(counts), top_n=words)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_word_counts(dict(selected), out_dir / "dictionary.tsv")
    save_settings(hasher, out_dir / "tfree.json")  # last: the settings mark a complete directory
    log.info("%s: %r, a dictionary of %d words", out_dir, hasher, len(selected))


@main.command()
@click.option("--settings", required=True, type=path_option, help="The hasher's tfree.json.")
@click.option("--corpus-prefix", required=True, type=path_option, help="A byte corpus prefix.")
@click.option("--output-prefix", required=True, type=path_option)
@click.option(
    "--workers", default=1, show_default=True, help="Processes splitting words (same output)."
)
@one_line_errors
def words(settings: Path, corpus_prefix: Path, output_prefix: Path, workers: int) -> None:
    """Split a byte corpus into a word array (word ids + the word table)."""
    from toklab.datasets.tfree_words import tokenize_words

    tokenize_words(settings, corpus_prefix, output_prefix, workers=workers)


@main.command("aligned-words")
@click.option("--settings", required=True, type=path_option, help="The hasher's tfree.json.")
@click.option(
    "--memory-map-prefix",
    required=True,
    type=path_option,
    help="A T-Free export: its memory map and aligned arrays share this prefix.",
)
@click.option("--output-prefix", required=True, type=path_option)
@click.option(
    "--workers", default=1, show_default=True, help="Processes splitting words (same output)."
)
@one_line_errors
def aligned_words(
    settings: Path, memory_map_prefix: Path, output_prefix: Path, workers: int
) -> None:
    """Split the chunks of a T-Free export into an aligned word array (one document per chunk)."""
    from toklab.datasets.tfree_words import tokenize_aligned_words

    meta = tokenize_aligned_words(settings, memory_map_prefix, output_prefix, workers=workers)
    log.info("%s: %d chunks of %d items, %d words", output_prefix, meta["num_documents"],
             meta["aligned_items"], meta["num_tokens"])  # fmt: skip


@main.command()
@click.option("--settings", required=True, type=path_option, help="The hasher's tfree.json.")
@click.option(
    "--examples",
    "examples_path",
    required=True,
    type=path_option,
    help='JSONL: per line [{"type": "text", "content": ..., "has_loss": ...}, ...].',
)
@click.option("--output-prefix", required=True, type=path_option)
@one_line_errors
def examples(settings: Path, examples_path: Path, output_prefix: Path) -> None:
    """Split T-Free fine-tuning examples into word examples (loss on their has_loss segments)."""
    from toklab.datasets.tfree_examples import tokenize_word_examples

    meta = tokenize_word_examples(settings, examples_path, output_prefix)
    log.info("%s: %d examples, %d words", output_prefix, meta["num_documents"],
             meta["num_tokens"])  # fmt: skip


@main.command("fertility-table")
@click.option("--manifest", required=True, type=path_option, help="The corpus manifest.")
@click.option(
    "--subset", "subsets", multiple=True, required=True, help="A subset whose documents count."
)
@click.option(
    "--tokenizer",
    "tokenizers",
    multiple=True,
    type=(str, path_option),
    help="NAME TOKENIZER_JSON of a compared tokenizer (repeatable).",
)
@click.option("--output", required=True, type=path_option)
@one_line_errors
def fertility_table(
    manifest: Path, subsets: tuple[str, ...], tokenizers: tuple[tuple[str, Path], ...], output: Path
) -> None:
    """Tokens per whitespace word of T-Free's split and of each tokenizer, per language."""
    from tqdm import tqdm

    from toklab.data.corpus import iter_subset_documents
    from toklab.evaluation.tables import write_csv
    from toklab.evaluation.tfree_tables import FERTILITY_COLUMNS, fertility_rows
    from toklab.io import read_json
    from toklab.tokenizers.tokenizer_files import load_tokenizer

    loaded = {name: load_tokenizer(path) for name, path in tokenizers}
    sizes = read_json(manifest)["subsets"]
    total = sum(sizes.get(subset, {}).get("bytes") or 0 for subset in subsets)
    documents = (doc for subset in subsets for doc in iter_subset_documents(manifest, subset))
    with tqdm(total=total, unit="B", unit_scale=True, desc="fertility") as bar:
        rows = fertility_rows(documents, loaded, progress=bar.update)
    write_csv(output, FERTILITY_COLUMNS, rows)


@main.command("params-table")
@click.option("--presets", required=True, type=path_option, help="resources/model_presets.yaml")
@click.option("--hasher", "hashers", multiple=True, required=True, help="tfree-{v}-m{m}... names")
@click.option("--preset", "preset_names", multiple=True, required=True, help="Model presets.")
@click.option("--dense-vocab", "dense_vocab", multiple=True, type=int, default=(64000,))
@click.option("--output", required=True, type=path_option)
@one_line_errors
def params_table(
    presets: Path,
    hashers: tuple[str, ...],
    preset_names: tuple[str, ...],
    dense_vocab: tuple[int, ...],
    output: Path,
) -> None:
    """Embedding and head parameters of each hasher against dense vocabularies."""
    from toklab.evaluation.tables import write_csv
    from toklab.evaluation.tfree_tables import PARAMS_COLUMNS, parameter_rows
    from toklab.models.presets import read_preset
    from toklab.names import TfreeName

    parsed = [TfreeName.parse(name) for name in hashers]
    rows = parameter_rows(
        [(str(h), h.v, h.m) for h in parsed],
        {name: read_preset(name, presets) for name in preset_names},
        dense_vocab,
    )
    write_csv(output, PARAMS_COLUMNS, rows)


if __name__ == "__main__":
    main()
