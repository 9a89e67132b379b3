r"""Bits per byte of a language model on a token array: the one fair comparison of tokenizers.

Every document ``d_1 .. d_n`` of the array is scored in full, from the context the model was
trained with: the end-of-document id before it (training streams are ``EOS d EOS d' ...``), so
the first token is predicted too. A document longer than the context ``C`` is covered by
sliding windows of stride ``S``: the first window scores its first ``C`` tokens, each later one
(starting ``S`` tokens on) scores only the tokens no earlier window scored, so every token is
scored exactly once with at least ``C - S`` tokens of context.

.. math:: \mathrm{bpb} = \frac{\sum_{\text{tokens}} -\ln p(t \mid \text{context})}{\ln 2 \cdot B}

where ``B`` is the number of UTF-8 bytes of the original documents (the token array's meta), not
of decoded tokens: decoding pieces of a character yields U+FFFD (3 bytes), inflating ``B``.
ByteSpan's ``get_bits_per_byte`` divided by the context length instead; others skip each
document's first token or mix nats and bits. Tests pin each of these down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from toklab.datasets.token_array import TokenArray
from toklab.errors import ConfigError


@dataclass(frozen=True)
class Window:
    """One model input: ``inputs`` predict ``targets``; only the last ``scored`` are counted."""

    inputs: np.ndarray
    targets: np.ndarray
    scored: int


def document_windows(
    tokens: np.ndarray, eos_id: int, context: int, stride: int
) -> Iterator[Window]:
    """The windows that score every token of one document once (EOS as its first context)."""
    sequence = np.concatenate([[eos_id], np.asarray(tokens, dtype=np.int64)])
    n = len(sequence) - 1  # targets: sequence[1 .. n]
    done = 0  # targets scored so far
    start = 0
    while done < n:
        end = min(start + context, n)  # inputs sequence[start:end] predict sequence[start+1:end+1]
        yield Window(sequence[start:end], sequence[start + 1 : end + 1], end - done)
        done = end
        start += stride


def _batches(windows: Iterator[Window], size: int, context: int, pad_id: int):
    """Padded ``(inputs, targets, mask)`` batches: right padding, so causal attention ignores it."""
    batch: list[Window] = []
    for window in windows:
        batch.append(window)
        if len(batch) == size:
            yield _stack(batch, context, pad_id)
            batch = []
    if batch:
        yield _stack(batch, context, pad_id)


def _stack(batch: list[Window], context: int, pad_id: int):
    width = min(context, max(len(w.inputs) for w in batch))
    inputs = np.full((len(batch), width), pad_id, dtype=np.int64)
    targets = np.zeros((len(batch), width), dtype=np.int64)
    mask = np.zeros((len(batch), width), dtype=bool)
    for row, window in enumerate(batch):
        length = len(window.inputs)
        inputs[row, :length] = window.inputs
        targets[row, :length] = window.targets
        mask[row, length - window.scored : length] = True
    return torch.from_numpy(inputs), torch.from_numpy(targets), torch.from_numpy(mask)


@torch.no_grad()
def score_array(
    model: Callable[[torch.Tensor], torch.Tensor],
    array: TokenArray,
    eos_id: int,
    *,
    context: int,
    stride: int,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    autocast: Callable[[], object] = nullcontext,
    progress: Callable[[int], None] | None = None,
) -> dict[str, float | int]:
    """NLL of every token of every document; bits per byte, loss per token, tokens per byte.

    ``model`` maps ``(batch, length)`` ids to ``(batch, length, vocab)`` logits, with ``vocab``
    at least the array's vocabulary size (its meta's). An array holding an id at or above that
    size (one its tokenizer cannot have written) is refused before any scoring, naming the array
    and the id, instead of failing inside the model's embedding.
    """
    if not 0 < stride <= context:
        raise ConfigError(f"stride {stride} must be between 1 and the context {context}")
    if not 0 <= eos_id < array.vocab_size:
        raise ConfigError(f"EOS id {eos_id} is outside the vocabulary of {array.prefix}")
    array.require_ids_below(array.vocab_size, "the vocab size in its meta")
    windows = (
        window
        for index in range(len(array))
        for window in document_windows(array.document(index), eos_id, context, stride)
    )
    nats, tokens = 0.0, 0
    for inputs, targets, mask in _batches(windows, batch_size, context, eos_id):
        with autocast():
            logits = model(inputs.to(device))
        losses = F.cross_entropy(
            logits.float().flatten(0, 1), targets.to(device).flatten(), reduction="none"
        ).view(targets.shape)
        scored = mask.to(device)
        nats += float(losses[scored].double().sum())
        tokens += int(scored.sum())
        if progress is not None:
            progress(int(scored.sum()))
    num_bytes = array.num_bytes
    return {
        "documents": len(array),
        "tokens": tokens,
        "bytes": num_bytes,
        "nats": nats,
        "loss": nats / tokens if tokens else math.nan,
        "bits_per_byte": nats / math.log(2) / num_bytes if num_bytes else math.nan,
        "tokens_per_byte": tokens / num_bytes if num_bytes else math.nan,
        "context": context,
        "stride": stride,
    }
