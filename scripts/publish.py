#!/usr/bin/env python
"""Publish to the Hugging Face Hub: a tokenizer, a token dataset, an LM, or an LM's suite.

Each command checks its inputs and renders the card first, then creates the repo (if new) and
commits to it, and writes --marker, the record of what was published, only once everything was
sent. The token comes from HF_TOKEN in the environment (never an option); without it, or with
an invalid repo id, nothing is sent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("publish")

path_option = click.Path(path_type=Path)


def card_context(value: str) -> dict[str, Any]:
    """--card-json: the card's context (corpus, source, tokenizer, model, ...) as a JSON object."""
    from toklab.errors import ConfigError

    try:
        context = json.loads(value)
    except ValueError as err:
        raise ConfigError(f"--card-json is not JSON ({err})") from None
    if not isinstance(context, dict) or "corpus" not in context:
        raise ConfigError("--card-json is not a JSON object with at least 'corpus'")
    return context


def hub_options(command: Callable) -> Callable:
    """--repo-id, --private/--public, --card-json and --marker, shared by every command."""
    command = click.option(
        "--marker", required=True, type=path_option,
        help="The record of what was published (JSON), written last.",
    )(command)  # fmt: skip
    command = click.option(
        "--card-json", "card", required=True, help="The card's context (JSON)."
    )(command)  # fmt: skip
    command = click.option(
        "--private/--public", default=True, show_default=True,
        help="Visibility of a new repo (an existing one keeps its own).",
    )(command)  # fmt: skip
    return click.option("--repo-id", required=True, help="namespace/name on the Hub.")(command)


def run(build: Callable[[], Any], marker: Path) -> None:
    """The token, then the publication (every check, every card), then the calls, the marker."""
    from toklab import publishing
    from toklab.io import write_json

    token = publishing.hub_token()
    publication = build()
    log.info(
        "publishing %d commit(s) to %s repo %s",
        len(publication.uploads),
        publication.repo_type,
        publication.repo_id,
    )
    record = publishing.publish(publication, publishing.hub_api(token))
    for commit in record["commits"]:
        log.info(
            "%s: %s (%d files)", commit["revision"], commit["commit_url"], len(commit["files"])
        )
    write_json(marker, record)


@click.group()
def cli() -> None:
    """Publish a toklab output to the Hugging Face Hub (HF_TOKEN from the environment)."""
    setup_logging()


@cli.command()
@click.option("--directory", required=True, type=path_option, help="The tokenizer's directory.")
@hub_options
@one_line_errors
def tokenizer(directory: Path, repo_id: str, private: bool, card: str, marker: Path) -> None:
    """A tokenizer directory's files (tokenizer.json, ...) as a model repo."""
    from toklab.publishing import tokenizer_publication

    context = card_context(card)
    run(lambda: tokenizer_publication(repo_id, private, directory, context), marker)


@cli.command()
@click.option(
    "--split", "splits", required=True, multiple=True, type=(str, path_option),
    help="NAME DIRECTORY: a subset's Delphi export (repeat).",
)  # fmt: skip
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@hub_options
@one_line_errors
def delphi(
    splits: tuple[tuple[str, Path], ...],
    tokenizer_path: Path,
    repo_id: str,
    private: bool,
    card: str,
    marker: Path,
) -> None:
    """Delphi's parquet export, one split per subset, as a datasets repo."""
    from toklab.publishing import delphi_publication

    context = card_context(card)
    run(lambda: delphi_publication(repo_id, private, dict(splits), tokenizer_path, context), marker)


@cli.command()
@click.option(
    "--split", "splits", required=True, multiple=True, type=(str, path_option),
    help="NAME FILE: a nanoGPT .bin (train, val; repeat).",
)  # fmt: skip
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@hub_options
@one_line_errors
def nanogpt(
    splits: tuple[tuple[str, Path], ...],
    tokenizer_path: Path,
    repo_id: str,
    private: bool,
    card: str,
    marker: Path,
) -> None:
    """StochasTok's / nanoGPT's .bin files as a dataset repo."""
    from toklab.publishing import nanogpt_publication

    context = card_context(card)
    run(
        lambda: nanogpt_publication(repo_id, private, dict(splits), tokenizer_path, context), marker
    )


@cli.command()
@click.option("--model-dir", required=True, type=path_option, help="The trained LM's directory.")
@click.option("--evaluation", required=True, type=path_option, help="evaluate_lm's JSON.")
@hub_options
@one_line_errors
def lm(
    model_dir: Path, evaluation: Path, repo_id: str, private: bool, card: str, marker: Path
) -> None:
    """An LM (not its checkpoints) and its evaluation, with a model card, on main."""
    from toklab.publishing import lm_publication

    context = card_context(card)
    run(lambda: lm_publication(repo_id, private, model_dir, evaluation, context), marker)


@cli.command()
@click.option("--model-dir", required=True, type=path_option, help="The trained LM's directory.")
@click.option("--evaluation", required=True, type=path_option, help="evaluate_lm's JSON.")
@click.option(
    "--checkpoint-evaluation", "evaluations", multiple=True, type=(str, path_option),
    help="NAME JSON: an evaluation of every kept checkpoint (rows with a step; repeat).",
)  # fmt: skip
@hub_options
@one_line_errors
def suite(
    model_dir: Path,
    evaluation: Path,
    evaluations: tuple[tuple[str, Path], ...],
    repo_id: str,
    private: bool,
    card: str,
    marker: Path,
) -> None:
    """Every kept checkpoint of an LM as a branch step-N of its repo."""
    from toklab.publishing import suite_publication

    context = card_context(card)
    run(
        lambda: suite_publication(
            repo_id, private, model_dir, evaluation, context, dict(evaluations)
        ),
        marker,
    )


if __name__ == "__main__":
    cli()
