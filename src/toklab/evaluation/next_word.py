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
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.tfree import NO_WHITESPACE_TOKEN, join_words, split_words

log = logging.getLogger(__name__)

#: Targets are words of letters only.
LETTERS = re.compile(r"[^\W\d_]+")
#: Examples kept in a result, for people to read.
EXAMPLES = 20


@dataclass(frozen=True)
class NextWordItem:
    """One target word and the words before it."""

    context: tuple[str, ...]
    target: str


def next_word_items(
    documents: Iterable[str],
    *,
    context_words: int,
    max_items: int,
    per_document: int = 8,
    frequent_words: int = 0,
) -> list[NextWordItem]:
    """The evaluation's items, in document order (see the module doc)."""
    for name, value in (("context_words", context_words), ("max_items", max_items),
                        ("per_document", per_document)):  # fmt: skip
        if value < 1:
            raise ConfigError(f"next-word {name} must be at least 1, got {value}")
    if frequent_words < 0:
        raise ConfigError(f"next-word frequent_words must be 0 (all) or more, got {frequent_words}")
    split = []
    for text in documents:
        try:
            split.append(split_words(text))
        except DataError:  # NUL or lone surrogates: no model's item
            continue
    allowed = None
    if frequent_words:
        counts = Counter(w for words in split for w in words if LETTERS.fullmatch(w))
        allowed = {w for w, _ in counts.most_common(frequent_words)}
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
    return items


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

    Contexts longer than the model's positions keep their last ``max_position_embeddings``
    words; each row is decoded from its own logits among the dictionary and its own context's
    words.
    """
    from toklab.datasets.tfree_words import word_bags
    from toklab.generation import context_length_of

    limit = context_length_of(model)
    guesses: list[str] = []
    batches = range(0, len(items), batch_size)
    for first in tqdm(batches, desc="next word", disable=not progress):
        batch = items[first : first + batch_size]
        contexts = [item.context[-limit:] if limit else item.context for item in batch]
        with torch.no_grad():
            logits = model(word_bags(contexts, dictionary.hasher, device))[:, -1, :]
        for row, item in enumerate(batch):
            words = dictionary.add_words(item.context)  # the original's more_words
            guesses.extend(words.decode(logits[row : row + 1]))
    return guesses


def next_word_accuracy(
    items: Sequence[NextWordItem], guess: Callable[[Sequence[NextWordItem]], list[str]]
) -> dict[str, Any]:
    """``next_word_accuracy`` (share of exact guesses), the item count and a few examples.

    Documents without a letter word after a full context (addition problems) give no items:
    then the accuracy is NaN (an empty cell), with a warning.
    """
    if not items:
        log.warning("no next-word items: the documents have no word after a full context")
        return {
            "next_word_accuracy": math.nan,
            "next_word_stderr": math.nan,
            "next_word_items": 0,
            "next_word_context_words": None,
            "next_word_examples": [],
        }
    guesses = guess(items)
    correct = [g == item.target for g, item in zip(guesses, items, strict=True)]
    accuracy = float(np.mean(correct))
    return {
        "next_word_accuracy": accuracy,
        "next_word_stderr": float(np.sqrt(accuracy * (1 - accuracy) / len(items))),
        "next_word_items": len(items),
        "next_word_context_words": len(items[0].context),
        "next_word_examples": [
            {"context": join_words(item.context[-8:]), "target": item.target, "guess": g}
            for item, g in zip(items[:EXAMPLES], guesses, strict=False)
        ],
    }
