"""T-Free's tables: fertility against token vocabularies, and embedding + head parameters.

**Fertility** (T-Free paper, Tab. 2): tokens per word, where a *word* is a whitespace-separated
run of the text (``str.split()``), the same for every tokenizer so that rows compare. A
tokenizer's tokens are its ids of each document (no special tokens added); T-Free's are the items
of its word split (:func:`toklab.tokenizers.tfree.split_words`: words, digits, punctuation and
the whitespace markers), which no hasher changes, so the table has one T-Free row per language.
Each row also carries the vocabulary's duplicate tokens (:mod:`toklab.evaluation.duplicates`;
T-Free has no token vocabulary, so 0).

**Parameters**: T-Free's input embedding and its head each hold ``v x hidden`` weights (the
head is never tied); a dense vocabulary of ``V`` tokens holds ``V x hidden`` in each, or once
when the preset ties them. The blocks in between are the same, so the reduction of the
embedding and head is ``1 - 2v / (2V)`` untied (paper: v = 8k against 64k: 87.5%).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from itertools import groupby
from typing import Any

from toklab.evaluation.duplicates import duplicate_tokens
from toklab.models.llama import ModelConfig
from toklab.tokenizers.tfree import split_words

log = logging.getLogger(__name__)
_SURROGATE = re.compile("[\ud800-\udfff]")

#: The name of T-Free's row (its word split, whichever hasher).
TFREE_ROW = "tfree"
ALL_LANGUAGES = "all"

#: results/tables/tfree_fertility_{corpus}.csv: one row per (language, tokenizer).
FERTILITY_COLUMNS: dict[str, str] = {
    "language": "language of the documents; 'all' pools every language",
    "tokenizer": "tokenizer name; tfree: T-Free's word split (every hasher's)",
    "vocab_size": "V, special tokens included (empty for T-Free, which has no vocabulary)",
    "documents": "documents of the fertility subsets",
    "words": "whitespace-separated words (str.split), the same for every tokenizer",
    "tokens": "tokens (T-Free: words, digits, punctuation and whitespace markers of its split)",
    "fertility": "tokens / words (T-Free paper, Tab. 2)",
    "duplicate_tokens": "share of the vocabulary's tokens another token equals up to case and one leading space (T-Free: 0)",
    "duplicate_tokens_redundant": "share of the vocabulary that keeping one token per such surface would remove",
}

#: results/tables/tfree_params_{corpus}.csv: one row per (preset, hasher, dense vocabulary).
PARAMS_COLUMNS: dict[str, str] = {
    "preset": "the model preset (resources/model_presets.yaml)",
    "hidden_size": "its hidden size",
    "num_hidden_layers": "its layers",
    "hasher": "the T-Free hasher",
    "v": "its hash ids",
    "m": "its ids per trigram",
    "tfree_embedding_parameters": "v x hidden_size",
    "tfree_head_parameters": "v x hidden_size (the multi-label head, untied)",
    "dense_vocab_size": "the dense vocabulary compared",
    "dense_tied": "whether the preset ties the dense embedding and head",
    "dense_embedding_parameters": "dense_vocab_size x hidden_size",
    "dense_head_parameters": "dense_vocab_size x hidden_size, or 0 when tied",
    "non_embedding_parameters": "the blocks in between, the same for both",
    "tfree_parameters": "non_embedding_parameters + the T-Free embedding and head",
    "dense_parameters": "non_embedding_parameters + the dense embedding and head",
    "embedding_head_reduction": "1 - T-Free's embedding + head / the dense ones (paper: 0.875 for 8k against 64k)",
    "parameter_reduction": "1 - tfree_parameters / dense_parameters",
}


def fertility_rows(
    documents: Iterable[tuple[str | None, str]],
    tokenizers: Mapping[str, Any],
    batch_size: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows of the fertility table: every tokenizer (and T-Free's split) x language, then ``all``.

    ``documents`` are ``(language, text)`` pairs (``None`` when the corpus has no languages);
    ``tokenizers`` maps a row name to a ``tokenizers.Tokenizer``.
    """
    counts: dict[str, dict[str, list[int]]] = {}  # language -> name -> [documents, words, tokens]
    skipped = [0]
    names = [*tokenizers, TFREE_ROW]

    def add(language: str, texts: list[str]) -> None:
        per_name = counts.setdefault(language, {name: [0, 0, 0] for name in names})
        words = sum(len(text.split()) for text in texts)
        for name, tokenizer in tokenizers.items():
            encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
            per_name[name][2] += sum(len(e.ids) for e in encodings)
        per_name[TFREE_ROW][2] += sum(map(len, map(split_words, texts)))
        for name in names:
            per_name[name][0] += len(texts)
            per_name[name][1] += words

    batch: list[tuple[str, str]] = []
    for language, text in documents:
        if "\x00" in text or _SURROGATE.search(text):
            skipped[0] += 1  # T-Free's split refuses it: no tokenizer counts it
            continue
        batch.append((language or ALL_LANGUAGES, text))
        if len(batch) == batch_size:
            for key, group in groupby(batch, key=lambda item: item[0]):
                add(key, [text for _, text in group])
            if progress is not None:
                progress(sum(len(text.encode()) for _, text in batch))
            batch = []
    for key, group in groupby(batch, key=lambda item: item[0]):
        add(key, [text for _, text in group])
    if progress is not None and batch:
        progress(sum(len(text.encode()) for _, text in batch))

    if skipped[0]:
        log.warning("%d documents skipped (NUL characters or lone surrogates)", skipped[0])
    duplicates = {name: duplicate_tokens(tokenizer) for name, tokenizer in tokenizers.items()}
    languages = sorted(counts)
    if len(languages) > 1:
        counts[ALL_LANGUAGES] = {
            name: [sum(counts[lang][name][i] for lang in languages) for i in range(3)]
            for name in names
        }
        languages.append(ALL_LANGUAGES)
    rows = []
    for language in languages:
        for name in names:
            documents_seen, words, tokens = counts[language][name]
            vocabulary = tokenizers.get(name)
            dup = duplicates.get(name)
            rows.append(
                {
                    "language": language,
                    "tokenizer": name,
                    "vocab_size": (
                        vocabulary.get_vocab_size(with_added_tokens=True) if vocabulary else None
                    ),
                    "documents": documents_seen,
                    "words": words,
                    "tokens": tokens,
                    "fertility": tokens / words if words else float("nan"),
                    "duplicate_tokens": dup.share if dup else 0.0,
                    "duplicate_tokens_redundant": dup.redundant if dup else 0.0,
                }
            )
    return rows


