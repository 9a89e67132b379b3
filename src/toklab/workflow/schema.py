"""The config's schema check: types, a range for every number, one line per violation.

:func:`validate_config` checks a config against ``workflow/schemas/config.schema.yaml`` and
fills its defaults; each violation is one :class:`~toklab.errors.ConfigError` naming the key,
the value and, for a number, the allowed range. :mod:`toklab.workflow.checks` then checks what
the schema cannot express.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from toklab.errors import ConfigError
from toklab.workflow.config import Block

#: Schema keywords whose violation is a number out of its range (or not a number at all).
_RANGE_KEYWORDS = ("type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
#: Bounds: (keyword, comparison, interval bracket).
_LOWER = (("minimum", ">=", "["), ("exclusiveMinimum", ">", "("))
_UPPER = (("maximum", "<=", "]"), ("exclusiveMaximum", "<", ")"))


def config_key(path: list[str | int]) -> str:
    """A key path as the messages spell it: ``bpe.vocab_sizes[0]``."""
    key = ""
    for part in path:
        key += f"[{part}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return key


def allowed_range(schema: Block) -> str | None:
    """The range a numeric schema allows, in words (None for a schema of no number)."""
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    kind = "an integer" if "integer" in types else "a number" if "number" in types else None
    if kind is None:
        return None
    low = next((b for b in _LOWER if b[0] in schema), None)
    high = next((b for b in _UPPER if b[0] in schema), None)
    if low and high:
        allowed = f"{kind} in {low[2]}{schema[low[0]]}, {schema[high[0]]}{high[2]}"
    elif low or high:
        key, sign, _ = low or high
        allowed = f"{kind} {sign} {schema[key]}"
    else:
        allowed = kind
    return f"{allowed} or null" if "null" in types else allowed


def schema_error(error) -> ConfigError:
    """A ``jsonschema`` validation error as one line: corpus, key, problem, allowed range."""
    path = list(error.absolute_path)
    prefix = ""
    if len(path) >= 2 and path[0] == "corpora":
        prefix, path = f"corpus '{path[1]}': ", path[2:]
    message = " ".join(error.message.split())
    allowed = allowed_range(error.schema) if error.validator in _RANGE_KEYWORDS else None
    if allowed is not None:
        message = f"{message} (allowed: {allowed})"
    key = config_key(path)
    return ConfigError(f"{prefix}{key}: {message}" if key else f"{prefix}{message}")


def validate_config(config: dict[str, Any], schema: str | Path) -> dict[str, Any]:
    """Check ``config`` against the workflow's schema and fill in its defaults (in place).

    What ``snakemake.utils.validate`` does, but a violation is one :class:`ConfigError` line
    (the most relevant one, by ``jsonschema``'s ``best_match``) naming the key and, for a
    number, its allowed range. Returns ``config``.
    """
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import best_match

    document = yaml.safe_load(Path(schema).read_text())
    check_properties = Draft202012Validator.VALIDATORS["properties"]

    def fill_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for key, value in properties.items():
                if "default" in value:
                    instance.setdefault(key, value["default"])
        yield from check_properties(validator, properties, instance, subschema)

    validator = validators.extend(Draft202012Validator, {"properties": fill_defaults})(document)
    error = best_match(validator.iter_errors(config))
    if error is not None:
        raise schema_error(error)
    return config
