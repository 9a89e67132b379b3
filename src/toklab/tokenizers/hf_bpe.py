"""Byte-level BPE trained by Hugging Face ``tokenizers``' own BpeTrainer (Delphi's trainer)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from toklab.tokenizers.byte_unicode import decode_bytes


def train_hf_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = (),
    *,
    min_frequency: int = 0,
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train with ``tokenizers``' own BpeTrainer (Delphi's choice) on the same pre-tokenization.

    Its ids put the special tokens first and it breaks count ties differently from CS336; the
    result is returned as toklab's ``(vocab, merges)`` and saved in the same file formats.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    model = json.loads(tokenizer.to_str())["model"]
    specials = set(special_tokens)
    vocab = {
        token_id: (text.encode("utf-8") if text in specials else decode_bytes(text))
        for text, token_id in model["vocab"].items()
    }
    merges = [
        tuple(decode_bytes(part) for part in (m.split(" ") if isinstance(m, str) else m))
        for m in model["merges"]
    ]
    return vocab, merges
