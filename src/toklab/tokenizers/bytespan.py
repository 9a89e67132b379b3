"""ByteSpan: subword vocabularies from a byte-level LM's per-byte cues.

The corpus is cut into *spans* by one of three constraints on a cue (entropy, surprisal,
space_nll or eos_nll, one value per byte):

* **monotonic**: a span is a byte followed by the maximal run of bytes whose cue strictly
  decreases;
* **combined**: a span continues while the cue decreases *or* is below a global threshold
  (a percentile of the cue over the corpus);
* **global**: at a threshold, a span is a maximal run of below-threshold bytes; every other
  byte is a span of its own. The threshold rises until the vocabulary is full.

Conventions shared by all three: a span never crosses a pre-token start (documents start with
one); a one-byte span holding a space is absorbed into the span after it unless that span
starts a pre-token or is a lone space too; every byte belongs to exactly one span.

The original implementation detected spans from the flips of a break/continue mask, which
dropped each document's last span and inverted a whole document's segmentation when its first
byte was below the threshold. Here spans are a partition computed from explicit span starts,
so neither can happen (both cases are tested).

Tokens are (starts-a-pre-token, bytes) pairs: a span that starts a pre-token becomes a
word-initial token, any other a continuation token. Vocabularies are written as Hugging Face
WordPiece tokenizers (greedy longest match inside each GPT-2 pre-token) whose continuation
prefix lies outside the byte-level alphabet, so decoding round-trips text exactly (the
original used ``##``, which collides with byte-level strings of ``#`` characters and was left
in decoded text), or with merge-rank BPE inference (:mod:`toklab.tokenizers.bytespan_merges`).

The monotonic and combined constraints never need the whole cue: they read it in chunks
(:mod:`toklab.tokenizers.bytespan_stream`). The global constraint, which needs the global order
of the cue, is :mod:`toklab.tokenizers.bytespan_global`; training from files is
:mod:`toklab.tokenizers.bytespan_tokenizer`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.byte_unicode import bytes_to_unicode, encode_bytes

SPACE = 0x20
CONSTRAINTS = ("global", "monotonic", "combined")
CUES = ("entropy", "surprisal", "space_nll", "eos_nll")
#: WordPiece continuation prefix; U+2581 is not a GPT-2 byte-level character.
CONTINUATION = "\u2581"
UNK = "<|unk|>"

Token = tuple[bool, bytes]


# ---------------------------------------------------------------------------------------------
# Span starts


def absorb_spaces(is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray) -> np.ndarray:
    """Merge each one-byte space span into the span after it, unless that one starts a pre-token."""
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], len(is_start))
    lone_space = (ends - starts == 1) & (data[starts] == SPACE)
    is_lone_space = np.zeros(len(is_start) + 1, dtype=bool)
    is_lone_space[starts[lone_space]] = True
    following = starts[lone_space] + 1
    following = following[following < len(is_start)]
    # one space only: a lone space never absorbs into another lone space
    following = following[(pretok[following] == 0) & ~is_lone_space[following]]
    merged = is_start.copy()
    merged[following] = False
    return merged


def monotonic_starts(
    cue: np.ndarray, pretok: np.ndarray, data: np.ndarray, threshold: float | None = None
) -> np.ndarray:
    """Span starts under the monotonic (or, with ``threshold``, the combined) constraint."""
    continues = np.zeros(len(cue), dtype=bool)
    continues[1:] = cue[1:] < cue[:-1]
    if threshold is not None:
        continues |= cue < threshold
    is_start = ~continues | (pretok != 0)
    if len(is_start):
        is_start[0] = True
    return absorb_spaces(is_start, data, pretok)


def segment_starts(active: np.ndarray, pretok: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Span starts for a set of active bytes: runs of active bytes; other bytes alone."""
    active = np.asarray(active, dtype=bool)
    is_start = ~active | (pretok != 0)
    is_start[1:] |= ~active[:-1]
    if len(is_start):
        is_start[0] = True
    return absorb_spaces(is_start, data, pretok)


