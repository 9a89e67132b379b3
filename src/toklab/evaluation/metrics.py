r"""Intrinsic tokenizer statistics over words of running text, accumulated in one streaming pass.

A *word* is a GPT-2-regex pre-token of the evaluation text (so ``" the"``, ``","`` and ``"\\n"``
are words). Documents are tokenized in context with the tokenizer's own batch encoder and every token is
attributed to exactly the word it came from (``Encoding.word_ids``); nothing is re-tokenized
word by word. Tokenizers whose pre-tokenizer is GPT-2's (every toklab tokenizer) encode plain
text; any other tokenizer is given the regex words as pre-tokenized input. (The two agree
except on characters too recent for the Unicode tables of ``tokenizers``' regex engine, which
may class them differently from the ``regex`` module.) A byte-level BPE skips the word ids and
the decoding: its ``encode_batch_fast`` ids, each token's bytes and a compiled scan give the
same counts and the reversibility check (:mod:`toklab.evaluation.byte_level_words`), while
the next batch encodes on another thread; a document whose tokens do not spell it exactly
goes the word-ids way. ByteSpan's analysis instead
tokenized each word on its own and re-added a prefix space to words that had none, inflating
every count a little; its ``total_tokens`` held the byte count and its ``num_unk`` was always 0
(it compared ids with the unk *string*). Here:

* ``fertility`` = tokens / words; ``proportion_continued`` = split words / words, where a word
  is split when it yields more than one token; ``total_split_words``, ``total_words``;
* ``total_tokens`` is the real number of tokens, ``total_bytes`` the UTF-8 bytes of the text,
  and ``bytes_per_token`` their ratio (CS336's compression ratio);
* ``unique_tokens`` are distinct ids seen, ``vocab_utilisation`` = unique_tokens / V;
* Rényi entropy of the unigram token distribution, ``H_a = log(sum p_t^a) / (1 - a)`` with
  a = 2.5, divided by ``log V`` (``renyi_efficiency_vocab``, Zouhar et al.) and by ``log`` of
  the observed types (``renyi_efficiency_observed``, as ByteSpan reported it);
* ``num_unk`` counts words that contain the unk token (WordPiece maps a word it cannot spell
  to one unk token);
* ``reversibility`` is the share of documents with ``decode(encode(doc)) == doc`` (Delphi
  claims its tokenizer is reversible but never checks it); the first document that does not
  come back is kept (``first_irreversible``) for the log.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice

import numpy as np

from toklab.evaluation.byte_level_words import (
    TOTALS,
    byte_level_bpe,
    character_classes,
    count_words,
    token_byte_table,
    word_buffer,
)
from toklab.pretokenization import pretokenize

#: Rényi order used by Zouhar et al. (2023) and ByteSpan.
RENYI_ALPHA = 2.5


def renyi_entropy(counts: np.ndarray, alpha: float = RENYI_ALPHA) -> float:
    """Rényi entropy (nats) of the distribution proportional to ``counts``; Shannon at alpha=1."""
    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts > 0]
    if counts.size == 0:
        return float("nan")
    p = counts / counts.sum()
    if alpha == 1:
        return float(-(p * np.log(p)).sum())
    return float(np.log((p**alpha).sum()) / (1 - alpha))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else float("nan")


@dataclass
class WordStats:
    """Running counts for one slice of text (one language, or everything)."""

    vocab_size: int
    total_words: int = 0
    total_split_words: int = 0
    total_tokens: int = 0
    total_bytes: int = 0
    num_unk: int = 0
    documents: int = 0
    reversible_documents: int = 0
    first_irreversible: str | None = None
    token_counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.token_counts = np.zeros(self.vocab_size, dtype=np.int64)

    def add(
        self,
        ids: np.ndarray,
        word_ids: np.ndarray,
        num_words: int,
        num_bytes: int,
        documents: int,
        unk_id: int | None,
    ) -> None:
        """Add text: its token ids, each token's word index (0..num_words-1), and its size."""
        tokens_per_word = np.bincount(word_ids, minlength=num_words)
        self.documents += documents
        self.total_words += num_words
        self.total_split_words += int((tokens_per_word > 1).sum())
        self.total_tokens += len(ids)
        self.total_bytes += num_bytes
        self.token_counts += np.bincount(ids, minlength=self.vocab_size)
        if unk_id is not None:
            self.num_unk += len(np.unique(word_ids[ids == unk_id]))

    def add_counts(
        self, words: int, split_words: int, tokens: int, num_bytes: int, documents: int
    ) -> None:
        """Add text already counted: its words, split words, tokens, bytes and documents.

        Its ``documents`` all decode to themselves (the byte-level count vouches for that); its
        ids go to :attr:`token_counts` directly.
        """
        self.total_words += words
        self.total_split_words += split_words
        self.total_tokens += tokens
        self.total_bytes += num_bytes
        self.documents += documents
        self.reversible_documents += documents

    def summary(self, alpha: float = RENYI_ALPHA) -> dict[str, float | int]:
        """The metrics of the module docstring, as a flat dict."""
        unique = int((self.token_counts > 0).sum())
        entropy = renyi_entropy(self.token_counts, alpha)
        return {
            "documents": self.documents,
            "total_words": self.total_words,
            "total_split_words": self.total_split_words,
            "total_tokens": self.total_tokens,
            "total_bytes": self.total_bytes,
            "fertility": _ratio(self.total_tokens, self.total_words),
            "proportion_continued": _ratio(self.total_split_words, self.total_words),
            "bytes_per_token": _ratio(self.total_bytes, self.total_tokens),
            "unique_tokens": unique,
            "vocab_utilisation": unique / self.vocab_size,
            "renyi_efficiency_vocab": _ratio(entropy, math.log(self.vocab_size)),
            "renyi_efficiency_observed": _ratio(entropy, math.log(unique)) if unique > 1 else 1.0,
            "num_unk": self.num_unk,
            "reversibility": _ratio(self.reversible_documents, self.documents),
        }


