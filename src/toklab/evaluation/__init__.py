"""Tokenizer evaluation: intrinsic statistics, MorphScore, the paper tables and plots."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toklab.errors import DataError

if TYPE_CHECKING:
    from tokenizers import Tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """A ``tokenizers.Tokenizer`` from ``tokenizer.json``, with a one-line error if unreadable."""
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: tokenizer file not found")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as err:
        raise DataError(f"{path}: not a Hugging Face tokenizer.json ({err})") from None