def global_starts(
    cue: np.ndarray, pretok: np.ndarray, data: np.ndarray, threshold: float
) -> np.ndarray:
    """Span starts at a global threshold: runs of below-threshold bytes; other bytes alone."""
    return segment_starts(cue < threshold, pretok, data)


# ---------------------------------------------------------------------------------------------
# Counting span types


@dataclass
class SpanCounts:
    """Distinct span types with their counts, in order of count (desc) then first occurrence."""

    tokens: list[Token]
    counts: np.ndarray
    first: np.ndarray


def count_spans(is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray) -> SpanCounts:
    """Count span types, vectorised: spans of each length are compared as fixed-size rows."""
    starts = np.flatnonzero(is_start)
    return _count_ranges(starts, np.append(starts[1:], len(is_start)), data, pretok)


def _count_ranges(
    starts: np.ndarray, ends: np.ndarray, data: np.ndarray, pretok: np.ndarray
) -> SpanCounts:
    return _ordered(_length_groups(starts, ends, data, pretok))


# One group per span length: the distinct (starts-a-pre-token, bytes) rows as np.void keys,
# their counts and first positions.
_Group = tuple[np.ndarray, np.ndarray, np.ndarray]


def _length_groups(
    starts: np.ndarray, ends: np.ndarray, data: np.ndarray, pretok: np.ndarray, offset: int = 0
) -> dict[int, _Group]:
    """Distinct span types by length; positions are shifted by ``offset``."""
    lengths = ends - starts
    groups: dict[int, _Group] = {}
    for length in np.unique(lengths).tolist():
        group = starts[lengths == length]
        rows = np.empty((len(group), length + 1), dtype=np.uint8)
        rows[:, 0] = pretok[group] != 0
        rows[:, 1:] = data[group[:, None] + np.arange(length)]
        keys = np.ascontiguousarray(rows).view(np.dtype((np.void, length + 1))).ravel()
        unique, first, count = np.unique(keys, return_index=True, return_counts=True)
        groups[length] = (unique, count, group[first] + offset)
    return groups


def _merge_groups(parts: Sequence[_Group]) -> _Group:
    """One group from several of the same length: counts add up, first positions are minima."""
    if len(parts) == 1:
        return parts[0]
    keys = np.concatenate([p[0] for p in parts])
    unique, inverse = np.unique(keys, return_inverse=True)
    counts = np.zeros(len(unique), dtype=np.int64)
    np.add.at(counts, inverse, np.concatenate([p[1] for p in parts]))
    first = np.full(len(unique), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, inverse, np.concatenate([p[2] for p in parts]))
    return unique, counts, first


def _ordered(groups: dict[int, _Group]) -> SpanCounts:
    """All groups as span counts, by count (descending), then first occurrence."""
    tokens: list[Token] = []
    for keys, _, _ in groups.values():
        tokens += [(bool(key[0]), bytes(key[1:])) for key in (k.tobytes() for k in keys)]
    counts = [g[1] for g in groups.values()]
    firsts = [g[2] for g in groups.values()]
    all_counts = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    all_first = np.concatenate(firsts).astype(np.int64) if firsts else np.zeros(0, np.int64)
    order = np.lexsort((all_first, -all_counts))
    return SpanCounts([tokens[i] for i in order], all_counts[order], all_first[order])


class SpanCounter:
    """Span counts over a corpus given chunk by chunk (spans must not straddle chunks)."""

    def __init__(self) -> None:
        self._parts: dict[int, list[_Group]] = {}

    def add(self, is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray, offset: int) -> None:
        """Count the spans of one chunk, which starts at corpus position ``offset``."""
        starts = np.flatnonzero(is_start)
        ends = np.append(starts[1:], len(is_start))
        for length, group in _length_groups(starts, ends, data, pretok, offset).items():
            parts = self._parts.setdefault(length, [])
            parts.append(group)
            # merge once the newer parts outgrow the oldest: each type is merged O(log) times
            if sum(len(p[0]) for p in parts[1:]) >= len(parts[0][0]):
                self._parts[length] = [_merge_groups(parts)]

    def result(self) -> SpanCounts:
        """The counts of every chunk added, ordered as :func:`count_spans` orders them."""
        return _ordered({k: _merge_groups(v) for k, v in sorted(self._parts.items())})


