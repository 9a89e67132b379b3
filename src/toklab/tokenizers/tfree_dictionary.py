r"""T-Free decoding: pick the next word from a dictionary by how well its pattern fits the output.

A T-Free model's head gives ``v`` logits per position, one per hash id. Decoding compares
``p = sigmoid(logits)`` with the sparse pattern over ``v`` of every word of a dictionary and picks
a word (the original's ``decode_trigram``, Aleph-Alpha/trigrams at 0161000).

**Patterns** (:class:`WordDictionary`). For each word: the distinct ids of
:meth:`~toklab.tokenizers.tfree.TrigramHasher.word_rows`, kept as two sets as the original's
``process_word`` does. *Edge* ids come from an edge trigram (its first or last byte is a space:
the ``" "`` padding of ``" word "``), *non-edge* ids from the other trigrams. An id hashed from
both kinds of trigram is in **both** sets; whole-word rows (special tokens, or all words with
``entire_words``) are all non-edge. ``T_w`` is the number of rows: distinct trigrams, or 1.

**Scores** (:meth:`WordDictionary.scores`), per row of logits, in float32:

- ``"code"`` (the original): ``s_w = Σ_{nonedge} p + λ Σ_{edge} p`` and
  ``score_w = s_w / (m·T_w) + (s_w - Σ_all p) / (v - m·T_w)``, roughly the mean of ``p`` inside
  the pattern minus the mean outside it. Only roughly: the denominators are ``m·T_w`` and
  ``v - m·T_w`` whatever ``λ`` is and however many ids collide (not the pattern's size), ``λ``
  scales ``s_w`` in both terms, and an id in both sets counts ``1 + λ`` times (twice for
  ``λ = 1``). For a word with ``m·T_w ≥ v`` the original divides by zero or a negative number;
  here the outside denominator is at least 1.
- ``"paper"`` (Alg. 5 of the paper): ``Σ_{pattern} p`` divided by the pattern's size (its distinct
  ids). No edge weight.

**Choosing** (:meth:`WordDictionary.decode`): a softmax over the scores, then the argmax
(``temperature=0``, the original) or a sample from ``softmax(scores / temperature)``, optionally
cut to its top-``p`` nucleus. Scores are about differences of means of ``p`` (within
``[-1, 1]`` for ``λ <= 1``), so useful temperatures are small (0.01 to 0.2). Each row is decoded
from its own logits: the original read row 0's logits for every row of a batch. Blacklisted
words are never chosen (the original re-picked only for a single row and only for words of its
base dictionary).

**Dictionaries** are built from word counts (:mod:`toklab.tokenizers.tfree_counts`: a TSV, a
JSON object, or the original's pickled ``collections.Counter``) with
:meth:`WordDictionary.from_counts`: the special words first, then the ``top_n`` most frequent
other words, ties broken by the word. The original's ``load`` added its special words with count
0 and cut the whole count-sorted list (so ``reduce_tokenizer_words_to`` could drop them); its
``generate_tokenizer.py`` put them first, as here. :data:`DEFAULT_SPECIALS` are the markers
:func:`~toklab.tokenizers.tfree.split_words` emits plus ``<|endoftext|>``; the original's ``6``
and ``8`` folds are left out, as the split never emits them (pass them in ``special_words`` to
keep them). The original's ``lowercase`` option is not reproduced, and any non-empty word gets a
pattern (the original asserted that a dictionary word splits into itself).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.tfree import (
    LINEBREAK_TOKEN,
    NO_WHITESPACE_TOKEN,
    WHITESPACE_TOKEN,
    TrigramHasher,
)
from toklab.tokenizers.tfree_counts import check_counts, read_word_counts, write_word_counts
from toklab.tokenizers.tfree_trigrams import is_whole_word, trigram_ids

__all__ = [
    "DEFAULT_SPECIALS",
    "END_OF_TEXT",
    "Method",
    "WordDictionary",
    "WordPattern",
]

END_OF_TEXT = "<|endoftext|>"
#: Special words every dictionary starts with by default, in this order.
DEFAULT_SPECIALS: tuple[str, ...] = (
    END_OF_TEXT,
    WHITESPACE_TOKEN,
    NO_WHITESPACE_TOKEN,
    LINEBREAK_TOKEN,
    "<|2<-ws->|>",
    "<|4<-ws->|>",
    "<|2<-\n->|>",
    "<|4<-\n->|>",
)

Method = Literal["code", "paper"]
_METHODS = ("code", "paper")
_SPACE = 0x20

# ---------------------------------------------------------------------------------------------
# Patterns


class WordPattern(NamedTuple):
    """One word's pattern: sorted distinct ids, the non-edge and edge ones, and its ``T_w``."""

    ids: np.ndarray
    nonedge: np.ndarray
    edge: np.ndarray
    trigrams: int


