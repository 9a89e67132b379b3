"""Shared plumbing for the click scripts in ``scripts/``: logging and one-line errors."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from toklab.errors import ToklabError

F = TypeVar("F", bound=Callable[..., Any])


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr (which a Snakemake rule redirects to its log file)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def one_line_errors(func: F) -> F:
    """Turn a :class:`ToklabError` into ``error: <message>`` on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToklabError as err:
            raise click.ClickException(str(err)) from None

    return wrapper  # type: ignore[return-value]
