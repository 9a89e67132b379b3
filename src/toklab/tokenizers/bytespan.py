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

The functions here work on whole arrays and are the references for the streamed forms. The
monotonic and combined constraints never need the whole corpus: they read it in chunks and work
on counted span types and counted span words (pre-tokens as sequences of span units), the way
BPE works on counted pre-tokens (:mod:`toklab.tokenizers.bytespan_stream`, with the compiled
counts of :mod:`toklab.tokenizers.bytespan_counts`). The global constraint, which needs the
global order of the cue, is :mod:`toklab.tokenizers.bytespan_global`; training from files is
:mod:`toklab.tokenizers.bytespan_tokenizer`.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.byte_unicode import bytes_to_unicode, encode_bytes

if TYPE_CHECKING:
    from toklab.tokenizers.bytespan_counts import PretokenMasks, SpanWords
    from toklab.tokenizers.pretoken_scan import PretokenCounts

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
    """Distinct span types with their counts, in order of count (desc) then first occurrence.

    Type ``i`` is ``keys[offsets[i]:offsets[i + 1]]``: one byte, 1 if it starts a pre-token,
    then its bytes; it occurs ``counts[i]`` times, first at corpus position ``first[i]``.
    Tokens are decoded when asked for, so a corpus with millions of types holds them as bytes.
    """

    keys: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray
    first: np.ndarray

    @classmethod
    def from_tokens(
        cls, tokens: Sequence[Token], counts: np.ndarray, first: np.ndarray
    ) -> SpanCounts:
        """Span counts of ``tokens`` (already in order) and their counts and first positions."""
        keys = [bytes([start]) + body for start, body in tokens]
        offsets = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum([len(k) for k in keys], out=offsets[1:])
        data = np.frombuffer(b"".join(keys), dtype=np.uint8).copy()
        return cls(data, offsets, np.asarray(counts, np.int64), np.asarray(first, np.int64))

    @classmethod
    def ordered(
        cls,
        keys: np.ndarray,
        offsets: np.ndarray,
        counts: np.ndarray,
        first: np.ndarray,
        skip: int = 0,
    ) -> SpanCounts:
        """Keys ordered by count (desc), then first position; ``skip`` leading bytes dropped."""
        from toklab.tokenizers.bytespan_counts import gather

        order = np.lexsort((first, -np.asarray(counts)))
        data, new_offsets = gather(keys, offsets[:-1][order], np.diff(offsets)[order], skip)
        return cls(data, new_offsets, counts[order], first[order])

    def __len__(self) -> int:
        return len(self.counts)

    def __getitem__(self, i: int) -> Token:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return bool(self.keys[a]), self.keys[a + 1 : b].tobytes()

    def __iter__(self) -> Iterator[Token]:
        return self.between(0, len(self))

    def between(self, start: int, stop: int) -> Iterator[Token]:
        """Types ``start:stop``, decoded a block at a time (not a Python int per type at once)."""
        for a in range(start, stop, 4096):
            b = min(a + 4096, stop)
            low = int(self.offsets[a])
            data = self.keys[low : self.offsets[b]].tobytes()
            for x, y in itertools.pairwise((self.offsets[a : b + 1] - low).tolist()):
                yield bool(data[x]), data[x + 1 : y]

    @property
    def tokens(self) -> list[Token]:
        """Every type, in order."""
        return list(self)


def count_spans(is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray) -> SpanCounts:
    """Count span types, vectorised: spans of each length are compared as fixed-size rows.

    The reference for the compiled counts of :mod:`toklab.tokenizers.bytespan_counts`.
    """
    starts = np.flatnonzero(is_start)
    return _count_ranges(starts, np.append(starts[1:], len(is_start)), data, pretok)