def unk_token_id(tokenizer) -> int | None:
    """The id of the tokenizer model's unk token, if it has one."""
    unk = getattr(tokenizer.model, "unk_token", None)
    return tokenizer.token_to_id(unk) if unk else None


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def word_statistics(
    tokenizer,
    documents: Iterable[tuple[str, str]],
    batch_size: int = 256,
    progress=None,
) -> dict[str, WordStats]:
    """Per-label :class:`WordStats` of ``(label, text)`` documents (label: e.g. the language).

    Memory is bounded by three batches of documents (one counted while the next is encoded and
    the one after is read) and two counts per vocabulary id per label.
    ``progress``, if given, is called with the number of bytes of each finished batch.
    """
    # A special token's text inside a document is text (``<|endoftext|>`` written in a web
    # page): encoded as its bytes, as the regex words see it, not as the special token's id.
    literal = tokenizer.encode_special_tokens
    tokenizer.encode_special_tokens = True
    try:
        return _word_statistics(tokenizer, documents, batch_size, progress)
    finally:
        tokenizer.encode_special_tokens = literal


def _word_statistics(tokenizer, documents, batch_size: int, progress) -> dict[str, WordStats]:
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    unk_id = unk_token_id(tokenizer)
    own_words = splits_gpt2_words(tokenizer)
    stats: dict[str, WordStats] = {}
    byte_level = None
    if own_words and byte_level_bpe(tokenizer):  # words and reversibility from the ids alone
        byte_level = _ByteLevelCount(tokenizer, stats)
    batches = _batches(documents, batch_size)
    if byte_level is None:
        pairs = ((batch, None) for batch in batches)
    else:
        pairs = _encoded_ahead(tokenizer, batches)
    for batch, encodings in pairs:
        labels = [label for label, _ in batch]
        for label in dict.fromkeys(labels):  # in order of first appearance
            if label not in stats:
                stats[label] = WordStats(vocab_size)
        encoded = [text.encode("utf-8") for _, text in batch]
        rest = batch
        if byte_level is not None:
            rest = byte_level.add(batch, labels, encoded, encodings)
        if rest:  # every document, or those the byte-level count could not vouch for
            _count_by_word_ids(tokenizer, rest, own_words, unk_id, stats)
        if progress is not None:
            progress(sum(map(len, encoded)))
    if byte_level is not None:
        byte_level.finish()
    return stats


