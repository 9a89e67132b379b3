"""Per-byte cues from a byte n-gram model: ByteSpan's cues without a GPU.

ByteSpan's original offers a 5-gram model beside the byte LM (NLTK's
``AbsoluteDiscountingInterpolated``, order 5, over the byte-level tokens of each document). This
is that model, counted and queried in compiled code:

* symbols are the 256 bytes and EOS (:data:`EOS`, the byte LM's id 256);
* each document is read as ``EOS * (order - 1) + bytes + EOS``: the left padding gives the
  first bytes their context (the original pads with ``<s>``), the final EOS is a predicted
  symbol (the original's ``</s>``); the padding itself is never predicted;
* interpolated absolute discounting with discount ``D`` (NLTK's default 0.75), for a context
  ``h`` seen ``c(h)`` times with ``t(h)`` distinct next symbols:
  ``P(w | h) = max(c(hw) - D, 0) / c(h) + D t(h) / c(h) * P(w | h')``, ``h'`` the context
  without its oldest symbol, and ``P(w | h) = P(w | h')`` for an unseen context;
* one difference, so that every cue is finite: NLTK's unigram level is the plain relative
  frequency (a byte never seen gets probability zero, an infinite surprisal); here the unigram
  level is discounted too, toward the uniform distribution over the 257 symbols.

The cues are those of :mod:`toklab.cues` (entropy over the 257 symbols, surprisal,
``-log P(space)``, ``-log P(EOS)``), in nats (the original's n-gram cues are in bits), written to
the same predictions zarr, so every ByteSpan trainer reads either source.

An n-gram of order ``k`` is one 64-bit key: the predicted symbol in the lowest 9 bits, the
symbol before it in the next 9, and so on, so the keys of one context are consecutive in sorted
order. Orders 1 to :data:`MAX_ORDER` fit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from toklab.cues import CUES, FORMAT, SPACE_BYTE, write_predictions
from toklab.data.byte_corpus import ByteCorpus
from toklab.errors import DataError

log = logging.getLogger(__name__)

#: The symbol after the 256 bytes: end of document, and the padding before its start.
EOS = 256
#: Bytes and EOS.
SYMBOLS = 257
#: Bits per symbol in a key.
BITS = 9
#: A key's lowest symbol.
SYMBOLS_MASK = (1 << BITS) - 1
#: The longest n-gram whose key fits 64 bits.
MAX_ORDER = 64 // BITS
#: NLTK's default discount, the original's.
DISCOUNT = 0.75
#: Documents counted per batch: bounds the keys held at once (one key per byte).
COUNT_BATCH_BYTES = 1 << 24


def check_order(order: int) -> None:
    """An order from 1 to :data:`MAX_ORDER`, else a one-line error."""
    if not 1 <= order <= MAX_ORDER:
        raise DataError(
            f"n-gram order {order} is outside 1..{MAX_ORDER} (the context must fit a 64-bit key "
            f"of 9-bit symbols)"
        )


@dataclass(frozen=True)
class NgramCounts:
    """Sorted n-gram keys and counts of every order, and their contexts' totals.

    The arrays of all orders are concatenated; order ``k``'s n-grams are
    ``grams[gram_offsets[k - 1]:gram_offsets[k]]`` and its contexts
    ``contexts[context_offsets[k - 1]:context_offsets[k]]`` (sorted keys ``gram >> 9``), each
    with the index of its first n-gram (``first``), its count (``totals``) and its number of
    distinct next symbols (``types``).
    """

    order: int
    grams: np.ndarray  # uint64
    counts: np.ndarray  # int64
    gram_offsets: np.ndarray  # int64, order + 1
    contexts: np.ndarray  # uint64
    first: np.ndarray  # int64, index into grams
    totals: np.ndarray  # int64
    types: np.ndarray  # int64
    context_offsets: np.ndarray  # int64, order + 1

    @property
    def targets(self) -> int:
        """Symbols counted (bytes and one EOS per document)."""
        return int(self.counts[: self.gram_offsets[1]].sum())

    @property
    def table(self) -> tuple[np.ndarray, ...]:
        """The arrays a distribution is read from, in :func:`_distribution`'s order: one tuple."""
        return (
            self.grams, self.counts, self.contexts, self.first, self.totals, self.types,
            self.context_offsets,
        )  # fmt: skip

    def fingerprint(self) -> str:
        """SHA-256 of the counts: what the predictions were computed from."""
        digest = hashlib.sha256(json.dumps({"order": self.order}).encode())
        for array in (self.grams, self.counts, self.gram_offsets):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()