def _count_ranges(
    starts: np.ndarray, ends: np.ndarray, data: np.ndarray, pretok: np.ndarray
) -> SpanCounts:
    lengths = ends - starts
    tokens: list[Token] = []
    counts, firsts = [], []
    for length in np.unique(lengths).tolist():
        group = starts[lengths == length]
        rows = np.empty((len(group), length + 1), dtype=np.uint8)
        rows[:, 0] = pretok[group] != 0
        rows[:, 1:] = data[group[:, None] + np.arange(length)]
        keys = np.ascontiguousarray(rows).view(np.dtype((np.void, length + 1))).ravel()
        unique, first, count = np.unique(keys, return_index=True, return_counts=True)
        tokens += [(bool(key[0]), bytes(key[1:])) for key in (k.tobytes() for k in unique)]
        counts.append(count)
        firsts.append(group[first])
    all_counts = np.concatenate(counts).astype(np.int64) if counts else np.zeros(0, np.int64)
    all_first = np.concatenate(firsts).astype(np.int64) if firsts else np.zeros(0, np.int64)
    order = np.lexsort((all_first, -all_counts))
    return SpanCounts.from_tokens([tokens[i] for i in order], all_counts[order], all_first[order])


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
    chosen = list(itertools.islice(ranked_types(spans, set(base), max(min_frequency, 1)), room))
    if len(chosen) < room:
        raise DataError(
            f"only {len(chosen)} span types occur {max(min_frequency, 1)} times or more; "
            f"vocab_size {vocab_size} needs {room}"
        )
    return base + chosen


def ranked_types(
    spans: SpanCounts, known: set[Token], min_frequency: int = 1, start: int = 0
) -> Iterator[Token]:
    """The span types from rank ``start`` on that are not ``known`` and occur often enough."""
    stop = int(np.searchsorted(-spans.counts, -min_frequency, side="right"))
    for token in spans.between(start, stop):
        if token not in known:
            yield token


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
    candidates for BPE inference). :func:`balanced_from_counts` does the taking turns.
    """
    from toklab.tokenizers.bytespan_counts import SpanTypeCounter

    names, language = language_ids(doc_offsets, doc_languages)
    check_room(vocab_size, with_unk(special_tokens))
    counter = SpanTypeCounter(doc_offsets, language)
    counter.add(np.asarray(is_start, dtype=bool), data, pretok, 0)
    by_language = split_languages(*counter.keys(), names)
    return balanced_from_counts(by_language, vocab_size, special_tokens, extra)


def language_ids(
    doc_offsets: np.ndarray, doc_languages: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """The distinct languages (sorted) and each document's index among them, checked."""
    if len(doc_languages) != len(doc_offsets) - 1:
        raise DataError(
            f"{len(doc_languages)} document languages for {len(doc_offsets) - 1} documents"
        )
    names = sorted(set(doc_languages))
    if len(names) > 1 << 16:
        raise DataError(f"{len(names)} languages: at most {1 << 16} are supported")
    ids = {name: i for i, name in enumerate(names)}
    return names, np.fromiter((ids[x] for x in doc_languages), np.int64, len(doc_languages))


def split_languages(
    table: PretokenCounts, first: np.ndarray, names: Sequence[str]
) -> dict[str, SpanCounts]:
    """Per-language span counts from keys that start with two bytes of language id."""
    from toklab.tokenizers.bytespan_counts import gather

    starts = table.offsets[:-1]
    language = table.data[starts].astype(np.int64) << 8 | table.data[starts + 1]
    result = {}
    for i, name in enumerate(names):
        (selected,) = np.nonzero(language == i)
        if len(selected):
            lengths = table.offsets[selected + 1] - starts[selected]
            keys, offsets = gather(table.data, starts[selected], lengths, 0)
            result[name] = SpanCounts.ordered(
                keys, offsets, table.counts[selected], first[selected], skip=2
            )
    return result


