"""Seeded BPE-dropout (Provilkov et al., 2020) and character-level encoding of a BPE vocabulary.

``tokenizers`` has BPE-dropout, but draws from an unseeded thread-local generator, so its
samples cannot be reproduced; this module re-runs the merges with a seeded stream per document
(:mod:`toklab.seeding`). Each word (pre-token) of the deterministic encoding is rebuilt from its
characters and merged again with the queue discipline of ``tokenizers``' own dropout: the
best-ranked candidate merge is popped and skipped with probability ``p``; skipped candidates
return to the queue whenever a pop is not skipped (expired entries included), and the word is
done when the queue is empty. So samples follow the distribution of the library most users
know (it merges a little more than "drop each merge at each step" would: an expired entry's
pop re-admits the skipped merges), and at ``p = 0`` it is plain BPE: the tokenizer's ids. Pre-tokenization, normalization and special tokens are
the tokenizer's own: they come from its deterministic encoding, whose ``word_ids`` delimit the
words.

**Character level** encodes every character of the text on its own with the same tokenizer
(StochasTok's character baseline): a character the vocabulary lacks as one token becomes the
tokens of its bytes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from toklab.errors import ConfigError
from toklab.seeding import document_state, next_uniform
from toklab.tokenizers.stochastok import check_probability
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger(__name__)

_NO_RANK = np.iinfo(np.int64).max


@dataclass(frozen=True)
class MergeTable:
    """A BPE model's merges as sorted ``left * V + right`` keys, and each token's characters.

    ``fixed`` marks ids that are never re-merged: special tokens, and tokens with a character
    the vocabulary does not have on its own (they keep their deterministic id).
    """

    vocab_size: int
    keys: np.ndarray  # int64, sorted
    ranks: np.ndarray  # int64
    merged: np.ndarray  # int64
    char_offsets: np.ndarray  # int64, vocab_size + 1
    char_ids: np.ndarray  # int64
    fixed: np.ndarray  # bool, vocab_size
    ignore_merges: bool

    @classmethod
    def from_tokenizer(cls, tokenizer_path: str | Path) -> MergeTable:
        """The merge table of a BPE ``tokenizer.json``; a one-line error for other models."""
        path = Path(tokenizer_path)
        tokenizer = load_tokenizer(path)
        spec = json.loads(path.read_text(encoding="utf-8"))
        model = spec["model"]
        if model.get("type") != "BPE":
            raise ConfigError(f"{path}: BPE-dropout needs a BPE tokenizer, not {model.get('type')}")
        for option in ("continuing_subword_prefix", "end_of_word_suffix"):
            if model.get(option):
                raise ConfigError(f"{path}: BPE-dropout does not support BPE's {option}")
        vocab: dict[str, int] = model["vocab"]
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        fixed = np.zeros(size, dtype=np.bool_)
        for added in spec.get("added_tokens", []):
            fixed[added["id"]] = True
        strings = {i: s for s, i in vocab.items()}
        char_offsets = np.zeros(size + 1, dtype=np.int64)
        char_ids: list[int] = []
        unsplittable = 0
        for token_id in range(size):
            text = strings.get(token_id)
            chars = [vocab.get(c) for c in text] if text is not None and not fixed[token_id] else []
            if not chars or None in chars:
                unsplittable += text is not None and not fixed[token_id]
                fixed[token_id] = True
                chars = []
            char_ids += chars
            char_offsets[token_id + 1] = len(char_ids)
        if unsplittable:
            log.warning(
                "%s: %d tokens have a character that is not a token of its own; they are kept "
                "whole", path, unsplittable,
            )  # fmt: skip
        keys, ranks, merged = [], [], []
        for rank, merge in enumerate(model["merges"]):
            left, right = merge.split(" ") if isinstance(merge, str) else merge
            ids = vocab.get(left), vocab.get(right), vocab.get(left + right)
            if None not in ids:
                keys.append(ids[0] * size + ids[1])
                ranks.append(rank)
                merged.append(ids[2])
        order = np.argsort(np.asarray(keys, dtype=np.int64), kind="stable")
        return cls(
            vocab_size=size,
            keys=np.asarray(keys, dtype=np.int64)[order],
            ranks=np.asarray(ranks, dtype=np.int64)[order],
            merged=np.asarray(merged, dtype=np.int64)[order],
            char_offsets=char_offsets,
            char_ids=np.asarray(char_ids, dtype=np.int64),
            fixed=fixed,
            ignore_merges=bool(model.get("ignore_merges")),
        )


@numba.njit(cache=True, inline="always")
def _lookup(keys: np.ndarray, key: np.int64) -> np.int64:
    """The index of ``key`` in the sorted ``keys``, or -1."""
    j = np.searchsorted(keys, key)
    return j if j < len(keys) and keys[j] == key else -1


@numba.njit(cache=True)
def _merge_word(
    symbols: np.ndarray,
    n: int,
    p: float,
    state: np.uint64,
    keys: np.ndarray,
    ranks: np.ndarray,
    merged: np.ndarray,
    vocab_size: int,
) -> tuple[int, np.uint64]:
    """Merge ``symbols[:n]`` in place with dropout ``p``; the new length and stream state.

    The queue discipline of ``tokenizers`` (``Word::merge_all``): candidates are popped best
    rank first (leftmost among equals); a popped candidate is skipped with probability ``p``,
    and the skipped ones return to the queue whenever a pop is not skipped, expired entries
    (pairs an earlier merge changed) included; the word is done when the queue is empty. The
    queue is small (at most ``3n`` entries), so a linear scan replaces the binary heap.
    """
    if n < 2:
        return n, state
    previous = np.arange(-1, n - 1)
    following = np.arange(1, n + 1)
    following[n - 1] = -1
    removed = np.zeros(n, dtype=np.bool_)
    capacity = 3 * n
    entry_rank = np.empty(capacity, dtype=np.int64)
    entry_pos = np.empty(capacity, dtype=np.int64)
    entry_new = np.empty(capacity, dtype=np.int64)
    queued = np.zeros(capacity, dtype=np.bool_)  # in the queue (else skipped or gone)
    skipped = np.zeros(capacity, dtype=np.bool_)
    entries = 0
    for i in range(n - 1):
        j = _lookup(keys, symbols[i] * vocab_size + symbols[i + 1])
        if j >= 0:
            entry_rank[entries], entry_pos[entries], entry_new[entries] = ranks[j], i, merged[j]
            queued[entries] = True
            entries += 1
    while True:
        top = -1
        for e in range(entries):
            if queued[e] and (
                top < 0
                or entry_rank[e] < entry_rank[top]
                or (entry_rank[e] == entry_rank[top] and entry_pos[e] < entry_pos[top])
            ):
                top = e
        if top < 0:
            break
        queued[top] = False
        if p > 0.0:
            state, u = next_uniform(state)
            if u < p:
                skipped[top] = True
                continue
        for e in range(entries):  # the skipped candidates return to the queue
            if skipped[e]:
                skipped[e] = False
                queued[e] = True
        pos = entry_pos[top]
        right = following[pos]
        if removed[pos] or right < 0:
            continue
        j = _lookup(keys, symbols[pos] * vocab_size + symbols[right])
        if j < 0 or merged[j] != entry_new[top]:
            continue  # an expired entry
        symbols[pos] = entry_new[top]
        removed[right] = True
        following[pos] = following[right]
        if following[pos] >= 0:
            previous[following[pos]] = pos
        for left in (previous[pos], pos):
            if left >= 0 and following[left] >= 0:
                j = _lookup(keys, symbols[left] * vocab_size + symbols[following[left]])
                if j >= 0:
                    entry_rank[entries], entry_pos[entries] = ranks[j], left
                    entry_new[entries] = merged[j]
                    queued[entries] = True
                    entries += 1
    length = 0
    for i in range(n):
        if not removed[i]:
            symbols[length] = symbols[i]
            length += 1
    return length, state


@numba.njit(cache=True)
def _dropout_documents(
    ids: np.ndarray,
    words: np.ndarray,
    offsets: np.ndarray,
    first_document: int,
    p: float,
    seed: np.uint64,
    key: np.uint64,
    keys: np.ndarray,
    ranks: np.ndarray,
    merged: np.ndarray,
    char_offsets: np.ndarray,
    char_ids: np.ndarray,
    fixed: np.ndarray,
    ignore_merges: bool,
) -> tuple[np.ndarray, np.ndarray]:
    vocab_size = len(fixed)
    capacity = 0
    longest = 1
    for t in range(len(ids)):
        chars = char_offsets[ids[t] + 1] - char_offsets[ids[t]]
        capacity += max(chars, 1)
        longest = max(longest, chars)
    out = np.empty(capacity, dtype=np.int64)
    new_offsets = np.zeros(len(offsets), dtype=np.int64)
    symbols = np.empty(capacity if capacity else 1, dtype=np.int64)
    written = 0
    for d in range(len(offsets) - 1):
        state = document_state(seed, key, np.uint64(first_document + d))
        t = offsets[d]
        stop = offsets[d + 1]
        while t < stop:
            if fixed[ids[t]]:
                out[written] = ids[t]
                written += 1
                t += 1
                continue
            end = t + 1  # the word: a run of one word id, without fixed tokens
            while end < stop and words[end] == words[t] and words[t] >= 0 and not fixed[ids[end]]:
                end += 1
            if ignore_merges and end == t + 1:
                out[written] = ids[t]  # the word is a token: tokenizers takes it whole
                written += 1
                t = end
                continue
            n = 0
            for u in range(t, end):
                for c in range(char_offsets[ids[u]], char_offsets[ids[u] + 1]):
                    symbols[n] = char_ids[c]
                    n += 1
            n, state = _merge_word(symbols, n, p, state, keys, ranks, merged, vocab_size)
            out[written : written + n] = symbols[:n]
            written += n
            t = end
        new_offsets[d + 1] = written
    return out[:written], new_offsets


def dropout_documents(
    ids: np.ndarray,
    words: np.ndarray,
    offsets: np.ndarray,
    table: MergeTable,
    p: float,
    *,
    seed: int,
    key: int,
    first_document: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """BPE-dropout of documents given as their deterministic ids and word ids (-1: none).

    Document ``d`` draws from the stream of ``(seed, key, first_document + d)``.
    """
    p = check_probability(p)
    return _dropout_documents(
        np.asarray(ids, dtype=np.int64),
        np.asarray(words, dtype=np.int64),
        np.asarray(offsets, dtype=np.int64) - offsets[0],
        first_document,
        p,
        np.uint64(seed % (1 << 64)),
        np.uint64(key % (1 << 64)),
        table.keys,
        table.ranks,
        table.merged,
        table.char_offsets,
        table.char_ids,
        table.fixed,
        table.ignore_merges,
    )


def encode_with_dropout(
    tokenizer,
    table: MergeTable,
    texts: list[str],
    p: float,
    *,
    seed: int,
    key: int,
    first_document: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded BPE-dropout encodings of ``texts`` (flat ids and document offsets)."""
    encodings = tokenizer.encode_batch(texts, add_special_tokens=False)
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=int(offsets[-1]))
    words = np.fromiter(
        (-1 if w is None else w for e in encodings for w in e.word_ids),
        dtype=np.int64,
        count=int(offsets[-1]),
    )
    return dropout_documents(
        ids, words, offsets, table, p, seed=seed, key=key, first_document=first_document
    )


