r"""Tokens per GPT-2 word of a byte-level BPE's encodings, without offsets or word ids.

:func:`toklab.evaluation.metrics.word_statistics` needs, per document, how many words there are
and how many tokens each word got. ``Encoding.word_ids`` holds that, but only the slower
``encode_batch`` (which also converts every token's offsets to characters) fills it, and
reading it back builds a Python int per token. For a byte-level BPE there is a shorter way:

* each token's bytes are known from the vocabulary (:func:`token_byte_table`), so the ids of
  ``encode_batch_fast`` place every token in the document's UTF-8 bytes, and comparing the
  bytes with the document is the reversibility check (``decode(encode(doc)) == doc``: the
  ByteLevel decoder joins the tokens' bytes);
* a BPE encodes each pre-token on its own, so every word starts where a token starts, and
  whether a word goes on past a token's end is decided by the character there (and, in a run
  of spaces, the one after it): the GPT-2 pattern, compiled by hand (:func:`count_words`),
  over character classes taken from the tokenizer library's own regex engine
  (:func:`character_classes`), so the words are its pre-tokenizer's, Unicode version and all.

A document whose tokens do not spell it exactly (an unknown token, an added token, a dropped
character) is handed back, and the caller counts it from ``word_ids`` and ``decode``. The
tests compare both ways on random Unicode text with BPEs small enough to split characters.
"""

from __future__ import annotations

import sys
from functools import cache

import numba
import numpy as np

from toklab.compiled import leaf
from toklab.tokenizers.byte_unicode import unicode_to_bytes
from toklab.tokenizers.pretoken_scan import (
    LETTER,
    NUMBER,
    OTHER,
    SPACE,
    code_point,
    contraction_length,
)

#: The kind of pre-token with a fixed end: ``'s``, ``'t``, ``'re``, ``'ve``, ``'m``, ``'ll``, ``'d``.
CONTRACTION = 4
_BLANK = ord(" ")


@cache
def character_classes() -> np.ndarray:
    r"""The class (:data:`OTHER` ...) of every code point, as the ``tokenizers`` regex sees it.

    Strings of code points in increasing order are split by each class's pattern with the
    library's regex engine (the one its ByteLevel pre-tokenizer uses); a piece left between two
    matches runs from its first to its last character. First ``[\p{L}\p{N}\s]`` over all code
    points, then ``\p{L}`` and ``\p{N}`` over those it matched (the rest of them are spaces).
    Surrogates (never in valid UTF-8) stay :data:`OTHER`. About 0.2 s, once per process.
    """
    code_points = np.arange(0x110000, dtype=np.uint32)
    code_points = code_points[(code_points < 0xD800) | (code_points >= 0xE000)]
    classes = np.full(0x110000, OTHER, dtype=np.uint8)
    candidates = code_points[_matched(code_points, r"[\p{L}\p{N}\s]+")]
    classes[candidates] = SPACE
    for label, pattern in ((LETTER, r"\p{L}+"), (NUMBER, r"\p{N}+")):
        classes[candidates[_matched(candidates, pattern)]] = label
    return classes


def _matched(code_points: np.ndarray, pattern: str) -> np.ndarray:
    """Which of ``code_points`` (increasing) the ``tokenizers`` regex ``pattern`` matches."""
    from tokenizers import PreTokenizedString, Regex, pre_tokenizers

    string = PreTokenizedString(code_points.tobytes().decode("utf-32-le"))
    pre_tokenizers.Split(Regex(pattern), behavior="removed").pre_tokenize(string)
    matched = np.ones(len(code_points), dtype=bool)
    for piece, _, _ in string.get_splits(offset_referential="original", offset_type="byte"):
        first, last = np.searchsorted(code_points, [ord(piece[0]), ord(piece[-1])])
        matched[first : last + 1] = False
    return matched


