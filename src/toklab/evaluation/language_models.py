"""Language models per tokenizer: a checkpoint scored on validation token arrays.

:func:`evaluate_language_model` gathers what the LM table compares: bits per byte (the fair
measure across tokenizers, :mod:`toklab.evaluation.bits_per_byte`), loss per token, tokens per
byte, the parameters (embedding and non-embedding), and the tokens and bytes the run saw; with
the validation subset's text, also next-word accuracy (:mod:`toklab.evaluation.next_word`).

What differs per kind of LM (:mod:`toklab.training.lm_kinds`) the kind selects
(:meth:`~toklab.training.lm_kinds.TokenLM.select`): :class:`TokenEvaluation` scores a token
model; :class:`WordEvaluation` gives a T-Free model the same columns where they exist: its
multi-label loss instead of a per-token one, words per byte, next-word accuracy from its
dictionary, and no bits per byte (its head gives no distribution over texts).
"""

from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch

from toklab.datasets.token_array import TokenArray
from toklab.errors import ConfigError, DataError
from toklab.evaluation.bits_per_byte import score_array
from toklab.evaluation.next_word import (
    NextWordItem,
    boundary_ids,
    next_word_accuracy,
    next_word_items,
    tfree_choice_scores,
    tfree_guesses,
    token_choice_scores,
    token_guesses,
)
from toklab.io import read_json
from toklab.models.causal_lm import context_limit, embedding_weights, load_model, word_settings

if TYPE_CHECKING:
    from toklab.training.lm_kinds import LMKind, TfreeLM, TokenLM
    from toklab.training.objectives import Objective


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
    #: Targets only among the N most frequent letter words (0: every word).
    frequent_words: int = 0
    #: Candidates of the choice measure, the target's among them (0: off).
    choices: int = 0
    #: Seeds the draw of the choice measure's distractors.
    seed: int = 0

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
            frequent_words=self.frequent_words,
            choices=self.choices,
            seed=self.seed,
        )


@dataclass(frozen=True)
class Scoring:
    """How the validation array is scored: the window, its stride, the batch and the device."""

    context: int
    stride: int
    batch_size: int
    device: str


class KindEvaluation(Protocol):
    """The columns that differ per kind of LM: scores of the validation array, next words."""

    def scores(
        self, model: torch.nn.Module, model_dir: Path, valid: TokenArray, scoring: Scoring
    ) -> dict[str, Any]:
        """The objective, vocabulary size, validation scores, context and stride."""
        ...

    def next_word(
        self, model: torch.nn.Module, settings: NextWordSettings, *, batch_size: int, device: str
    ) -> dict[str, Any]:
        """Next-word accuracy on the items of ``settings``."""
        ...


class TokenEvaluation:
    """A token model: bits per byte of every document, greedy next words of its tokenizer."""

    def __init__(self, kind: TokenLM) -> None:
        self.kind = kind

    def scores(
        self, model: torch.nn.Module, model_dir: Path, valid: TokenArray, scoring: Scoring
    ) -> dict[str, Any]:
        """Bits per byte, loss per token and tokens per byte (:func:`score_array`)."""
        if model.config.vocab_size < valid.vocab_size:
            raise DataError(
                f"{model_dir}: a vocabulary of {model.config.vocab_size} ids cannot score "
                f"{valid.prefix}, whose tokenizer has {valid.vocab_size}"
            )
        context = min(scoring.context, context_limit(model) or scoring.context)
        stride = min(scoring.stride, context)
        scores = score_array(
            model, valid, self.kind.eos_id, context=context, stride=stride,
            batch_size=scoring.batch_size, device=scoring.device,
        )  # fmt: skip
        return {
            "objective": "cross_entropy",
            "vocab_size": valid.vocab_size,
            "bits_per_byte": scores["bits_per_byte"],
            "val_loss": scores["loss"],
            "tokens_per_byte": scores["tokens_per_byte"],
            "val_documents": scores["documents"],
            "val_tokens": scores["tokens"],
            "val_bytes": scores["bytes"],
            "context": context,
            "stride": stride,
        }

    def next_word(
        self, model: torch.nn.Module, settings: NextWordSettings, *, batch_size: int, device: str
    ) -> dict[str, Any]:
        """The first word of each context's greedy continuation (:func:`token_guesses`)."""
        from toklab.tokenizers.tokenizer_files import load_tokenizer

        tokenizer = load_tokenizer(self.kind.tokenizer_file)
        boundary = boundary_ids(self.kind.tokenizer_file)
        return next_word_accuracy(
            settings.items(),
            lambda items: token_guesses(
                model, tokenizer, items, max_new_tokens=settings.max_new_tokens,
                eos_id=self.kind.eos_id,
            ),
            lambda items: token_choice_scores(model, tokenizer, items, boundary),
        )  # fmt: skip


