"""Model size presets (``resources/model_presets.yaml``): named sets of model config values.

A preset names a model class (``model_class``; toklab's Llama by default) and the keyword
arguments of its config. :func:`toklab.models.causal_lm.model_spec` combines one with a run's
overrides and its tokenizer's vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from toklab.errors import ConfigError


def read_presets(presets_path: str | Path) -> dict[str, dict[str, Any]]:
    """The model presets, by name."""
    import yaml

    return yaml.safe_load(Path(presets_path).read_text()) or {}


def read_preset(name: str, presets_path: str | Path) -> dict[str, Any]:
    """The values of the model preset ``name``; an error naming the others when there is none."""
    presets = read_presets(presets_path)
    if name not in presets:
        raise ConfigError(f"unknown model preset '{name}' (available: {', '.join(presets)})")
    return presets[name]
