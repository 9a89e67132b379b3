"""GPT-2 pre-tokenization and per-byte pre-token-start flags.

Convention (shared by every toklab stage): documents are stored exactly as written, with **no
prefix space added**. The GPT-2 pattern attaches a space to the word that follows it, so in
``"Hi there"`` the pre-tokens are ``"Hi"`` and ``" there"`` and the start flags are set at byte 0
and at byte 2 (the space). Byte 0 of every non-empty document is always a start. ByteSpan's
byte tokenizer instead prepended a space to every document (``add_prefix_space=True``); toklab
does not, so a document-initial word is seen exactly as it was written.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import regex

#: The GPT-2 pre-tokenization pattern (as used by tiktoken's ``gpt2``, HF ByteLevel and CS336).
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
GPT2_REGEX = regex.compile(GPT2_PATTERN)


def pretokenize(text: str) -> list[str]:
    """Split ``text`` into GPT-2 pre-tokens; their concatenation is ``text``."""
    return GPT2_REGEX.findall(text)


def utf8_char_offsets(text: str) -> np.ndarray:
    """Byte offset of every character of ``text`` in its UTF-8 encoding, plus the total (len+1)."""
    if text.isascii():
        return np.arange(len(text) + 1, dtype=np.int64)
    code_points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    widths = (
        1
        + (code_points >= 0x80).astype(np.int64)
        + (code_points >= 0x800)
        + (code_points >= 0x10000)
    )
    offsets = np.zeros(len(code_points) + 1, dtype=np.int64)
    np.cumsum(widths, out=offsets[1:])
    return offsets


def pretoken_start_flags(text: str) -> np.ndarray:
    """Per-byte flags (uint8, 1 at the first byte of each GPT-2 pre-token) of UTF-8 ``text``."""
    offsets = utf8_char_offsets(text)
    flags = np.zeros(int(offsets[-1]), dtype=np.uint8)
    if len(text) == 0:
        return flags
    char_lengths = np.fromiter(map(len, pretokenize(text)), dtype=np.int64)
    char_starts = np.zeros(len(char_lengths), dtype=np.int64)
    np.cumsum(char_lengths[:-1], out=char_starts[1:])
    flags[offsets[char_starts]] = 1
    return flags


def _inside_special(text: str, position: int, special_tokens: Iterable[str]) -> bool:
    for token in special_tokens:
        start = text.find(token, max(0, position - len(token) + 1), position + len(token) - 1)
        while start != -1 and start < position:
            if start + len(token) > position:
                return True
            start = text.find(token, start + 1, position + len(token) - 1)
    return False


def last_safe_cut(text: str, special_tokens: Sequence[str] = ()) -> int:
    """The last offset where ``text`` can be cut without changing its tokenization (0 if none).

    A safe cut is a newline directly after an ASCII letter, digit or punctuation character,
    outside every special token: every GPT-2 pre-token ends there whatever follows.
    """
    position = len(text)
    while (position := text.rfind("\n", 0, position)) > 0:
        if "!" <= text[position - 1] <= "~" and not _inside_special(text, position, special_tokens):
            return position
    return 0