# ---------------------------------------------------------------------------------------------
# Vocabularies


def with_unk(special_tokens: Sequence[str]) -> list[str]:
    """The special tokens plus the unknown token (WordPiece needs one), without duplicates."""
    return list(dict.fromkeys([*special_tokens, UNK]))


def initial_tokens() -> list[Token]:
    """Every byte as a word-initial and a continuation token, plus space + byte word-initially."""
    tokens: list[Token] = [(True, bytes([b])) for b in range(256)]
    tokens += [(True, bytes([SPACE, b])) for b in range(256) if b != SPACE]
    tokens += [(False, bytes([b])) for b in range(256)]
    return tokens


def check_room(vocab_size: int, special_tokens: Sequence[str]) -> int:
    """Entries left for learned tokens; an error if V is below the initial vocabulary."""
    minimum = len(initial_tokens()) + len(special_tokens)
    if vocab_size < minimum:
        raise ConfigError(
            f"vocab_size {vocab_size} is smaller than the initial vocabulary ({minimum}: bytes, "
            f"their word-initial and continuation forms, and the special tokens)"
        )
    return vocab_size - minimum


def frequency_vocabulary(
    spans: SpanCounts, vocab_size: int, special_tokens: Sequence[str], min_frequency: int = 0
) -> list[Token]:
    """The initial tokens, then the most frequent span types (ties: first occurrence) up to V."""
    special_tokens = with_unk(special_tokens)
    base = initial_tokens()
    room = check_room(vocab_size, special_tokens)
    known = set(base)
    chosen = [
        t
        for t, c in zip(spans.tokens, spans.counts, strict=True)
        if c >= max(min_frequency, 1) and t not in known
    ]
    if len(chosen) < room:
        raise DataError(
            f"only {len(chosen)} span types occur {max(min_frequency, 1)} times or more; "
            f"vocab_size {vocab_size} needs {room}"
        )
    return base + chosen[:room]


def balanced_vocabulary(
    is_start: np.ndarray,
    data: np.ndarray,
    pretok: np.ndarray,
    doc_offsets: np.ndarray,
    doc_languages: Sequence[str],
    vocab_size: int,
    special_tokens: Sequence[str],
    extra: int = 0,
) -> list[Token]:
    """Frequency vocabulary for multilingual corpora: languages take turns (round robin).

    Each language's span types are counted over its own documents and sorted by count (ties:
    first occurrence); the vocabulary then takes the next unseen type of each language in turn,
    languages in sorted order, until it has V entries (with ``extra``: up to ``extra`` more, as
    candidates for BPE inference).
    """
    if len(doc_languages) != len(doc_offsets) - 1:
        raise DataError(
            f"{len(doc_languages)} document languages for {len(doc_offsets) - 1} documents"
        )
    room = check_room(vocab_size, with_unk(special_tokens))
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], len(is_start))
    span_language = np.asarray(doc_languages)[
        np.searchsorted(doc_offsets, starts, side="right") - 1
    ]
    queues = {
        language: _count_ranges(starts[mask], ends[mask], data, pretok).tokens
        for language in sorted(set(doc_languages))
        if (mask := span_language == language).any()
    }
    vocab = initial_tokens()
    known = set(vocab)
    positions = dict.fromkeys(queues, 0)
    wanted = room + max(extra, 0)
    while len(vocab) - len(initial_tokens()) < wanted:
        progressed = False
        for language, tokens in queues.items():
            while positions[language] < len(tokens) and tokens[positions[language]] in known:
                positions[language] += 1
            if positions[language] < len(tokens) and len(vocab) - len(initial_tokens()) < wanted:
                token = tokens[positions[language]]
                known.add(token)
                vocab.append(token)
                progressed = True
        if not progressed:
            break
    if len(vocab) - len(initial_tokens()) < room:
        raise DataError(f"the languages' span types fill only {len(vocab)} of {vocab_size}")
    return vocab


