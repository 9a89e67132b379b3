"""The byte-level tokenizer: the 256 byte values as ids 0..255, then the special tokens.

ByteSpan's ``create-bytelevel``, as a ``tokenizer.json`` like every other toklab tokenizer (a
ByteLevel BPE without merges), so the byte LM's data goes through the same token-array stage
as every subword tokenizer. Byte ``b`` is id ``b``; the special tokens follow from 256 on.
"""

from __future__ import annotations

from collections.abc import Sequence

from toklab.tokenizers.bpe import BPETokenizer


def byte_level_tokenizer(special_tokens: Sequence[str] = ("<|endoftext|>",)) -> BPETokenizer:
    """The 256 bytes and ``special_tokens`` (ids 256, 257, ...), without merges."""
    return BPETokenizer({i: bytes([i]) for i in range(256)}, [], special_tokens)