@dataclass(frozen=True)
class _Patterns:
    """CSR arrays over ``v``, one row per word: the union pattern and its two indicator sets."""

    crow: np.ndarray  # int64 (W + 1,)
    col: np.ndarray  # int64 (nnz,): ids, sorted within a word
    nonedge: np.ndarray  # bool (nnz,): the id comes from a non-edge trigram or a whole-word row
    edge: np.ndarray  # bool (nnz,): the id comes from an edge trigram (both may be true)
    trigrams: np.ndarray  # int64 (W,): T_w

    @classmethod
    def empty(cls) -> _Patterns:
        ints = np.empty(0, dtype=np.int64)
        flags = np.empty(0, dtype=bool)
        return cls(np.zeros(1, dtype=np.int64), ints, flags, flags, ints)

    def __add__(self, other: _Patterns) -> _Patterns:
        return _Patterns(
            np.concatenate([self.crow, other.crow[1:] + self.crow[-1]]),
            np.concatenate([self.col, other.col]),
            np.concatenate([self.nonedge, other.nonedge]),
            np.concatenate([self.edge, other.edge]),
            np.concatenate([self.trigrams, other.trigrams]),
        )


def _build_patterns(words: Sequence[str], hasher: TrigramHasher) -> _Patterns:
    """The patterns of ``words`` (non-empty, validated by the hasher), all at once."""
    n, v, m = len(words), hasher.v, hasher.m
    if not n:
        return _Patterns.empty()
    whole = np.fromiter((is_whole_word(w, hasher.entire_words) for w in words), bool, count=n)
    ids, offsets = trigram_ids(["" if h else w for w, h in zip(words, whole, strict=True)])
    trigrams = np.diff(offsets)
    trigrams[whole] = 1
    whole_at = np.flatnonzero(whole)
    whole_rows = [hasher.word_hash_row(words[w]) for w in whole_at.tolist()]
    rows = np.concatenate(
        [hasher.rows(ids), np.stack(whole_rows) if whole_rows else np.empty((0, m), np.int64)]
    )
    row_word = np.concatenate([np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets)), whole_at])
    row_edge = np.concatenate(
        [((ids & 255) == _SPACE) | ((ids >> 16) == _SPACE), np.zeros(len(whole_at), dtype=bool)]
    )
    # one key per (word, id): sorted by word, then id, which is CSR order
    keys, where = np.unique((row_word[:, None] * v + rows).reshape(-1), return_inverse=True)
    entry_edge = np.repeat(row_edge, m)
    nonedge = np.zeros(len(keys), dtype=bool)
    nonedge[where[~entry_edge]] = True
    edge = np.zeros(len(keys), dtype=bool)
    edge[where[entry_edge]] = True
    word_of = keys // v
    crow = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(word_of, minlength=n), out=crow[1:])
    return _Patterns(crow, keys - word_of * v, nonedge, edge, trigrams.astype(np.int64))


@dataclass(frozen=True)
class _DeviceTensors:
    crow: torch.Tensor
    col: torch.Tensor
    nonedge: torch.Tensor  # float32 indicators
    edge: torch.Tensor
    ones: torch.Tensor
    mt: torch.Tensor  # float32 (W,): m·T_w
    size: torch.Tensor  # float32 (W,): distinct ids