def token_byte_table(tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """Every id's bytes as 8-byte words: ``(words, table)``.

    Id ``i``'s bytes are the first ``length`` bytes of ``words[offset:]`` (uint64, the bytes in
    memory order, zero-padded to a whole word), where ``table[i, 0] = offset << 16 | length``
    and ``table[i, 1] = words[offset]``: one 16-byte row has all a token of up to 8 bytes
    needs, so comparing it with text costs one cache miss. Ids of the model's vocabulary
    written in GPT-2's byte-level characters get their bytes; any other id (an added or special
    token, the unk token, a token with another character, an id the model does not use, a token
    of 64 KiB or more) gets ``table[i] = 0`` (length 0), which sends a document holding it to
    the slow path.
    """
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    strings = [tokenizer.model.id_to_token(index) or "" for index in range(size)]
    char_lengths = np.fromiter(map(len, strings), dtype=np.int64, count=size)
    code_points = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32)
    byte_of = unicode_to_bytes()
    to_byte = np.full(max(map(ord, byte_of)) + 1, -1, dtype=np.int16)
    for char, byte in byte_of.items():
        to_byte[ord(char)] = byte
    values = to_byte[np.minimum(code_points, len(to_byte) - 1)]
    values[code_points >= len(to_byte)] = -1
    bounds = np.zeros(size + 1, dtype=np.int64)
    np.cumsum(char_lengths, out=bounds[1:])
    foreign = np.zeros(len(values) + 1, dtype=np.int64)  # characters outside the table so far
    np.cumsum(values < 0, out=foreign[1:])
    valid = (foreign[bounds[1:]] == foreign[bounds[:-1]]) & (char_lengths > 0)
    valid &= char_lengths < 1 << 16
    unk = getattr(tokenizer.model, "unk_token", None)
    unk_id = tokenizer.model.token_to_id(unk) if unk else None
    for index in [*tokenizer.get_added_tokens_decoder(), unk_id]:
        if index is not None and index < size:
            valid[index] = False
    lengths = np.where(valid, char_lengths, 0)
    # Each valid token's bytes moved to the start of its own run of whole words.
    starts = np.zeros(size + 1, dtype=np.int64)
    np.cumsum((lengths + 7) // 8 * 8, out=starts[1:])
    token_of_char = np.repeat(np.arange(size), char_lengths)
    keep = valid[token_of_char]
    within = np.arange(len(values)) - bounds[token_of_char]
    data = np.zeros(starts[-1] + 8, dtype=np.uint8)  # + 8: every row has a first word
    data[(starts[token_of_char] + within)[keep]] = values[keep]
    words = data.view(np.uint64)
    offsets = starts[:-1] // 8
    table = np.zeros((size, 2), dtype=np.uint64)
    table[:, 0] = np.where(valid, offsets << 16 | lengths, 0)
    table[:, 1] = np.where(valid, words[offsets], 0)
    return words, table


def word_buffer(pieces: list[bytes]) -> np.ndarray:
    """The bytes of ``pieces`` one after another, zero-padded to whole 8-byte words plus one.

    :func:`count_words` reads the text a word at a time, so it needs the word that follows the
    last byte, a length that uint64 divides, and an aligned start (CPython's ``bytes`` data
    is; a copy otherwise). Read-only: a view of one ``bytes``.
    """
    size = sum(map(len, pieces))
    buffer = np.frombuffer(b"".join([*pieces, bytes(16 - size % 8)]), dtype=np.uint8)
    if buffer.ctypes.data % 8:
        buffer = buffer.copy()  # numpy aligns what it allocates
        buffer.flags.writeable = False  # the same type for count_words either way
    return buffer


@leaf
def _word_kind(data: np.ndarray, i: int, end: int, classes: np.ndarray) -> tuple[int, int]:
    """How the GPT-2 pre-token at byte ``i`` goes on: ``(kind, fixed_end)``.

    The pattern's alternatives, leftmost first: a contraction ``'s`` ... ``'ll`` has a fixed end
    (kind :data:`CONTRACTION`); ``" ?"`` then a run of letters, numbers or others (kind: that
    class) goes on while the characters are of its class; a run of spaces (kind :data:`SPACE`)
    goes on to the run's end, or leaves its last space to a word that follows.
    """
    length = contraction_length(data, i, end)
    if length:
        return CONTRACTION, i + length
    if data[i] == _BLANK and i + 1 < end:
        c, _ = code_point(data, i + 1)
        if classes[c] != SPACE:
            return classes[c], end
    c, _ = code_point(data, i)
    return classes[c], end


@leaf
def _goes_on(data: np.ndarray, i: int, end: int, classes: np.ndarray, kind: int) -> bool:
    """Whether a pre-token of ``kind`` that reached byte ``i`` (< its end) includes byte ``i``."""
    if kind == CONTRACTION or data[i] & 0xC0 == 0x80:  # fixed end, or inside a character
        return True
    c, n = code_point(data, i)
    if kind != SPACE:
        return classes[c] == kind
    if classes[c] != SPACE:
        return False
    if i + n == end:  # \s+(?!\S) at the end of the text takes the whole run
        return True
    c, _ = code_point(data, i + n)
    return classes[c] == SPACE  # the run's last space goes with what follows


@leaf
def _eight_bytes(words: np.ndarray, i: int) -> np.uint64:
    """The 8 bytes of ``words`` (uint64) from byte ``i`` on, as one word in memory order."""
    q, r = i >> 3, np.uint64(8 * (i & 7))
    # (x << 1) << (63 - r): the next word's bytes moved in, none of them when r == 0 (a shift
    # by 64 in one go would be undefined)
    return (words[q] >> r) | ((words[q + 1] << np.uint64(1)) << (np.uint64(63) - r))


@leaf
def _low_bytes(count: int) -> np.uint64:
    """A mask of the lowest ``count`` (1 to 8) bytes of a word."""
    return np.uint64(0xFFFFFFFFFFFFFFFF) >> np.uint64(64 - 8 * count)


@leaf
def _spelled(
    text: np.ndarray,
    start: int,
    end: int,
    token_words: np.ndarray,
    rows: np.ndarray,
    lengths: np.ndarray,
) -> bool:
    """Whether the tokens (their :func:`token_byte_table` ``rows``) are ``text[start:end]``.

    ``text`` is :func:`word_buffer`'s, seen as uint64 (little-endian: a word's first byte is
    its lowest); ``lengths`` are the tokens' lengths in bytes (0: not a byte-level token).
    """
    # The differences of all words, or-ed: no branch per token but for tokens over 8 bytes.
    position, differences = start, np.uint64(0)
    for t in range(len(lengths)):
        length = lengths[t]
        if length == 0 or position + length > end:
            return False
        head = _eight_bytes(text, position) & _low_bytes(min(length, 8))
        differences |= head ^ rows[t, 1]
        if length > 8:
            offset = np.int64(rows[t, 0] >> np.uint64(16))
            for k in range(1, (length + 7) // 8):
                word = _eight_bytes(text, position + 8 * k)
                word &= _low_bytes(min(length - 8 * k, 8))
                differences |= word ^ token_words[offset + k]
        position += length
    return position == end and differences == 0


@leaf
def _look_up(
    ids: np.ndarray, token_table: np.ndarray, rows: np.ndarray, lengths: np.ndarray
) -> None:
    """Each token's row of ``token_table`` and its length in bytes (0: none), in ``rows[t]``.

    First, all of a document's: the lookups do not wait on one another, so their cache misses
    overlap.
    """
    for t in range(len(ids)):
        rows[t, 0], rows[t, 1], lengths[t] = 0, 0, 0
        if 0 <= ids[t] < len(token_table):
            rows[t, 0], rows[t, 1] = token_table[ids[t], 0], token_table[ids[t], 1]
            lengths[t] = np.int64(rows[t, 0] & np.uint64(0xFFFF))


#: Columns of :func:`count_words`'s per-label totals.
TOTALS = ("words", "split_words", "tokens", "bytes", "documents")
WORDS, SPLIT_WORDS, TOKENS, BYTES, DOCUMENTS = range(len(TOTALS))


@numba.njit(cache=True, nogil=True)
def count_words(
    data: np.ndarray,
    document_bounds: np.ndarray,
    ids: np.ndarray,
    token_bounds: np.ndarray,
    labels: np.ndarray,
    token_words: np.ndarray,
    token_table: np.ndarray,
    classes: np.ndarray,
    totals: np.ndarray,
    counts: np.ndarray,
) -> np.ndarray:
    """Add a batch of encoded documents to per-label totals and id counts; which were counted.

    Document ``d`` is ``data[document_bounds[d]:document_bounds[d + 1]]`` (UTF-8; ``data`` is a
    :func:`word_buffer`), its tokens ``ids[token_bounds[d]:token_bounds[d + 1]]``, its label
    ``labels[d]`` (a row of ``totals`` and ``counts``); ``token_words`` and ``token_table`` are
    :func:`token_byte_table`'s. A document whose tokens spell it exactly is counted: its words,
    split words, tokens, bytes and itself are added to ``totals[label]`` (the columns of
    :data:`TOTALS`), its ids to ``counts[label]``. Returns whether each document was counted.

    A word starts at a token boundary (a BPE encodes each pre-token on its own), so the scan
    looks at characters only where a token ends: whether the word goes on there.
    """
    documents = len(document_bounds) - 1
    done = np.zeros(documents, dtype=np.bool_)
    text = data.view(np.uint64)
    most = 0
    for d in range(documents):
        most = max(most, token_bounds[d + 1] - token_bounds[d])
    rows = np.zeros((most, 2), dtype=np.uint64)  # one document's tokens' (_look_up)
    lengths = np.zeros(most, dtype=np.int64)
    for d in range(documents):
        start, end = document_bounds[d], document_bounds[d + 1]
        first, last = token_bounds[d], token_bounds[d + 1]
        count = last - first
        _look_up(ids[first:last], token_table, rows, lengths)
        if not _spelled(text, start, end, token_words, rows[:count], lengths[:count]):
            continue
        words, split, aligned = 0, 0, True
        i, t = start, 0
        while i < end and aligned:
            kind, word_end = _word_kind(data, i, end, classes)
            tokens = 0
            while True:  # the word's tokens
                if i + lengths[t] > word_end:  # across a contraction's end
                    aligned = False
                    break
                i += lengths[t]
                t += 1
                tokens += 1
                if i == word_end or not _goes_on(data, i, end, classes, kind):
                    break
            words += 1
            if tokens > 1:
                split += 1
        if not aligned:
            continue
        done[d] = True
        label = labels[d]
        totals[label, WORDS] += words
        totals[label, SPLIT_WORDS] += split
        totals[label, TOKENS] += last - first
        totals[label, BYTES] += end - start
        totals[label, DOCUMENTS] += 1
        for t in range(first, last):
            counts[label, ids[t]] += 1
    return done


def byte_level_bpe(tokenizer) -> bool:
    """Whether :func:`count_words` applies: a BPE model (no affixes) and the ByteLevel decoder.

    (And a little-endian machine, as :func:`count_words` compares 8 bytes at a time.)
    """
    from tokenizers import decoders, models

    model = tokenizer.model
    return (
        sys.byteorder == "little"
        and isinstance(model, models.BPE)
        and not model.continuing_subword_prefix
        and not model.end_of_word_suffix
        and isinstance(tokenizer.decoder, decoders.ByteLevel)
    )
