"""The contract every trained toklab tokenizer meets: its special tokens, and a directory.

A family's trainer returns an object with these two members; the training script writes the
directory once, atomically, with :func:`save_directory`. Everything downstream reads only the
files (``tokenizer.json`` first), never the object, so a new family needs nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from toklab.io import atomic_directory


@runtime_checkable
class TrainedTokenizer(Protocol):
    """A trained tokenizer that can write its files."""

    special_tokens: list[str]

    def save(self, directory: str | Path) -> None:
        """Write ``tokenizer.json`` (and the family's other files) into ``directory``."""


def save_directory(tokenizer: TrainedTokenizer, out_dir: str | Path) -> None:
    """Write the tokenizer's directory atomically: all its files appear at once, or none."""
    with atomic_directory(out_dir) as tmp:
        tokenizer.save(tmp)
