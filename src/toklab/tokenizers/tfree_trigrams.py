r"""T-Free's byte trigrams: the ids a word is embedded from (:mod:`toklab.tokenizers.tfree`).

A word's trigrams are the set of 3-byte windows of ``(" " + word + " ").encode("utf-8")``, each
as the id ``b0 + 256·b1 + 65536·b2`` (``" Hello "`` → `` He``, ``Hel``, ``ell``, ``llo``,
``lo ``): :func:`word_trigrams` of one word, :func:`trigram_ids` of many at once. A word that
contains ``<|`` (every word, with ``entire_words``) is hashed whole instead of by its trigrams
(:func:`is_whole_word`). :func:`check_text` is the check that every text and word passes first:
a ``str`` with no NUL character and no lone surrogate, so that it encodes to UTF-8.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from toklab.errors import DataError
from toklab.sorting import distinct

__all__ = ["TRIGRAM_COUNT", "check_text", "is_whole_word", "trigram_ids", "word_trigrams"]

_BAD = re.compile("[\x00\ud800-\udfff]")

#: Ids of all byte trigrams: 256**3.
TRIGRAM_COUNT = 1 << 24


def check_text(text: str, what: str = "text") -> None:
    """A :class:`~toklab.errors.DataError` unless ``text`` is a str that T-Free can split and hash.

    That is, one with no NUL character and no lone surrogate; ``what`` names it in the message.
    """
    if not isinstance(text, str):
        raise DataError(f"{what} must be a str, got {type(text).__name__}")
    bad = _BAD.search(text)
    if bad is not None:
        kind = "a NUL character" if bad.group() == "\x00" else "a lone surrogate"
        raise DataError(f"{what} contains {kind} ({bad.group()!a}) at character {bad.start()}")


def _encode(word: str) -> bytes:
    check_text(word, "word")
    return f" {word} ".encode()


def word_trigrams(word: str) -> np.ndarray:
    """Sorted unique trigram ids (int64) of ``(" " + word + " ").encode("utf-8")``."""
    data = np.frombuffer(_encode(word), dtype=np.uint8).astype(np.int64)
    return distinct(data[:-2] | (data[1:-1] << 8) | (data[2:] << 16))


def trigram_ids(words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The trigrams of many words: ``ids[offsets[w]:offsets[w+1]]`` is :func:`word_trigrams`."""
    blobs = [_encode(word) for word in words]
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=len(blobs))
    data = np.frombuffer(b"".join(blobs), dtype=np.uint8).astype(np.int64)
    windows = np.maximum(lengths - 2, 0)
    starts = np.cumsum(lengths) - lengths
    # window positions: each word's start repeated, plus its offset inside the word
    word_of = np.repeat(np.arange(len(blobs), dtype=np.int64), windows)
    first = np.cumsum(windows) - windows
    at = np.repeat(starts, windows) + np.arange(len(word_of), dtype=np.int64)
    at -= np.repeat(first, windows)
    ids = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16)
    keys = distinct((word_of << 24) | ids)
    offsets = np.zeros(len(blobs) + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys >> 24, minlength=len(blobs)), out=offsets[1:])
    return keys & (TRIGRAM_COUNT - 1), offsets


def is_whole_word(word: str, entire_words: bool = False) -> bool:
    """Whether ``word`` is hashed whole instead of by trigrams: it contains ``<|``, or all are."""
    return entire_words or "<|" in word
