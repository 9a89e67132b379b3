"""Multiple-choice evaluation by log-likelihood (StochasTok's MCQ evaluator, LangGame's metric).

Each option is scored by the summed log-likelihood of its continuation given the prompt: the
ids of ``" " + option`` and the EOS, after the prompt's ids, as the fine-tuning examples are
built (:func:`toklab.tasks.langgame.encode_examples`); the highest score is the model's choice.
``accuracy`` is the share of questions answered right, ``normalized_accuracy`` rescales it so
that chance (1 / options) is 0 and a perfect score 1: ``(k * acc - 1) / (k - 1)`` for k options,
``(4 * acc - 1) / 3`` for LangGame. The original scored ``f"{prefix} {option}"`` with options
that already began with a space (two spaces, unlike its training examples) and every token of
prompt and option; the prompt's tokens are the same for every option, so scoring the
continuation alone ranks the options identically.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from toklab.errors import DataError


@torch.no_grad()
def continuation_scores(
    model: torch.nn.Module,
    prompt: Sequence[int],
    continuations: Sequence[Sequence[int]],
    *,
    context_length: int | None = None,
    boundary: torch.Tensor | None = None,
) -> list[float]:
    """Summed log-probability (nats) of each continuation after ``prompt``, in one batch.

    With ``boundary`` (ids), each score also adds the log of the total probability of those
    ids right after its continuation (the next-word choice's word boundary).
    """
    sequences = [[*prompt, *c] for c in continuations]
    if any(not c for c in continuations) or not prompt:
        raise DataError("multiple choice needs a non-empty prompt and non-empty options")
    longest = max(map(len, sequences))
    if context_length is not None and longest > context_length:
        raise DataError(
            f"a question with its option takes {longest} tokens, more than the model's "
            f"context of {context_length}"
        )
    device = next(model.parameters()).device
    ids = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence)
    ids = ids.to(device)
    output = model(ids if boundary is not None else ids[:, :-1])  # the last logits: a boundary's
    logits = getattr(output, "logits", output).float()
    every = F.log_softmax(logits, dim=-1)
    logprobs = every[:, : longest - 1].gather(2, ids[:, 1:, None])[..., 0].cpu()
    ends = None if boundary is None else boundary.to(device)
    scores = []
    for row, continuation in enumerate(continuations):
        start = len(prompt) - 1  # the prediction of the continuation's first token
        score = float(logprobs[row, start : start + len(continuation)].sum())
        if ends is not None:
            after = every[row, start + len(continuation), ends]
            score += float(torch.logsumexp(after, dim=0))
        scores.append(score)
    return scores


def normalized_accuracy(accuracy: float, options: int) -> float:
    """Accuracy rescaled so that chance is 0 and all right is 1."""
    return (options * accuracy - 1) / (options - 1)


def evaluate_choices(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    options: Sequence[Sequence[Sequence[int]]],
    answers: Sequence[int],
    *,
    context_length: int | None = None,
) -> dict[str, float]:
    """Accuracy and normalized accuracy over questions (``answers``: the right option's index)."""
    if not prompts:
        raise DataError("no questions to evaluate")
    right = [
        int(np.argmax(continuation_scores(model, p, o, context_length=context_length)) == a)
        for p, o, a in zip(prompts, options, answers, strict=True)
    ]
    accuracy = float(np.mean(right))
    counts = {len(o) for o in options}
    k = counts.pop() if len(counts) == 1 else 0
    return {
        "questions": len(prompts),
        "accuracy": accuracy,
        "normalized_accuracy": normalized_accuracy(accuracy, k) if k > 1 else float("nan"),
    }


def encode_questions(tokenizer, questions, eos_id: int):
    """LangGame questions as (prompt ids, option continuations, answer index) for scoring."""
    prompts = [
        e.ids
        for e in tokenizer.encode_batch([q.prompt for q in questions], add_special_tokens=False)
    ]
    options = []
    for question in questions:
        encoded = tokenizer.encode_batch(
            [f" {o}" for o in question.options], add_special_tokens=False
        )
        options.append([[*e.ids, eos_id] for e in encoded])
    answers = [q.options.index(q.answer) for q in questions]
    return prompts, options, answers
