"""One tokenizer on one evaluation subset: word statistics and MorphScore, per language.

Each row also carries the vocabulary's duplicate tokens (:mod:`toklab.evaluation.duplicates`),
the same on every row of the tokenizer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from toklab.errors import DataError
from toklab.evaluation.duplicates import duplicate_tokens
from toklab.evaluation.metrics import RENYI_ALPHA, merge_stats, word_statistics
from toklab.evaluation.morphscore import GoldData, morph_score

#: Label of the row that pools every language (and of a corpus without language labels).
ALL_LANGUAGES = "all"

log = logging.getLogger(__name__)


def evaluate_tokenizer(
    tokenizer,
    documents: Iterable[tuple[str | None, str]],
    gold: Mapping[str, GoldData] | None = None,
    prefix_space: bool = True,
    alpha: float = RENYI_ALPHA,
    batch_size: int = 256,
    progress: Callable[[int], Any] | None = None,
) -> list[dict[str, Any]]:
    """Rows of statistics (one per language, then ``all`` when there are several).

    ``documents`` are ``(language, text)`` pairs (language ``None`` when unlabelled); ``gold``
    maps a language to its MorphScore gold words. A language without gold data gets a NaN
    morph_score, as does the pooled row. Every row has the vocabulary's ``duplicate_tokens``,
    ``duplicate_tokens_count`` and ``duplicate_tokens_redundant``.
    """
    gold = gold or {}
    labelled = ((language or ALL_LANGUAGES, text) for language, text in documents)
    per_language = word_statistics(tokenizer, labelled, batch_size=batch_size, progress=progress)
    if not per_language:
        raise DataError("the evaluation subset has no documents")
    languages = sorted(per_language)
    unknown = sorted(set(gold) - set(languages))
    if unknown:
        raise DataError(
            f"gold morphology for {unknown}, but the evaluation subset has only {languages}"
        )
    parts = [(language, per_language[language]) for language in languages]
    if len(languages) > 1:
        parts.append((ALL_LANGUAGES, merge_stats([s for _, s in parts])))
    duplicates = duplicate_tokens(tokenizer)
    log.info(
        "duplicate tokens: %d of %d (%.2f%%; %.2f%% redundant)",
        duplicates.duplicates,
        duplicates.tokens,
        100 * duplicates.share,
        100 * duplicates.redundant,
    )
    rows = []
    for language, stats in parts:
        if stats.first_irreversible is not None and language != ALL_LANGUAGES:
            log.warning(
                "%s: %d of %d documents do not decode to themselves; the first: %r",
                language,
                stats.documents - stats.reversible_documents,
                stats.documents,
                stats.first_irreversible[:200],
            )
        row: dict[str, Any] = {"language": language, **stats.summary(alpha)}
        if language in gold:
            score = morph_score(tokenizer, gold[language], prefix_space=prefix_space)
            row.update(
                morph_score=score.score,
                morph_scored_words=score.scored_words,
                morph_single_token_words=score.single_token_words,
            )
        else:
            row.update(morph_score=math.nan, morph_scored_words=0, morph_single_token_words=0)
        row.update(duplicates.columns())
        rows.append(row)
    return rows