def encode_characters(tokenizer, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Every character of ``texts`` encoded on its own (flat ids and document offsets).

    Each distinct character is encoded once; documents are gathered from those encodings.
    """
    codes = [
        np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4") for text in texts
    ]
    lengths = np.fromiter(map(len, codes), dtype=np.int64, count=len(codes))
    flat = np.concatenate(codes) if codes else np.zeros(0, dtype="<u4")
    unique, inverse = np.unique(flat, return_inverse=True)
    encodings = tokenizer.encode_batch([chr(int(c)) for c in unique], add_special_tokens=False)
    char_lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(unique))
    char_offsets = np.concatenate([[0], np.cumsum(char_lengths)]).astype(np.int64)
    char_ids = np.fromiter(
        (i for e in encodings for i in e.ids), dtype=np.int64, count=int(char_offsets[-1])
    )
    per_char = char_lengths[inverse]
    starts = np.repeat(char_offsets[inverse], per_char)
    within = np.arange(int(per_char.sum())) - np.repeat(np.cumsum(per_char) - per_char, per_char)
    ids = char_ids[starts + within]
    char_ends = np.concatenate([[0], np.cumsum(per_char)])
    doc_char_offsets = np.concatenate([[0], np.cumsum(lengths)])
    return ids, char_ends[doc_char_offsets].astype(np.int64)