def _encoded_ahead(tokenizer, batches: Iterable[list]) -> Iterator[tuple[list, list]]:
    """Each batch with its ``encode_batch_fast`` encodings; the next batch encodes meanwhile.

    The encoder releases the GIL (and :func:`count_words` too), so one thread encodes batch
    k + 1 while the caller counts batch k: the counting fills the encoder's idle moments
    instead of waiting for them.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for batch in batches:
            texts = [text for _, text in batch]
            future = pool.submit(tokenizer.encode_batch_fast, texts, add_special_tokens=False)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (batch, future)
        if pending is not None:
            yield pending[0], pending[1].result()


class _ByteLevelCount:
    """Running :func:`count_words` totals and id counts per label, for a byte-level BPE.

    The id counts are int32 (half the cache misses of int64) and move into the labels'
    :class:`WordStats` before they could overflow, and at the end (:meth:`finish`).
    """

    #: Tokens counted in int32 before the counts move on (no count can then pass int32's max).
    MAX_UNMOVED = int(np.iinfo(np.int32).max)

    def __init__(self, tokenizer, stats: dict[str, WordStats]) -> None:
        self.stats = stats
        self.token_words, self.token_table = token_byte_table(tokenizer)
        self.classes = character_classes()
        self.rows: dict[str, int] = {}  # label -> row of totals and counts
        self.totals = np.zeros((0, len(TOTALS)), dtype=np.int64)
        self.counts = np.zeros((0, len(self.token_table)), dtype=np.int32)
        self.unmoved = 0  # tokens counted in self.counts

    def add(
        self,
        batch: list[tuple[str, str]],
        labels: list[str],
        encoded: list[bytes],
        encodings: list,
    ) -> list[tuple[str, str]]:
        """Count ``batch`` (its labels, UTF-8 texts, ``encode_batch_fast`` ids); return the rest.

        The rest are the documents whose tokens do not spell them exactly (they may not decode
        to themselves): the caller counts them from word ids.
        """
        ids = [e.ids for e in encodings]
        token_bounds = _bounds(map(len, ids))
        if self.unmoved + token_bounds[-1] > self.MAX_UNMOVED:
            self._move_counts()
        self.unmoved += int(token_bounds[-1])
        for label in dict.fromkeys(labels):
            self.rows.setdefault(label, len(self.rows))
        if len(self.rows) > len(self.totals):
            new = len(self.rows) - len(self.totals)
            self.totals = np.concatenate([self.totals, np.zeros((new, len(TOTALS)), np.int64)])
            self.counts = np.concatenate(
                [self.counts, np.zeros((new, self.counts.shape[1]), np.int32)]
            )
        done = count_words(
            word_buffer(encoded),
            _bounds(map(len, encoded)),
            np.fromiter(chain.from_iterable(ids), dtype=np.int32, count=int(token_bounds[-1])),
            token_bounds,
            np.fromiter(map(self.rows.__getitem__, labels), dtype=np.int64, count=len(labels)),
            self.token_words,
            self.token_table,
            self.classes,
            self.totals,
            self.counts,
        )
        return [batch[i] for i in np.flatnonzero(~done)]

    def _move_counts(self) -> None:
        for label, row in self.rows.items():
            self.stats[label].token_counts += self.counts[row]
        self.counts[:] = 0
        self.unmoved = 0

    def finish(self) -> None:
        """Add the totals and counts so far to the labels' :class:`WordStats`."""
        self._move_counts()
        for label, row in self.rows.items():
            self.stats[label].add_counts(*(int(n) for n in self.totals[row]))
        self.totals[:] = 0


