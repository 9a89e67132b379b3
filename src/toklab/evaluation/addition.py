"""Multi-digit addition by generation (StochasTok's Fig. 8): does a model know the digits.

Each problem's question (``$a+b=``) is tokenized one of four ways, all with the model's own
tokenizer: ``deterministic`` (its ids), ``stochastok`` (expanded with proportion ``p``),
``bpedropout`` (seeded BPE-dropout ``p``) and ``chars`` (every character on its own). The model
continues it greedily for at most ``max_new_tokens`` tokens (stopping at EOS), and a problem is
solved when the answer (the sum's digits reversed) appears in the *generated* text. The
original also searched the prompt, which contains the question's digits, so some problems
counted as solved whatever the model produced: :func:`prompt_credit` counts those.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from toklab.errors import ConfigError
from toklab.seeding import stream_key
from toklab.tasks.addition import answer_found, split_problem

log = logging.getLogger(__name__)

#: The ways a question is tokenized, as result keys.
METHODS = ("deterministic", "stochastok", "bpedropout", "chars")


class QuestionTokenizer:
    """The four tokenizations of a question with one tokenizer (and its seeded variants).

    ``splits_path``: the tokenizer's StochasTok split table (``stochastok.py splits``), loaded
    and checked against the tokenizer file (its SHA-256); without it, the table is built here,
    which gives the same table.
    """

    def __init__(
        self,
        tokenizer_path: str | Path,
        *,
        stochastok_p: float,
        dropout_p: float,
        seed: int,
        splits_path: str | Path | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        from toklab.tokenizers.bpe_dropout import MergeTable
        from toklab.tokenizers.stochastok import SplitTable, build_split_table, check_probability

        self.stochastok_p = check_probability(stochastok_p, "stochastok_p")
        self.dropout_p = check_probability(dropout_p, "dropout_p")
        self.seed = seed
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.splits = (
            build_split_table(tokenizer_path)
            if splits_path is None
            else SplitTable.load(splits_path, tokenizer_path)
        )
        try:
            self.merges: MergeTable | None = MergeTable.from_tokenizer(tokenizer_path)
        except ConfigError as err:  # not a BPE: no BPE-dropout questions
            log.warning("%s: questions are not BPE-dropout tokenized (%s)", tokenizer_path, err)
            self.merges = None

    @property
    def methods(self) -> tuple[str, ...]:
        """The tokenizations this tokenizer allows (BPE-dropout needs a BPE)."""
        return tuple(m for m in METHODS if m != "bpedropout" or self.merges is not None)

    def encode(self, questions: Sequence[str], method: str, stream: str) -> list[list[int]]:
        """The questions' ids by ``method``; stochastic ones seeded per (seed, stream, question)."""
        from toklab.tokenizers.bpe_dropout import encode_characters, encode_with_dropout
        from toklab.tokenizers.stochastok import expand_documents

        texts = list(questions)
        key = stream_key(f"{stream}/{method}")
        if method == "deterministic":
            return [e.ids for e in self.tokenizer.encode_batch(texts, add_special_tokens=False)]
        if method == "chars":
            ids, offsets = encode_characters(self.tokenizer, texts)
        elif method == "bpedropout" and self.merges is not None:
            ids, offsets = encode_with_dropout(
                self.tokenizer, self.merges, texts, self.dropout_p, seed=self.seed, key=key
            )
        elif method == "stochastok":
            encodings = self.tokenizer.encode_batch(texts, add_special_tokens=False)
            flat = np.array([i for e in encodings for i in e.ids], dtype=np.int64)
            lengths = np.cumsum([len(e.ids) for e in encodings])
            ids, offsets = expand_documents(
                flat, np.concatenate([[0], lengths]), self.splits, self.stochastok_p,
                seed=self.seed, key=key,
            )  # fmt: skip
        else:
            raise ConfigError(f"unknown question tokenization '{method}' ({', '.join(METHODS)})")
        return [ids[a:b].tolist() for a, b in itertools.pairwise(offsets)]


def sample_problems(problems: Sequence[str], count: int, seed: int) -> list[str]:
    """``count`` problems drawn without replacement, seeded (all of them when fewer)."""
    order = np.random.default_rng(seed).permutation(len(problems))[:count]
    return [problems[i] for i in order.tolist()]


@torch.no_grad()
def solve(
    model: torch.nn.Module,
    tokenizer,
    question_ids: Sequence[Sequence[int]],
    answers: Sequence[str],
    *,
    max_new_tokens: int,
    eos_id: int | None,
) -> list[bool]:
    """Greedy continuations of each question: whether its answer is in the generated text."""
    from toklab.generation import generate

    solved = []
    for ids, answer in zip(question_ids, answers, strict=True):
        new = generate(model, ids, max_new_tokens=max_new_tokens, temperature=0.0, eos_id=eos_id)
        if eos_id is not None and new and new[-1] == eos_id:
            new = new[:-1]
        solved.append(answer_found(tokenizer.decode(new, skip_special_tokens=False), answer))
    return solved


def prompt_credit(problems: Sequence[str]) -> float:
    """The share of problems whose answer already appears in the question's text."""
    parts = [split_problem(p) for p in problems]
    return float(np.mean([answer in question for question, answer in parts])) if parts else 0.0


def evaluate_checkpoint(
    model: torch.nn.Module,
    questions: QuestionTokenizer,
    splits: dict[str, list[str]],
    methods: Sequence[str],
    *,
    max_new_tokens: int,
    eos_id: int | None,
) -> list[dict]:
    """Accuracy of one model for every (question tokenization, split)."""
    rows = []
    for split, problems in splits.items():
        parts = [split_problem(p) for p in problems]
        answers = [answer for _, answer in parts]
        for method in methods:
            ids = questions.encode([q for q, _ in parts], method, split)
            solved = solve(
                model, questions.tokenizer, ids, answers,
                max_new_tokens=max_new_tokens, eos_id=eos_id,
            )  # fmt: skip
            rows.append(
                {
                    "evaluation_tokenization": method,
                    "split": split,
                    "samples": len(problems),
                    "accuracy": float(np.mean(solved)) if solved else float("nan"),
                    "prompt_credit": prompt_credit(problems),
                }
            )
    return rows
