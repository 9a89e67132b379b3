"""Command-line options rendered for a rule's shell command, each value quoted once here."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from shlex import quote
from typing import Any


def repeated(option: str, values: Iterable[Any]) -> str:
    """``option`` once per value, e.g. ``--special-token '<|endoftext|>' --special-token ...``."""
    return " ".join(f"{option} {quote(str(value))}" for value in values)


def special_tokens(tokens: Iterable[str]) -> str:
    """``--special-token TOKEN`` options."""
    return repeated("--special-token", tokens)


def settings(values: Mapping[str, Any]) -> str:
    """``--set KEY=VALUE`` options, each value as JSON (which the trainer parses as YAML)."""
    return repeated("--set", (f"{key}={json.dumps(value)}" for key, value in values.items()))


def gold_files(files: Mapping[str, str]) -> str:
    """``--gold LANGUAGE=CSV`` options."""
    return repeated("--gold", (f"{language}={path}" for language, path in files.items()))


def tokenizers(pairs: Iterable[tuple[str, str]]) -> str:
    """``--tokenizer NAME PATH`` options."""
    return " ".join(f"--tokenizer {quote(name)} {quote(path)}" for name, path in pairs)


def entries(rows: Iterable[Iterable[str]], option: str = "--entry") -> str:
    """``--entry FIELD...`` options (or another ``option``), one per row."""
    return " ".join(f"{option} " + " ".join(quote(str(field)) for field in row) for row in rows)