def _bounds(lengths: Iterable[int]) -> np.ndarray:
    """Offsets 0, l0, l0 + l1, ... of consecutive pieces of the given lengths."""
    lengths = np.fromiter(lengths, dtype=np.int64)
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    return bounds


def _count_by_word_ids(
    tokenizer,
    batch: list[tuple[str, str]],
    own_words: bool,
    unk_id: int | None,
    stats: dict[str, WordStats],
) -> None:
    """Count ``batch`` from ``encode_batch``'s word ids, and decode it for reversibility."""
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    texts = [text for _, text in batch]
    if own_words:  # the tokenizer's pre-tokens are the words: encode plain text (2x faster)
        encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
        word_counts = None
    else:
        words = [pretokenize(text) for text in texts]
        encodings = tokenizer.encode_batch(words, is_pretokenized=True, add_special_tokens=False)
        word_counts = [len(w) for w in words]
    decoded = tokenizer.decode_batch([e.ids for e in encodings], skip_special_tokens=False)
    # one bincount per label and batch: word indices are offset to be unique in the batch
    grouped: dict[str, list] = {}
    for i, ((label, text), encoding) in enumerate(zip(batch, encodings, strict=True)):
        if label not in stats:
            stats[label] = WordStats(vocab_size)
        if decoded[i] == text:
            stats[label].reversible_documents += 1
        elif stats[label].first_irreversible is None:
            stats[label].first_irreversible = text
        word_ids = _word_indices(encoding)
        if word_counts is not None:
            num_words = word_counts[i]
        else:  # word ids run 0, 1, ... and every word yields at least one token
            num_words = int(word_ids[-1]) + 1 if len(word_ids) else 0
        parts = grouped.setdefault(label, [[], [], 0, 0, 0])
        parts[0].append(encoding.ids)
        parts[1].append(word_ids + parts[2])
        parts[2] += num_words
        parts[3] += len(text.encode("utf-8"))
        parts[4] += 1
    for label, (ids, word_ids, num_words, num_bytes, docs) in grouped.items():
        stats[label].add(
            np.fromiter(chain.from_iterable(ids), dtype=np.int64),
            np.concatenate(word_ids),
            num_words,
            num_bytes,
            docs,
            unk_id,
        )


def splits_gpt2_words(tokenizer) -> bool:
    """Whether the tokenizer's own pre-tokens are GPT-2 regex pre-tokens (ByteLevel, use_regex)."""
    from tokenizers import pre_tokenizers

    pre_tokenizer = tokenizer.pre_tokenizer
    return (
        isinstance(pre_tokenizer, pre_tokenizers.ByteLevel)
        and pre_tokenizer.use_regex
        and not pre_tokenizer.add_prefix_space
        and tokenizer.normalizer is None
    )


def _word_indices(encoding) -> np.ndarray:
    """Each token's word index; a token outside every word (a special token) joins the one before."""
    word_ids = encoding.word_ids
    try:
        return np.asarray(word_ids, dtype=np.int64)
    except TypeError:
        filled, last = [], 0
        for w in word_ids:
            last = last if w is None else w
            filled.append(last)
        return np.asarray(filled, dtype=np.int64)


def merge_stats(parts: Sequence[WordStats]) -> WordStats:
    """One :class:`WordStats` summing several (e.g. all languages together)."""
    total = WordStats(parts[0].vocab_size)
    for part in parts:
        for name in (
            "total_words",
            "total_split_words",
            "total_tokens",
            "total_bytes",
            "num_unk",
            "documents",
            "reversible_documents",
        ):
            setattr(total, name, getattr(total, name) + getattr(part, name))
        total.token_counts += part.token_counts
        total.first_irreversible = total.first_irreversible or part.first_irreversible
    return total
