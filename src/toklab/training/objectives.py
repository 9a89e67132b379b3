"""What the trainer minimises: next-token cross-entropy, or T-Free's multi-label next word.

An objective maps a :class:`~toklab.training.data.Batch` (its ``inputs`` and the ``next_ids``
they predict: a row's first and last ``seq_len`` ids, or separate arrays) to the *summed* loss
of its targets and their total weight, so the trainer can normalise over micro-batches, ranks
and answer-only weights the same way for both:

* :class:`NextTokenLoss`: cross-entropy in nats of each next token.
* :class:`MultiLabelLoss` (T-Free): the ids of a T-Free word array index its word table
  (:class:`~toklab.datasets.tfree_words.WordPatterns`); the inputs become embedding bags
  (:class:`~toklab.models.llama.TrigramInputs`) and each target is the binarised ``v``-vector of
  the next word's hash ids. A position's loss is the mean over the ``v`` ids of
  ``BCEWithLogits(pos_weight)``, times ``loss_scale``. The original averages over every
  (position, id) of a padded batch, so its padding dilutes the loss; here a position weighs its
  weight (0 for padding and prompts, as the original's ``loss_weights``), and the trainer divides
  by the total weight. The original's ``word_edge_weight``, which scales a position by whichever
  trigram its set happened to iterate last, is not reproduced (every released config sets 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from toklab.models.llama import TrigramInputs
from toklab.training.data import Batch

if TYPE_CHECKING:
    from toklab.datasets.tfree_words import WordPatterns


class Objective(Protocol):
    """``objective(forward, batch, device) -> (summed loss, summed weight)``."""

    def __call__(
        self, forward, batch: Batch, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The summed loss of ``batch``'s targets under ``forward`` and their summed weight."""
        ...


def _documents(batch: Batch, device: torch.device) -> torch.Tensor | None:
    return None if batch.documents is None else torch.from_numpy(batch.documents).to(device)


def _weighted(
    losses: torch.Tensor, batch: Batch, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of per-target ``losses`` (weighted when the batch has weights) and the weight."""
    if batch.weights is None:
        return losses.sum(), torch.tensor(float(losses.numel()), device=device)
    weights = torch.from_numpy(batch.weights).to(device).flatten()
    return (losses * weights).sum(), weights.sum()


class NextTokenLoss:
    """Cross-entropy (nats) of every next token."""

    def __call__(
        self, forward, batch: Batch, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed nats of the batch's (weighted) next tokens and their weight."""
        inputs = torch.from_numpy(batch.inputs).to(device)
        targets = torch.from_numpy(batch.next_ids).to(device)
        documents = _documents(batch, device)
        logits = forward(inputs) if documents is None else forward(inputs, documents)
        nats = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), reduction="none")
        return _weighted(nats, batch, device)


@dataclass
class MultiLabelLoss:
    """T-Free's loss: BCE-with-logits of the next word's hash ids, mean over ``v``, scaled."""

    patterns: WordPatterns
    pos_weight: float = 300.0
    loss_scale: float = 100.0

    def inputs(self, words, device: torch.device) -> TrigramInputs:
        """Embedding bags of a (batch, length) array of word ids."""
        return self.patterns.bags(words, device)

    def targets(self, words, device: torch.device) -> torch.Tensor:
        """The binary (batch x length, v) targets of a (batch, length) array of word ids."""
        positions, ids = self.patterns.targets(words)
        target = torch.zeros(words.size, self.patterns.v, device=device)
        target[torch.from_numpy(positions).to(device), torch.from_numpy(ids).to(device)] = 1.0
        return target

    def __call__(
        self, forward, batch: Batch, device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed scaled multi-label loss of the batch's (weighted) next words and the weight."""
        inputs = self.inputs(batch.inputs, device)
        documents = _documents(batch, device)
        logits = forward(inputs) if documents is None else forward(inputs, documents)
        logits = logits.float().flatten(0, 1)
        # BCE(x, y) = (1 - y) softplus(x) + y w softplus(-x): every id's softplus(x), and at the
        # few active ids w softplus(-x) - softplus(x), so no (positions, v) target or loss
        # tensor is made (at v = 32k and 8k positions each would be 1 GiB)
        positions, ids = self.patterns.targets(batch.next_ids)
        positions = torch.from_numpy(positions).to(device)
        active = logits[positions, torch.from_numpy(ids).to(device)]
        per_position = F.softplus(logits).sum(dim=1)
        correction = self.pos_weight * F.softplus(-active) - F.softplus(active)
        per_position = per_position.index_add(0, positions, correction)
        return _weighted(per_position / logits.shape[1] * self.loss_scale, batch, device)
