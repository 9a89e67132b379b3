"""Configs for the planning-layer tests: the repository's, validated as Snakemake does."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
PRESETS = REPO / "resources" / "model_presets.yaml"
CONFIGS = {
    "demo": REPO / "config" / "config.yaml",
    **{p.stem: p for p in sorted((REPO / "config" / "experiments").glob("*.yaml"))},
}


def validated(config: dict) -> dict:
    """``config`` checked against the schema with its defaults filled, as the Snakefile does."""
    from toklab.workflow.schema import validate_config

    return validate_config(copy.deepcopy(config), SCHEMA)


def load_config(name: str) -> dict:
    """A repository config (``demo`` or an experiment's stem), validated."""
    return validated(yaml.safe_load(Path(CONFIGS[name]).read_text()))


@pytest.fixture
def demo_config() -> dict:
    return load_config("demo")
