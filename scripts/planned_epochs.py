#!/usr/bin/env python
"""Planned epochs of every LM of workflow configs, as the Markdown table of the docs."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from toklab.cli import one_line_errors
from toklab.errors import ConfigError
from toklab.workflow.scale import epochs_table, planned_epochs
from toklab.workflow.schema import validate_config

SCHEMA = Path(__file__).resolve().parent.parent / "workflow" / "schemas" / "config.schema.yaml"


@click.command()
@click.argument(
    "configs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@one_line_errors
def main(configs: tuple[Path, ...]) -> None:
    """Print each LM's planned tokens and epochs over its training subset (one table per config).

    The sizes come from each corpus's ``scale`` block (toklab.workflow.scale), e.g.
    ``scripts/planned_epochs.py config/experiments/*.yaml``.
    """
    for path in configs:
        try:
            config = validate_config(yaml.safe_load(path.read_text()), SCHEMA)
        except ConfigError as err:
            raise ConfigError(f"{path}: {err}") from None
        click.echo(f"{path}:\n\n{epochs_table(planned_epochs(config))}\n")


if __name__ == "__main__":
    main()
