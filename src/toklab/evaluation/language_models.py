"""Language models per tokenizer: a checkpoint scored on validation token arrays.

:func:`evaluate_language_model` gathers what the LM table compares: bits per byte (the fair
measure across tokenizers, :mod:`toklab.evaluation.bits_per_byte`), loss per token, tokens per
byte, the parameters (embedding and non-embedding), and the tokens and bytes the run saw; with
the validation subset's text, also next-word accuracy (:mod:`toklab.evaluation.next_word`).
:func:`evaluate_tfree_model` gives a T-Free model the same columns where they exist: its
multi-label loss instead of a per-token one, words per byte, next-word accuracy from its
dictionary, and no bits per byte (its head gives no distribution over texts).
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toklab.datasets.token_array import TokenArray
from toklab.errors import DataError
from toklab.evaluation.bits_per_byte import score_array
from toklab.evaluation.next_word import (
    NextWordItem,
    next_word_accuracy,
    next_word_items,
    tfree_guesses,
    token_guesses,
)
from toklab.io import read_json
from toklab.models.causal_lm import context_limit, embedding_weights, load_model
from toklab.tokenizers.tokenizer_files import require_special_token


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """All parameters, those of the input embedding and output head, and the rest."""
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for p in embedding_weights(model))
    return {
        "parameters": total,
        "embedding_parameters": embedding,
        "non_embedding_parameters": total - embedding,
    }


def training_summary(metrics_path: str | Path, train: TokenArray) -> dict[str, Any]:
    """Steps, tokens and (expected) bytes seen, and the last training loss, from metrics.jsonl.

    The training stream holds one EOS per document besides the tokens, so a token seen stands
    on average for ``num_bytes / (num_tokens + num_documents)`` bytes of text.
    """
    records = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line]
    if not records:
        raise DataError(f"{metrics_path}: no training records")
    last = records[-1]
    tokens = int(last.get("tokens", 0))
    bytes_per_stream_token = train.num_bytes / (train.num_tokens + len(train))
    return {
        "train_steps": int(last["step"]),
        "train_tokens_seen": tokens,
        "train_bytes_seen": round(tokens * bytes_per_stream_token),
        "train_loss": float(last["loss"]),
    }


@dataclass(frozen=True)
class NextWordSettings:
    """Where the next-word items come from (a byte corpus) and how many."""

    text_prefix: str | Path
    context_words: int = 32
    max_items: int = 500
    per_document: int = 8
    max_new_tokens: int = 24

    def items(self) -> list[NextWordItem]:
        """The items of the byte corpus's documents."""
        from toklab.datasets.token_array import document_batches, open_corpus

        corpus = open_corpus(self.text_prefix)
        texts = (text for batch, _ in document_batches(corpus, 256) for text in batch)
        return next_word_items(
            texts,
            context_words=self.context_words,
            max_items=self.max_items,
            per_document=self.per_document,
        )


