"""MorphScore: how often a tokenizer cuts a word at its gold morpheme boundary.

Gold data are MorphScore's CSVs (``full_word, pt1, rest``, one boundary per word; Arnett et al.,
arXiv 2411.14198) or the demo generator's files in the same format. A word scores 1 when one of
its token boundaries falls exactly between ``pt1`` and ``rest``, else 0; words that come out as
a single token are excluded; the score is the mean over the remaining words.

Two conventions keep tokenizer formats from distorting the check:

* **Leading space.** In running text a word follows a space, and GPT-2-style tokenizers fold
  that space into the word's first token (``Ġlight``). By default each gold word is tokenized
  as ``" " + word``, the form it takes inside a sentence, and the space counts as part of the
  first piece (``prefix_space=False`` tokenizes the bare word, as upstream MorphScore does).
* **Where the boundaries are.** Boundaries come from the tokens' character offsets in the
  input, not from the token strings, so neither a ``Ġ`` nor a WordPiece continuation prefix
  (``##`` or toklab's ``▁``) can shift a cut. A byte-level token that ends inside a multi-byte
  character is no boundary between characters, so it never counts as a morpheme boundary.

Gold rows whose parts do not spell the word (MorphScore's Gujarati file has misaligned rows) or
with an empty part (no boundary to find) are skipped and counted, never scored.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from toklab.errors import DataError


@dataclass(frozen=True)
class GoldWord:
    """One gold segmentation: the word and the length (in characters) of its first part."""

    word: str
    boundary: int


@dataclass(frozen=True)
class GoldData:
    """A language's usable gold words and how many rows of its file were skipped."""

    words: list[GoldWord]
    skipped: int


@dataclass(frozen=True)
class MorphScore:
    """MorphScore of one tokenizer on one language."""

    score: float
    scored_words: int
    single_token_words: int
    skipped_gold: int


def read_gold(path: str | Path) -> GoldData:
    """Gold words of a MorphScore CSV (``full_word``, ``pt1``, ``rest``; other columns ignored)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: MorphScore gold file not found")
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"full_word", "pt1", "rest"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path}: MorphScore gold file lacks columns {sorted(missing)}")
        words, skipped = [], 0
        for row in reader:
            word, first, rest = row["full_word"], row["pt1"], row["rest"]
            if not first or not rest or first + rest != word:
                skipped += 1
                continue
            words.append(GoldWord(word, len(first)))
    if not words:
        raise DataError(f"{path}: no usable gold words ({skipped} rows skipped)")
    return GoldData(words, skipped)


def boundaries(offsets: Sequence[tuple[int, int]], shift: int = 0) -> set[int]:
    """Character positions (minus ``shift``) where one token ends and the next begins."""
    return {end - shift for (_, end), (next_start, _) in pairwise(offsets) if end == next_start}


def morph_score(tokenizer, gold: GoldData, prefix_space: bool = True) -> MorphScore:
    """MorphScore of a ``tokenizers.Tokenizer`` on ``gold`` (see the module docstring)."""
    prefix = " " if prefix_space else ""
    texts = [prefix + item.word for item in gold.words]
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    hits = scored = single = 0
    for item, encoding in zip(gold.words, encodings, strict=True):
        if len(encoding.ids) < 2:
            single += 1
            continue
        scored += 1
        hits += item.boundary in boundaries(encoding.offsets, shift=len(prefix))
    return MorphScore(
        score=hits / scored if scored else float("nan"),
        scored_words=scored,
        single_token_words=single,
        skipped_gold=gold.skipped,
    )
