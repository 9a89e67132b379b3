#!/usr/bin/env python
"""Import a split of a published dataset of token ids (Hub or local) as a token array."""

from __future__ import annotations

import json
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

path_option = click.Path(path_type=Path)


@click.command()
@click.option(
    "--dataset", required=True,
    help="Hub dataset id (anyasims/openwebtext-tokenized), local dataset directory, or a "
    "builder (parquet) with --data-files.",
)  # fmt: skip
@click.option("--split", required=True, help="The split to import (train, val, validation, ...).")
@click.option("--column", required=True, help="The column of token id lists (ids, tokens).")
@click.option(
    "--layout", type=click.Choice(["documents", "delphi"]), default="documents",
    show_default=True,
    help="documents: a row per document; delphi: Delphi's overlapping <bos> samples.",
)  # fmt: skip
@click.option("--trailing-eos", is_flag=True, help="documents: every row ends with the EOS.")
@click.option("--name", default=None, help="The dataset's config name.")
@click.option("--revision", default=None, help="A branch, tag or commit of a Hub dataset.")
@click.option("--data-dir", default=None)
@click.option("--data-files", default=None, help="JSON: a path, list or {split: paths}.")
@click.option("--eos-token", default=None, help="The EOS as a token (default the tokenizer's).")
@click.option("--bos-token", default=None, help="The BOS as a token (default the tokenizer's).")
@click.option("--max-documents", type=int, default=None, help="Keep the first documents only.")
@click.option(
    "--tokenizer", "tokenizer_path", required=True, type=path_option,
    help="The tokenizer.json the ids are of (every id is checked against its vocabulary).",
)  # fmt: skip
@click.option("--output-prefix", required=True, type=path_option)
@one_line_errors
def main(
    dataset: str,
    split: str,
    column: str,
    layout: str,
    trailing_eos: bool,
    name: str | None,
    revision: str | None,
    data_dir: str | None,
    data_files: str | None,
    eos_token: str | None,
    bos_token: str | None,
    max_documents: int | None,
    tokenizer_path: Path,
    output_prefix: Path,
) -> None:
    """Write PREFIX.bin/.idx/.meta.json from the split's rows of token ids, separators removed."""
    setup_logging()
    from toklab.datasets.hub_tokens import TokenSource, import_token_dataset

    source = TokenSource(
        dataset=dataset,
        column=column,
        split=split,
        layout=layout,
        trailing_eos=trailing_eos,
        name=name,
        revision=revision,
        data_dir=data_dir,
        data_files=json.loads(data_files) if data_files else None,
        eos_token=eos_token,
        bos_token=bos_token,
    )
    import_token_dataset(source, tokenizer_path, output_prefix, max_documents=max_documents)


if __name__ == "__main__":
    main()