class WordEvaluation:
    """A T-Free model: its multi-label loss over windows, next words of its dictionary.

    The loss is the training objective's (``pos_weight`` and ``loss_scale`` of the run's
    ``train_config.json``), over non-overlapping windows of ``context`` words.
    """

    def __init__(self, kind: TfreeLM) -> None:
        self.kind = kind

    def scores(
        self, model: torch.nn.Module, model_dir: Path, valid: TokenArray, scoring: Scoring
    ) -> dict[str, Any]:
        """The multi-label loss and words per byte; no bits per byte; the stride is the context."""
        from toklab.datasets.tfree_words import WordPatterns
        from toklab.tokenizers.tfree import hasher_settings
        from toklab.training.objectives import MultiLabelLoss

        kind = self.kind
        own, expected = word_settings(model), hasher_settings(kind.hasher)
        if own != expected:
            raise DataError(
                f"{model_dir}: the model's T-Free settings ({own}) are not "
                f"{kind.tokenizer_file}'s ({expected})"
            )
        trained = (
            read_json(model_dir / "train_config.json")
            if (model_dir / "train_config.json").is_file()
            else {}
        )
        loss = trained.get("multi_label", {})
        patterns = WordPatterns.for_array(valid.prefix, kind.hasher)
        valid.require_ids_below(len(patterns), "the size of its word table")
        objective = MultiLabelLoss(
            patterns, float(loss.get("pos_weight", 300.0)), float(loss.get("loss_scale", 100.0))
        )
        context = min(scoring.context, context_limit(model) or scoring.context)
        scores = window_loss(model, valid.prefix, objective, kind.eos_id, context=context,
                             batch_size=scoring.batch_size)  # fmt: skip
        return {
            "objective": "multi_label",
            "vocab_size": kind.hasher.v,
            "bits_per_byte": math.nan,
            "val_loss": scores["val_loss"],
            "tokens_per_byte": valid.num_tokens / valid.num_bytes,
            "val_documents": len(valid),
            "val_tokens": valid.num_tokens,
            "val_bytes": valid.num_bytes,
            "context": context,
            "stride": context,
        }

    def next_word(
        self, model: torch.nn.Module, settings: NextWordSettings, *, batch_size: int, device: str
    ) -> dict[str, Any]:
        """The best word of the dictionary and context (:func:`tfree_guesses`) for each item.

        ``next_word_oov`` is the share of targets in neither, which no guess can get right.
        """
        from toklab.tokenizers.tfree_dictionary import WordDictionary

        if self.kind.dictionary is None:
            raise ConfigError("next-word accuracy of a T-Free model needs its word dictionary")
        dictionary = WordDictionary.load(self.kind.dictionary, self.kind.hasher)
        items = settings.items()
        result = next_word_accuracy(
            items,
            lambda batch: tfree_guesses(
                model, dictionary, batch, batch_size=batch_size, device=device
            ),
            lambda batch: tfree_choice_scores(
                model, dictionary.hasher, batch, batch_size=batch_size, device=device
            ),
        )
        outside = [item.target not in dictionary and item.target not in item.context
                   for item in items]  # fmt: skip
        result["next_word_oov"] = float(np.mean(outside)) if outside else math.nan
        return result


def window_loss(
    model: torch.nn.Module,
    valid_prefix: str | Path,
    objective: Objective,
    eos_id: int,
    *,
    context: int,
    batch_size: int,
) -> dict[str, Any]:
    """The ``objective`` over every ``context``-long window of an array's stream (in order)."""
    from toklab.data.packed_stream import PackedStream
    from toklab.training.data import WindowSampler
    from toklab.training.trainer import evaluate

    sampler = WindowSampler(PackedStream(valid_prefix, eos_id), context, seed=0)
    device = next(model.parameters()).device
    scores = evaluate(model, sampler, sampler.num_windows, device, nullcontext, eos_id, True,
                      objective, batch_size=batch_size)  # fmt: skip
    return {**scores, "val_windows": sampler.num_windows}


def evaluate_language_model(
    model_dir: str | Path,
    valid_prefix: str | Path,
    kind: LMKind,
    *,
    context: int,
    stride: int,
    batch_size: int = 16,
    train_prefix: str | Path | None = None,
    next_word: NextWordSettings | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """The columns of the LM table for one trained model of ``kind`` (see the module doc).

    ``kind`` is the kind of LM of the data's tokenizer file
    (:func:`~toklab.training.lm_kinds.lm_kind`; T-Free's with its dictionary for next words):
    the arrays must have been encoded with that file. ``context`` and ``stride`` are capped by
    the model's positions (a T-Free model's windows do not overlap).
    """
    model_dir = Path(model_dir)
    evaluation: KindEvaluation = kind.select(token_lm=TokenEvaluation, tfree_lm=WordEvaluation)
    valid = TokenArray.open(valid_prefix)
    valid.check_tokenizer(kind.tokenizer_file)
    model = load_model(model_dir, map_location=device).to(device).eval()
    scoring = Scoring(context=context, stride=stride, batch_size=batch_size, device=device)
    scores = evaluation.scores(model, model_dir, valid, scoring)
    result: dict[str, Any] = {**scores, **parameter_counts(model)}
    if train_prefix is not None:
        train = TokenArray.open(train_prefix)
        train.check_tokenizer(kind.tokenizer_file)
        result.update(training_summary(model_dir / "metrics.jsonl", train))
    if next_word is not None:
        result.update(evaluation.next_word(model, next_word, batch_size=batch_size, device=device))
    return result
