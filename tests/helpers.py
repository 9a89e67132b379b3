"""Small builders shared by tests: a tiny model configuration (corpus builders: tests/conftest.py)."""

from __future__ import annotations

from tests.conftest import byte_corpus

__all__ = ["TINY_MODEL", "byte_corpus"]

TINY_MODEL = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "max_position_embeddings": 64,
}