@numba.njit(cache=True, nogil=True)
def _widen(
    keys: np.ndarray, data: np.ndarray, offsets: np.ndarray, first_doc: int, last_doc: int, k: int
):
    """Order-``(k - 1)`` keys of documents ``first_doc:last_doc`` into order-``k`` keys, in place.

    ``keys`` holds one key per byte and final EOS of each document in turn (zeros before order
    1): the order-``k`` key is the order-``(k - 1)`` key with the symbol ``k - 1`` places
    before the predicted one or-ed in above it, so each order costs one symbol a key.
    """
    shift = np.uint64(BITS * (k - 1))
    out = 0
    for d in range(first_doc, last_doc):
        start, end = offsets[d], offsets[d + 1]
        for i in range(start, end + 1):
            back = i - (k - 1)
            symbol = EOS if back < start or back == end else data[back]
            keys[out] |= np.uint64(symbol) << shift
            out += 1


def _count(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and their counts."""
    unique, counts = np.unique(keys, return_counts=True)
    return unique, counts.astype(np.int64)


def _merge(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """Two sorted (keys, counts) as one, counts of equal keys added."""
    keys = np.concatenate([a[0], b[0]])
    counts = np.concatenate([a[1], b[1]])
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return keys[starts], np.add.reduceat(counts, starts) if len(keys) else counts


def count_ngrams(corpus: ByteCorpus, order: int) -> NgramCounts:
    """The n-gram counts of orders 1..``order`` of a byte corpus, in batches of documents."""
    check_order(order)
    data, offsets = corpus.bytes, np.asarray(corpus.offsets, dtype=np.int64)
    if corpus.num_bytes == 0:
        raise DataError(f"{corpus.paths['bin']}: the n-gram model's training corpus is empty")
    batches, first = [], 0
    while first < len(offsets) - 1:
        last = int(np.searchsorted(offsets, offsets[first] + COUNT_BATCH_BYTES, "right"))
        last = min(max(last - 1, first + 1), len(offsets) - 1)
        batches.append((first, last))
        first = last
    merged = [(np.empty(0, np.uint64), np.empty(0, np.int64))] * order
    for first, last in batches:  # one key per byte and final EOS, widened one order at a time
        keys = np.zeros(offsets[last] - offsets[first] + (last - first), dtype=np.uint64)
        for k in range(1, order + 1):
            _widen(keys, data, offsets, first, last, k)
            merged[k - 1] = _merge(merged[k - 1], _count(keys))
    grams = [k_grams for k_grams, _ in merged]
    counts = [k_counts for _, k_counts in merged]
    contexts, firsts, totals, types = [], [], [], []
    base = 0
    for k_grams, k_counts in zip(grams, counts, strict=True):
        keys = k_grams >> np.uint64(BITS)
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        contexts.append(keys[starts])
        firsts.append(starts + base)
        totals.append(np.add.reduceat(k_counts, starts))
        types.append(np.diff(np.r_[starts, len(keys)]))
        base += len(k_grams)
    return NgramCounts(
        order=order,
        grams=np.concatenate(grams),
        counts=np.concatenate(counts),
        gram_offsets=np.r_[0, np.cumsum([len(g) for g in grams])].astype(np.int64),
        contexts=np.concatenate(contexts),
        first=np.concatenate(firsts).astype(np.int64),
        totals=np.concatenate(totals).astype(np.int64),
        types=np.concatenate(types).astype(np.int64),
        context_offsets=np.r_[0, np.cumsum([len(c) for c in contexts])].astype(np.int64),
    )


@numba.njit(cache=True, inline="always")
def _distribution(
    context: np.ndarray,
    order: int,
    discount: float,
    table: tuple,
    seen: np.ndarray,
    q: np.ndarray,
) -> float:
    """The next-symbol distribution after ``context`` (most recent symbol first): ``scale * q``.

    Each order scales the lower orders' distribution by its ``gamma`` and adds its own
    discounted counts; the scaling is kept as one factor, so an order costs its seen symbols
    only. ``q`` holds 1/257 for the symbols never counted (``seen`` lists the others, which are
    reset here): no order changes those. ``table`` is :attr:`NgramCounts.table`.
    """
    grams, counts, contexts, first, totals, types, context_offsets = table
    for w in seen:
        q[w] = 1.0 / SYMBOLS
    scale = 1.0
    key = np.uint64(0)
    for k in range(1, order + 1):
        if k > 1:  # the context of order k: one older symbol
            key |= np.uint64(context[k - 2]) << np.uint64(BITS * (k - 2))
        lo, hi = context_offsets[k - 1], context_offsets[k]
        c = lo + np.searchsorted(contexts[lo:hi], key)
        if c == hi or contexts[c] != key:
            continue  # an unseen context leaves the lower order's distribution as it is
        total = totals[c]
        scale *= discount * types[c] / total
        for g in range(first[c], first[c] + types[c]):
            # every count is at least 1 > discount: max(count - D, 0) is count - D
            q[np.int64(grams[g] & np.uint64(SYMBOLS_MASK))] += (counts[g] - discount) / (
                total * scale
            )
    return scale


@numba.njit(cache=True, parallel=True)
def _cues(
    data: np.ndarray,
    starts: np.ndarray,
    first_byte: int,
    order: int,
    discount: float,
    table: tuple,
    seen: np.ndarray,
    out: np.ndarray,
) -> None:
    """The cues of bytes ``first_byte + i`` (documents starting at ``starts[i]``) into ``out``.

    ``out[i]`` gets (entropy, surprisal, -log P(space), -log P(EOS)), float32 in nats. The
    symbols never counted share one probability: the entropy takes one log for all of them.
    """
    n = len(starts)
    unseen = SYMBOLS - len(seen)
    blocks = (n + 1023) // 1024
    for b in numba.prange(blocks):
        q = np.full(SYMBOLS, 1.0 / SYMBOLS)
        context = np.empty(max(order - 1, 1), dtype=np.int64)
        for i in range(b * 1024, min(n, (b + 1) * 1024)):
            position = first_byte + i
            for j in range(order - 1):
                back = position - 1 - j
                context[j] = EOS if back < starts[i] else data[back]
            scale = _distribution(context, order, discount, table, seen, q)
            rest = scale / SYMBOLS
            entropy = -unseen * rest * np.log(rest) if unseen else 0.0
            for w in seen:
                probability = q[w] * scale
                entropy -= probability * np.log(probability)
            out[i, 0] = entropy
            out[i, 1] = -np.log(q[data[position]] * scale)
            out[i, 2] = -np.log(q[SPACE_BYTE] * scale)
            out[i, 3] = -np.log(q[EOS] * scale)


def ngram_cues(
    counts: NgramCounts, corpus: ByteCorpus, first: int, last: int, discount: float = DISCOUNT
) -> dict[str, np.ndarray]:
    """The cues (:data:`toklab.cues.CUES`) of bytes ``first:last`` of ``corpus``."""
    offsets = np.asarray(corpus.offsets, dtype=np.int64)
    positions = np.arange(first, last, dtype=np.int64)
    starts = offsets[np.searchsorted(offsets, positions, "right") - 1]
    out = np.empty((last - first, len(CUES)), dtype=np.float32)
    seen = counts.grams[: counts.gram_offsets[1]].astype(np.int64)
    _cues(corpus.bytes, starts, first, counts.order, discount, counts.table, seen, out)
    return {cue: out[:, column] for column, cue in enumerate(CUES)}


def write_ngram_predictions(
    train_prefix: str | Path,
    corpus_prefix: str | Path,
    output: str | Path,
    *,
    order: int = 5,
    discount: float = DISCOUNT,
    chunk_bytes: int = 1 << 20,
) -> Path:
    """Count the n-grams of ``train_prefix`` and write the cues of ``corpus_prefix`` (resumable).

    The zarr group is :mod:`toklab.cues`'s, its fingerprint the counts' hash and the settings.
    """
    check_order(order)
    if not 0 < discount < 1:
        raise DataError(f"n-gram discount {discount} is outside (0, 1)")
    counts = count_ngrams(ByteCorpus(train_prefix), order)
    log.info(
        "counted %d symbols: %s n-grams of orders 1..%d",
        counts.targets,
        f"{len(counts.grams):,}",
        order,
    )
    corpus = ByteCorpus(corpus_prefix)
    expected = {
        "format": FORMAT,
        "source": "ngram",
        "model_sha256": counts.fingerprint(),
        "corpus_sha256": corpus.bin_sha256,
        "order": order,
        "discount": discount,
        "smoothing": "interpolated absolute discounting, unigrams toward uniform",
        "eos_id": EOS,
        "chunk_bytes": chunk_bytes,
    }
    return write_predictions(
        output,
        expected,
        corpus,
        chunk_bytes,
        lambda first, last: ngram_cues(counts, corpus, first, last, discount),
    )