def parameter_rows(
    hashers: Iterable[tuple[str, int, int]],
    presets: Mapping[str, Mapping[str, Any]],
    dense_vocab_sizes: Iterable[int],
) -> list[dict[str, Any]]:
    """Rows of the parameter table: every (preset, hasher ``(name, v, m)``, dense size)."""
    rows = []
    hashers, dense_vocab_sizes = list(hashers), list(dense_vocab_sizes)
    for preset, values in presets.items():
        for name, v, m in hashers:
            for vocab in dense_vocab_sizes:
                fields = {k: val for k, val in values.items() if k != "model_class"}
                dense = ModelConfig.from_dict({**fields, "vocab_size": vocab})
                hidden = dense.hidden_size
                blocks = dense.num_parameters(non_embedding=True)
                tied = dense.tie_word_embeddings
                dense_head = 0 if tied else vocab * hidden
                tfree_total = blocks + 2 * v * hidden
                dense_total = blocks + vocab * hidden + dense_head
                rows.append(
                    {
                        "preset": preset,
                        "hidden_size": hidden,
                        "num_hidden_layers": dense.num_hidden_layers,
                        "hasher": name,
                        "v": v,
                        "m": m,
                        "tfree_embedding_parameters": v * hidden,
                        "tfree_head_parameters": v * hidden,
                        "dense_vocab_size": vocab,
                        "dense_tied": tied,
                        "dense_embedding_parameters": vocab * hidden,
                        "dense_head_parameters": dense_head,
                        "non_embedding_parameters": blocks,
                        "tfree_parameters": tfree_total,
                        "dense_parameters": dense_total,
                        "embedding_head_reduction": 1 - 2 * v / (vocab + dense_head / hidden),
                        "parameter_reduction": 1 - tfree_total / dense_total,
                    }
                )
    return rows
