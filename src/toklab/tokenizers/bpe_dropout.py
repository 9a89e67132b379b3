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

from toklab.compiled import leaf
from toklab.errors import ConfigError
from toklab.seeding import document_state, next_uniform
from toklab.tokenizers.stochastok import check_probability
from toklab.tokenizers.tokenizer_files import load_tokenizer

log = logging.getLogger(__name__)

_NO_RANK = np.iinfo(np.int64).max  # a queue entry that is not queued


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


@leaf
def _lookup(keys: np.ndarray, key: np.int64) -> np.int64:
    """The index of ``key`` in the sorted ``keys``, or -1.

    A binary search for the first index whose key is not below ``key``, each step a
    conditional move instead of ``np.searchsorted``'s branch (mispredicted half the time).
    """
    size = len(keys)
    if size == 0:
        return -1
    base = 0
    while size > 1:
        half = size >> 1
        base = base + half if keys[base + half] < key else base
        size -= half
    j = base + (keys[base] < key)
    return j if j < len(keys) and keys[j] == key else -1


@leaf
def _merge_word(
    symbols: np.ndarray,
    n: int,
    p: float,
    state: np.uint64,
    keys: np.ndarray,
    ranks: np.ndarray,
    merged: np.ndarray,
    vocab_size: int,
    previous: np.ndarray,
    following: np.ndarray,
    removed: np.ndarray,
    entry_pos: np.ndarray,
    entry_new: np.ndarray,
    entry_order: np.ndarray,
    queue: np.ndarray,
    skipped: np.ndarray,
) -> tuple[int, np.uint64]:
    """Merge ``symbols[:n]`` in place with dropout ``p``; the new length and stream state.

    The queue discipline of ``tokenizers`` (``Word::merge_all``): candidates are popped best
    rank first (leftmost among equals); a popped candidate is skipped with probability ``p``,
    and the skipped ones return to the queue whenever a pop is not skipped, expired entries
    (pairs an earlier merge changed) included; the word is done when the queue is empty. The
    queue is small (at most ``3n`` entries), so a linear scan replaces the binary heap: entry
    ``e`` pops in the order of ``rank * n + position`` (``entry_order``), which ``queue[e]``
    holds while it is queued (else the largest int64), and the first least one pops.

    The word's linked list (``previous``, ``following``, ``removed``: ``n`` each) and queue
    (``entry_*``, ``queue``, ``skipped``: the skipped entries, ``3n`` each) are the caller's
    buffers, kept across words; set here.
    """
    if n < 2:
        return n, state
    for i in range(n):
        previous[i] = i - 1
        following[i] = i + 1
        removed[i] = False
    following[n - 1] = -1
    entries = 0
    for i in range(n - 1):
        j = _lookup(keys, symbols[i] * vocab_size + symbols[i + 1])
        if j >= 0:
            entry_pos[entries], entry_new[entries] = i, merged[j]
            entry_order[entries] = queue[entries] = ranks[j] * n + i
            entries += 1
    n_skipped = 0
    while True:
        top, least = -1, _NO_RANK
        for e in range(entries):
            if queue[e] < least:
                top, least = e, queue[e]
        if top < 0:
            break
        queue[top] = _NO_RANK
        if p > 0.0:
            state, u = next_uniform(state)
            if u < p:
                skipped[n_skipped] = top
                n_skipped += 1
                continue
        for k in range(n_skipped):  # the skipped candidates return to the queue
            queue[skipped[k]] = entry_order[skipped[k]]
        n_skipped = 0
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
                    entry_pos[entries], entry_new[entries] = left, merged[j]
                    entry_order[entries] = queue[entries] = ranks[j] * n + left
                    entries += 1
    length = 0
    for i in range(n):
        if not removed[i]:
            symbols[length] = symbols[i]
            length += 1
    return length, state


@leaf
def _word_end(ids: np.ndarray, words: np.ndarray, fixed: np.ndarray, t: int, stop: int) -> int:
    """The end of the word at ``t`` (not a fixed token): a run of one word id, no fixed tokens."""
    end = t + 1
    while end < stop and words[end] == words[t] and words[t] >= 0 and not fixed[ids[end]]:
        end += 1
    return end


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
    for t in range(len(ids)):
        capacity += max(char_offsets[ids[t] + 1] - char_offsets[ids[t]], 1)
    longest = 1  # the most characters of a word
    for d in range(len(offsets) - 1):
        t, stop = offsets[d], offsets[d + 1]
        while t < stop:
            if fixed[ids[t]]:
                t += 1
                continue
            end = _word_end(ids, words, fixed, t, stop)
            chars = 0
            for u in range(t, end):
                chars += char_offsets[ids[u] + 1] - char_offsets[ids[u]]
            longest = max(longest, chars)
            t = end
    out = np.empty(capacity, dtype=np.int64)
    new_offsets = np.zeros(len(offsets), dtype=np.int64)
    # _merge_word's buffers, kept across words: the word's symbols and linked list, its queue
    symbols = np.empty(longest, dtype=np.int64)
    previous, following = np.empty(longest, np.int64), np.empty(longest, np.int64)
    removed = np.empty(longest, dtype=np.bool_)
    entry_pos, entry_new = np.empty(3 * longest, np.int64), np.empty(3 * longest, np.int64)
    entry_order, queue = np.empty(3 * longest, np.int64), np.empty(3 * longest, np.int64)
    skipped = np.empty(3 * longest, dtype=np.int64)
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
            end = _word_end(ids, words, fixed, t, stop)
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
            n, state = _merge_word(
                symbols, n, p, state, keys, ranks, merged, vocab_size, previous, following,
                removed, entry_pos, entry_new, entry_order, queue, skipped,
            )  # fmt: skip
            for i in range(n):
                out[written + i] = symbols[i]
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