def _csr(t: _DeviceTensors, values: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse_csr_tensor(t.crow, t.col, values, shape, check_invariants=False)


def _check_number(value: object, what: str, low: float, high: float = math.inf) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:  # type: ignore[arg-type]
        raise ConfigError(f"{what} must be a finite number in [{low}, {high}], got {value!r}")
    return float(value)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# The dictionary


def select_words(
    counts: Mapping[str, int],
    top_n: int | None = None,
    special_words: Sequence[str] = DEFAULT_SPECIALS,
) -> list[tuple[str, int]]:
    """``(word, count)`` of a dictionary, in order: :meth:`WordDictionary.from_counts`' words.

    Without building patterns, so that a large dictionary can be cut and written cheaply.
    """
    if top_n is not None and (not isinstance(top_n, int) or isinstance(top_n, bool) or top_n < 0):
        raise ConfigError(f"top_n must be None or an integer >= 0, got {top_n!r}")
    if isinstance(special_words, str):
        raise ConfigError("special_words must be a sequence of words, not one string")
    if not isinstance(counts, Mapping):
        raise ConfigError(f"counts must be a mapping word -> count, got {type(counts).__name__}")
    checked = check_counts(counts.items(), "word counts") if counts else {}
    specials = list(dict.fromkeys(special_words))
    taken = set(specials)
    others = sorted(
        ((word, count) for word, count in checked.items() if word not in taken),
        key=lambda item: (-item[1], item[0]),
    )
    if top_n is not None:
        others = others[:top_n]
    words = specials + [word for word, _ in others]
    counts_of = [checked.get(w, 0) for w in specials] + [c for _, c in others]
    return list(zip(words, counts_of, strict=True))


class WordDictionary:
    """Words with their patterns over ``v``, scored against T-Free logits (see the module doc).

    A dictionary is immutable: :meth:`add_words` returns a new one, so that words added for one
    prompt never leak into the shared dictionary. Patterns are numpy CSR arrays, turned into
    torch tensors on the device of the logits when first scored there (and kept).
    """

    def __init__(
        self,
        words: Iterable[str],
        hasher: TrigramHasher,
        counts: Iterable[int] | None = None,
    ) -> None:
        """A dictionary of ``words`` in this order (unique, non-empty), their counts or zeros."""
        if not isinstance(hasher, TrigramHasher):
            raise ConfigError(f"hasher must be a TrigramHasher, got {type(hasher).__name__}")
        if isinstance(words, str):
            raise ConfigError("words must be a sequence of words, not one string")
        word_list = list(words)
        count_list = [0] * len(word_list) if counts is None else list(counts)
        if len(count_list) != len(word_list):
            raise DataError(f"{len(word_list)} words but {len(count_list)} counts")
        checked: dict[str, int] = {}
        if word_list:
            checked = check_counts(zip(word_list, count_list, strict=True), "word dictionary")
        self._set(hasher, tuple(checked), tuple(checked.values()), None)

    def _set(
        self,
        hasher: TrigramHasher,
        words: tuple[str, ...],
        counts: tuple[int, ...],
        patterns: _Patterns | None,
    ) -> None:
        self.hasher = hasher
        self._words = words
        self._counts = counts
        self._index = {word: i for i, word in enumerate(words)}
        self._patterns = _build_patterns(words, hasher) if patterns is None else patterns
        self._devices: dict[torch.device, _DeviceTensors] = {}

    @classmethod
    def from_counts(
        cls,
        counts: Mapping[str, int],
        hasher: TrigramHasher,
        top_n: int | None = None,
        special_words: Sequence[str] = DEFAULT_SPECIALS,
    ) -> WordDictionary:
        """``special_words`` first (in order, each once), then the ``top_n`` most frequent others.

        The other words are sorted by count, most frequent first, ties by the word (code point
        order), so the result does not depend on the order of ``counts``. ``top_n`` (the
        original's ``reduce_tokenizer_words_to``; ``None`` keeps all) does not count the special
        words. A special word's count is its count in ``counts``, or 0.
        """
        selected = select_words(counts, top_n, special_words)
        return cls([w for w, _ in selected], hasher, [c for _, c in selected])

    @classmethod
    def load(cls, path: str | Path, hasher: TrigramHasher) -> WordDictionary:
        """The dictionary :meth:`save` wrote: its words in the file's order, patterns recomputed.

        Any file :func:`~toklab.tokenizers.tfree_counts.read_word_counts` reads will do; nothing
        is added or re-sorted. The words do not depend on the hasher, so a dictionary can be
        loaded for any ``v`` and ``m``.
        """
        counts = read_word_counts(path)
        return cls(counts.keys(), hasher, counts.values())

    def save(self, path: str | Path) -> None:
        """Write the words and counts in dictionary order as a TSV.

        As :func:`~toklab.tokenizers.tfree_counts.write_word_counts` writes them.
        """
        if not self._words:
            raise DataError(f"{path}: cannot save an empty word dictionary")
        write_word_counts(dict(zip(self._words, self._counts, strict=True)), path)

    def add_words(self, words: Iterable[str]) -> WordDictionary:
        """A new dictionary with the ``words`` not yet in it appended, in order, with count 0.

        The original's ``more_words``; pass e.g. ``split_words(prompt)``. Only the new words'
        patterns are computed. ``self`` is unchanged.
        """
        if isinstance(words, str):
            raise ConfigError("add_words takes a sequence of words, not one string")
        new = [w for w in dict.fromkeys(words) if w not in self._index]
        if not new:
            return self
        check_counts(((w, 0) for w in new), "added words")
        out = object.__new__(WordDictionary)  # skips re-checking and re-hashing the old words
        out._set(
            self.hasher,
            self._words + tuple(new),
            self._counts + (0,) * len(new),
            self._patterns + _build_patterns(new, self.hasher),
        )
        return out

    # access ----------------------------------------------------------------------------------

    @property
    def words(self) -> tuple[str, ...]:
        """The words, in dictionary order (the columns of :meth:`scores`)."""
        return self._words

    @property
    def counts(self) -> tuple[int, ...]:
        """The words' counts (0 for words without one)."""
        return self._counts

    @property
    def trigram_counts(self) -> np.ndarray:
        """``T_w`` of every word (int64): distinct trigrams, or 1 for a word hashed whole."""
        return self._patterns.trigrams.copy()

    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def __repr__(self) -> str:
        return f"WordDictionary({len(self)} words, {self.hasher!r})"

    def index(self, word: str) -> int:
        """The column of ``word``; a KeyError if it is not in the dictionary."""
        return self._index[word]

    def pattern(self, word: str) -> WordPattern:
        """The stored pattern of ``word``: its ids, non-edge ids, edge ids and ``T_w``."""
        i = self._index[word]
        p = self._patterns
        start, end = int(p.crow[i]), int(p.crow[i + 1])
        col = p.col[start:end]
        return WordPattern(
            col.copy(), col[p.nonedge[start:end]], col[p.edge[start:end]], int(p.trigrams[i])
        )

    # scoring ---------------------------------------------------------------------------------

    def _on(self, device: torch.device) -> _DeviceTensors:
        tensors = self._devices.get(device)
        if tensors is None:
            p = self._patterns
            # int32 indices halve the memory of large dictionaries; CSR needs one index dtype
            small = len(p.col) < 2**31 and self.hasher.v < 2**31
            index = torch.int32 if small else torch.int64
            sizes = np.diff(p.crow)
            tensors = _DeviceTensors(
                crow=torch.from_numpy(p.crow).to(device=device, dtype=index),
                col=torch.from_numpy(p.col).to(device=device, dtype=index),
                nonedge=torch.from_numpy(p.nonedge).to(device=device, dtype=torch.float32),
                edge=torch.from_numpy(p.edge).to(device=device, dtype=torch.float32),
                ones=torch.ones(len(p.col), device=device, dtype=torch.float32),
                mt=torch.from_numpy(self.hasher.m * p.trigrams).to(device, torch.float32),
                size=torch.from_numpy(sizes).to(device=device, dtype=torch.float32),
            )
            self._devices[device] = tensors
        return tensors

    def scores(
        self, logits: torch.Tensor, method: Method = "code", edge_weight: float = 1.0
    ) -> torch.Tensor:
        """Scores ``(B, W)`` float32 of every word for every row of ``logits`` ``(B, v)``.

        ``method="code"``: the original's score with edge weight ``λ = edge_weight``;
        ``"paper"``: the paper's mean of ``sigmoid(logits)`` over the pattern (``edge_weight``
        must be 1). See the module doc for the formulas. Any float dtype; computed in float32 on
        the logits' device, one sparse-dense product per call.
        """
        if method not in _METHODS:
            raise ConfigError(f"method must be one of {_METHODS}, got {method!r}")
        lam = _check_number(edge_weight, "edge_weight", -math.inf)
        if method == "paper" and lam != 1.0:
            raise ConfigError(f"the paper's scores have no edge weight, got {edge_weight!r}")
        if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
            raise DataError(f"logits must be a float tensor, got {type(logits).__name__}")
        v = self.hasher.v
        if logits.ndim != 2 or logits.shape[1] != v:
            raise DataError(f"logits must have shape (batch, v={v}), got {tuple(logits.shape)}")
        p = torch.sigmoid(logits.detach().float())
        t = self._on(p.device)
        values = t.nonedge + lam * t.edge if method == "code" else t.ones
        matrix = _csr(t, values, (len(self), v))
        inside = torch.sparse.mm(matrix, p.T.contiguous()).T  # (B, W): s_w, or Σ_pattern p
        if method == "paper":
            return inside / t.size
        outside = (v - t.mt).clamp_min(1.0)  # the original divides by v - m·T_w as is
        return inside / t.mt + (inside - p.sum(dim=1, keepdim=True)) / outside

    def decode(
        self,
        logits: torch.Tensor,
        *,
        method: Method = "code",
        edge_weight: float = 1.0,
        temperature: float = 0.0,
        top_p: float = 1.0,
        generator: torch.Generator | None = None,
        blacklist: Iterable[str] = (),
    ) -> list[str]:
        """One word per row of ``logits`` ``(B, v)``, chosen from that row's scores.

        ``temperature=0`` takes the best score (the original's greedy argmax over the softmax;
        ties go to the earlier word). Otherwise a word is sampled from
        ``softmax(scores / temperature)`` restricted to its smallest top set holding ``top_p``
        of the probability, drawing from ``generator`` (sampling happens on its device).
        ``blacklist`` words are never chosen (words not in the dictionary are ignored); a
        :class:`~toklab.errors.DataError` when no word is left to choose.
        """
        temperature = _check_number(temperature, "temperature", 0.0)
        top_p = _check_number(top_p, "top_p", 0.0, 1.0)
        if top_p == 0.0:
            raise ConfigError("top_p must be in (0, 1], got 0")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ConfigError(f"generator must be a torch.Generator, got {generator!r}")
        if isinstance(blacklist, str):
            raise ConfigError("blacklist must be a collection of words, not one string")
        scores = self.scores(logits, method=method, edge_weight=edge_weight)
        banned = sorted({self._index[w] for w in blacklist if w in self._index})
        if len(banned) == len(self):
            raise DataError(f"no word to choose: {len(self)} words, {len(banned)} blacklisted")
        if banned:
            scores[:, torch.tensor(banned, device=scores.device)] = -math.inf
        if temperature == 0.0:
            chosen = scores.argmax(dim=1)
        else:
            probs = torch.softmax(scores / temperature, dim=1)
            if top_p < 1.0:
                ordered, order = probs.sort(dim=1, descending=True, stable=True)
                # drop a word once the words before it already hold top_p (the first stays)
                drop = (ordered.cumsum(dim=1) - ordered) >= top_p
                probs = probs.masked_fill(torch.zeros_like(drop).scatter(1, order, drop), 0.0)
            if generator is not None:
                probs = probs.to(generator.device)
            chosen = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return [self._words[i] for i in chosen.tolist()]
