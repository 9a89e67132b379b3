"""Language models per tokenizer: a checkpoint scored on validation token arrays.

:func:`evaluate_language_model` gathers what the LM table compares: bits per byte (the fair
measure across tokenizers, :mod:`toklab.evaluation.bits_per_byte`), loss per token, tokens per
byte, the parameters (embedding and non-embedding), and the tokens and bytes the run saw.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from toklab.datasets.token_array import TokenArray
from toklab.errors import DataError
from toklab.evaluation.bits_per_byte import score_array
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


def evaluate_language_model(
    model_dir: str | Path,
    valid_prefix: str | Path,
    tokenizer_path: str | Path,
    *,
    context: int,
    stride: int,
    batch_size: int = 16,
    train_prefix: str | Path | None = None,
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
    return result
