"""Next-word accuracy: a comparison every LM can enter, token vocabularies and T-Free alike.

Bits per byte needs a distribution over texts, which T-Free's multi-label head does not give.
This measure needs only a *guess*: the share of words that a model, shown the words before them,
names exactly.

**Items.** Each validation document is split into T-Free's words
(:func:`~toklab.tokenizers.tfree.split_words`); a target is a word of letters only (no digit,
punctuation or whitespace marker) with at least ``context_words`` words before it in its
document, and its context is exactly those ``context_words`` words; a context that ends in
``<|no_ws|>`` (which tells T-Free that no space follows, and a token model nothing) is left
out, as are documents the word split refuses (NUL characters). At most ``per_document``
targets are taken from a document, evenly spread over its eligible positions, documents in
order, until ``max_items``: every model is scored on the same items. With ``frequent_words``
N > 0, a target must also be one of the N most frequent letter words of the documents (ties:
the word seen first): a tiny model on a language of many word forms can register those, where
it names almost no word of the whole text.

**Guesses.** Both kinds of model must produce the target as the next item of the word split. A
token model reads the context's text (:func:`~toklab.tokenizers.tfree.join_words` of the
context words, the document's own text of that span) as its tokenizer encodes it and decodes
greedily (with a KV cache for toklab's Llama) up to ``max_new_tokens`` tokens; the context's
text and the continuation are split together, and the guess is the item after the context's
words (none when the continuation changed the context's last word: it did not start a new
one). A whitespace run before the word is an item of its own, for both kinds. A T-Free model
reads the context's words (its last ``max_position_embeddings``) and its guess is the word that
scores highest on its logits at the last position among its dictionary and the context's words
(the original's ``more_words``; each row from its own logits and words); a word in neither
cannot be guessed, which is part of what T-Free's decoding costs (``next_word_oov``).

**Choices.** Exact next words are beyond a tiny model on languages of many word forms, so with
``choices`` k > 1 every item also carries k - 1 distractors, and each model picks the likeliest
of the k candidates as the next *word*: a token model by the log-probability of the candidate's
tokens after the context's (the context and the candidate encoded together, as in running
text: the ids all candidates share are the prompt) plus that of a word boundary after them (the
total probability of the tokens that cannot continue a word: specials, and those beginning with
a non-letter), so a short word is not favoured for being a prefix of longer ones; a T-Free
model by its decoding score at the last position, which is a whole word's already. Distractors
are drawn, seeded, by occurrence from the letter words of the same documents (of the N most
frequent with ``frequent_words``), distinct and never the target, a prefix of it or an
extension of it. A tie at the best score earns 1 / (words tied).

Candidates follow the text's word frequencies, so a model that knows word frequencies and
nothing of the context does better or worse than 1 / k, depending on the text. The *control*
(``next_word_choice_control``) scores the same candidates after another item's context (item
``i`` gets the context of item ``(i + n // 2) mod n``): a model that ignores its context scores
exactly its own accuracy there, so the difference is what reading the right context is worth.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from toklab.errors import ConfigError, DataError
from toklab.evaluation.findings import proportion_stderr
from toklab.tokenizers.tfree import NO_WHITESPACE_TOKEN, join_words, split_words

log = logging.getLogger(__name__)

#: Targets are words of letters only.
LETTERS = re.compile(r"[^\W\d_]+")
#: Examples kept in a result, for people to read.
EXAMPLES = 20


@dataclass(frozen=True)
class NextWordItem:
    """One target word, the words before it and, for the choice measure, its distractors."""

    context: tuple[str, ...]
    target: str
    distractors: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """The target, then the distractors."""
        return (self.target, *self.distractors)


def next_word_items(
    documents: Iterable[str],
    *,
    context_words: int,
    max_items: int,
    per_document: int = 8,
    frequent_words: int = 0,
    choices: int = 0,
    seed: int = 0,
) -> list[NextWordItem]:
    """The evaluation's items, in document order (see the module doc).

    With ``choices`` k > 1 each item has k - 1 distractors drawn with ``seed``.
    """
    for name, value in (("context_words", context_words), ("max_items", max_items),
                        ("per_document", per_document)):  # fmt: skip
        if value < 1:
            raise ConfigError(f"next-word {name} must be at least 1, got {value}")
    if frequent_words < 0:
        raise ConfigError(f"next-word frequent_words must be 0 (all) or more, got {frequent_words}")
    if choices < 0 or choices == 1:
        raise ConfigError(f"next-word choices must be 0 (off) or at least 2, got {choices}")
    if 0 < frequent_words < choices:
        raise ConfigError(
            f"next-word choices {choices} need at least as many words: frequent_words is "
            f"{frequent_words}"
        )
    split = []
    for text in documents:
        try:
            split.append(split_words(text))
        except DataError:  # NUL or lone surrogates: no model's item
            continue
    counts = Counter(w for words in split for w in words if LETTERS.fullmatch(w))
    allowed = None
    if frequent_words:
        allowed = {w for w, _ in counts.most_common(frequent_words)}
        counts = Counter({w: c for w, c in counts.items() if w in allowed})  # first-seen order
    items: list[NextWordItem] = []
    for words in split:
        eligible = [
            i
            for i in range(context_words, len(words))
            if LETTERS.fullmatch(words[i])
            and words[i - 1] != NO_WHITESPACE_TOKEN
            and (allowed is None or words[i] in allowed)
        ]
        if not eligible:
            continue
        take = min(per_document, len(eligible), max_items - len(items))
        for k in np.linspace(0, len(eligible) - 1, take).round().astype(int).tolist():
            i = eligible[k]
            items.append(NextWordItem(tuple(words[i - context_words : i]), words[i]))
        if len(items) >= max_items:
            break
    return with_distractors(items, counts, choices, seed) if choices else items


def related(a: str, b: str) -> bool:
    """Whether one word is the other or begins it."""
    return a.startswith(b) or b.startswith(a)


def with_distractors(
    items: Sequence[NextWordItem], counts: Counter, choices: int, seed: int
) -> list[NextWordItem]:
    """``items`` with ``choices - 1`` distractors each, drawn by occurrence from ``counts``.

    Words are drawn in proportion to their counts (in the words' first-seen order, so the draw
    depends only on the text and ``seed``) and kept when distinct and not :func:`related` to
    the target. Where a few rounds of draws leave an item short (the text's mass is mostly
    on words related to it), the most frequent remaining words fill it; a
    :class:`~toklab.errors.DataError` when the text has too few unrelated words at all.
    """
    words = list(counts)
    by_count = sorted(words, key=counts.__getitem__, reverse=True)  # stable: first seen first
    cumulative = np.cumsum(np.fromiter(counts.values(), dtype=np.float64, count=len(words)))
    rng = np.random.default_rng(seed)
    need = choices - 1
    out = []
    for item in items:
        chosen: dict[str, None] = {}
        for _ in range(8):
            draws = np.searchsorted(cumulative, rng.random(4 * choices) * cumulative[-1], "right")
            _take(chosen, (words[k] for k in draws.tolist()), need, item.target)
            if len(chosen) == need:
                break
        _take(chosen, by_count, need, item.target)
        if len(chosen) < need:
            raise DataError(
                f"next-word choices {choices}: the text has fewer than {need} words unrelated "
                f"to {item.target!r} to draw distractors from"
            )
        out.append(replace(item, distractors=tuple(chosen)))
    return out


def _take(chosen: dict[str, None], words: Iterable[str], need: int, target: str) -> None:
    """Add ``words`` not yet chosen and not :func:`related` to ``target``, up to ``need``."""
    for word in words:
        if len(chosen) == need:
            return
        if word not in chosen and not related(word, target):
            chosen[word] = None


def controls(items: Sequence[NextWordItem]) -> list[NextWordItem]:
    """The control's items: item ``i``'s candidates after item ``(i + n // 2) mod n``'s context."""
    n = len(items)
    return [replace(item, context=items[(i + n // 2) % n].context) for i, item in enumerate(items)]


def choice_credit(scores: Sequence[float]) -> float:
    """1 / (candidates tied at the best score) when the first (the target) is among them."""
    best = max(scores)
    return 1.0 / sum(s == best for s in scores) if scores[0] == best else 0.0


def next_item(context: Sequence[str], continuation: str) -> str:
    """The item after ``context`` in the word split of its text followed by ``continuation``.

    ``""`` when the continuation does not leave the context's words as they are (it extended
    the last word) or adds no item.
    """
    try:
        words = split_words(join_words(context) + continuation)
    except DataError:
        return ""
    if words[: len(context)] != list(context) or len(words) <= len(context):
        return ""
    return words[len(context)]


def token_guesses(
    model: torch.nn.Module,
    tokenizer,
    items: Sequence[NextWordItem],
    *,
    max_new_tokens: int = 24,
    eos_id: int | None = None,
    progress: bool = True,
) -> list[str]:
    """A token model's greedy next word for every item."""
    from toklab.generation import context_length_of, generate

    limit = context_length_of(model)
    guesses = []
    for item in tqdm(items, desc="next word", disable=not progress):
        ids = tokenizer.encode(join_words(item.context), add_special_tokens=False).ids
        if limit is not None:
            ids = ids[-max(limit - max_new_tokens, 1) :]
        new = generate(model, ids, max_new_tokens=max_new_tokens, temperature=0.0, eos_id=eos_id)
        guesses.append(next_item(item.context, tokenizer.decode(new, skip_special_tokens=True)))
    return guesses


def boundary_ids(tokenizer_file) -> np.ndarray:
    """The ids that cannot continue a word: specials, and pieces starting with a non-letter.

    A piece starts a new item of the word split when its first byte is ASCII and not a letter
    (whitespace, digits, punctuation), or it is SentencePiece's ``▁`` or a WordPiece piece
    without ``##``. Pieces starting with a byte of a multi-byte character count as letters
    (most are), so a boundary's probability is slightly underestimated after words followed
    by non-ASCII punctuation.
    """
    from toklab.tokenizers.tokenizer_files import vocabulary_pieces

    pieces = vocabulary_pieces(tokenizer_file)
    wordpiece = any(piece is not None and piece[1] for piece in pieces)
    ids = []
    for token_id, piece in enumerate(pieces):
        if piece is None:
            ids.append(token_id)
            continue
        data, continuation = piece
        if wordpiece:
            starts = not continuation
        else:
            first = data[:1]
            starts = data.startswith("\u2581".encode()) or (
                first != b"" and first[0] < 0x80 and not first.isalpha()
            )
        if starts:
            ids.append(token_id)
    return np.asarray(ids, dtype=np.int64)


def token_choice_scores(
    model: torch.nn.Module,
    tokenizer,
    items: Sequence[NextWordItem],
    boundary: np.ndarray,
    *,
    progress: bool = True,
) -> list[list[float]]:
    """A token model's log-probability of each candidate as the next word (module doc).

    Each candidate is encoded with its context as running text; the ids every candidate
    shares are the prompt (its last ids, where the model's positions need the room), the
    rest are scored, then a word boundary after them: one of ``boundary``'s ids.
    """
    from toklab.evaluation.multiple_choice import continuation_scores
    from toklab.generation import context_length_of

    limit = context_length_of(model)
    ends = torch.as_tensor(boundary, dtype=torch.long)
    scores = []
    for item in tqdm(items, desc="next word choices", disable=not progress):
        encoded = [
            tokenizer.encode(join_words((*item.context, word)), add_special_tokens=False).ids
            for word in item.candidates
        ]
        shared = 0
        while all(len(e) > shared + 1 and e[shared] == encoded[0][shared] for e in encoded):
            shared += 1
        if shared == 0:
            raise DataError(f"next word: no context ids before the candidates of {item.target!r}")
        prompt, options = encoded[0][:shared], [e[shared:] for e in encoded]
        if limit is not None:
            prompt = prompt[-max(limit - max(map(len, options)), 1) :]
        scores.append(
            continuation_scores(model, prompt, options, context_length=limit, boundary=ends)
        )
    return scores


def _tfree_last_logits(
    model: torch.nn.Module, hasher, items: Sequence[NextWordItem], batch_size: int, device,
    progress: bool,
) -> Iterator[tuple[Sequence[NextWordItem], torch.Tensor]]:  # fmt: skip
    """Batches of items with the model's logits ``(B, v)`` at their contexts' last word.

    Contexts longer than the model's positions keep their last ``max_position_embeddings``
    words.
    """
    from toklab.datasets.tfree_words import word_bags
    from toklab.generation import context_length_of

    limit = context_length_of(model)
    for first in tqdm(range(0, len(items), batch_size), desc="next word", disable=not progress):
        batch = items[first : first + batch_size]
        contexts = [item.context[-limit:] if limit else item.context for item in batch]
        with torch.no_grad():
            yield batch, model(word_bags(contexts, hasher, device))[:, -1, :]


def tfree_guesses(
    model: torch.nn.Module,
    dictionary,
    items: Sequence[NextWordItem],
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[str]:
    """A T-Free model's next word for every item: the best word of its dictionary and context.

    Each row is decoded from its own logits among the dictionary and its own context's words.
    """
    guesses: list[str] = []
    for batch, logits in _tfree_last_logits(model, dictionary.hasher, items, batch_size,
                                            device, progress):  # fmt: skip
        for row, item in enumerate(batch):
            words = dictionary.add_words(item.context)  # the original's more_words
            guesses.extend(words.decode(logits[row : row + 1]))
    return guesses


def tfree_choice_scores(
    model: torch.nn.Module,
    hasher,
    items: Sequence[NextWordItem],
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> list[list[float]]:
    """A T-Free model's decoding score (:meth:`WordDictionary.scores`) of each candidate.

    A word's score depends only on its own pattern, so one dictionary of every item's
    candidates serves all rows.
    """
    from toklab.tokenizers.tfree_dictionary import WordDictionary

    words = WordDictionary(dict.fromkeys(w for item in items for w in item.candidates), hasher)
    scores: list[list[float]] = []
    for batch, logits in _tfree_last_logits(model, hasher, items, batch_size, device, progress):
        table = words.scores(logits).cpu()
        for row, item in enumerate(batch):
            columns = [words.index(w) for w in item.candidates]
            scores.append(table[row, columns].tolist())
    return scores


def _proportion(values: Sequence[float]) -> tuple[float, float]:
    """The mean of per-item credits and its binomial standard error."""
    mean = float(np.mean(values))
    return mean, proportion_stderr(mean, len(values))


def next_word_accuracy(
    items: Sequence[NextWordItem],
    guess: Callable[[Sequence[NextWordItem]], list[str]],
    choose: Callable[[Sequence[NextWordItem]], list[list[float]]] | None = None,
) -> dict[str, Any]:
    """``next_word_accuracy`` (share of exact guesses), the item count and a few examples.

    When the items have distractors and ``choose`` scores their candidates, also the choice
    measure: ``next_word_choice_accuracy`` (mean :func:`choice_credit`), its stderr, the
    number of candidates and ``next_word_choice_control``, the same after other items'
    contexts (:func:`controls`). Documents without a letter word after a full context
    (addition problems) give no items: then every value is NaN (empty cells), with a warning.
    """
    choices = len(items[0].candidates) if items and items[0].distractors else 0
    if not items:
        log.warning("no next-word items: the documents have no word after a full context")
        return {
            "next_word_accuracy": math.nan,
            "next_word_stderr": math.nan,
            "next_word_items": 0,
            "next_word_context_words": None,
            "next_word_examples": [],
            "next_word_choice_accuracy": math.nan,
            "next_word_choice_stderr": math.nan,
            "next_word_choices": 0,
            "next_word_choice_control": math.nan,
        }
    guesses = guess(items)
    accuracy, stderr = _proportion(
        [g == item.target for g, item in zip(guesses, items, strict=True)]
    )
    result = {
        "next_word_accuracy": accuracy,
        "next_word_stderr": stderr,
        "next_word_items": len(items),
        "next_word_context_words": len(items[0].context),
        "next_word_examples": [
            {"context": join_words(item.context[-8:]), "target": item.target, "guess": g}
            for item, g in zip(items[:EXAMPLES], guesses, strict=False)
        ],
    }
    if choices and choose is not None:
        scores = choose(items)
        credit, credit_stderr = _proportion([choice_credit(s) for s in scores])
        result |= {
            "next_word_choice_accuracy": credit,
            "next_word_choice_stderr": credit_stderr,
            "next_word_choices": choices,
            "next_word_choice_control": _proportion(
                [choice_credit(s) for s in choose(controls(items))]
            )[0],
        }
        for example, item, row in zip(result["next_word_examples"], items, scores, strict=False):
            example["choice"] = item.candidates[int(np.argmax(row))]
    return result