def balanced_from_counts(
    by_language: dict[str, SpanCounts],
    vocab_size: int,
    special_tokens: Sequence[str],
    extra: int = 0,
) -> list[Token]:
    """The balanced vocabulary (see :func:`balanced_vocabulary`) from per-language counts."""
    room = check_room(vocab_size, with_unk(special_tokens))
    queues = [iter(by_language[language]) for language in sorted(by_language)]
    vocab = initial_tokens()
    known = set(vocab)
    wanted = len(vocab) + room + max(extra, 0)
    while queues and len(vocab) < wanted:
        for queue in list(queues):  # a turn: each language's next type not yet taken
            token = next((token for token in queue if token not in known), None)
            if token is None:
                queues.remove(queue)
            elif len(vocab) < wanted:
                known.add(token)
                vocab.append(token)
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

    :func:`seed_tokens` and :func:`bpe_on_spans` are the two halves, for a corpus streamed
    once (:func:`toklab.tokenizers.bytespan_stream.stream_spans` counts its pre-tokens by span
    starts, :func:`~toklab.tokenizers.bytespan_counts.count_span_words` makes the words).
    """
    from toklab.tokenizers.bytespan_counts import WordVocabulary, count_span_words

    vocab = seed_tokens(spans, vocab_size, special_tokens, proportion)
    words = count_span_words([_pretoken_masks(is_start, data, pretok)], WordVocabulary(vocab))
    return bpe_on_spans(vocab, words, vocab_size, special_tokens, extra)


def _pretoken_masks(is_start: np.ndarray, data: np.ndarray, pretok: np.ndarray) -> PretokenMasks:
    """The pre-tokens of a whole corpus counted by their span starts."""
    from toklab.tokenizers.bytespan_counts import PretokenMasks

    counter = PretokenMasks()
    counter.add(
        np.ascontiguousarray(is_start, dtype=np.bool_),
        np.ascontiguousarray(data, dtype=np.uint8),
        np.ascontiguousarray(pretok, dtype=np.uint8),
        0,
    )
    return counter


def seed_tokens(
    spans: SpanCounts, vocab_size: int, special_tokens: Sequence[str], proportion: float
) -> list[Token]:
    """The initial tokens and the top span types that seed ``int(proportion * V)`` entries."""
    if not 0.0 <= proportion <= 1.0:
        raise ConfigError(f"the seeding proportion must be in [0, 1], got {proportion}")
    specials = with_unk(special_tokens)
    vocab = initial_tokens()
    check_room(vocab_size, specials)
    from_spans = max(int(proportion * vocab_size) - len(vocab) - len(specials), 0)
    return vocab + list(itertools.islice(ranked_types(spans, set(vocab)), from_spans))


def bpe_on_spans(
    vocab: list[Token],
    words: SpanWords,
    vocab_size: int,
    special_tokens: Sequence[str],
    extra: int = 0,
) -> list[Token]:
    """``vocab`` (the seed) grown by BPE on the span ``words`` to V (+ ``extra``) entries."""
    from toklab.tokenizers.merge_loop import merge

    specials = with_unk(special_tokens)
    vocab = list(vocab)
    target = vocab_size - len(specials)
    # one-unit pre-tokens hold no pair: leaving them out changes nothing but the time
    pairs = words.longer_than_one()
    # a token's key is its start flag and body: ties go to the greater key, as in BPE, and a
    # merge that spells an existing token (the same flag and body) reuses it
    merges, _ = merge(
        [bytes([start]) + body for start, body in vocab],
        (pairs.ids, pairs.offsets),
        pairs.counts,
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
    bytes). ``index`` numbers its tokens 0, 1, ... and holds every byte in both forms. The
    whole-array form of :func:`~toklab.tokenizers.bytespan_counts.count_span_words`.
    """
    from toklab.tokenizers.bytespan_counts import WordVocabulary, count_span_words

    vocab = sorted(index, key=index.__getitem__)
    counter = _pretoken_masks(is_start, data, pretok)
    return count_span_words([counter], WordVocabulary(vocab)).as_lists()


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