def evaluate_language_model(
    model_dir: str | Path,
    valid_prefix: str | Path,
    tokenizer_path: str | Path,
    *,
    context: int,
    stride: int,
    batch_size: int = 16,
    train_prefix: str | Path | None = None,
    next_word: NextWordSettings | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Bits per byte and the other columns of the LM table for one trained model."""
    model_dir = Path(model_dir)
    valid = TokenArray.open(valid_prefix)
    valid.check_tokenizer(tokenizer_path)
    model = load_model(model_dir, map_location=device).to(device).eval()
    if model.config.vocab_size < valid.vocab_size:
        raise DataError(
            f"{model_dir}: a vocabulary of {model.config.vocab_size} ids cannot score "
            f"{valid.prefix}, whose tokenizer has {valid.vocab_size}"
        )
    eos = require_special_token(tokenizer_path, "eos")
    context = min(context, context_limit(model) or context)
    stride = min(stride, context)
    scores = score_array(
        model, valid, eos, context=context, stride=stride, batch_size=batch_size, device=device
    )
    result: dict[str, Any] = {
        "objective": "cross_entropy",
        "vocab_size": valid.vocab_size,
        **parameter_counts(model),
        "bits_per_byte": scores["bits_per_byte"],
        "val_loss": scores["loss"],
        "tokens_per_byte": scores["tokens_per_byte"],
        "val_documents": scores["documents"],
        "val_tokens": scores["tokens"],
        "val_bytes": scores["bytes"],
        "context": context,
        "stride": stride,
    }
    if train_prefix is not None:
        train = TokenArray.open(train_prefix)
        train.check_tokenizer(tokenizer_path)
        result.update(training_summary(model_dir / "metrics.jsonl", train))
    if next_word is not None:
        from toklab.tokenizers.tokenizer_files import load_tokenizer

        tokenizer = load_tokenizer(tokenizer_path)
        result.update(
            next_word_accuracy(
                next_word.items(),
                lambda items: token_guesses(
                    model, tokenizer, items, max_new_tokens=next_word.max_new_tokens, eos_id=eos
                ),
            )
        )
    return result


def tfree_validation_loss(
    model: torch.nn.Module, valid_prefix: str | Path, objective, *, context: int, batch_size: int
) -> dict[str, Any]:
    """The multi-label loss over every ``context``-word window of a word array (in order)."""
    from toklab.data.packed_stream import PackedStream
    from toklab.datasets.tfree_words import EOT_ID
    from toklab.training.data import WindowSampler
    from toklab.training.trainer import evaluate

    sampler = WindowSampler(PackedStream(valid_prefix, EOT_ID), context, seed=0)
    device = next(model.parameters()).device
    scores = evaluate(model, sampler, sampler.num_windows, device, nullcontext, EOT_ID, True,
                      objective, batch_size=batch_size)  # fmt: skip
    return {**scores, "val_windows": sampler.num_windows}


def evaluate_tfree_model(
    model_dir: str | Path,
    valid_prefix: str | Path,
    settings_path: str | Path,
    dictionary_path: str | Path,
    *,
    context: int,
    batch_size: int = 16,
    train_prefix: str | Path | None = None,
    next_word: NextWordSettings | None = None,
    pos_weight: float | None = None,
    loss_scale: float | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The LM table's columns for a T-Free model (no bits per byte; see the module doc).

    The loss is the training objective's (``pos_weight`` and ``loss_scale`` default to the
    run's ``train_config.json``), over non-overlapping windows of ``context`` words.
    """
    from toklab.datasets.tfree_words import WordPatterns
    from toklab.tokenizers.tfree import hasher_settings, load_settings
    from toklab.tokenizers.tfree_dictionary import WordDictionary
    from toklab.training.objectives import MultiLabelLoss

    model_dir = Path(model_dir)
    hasher = load_settings(settings_path)
    valid = TokenArray.open(valid_prefix)
    valid.check_tokenizer(settings_path)
    model = load_model(model_dir, map_location=device).to(device).eval()
    own = getattr(model.config, "tfree", None)
    expected = hasher_settings(hasher)
    if own is None or {**own, "v": model.config.vocab_size} != expected:
        raise DataError(
            f"{model_dir}: the model's T-Free settings "
            f"({None if own is None else {**own, 'v': model.config.vocab_size}}) are not "
            f"{settings_path}'s ({expected})"
        )
    trained = (
        read_json(model_dir / "train_config.json")
        if (model_dir / "train_config.json").is_file()
        else {}
    )
    loss = trained.get("multi_label", {})
    patterns = WordPatterns.for_array(valid_prefix, hasher)
    valid.require_ids_below(len(patterns), "the size of its word table")
    objective = MultiLabelLoss(
        patterns,
        pos_weight if pos_weight is not None else float(loss.get("pos_weight", 300.0)),
        loss_scale if loss_scale is not None else float(loss.get("loss_scale", 100.0)),
    )
    context = min(context, context_limit(model) or context)
    scores = tfree_validation_loss(model, valid_prefix, objective, context=context,
                                   batch_size=batch_size)  # fmt: skip
    result: dict[str, Any] = {
        "objective": "multi_label",
        "vocab_size": hasher.v,
        **parameter_counts(model),
        "bits_per_byte": math.nan,
        "val_loss": scores["val_loss"],
        "tokens_per_byte": valid.num_tokens / valid.num_bytes,
        "val_documents": len(valid),
        "val_tokens": valid.num_tokens,
        "val_bytes": valid.num_bytes,
        "context": context,
        "stride": context,
    }
    if train_prefix is not None:
        train = TokenArray.open(train_prefix)
        train.check_tokenizer(settings_path)
        result.update(training_summary(model_dir / "metrics.jsonl", train))
    if next_word is not None:
        dictionary = WordDictionary.load(dictionary_path, hasher)
        items = next_word.items()
        result.update(
            next_word_accuracy(
                items,
                lambda batch: tfree_guesses(
                    model, dictionary, batch, batch_size=batch_size, device=device
                ),
            )
        )
        # targets in neither the dictionary nor their context: no T-Free guess can be right
        outside = [item.target not in dictionary and item.target not in item.context
                   for item in items]  # fmt: skip
        result["next_word_oov"] = float(np.mean(outside)) if outside else math.nan
    return result