def seeded_vocabulary(
    is_start: np.ndarray,
    data: np.ndarray,
    pretok: np.ndarray,
    spans: SpanCounts,
    vocab_size: int,
    special_tokens: Sequence[str],
    proportion: float,
    extra: int = 0,
) -> list[Token]:
    """A share ``proportion`` of the vocabulary from spans, the rest from BPE on the spans.

    The top span types fill ``int(proportion * V)`` entries (with the initial tokens). The
    corpus is then re-encoded pre-token by pre-token: each span whose type is in the vocabulary
    is one unit, other spans fall apart into bytes; BPE merges (never across pre-tokens, ties as
    in :mod:`toklab.tokenizers.merge_loop`) add tokens until the vocabulary has V entries.
    A merge that spells an existing token reuses it. ``proportion=0`` is BPE with WordPiece
    inference. With ``extra``, BPE goes on for up to ``extra`` more tokens past V (candidates
    for BPE inference); the first V entries do not change.
    """
    from toklab.tokenizers.merge_loop import merge

    if not 0.0 <= proportion <= 1.0:
        raise ConfigError(f"the seeding proportion must be in [0, 1], got {proportion}")
    specials = with_unk(special_tokens)
    vocab = initial_tokens()
    check_room(vocab_size, specials)
    from_spans = max(int(proportion * vocab_size) - len(vocab) - len(specials), 0)
    known = set(vocab)
    for token in spans.tokens:
        if len(vocab) - len(initial_tokens()) >= from_spans:
            break
        if token not in known:
            known.add(token)
            vocab.append(token)
    index = {token: i for i, token in enumerate(vocab)}
    words, word_counts = span_words(is_start, data, pretok, index)
    target = vocab_size - len(specials)
    # one-unit pre-tokens hold no pair: leaving them out changes nothing but the time
    pairs = [(w, c) for w, c in zip(words, word_counts, strict=True) if len(w) > 1]
    # a token's key is its start flag and body: ties go to the greater key, as in BPE, and a
    # merge that spells an existing token (the same flag and body) reuses it
    merges, _ = merge(
        [bytes([start]) + body for start, body in vocab],
        [w for w, _ in pairs],
        [c for _, c in pairs],
        target + max(extra, 0),
        skip=1,
        reuse=True,
    )
    for a, b, new in merges:
        if new == len(vocab):
            vocab.append((vocab[a][0], vocab[a][1] + vocab[b][1]))
    if len(vocab) < target:
        raise DataError(
            f"BPE on the spans ran out of pairs at {len(vocab) + len(specials)} tokens; "
            f"vocab_size {vocab_size} is too large for this corpus"
        )
    return vocab


def span_words(
    is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray, index: dict[Token, int]
) -> tuple[list[list[int]], list[int]]:
    """The corpus as distinct pre-tokens of unit ids, with counts (first occurrence first).

    A span whose type is in ``index`` is one unit; any other span falls apart into its bytes
    (the first a word-initial byte if the span starts a pre-token, the others continuation
    bytes). Vectorised: spans are looked up by length as fixed-size rows, and pre-tokens are
    compared as rows of ids of the same length.
    """
    n = len(is_start)
    if n == 0:
        return [], []
    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], n)
    span_ids = _lookup_spans(starts, ends, data, pretok, index)
    initial_ids = np.array([index[(True, bytes([b]))] for b in range(256)], dtype=np.int64)
    continuation_ids = np.array([index[(False, bytes([b]))] for b in range(256)], dtype=np.int64)
    word_initial = np.asarray(is_start, dtype=bool) & (np.asarray(pretok) != 0)
    units = np.where(word_initial, initial_ids[data], continuation_ids[data])
    known = span_ids >= 0
    units[starts[known]] = span_ids[known]
    # bytes inside a known span, after its first, are dropped
    inside = np.bincount(starts[known] + 1, minlength=n + 1) - np.bincount(
        ends[known], minlength=n + 1
    )
    keep = np.cumsum(inside[:n]) == 0
    units, positions = units[keep], np.flatnonzero(keep)
    word_start = np.asarray(pretok)[positions] != 0
    word_start[0] = True
    word_starts = np.flatnonzero(word_start)
    word_lengths = np.diff(np.append(word_starts, len(units)))
    found: list[tuple[int, list[int], int]] = []
    bits = max(len(index), 2).bit_length()
    for length in np.unique(word_lengths).tolist():
        first = word_starts[word_lengths == length]
        rows = units[first[:, None] + np.arange(length)]
        _, where, counts = np.unique(_row_keys(rows, bits), return_index=True, return_counts=True)
        found += zip(first[where].tolist(), rows[where].tolist(), counts.tolist(), strict=True)
    found.sort()
    return [w for _, w, _ in found], [c for _, _, c in found]


