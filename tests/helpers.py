"""Small builders shared by tests: a tiny model configuration (corpus builders: tests/conftest.py)."""

from __future__ import annotations

import importlib.util
from typing import Any

from tests.conftest import REPO, byte_corpus

__all__ = ["TINY_MODEL", "byte_corpus", "script_module"]

TINY_MODEL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
}


def script_module(name: str) -> Any:
    """A script of ``scripts/`` (``"generate.py"``) imported as a module, to call its click CLI."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), REPO / "scripts" / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