def _row_keys(rows: np.ndarray, bits: int) -> np.ndarray:
    """One key per row, equal exactly when the rows are (integers when they fit in 64 bits)."""
    width = rows.shape[1]
    if width * bits <= 64:
        keys = np.zeros(len(rows), dtype=np.uint64)
        for column in range(width):
            keys = (keys << np.uint64(bits)) | rows[:, column].astype(np.uint64)
        return keys
    rows = np.ascontiguousarray(rows)
    return rows.view(np.dtype((np.void, rows.itemsize * width))).ravel()


def _lookup_spans(
    starts: np.ndarray,
    ends: np.ndarray,
    data: np.ndarray,
    pretok: np.ndarray,
    index: dict[Token, int],
) -> np.ndarray:
    """The id of each span's type in ``index``, or -1."""
    ids = np.full(len(starts), -1, dtype=np.int64)
    by_length: dict[int, list[tuple[bytes, int]]] = {}
    for (start, body), token_id in index.items():
        by_length.setdefault(len(body), []).append((bytes([start]) + body, token_id))
    lengths = ends - starts
    for length in np.unique(lengths).tolist():
        if length not in by_length:
            continue
        selected = np.flatnonzero(lengths == length)
        group = starts[selected]
        rows = np.empty((len(group), length + 1), dtype=np.uint8)
        rows[:, 0] = pretok[group] != 0
        rows[:, 1:] = data[group[:, None] + np.arange(length)]
        keys = _row_keys(rows, 8)
        table = by_length[length]
        known = _row_keys(
            np.frombuffer(b"".join(k for k, _ in table), dtype=np.uint8).reshape(len(table), -1), 8
        )
        order = np.argsort(known)
        known, known_ids = known[order], np.array([i for _, i in table], dtype=np.int64)[order]
        position = np.minimum(np.searchsorted(known, keys), len(known) - 1)
        match = known[position] == keys
        ids[selected[match]] = known_ids[position[match]]
    return ids


def trajectory_csv(trajectory: list[dict[str, float]]) -> str:
    """The global constraint's trajectory as CSV: threshold, vocab_size, unique_segments."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, ["threshold", "vocab_size", "unique_segments"], lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(trajectory)
    return out.getvalue()


# ---------------------------------------------------------------------------------------------
# Hugging Face WordPiece export


def token_string(token: Token) -> str:
    """The vocab string of a token: byte-level characters, continuation tokens prefixed."""
    start, data = token
    return ("" if start else CONTINUATION) + encode_bytes(data)


def build_wordpiece_tokenizer(vocab: Sequence[Token], special_tokens: Sequence[str]):
    """A ``tokenizers.Tokenizer``: ByteLevel pre-tokenizer, greedy longest-match WordPiece."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    specials = with_unk(special_tokens)
    table = {token_string(t): i for i, t in enumerate(vocab)}
    for token in specials:
        table.setdefault(token, len(table))
    model = models.WordPiece(
        table, unk_token=UNK, max_input_chars_per_word=10**9, continuing_subword_prefix=CONTINUATION
    )
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(CONTINUATION, ""), decoders.ByteLevel()]
    )
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return tokenizer


assert CONTINUATION not in bytes_to_unicode().values()
