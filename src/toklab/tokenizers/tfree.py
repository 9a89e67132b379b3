r"""T-Free (Deiseroth et al., 2024, arXiv 2406.19223): words hashed into sparse trigram activations.

There is no vocabulary of tokens. Text is split into *words* (:func:`split_words`), each word into
the set of its byte trigrams (:mod:`toklab.tokenizers.tfree_trigrams`), and each trigram into
``m`` of ``v`` ids (:class:`TrigramHasher`). A word's embedding is the sum of the embeddings of
the ``m`` ids of each of its trigrams; its training target is the multi-label vector of those ids
(:meth:`TrigramHasher.encode_word`). Everything here reproduces the released code
(Aleph-Alpha/trigrams, ``src/trigram_tokenizer/tokenizer``), which differs from the paper.

**Words** (the original's ``text_to_words``/``words_to_text``, same outputs):

- Spans ``<|…|>`` (shortest match, no newline inside) are special tokens, kept whole; so is a
  whole span between them that starts with ``<|`` and ends with ``|>``.
- The rest is cut into single digits (``\d``), single non-word characters (``\W``) and ``_``;
  words are the runs in between (letters, and numerals such as ``²`` that are ``\w`` but not
  ``\d``).
- A single space between two items is implied and dropped. A space is kept as ``<|ws|>`` where
  it is not expected: at the start or end of a span, after one of ``#$=-+*/'"\(<[]~^&@%_``,
  newline or space, or before one of ``.,:;?!=-+*/'"\)>]~^&@%_``, newline, space or an ASCII
  digit. Where a space would be expected but there is none, ``<|no_ws|>`` is inserted
  (``"2apples"`` → ``2 <|no_ws|> apples``). Newlines become ``<|\n|>``.
- Runs of ``c`` kept spaces (newlines) fold into ``<|4<-ws->|>`` tokens while more than 5
  remain, then ``<|2<-ws->|>``/``<|4<-ws->|>`` and, for odd ``c``, one ``<|ws|>``
  (``<|4<-\n->|>``, ``<|2<-\n->|>``, ``<|\n|>``). So 9 spaces are ``4 4 ws``.
- The paper's App. B shows "In 2024" without markers and folds runs of up to 8; the code does
  not. Other whitespace (tabs, ``\r``, no-break spaces) are ordinary non-word characters.

:func:`join_words` inverts :func:`split_words` exactly for every text in which no special span
is one of the marker forms (``<|ws|>``, ``<|no_ws|>``, ``<|\n|>``, or ``<|`` + digit … ``|>``
containing ``<-ws->`` or ``<-\n->``). Those names are reserved, as in the original: a literal
``<|ws|>`` in a text is read as the marker and comes back as a space. Text with lone surrogates
or NUL characters is rejected (:class:`~toklab.errors.DataError`); the original crashed on the
former when encoding and let the latter through. Where the original pops from the front of a
list (quadratic), both functions here are one linear pass, fast enough for megabytes.

**Hashing.** Row ``i`` of the original's ``trigram_to_vocab`` table holds, for slot
``s = 0..m-1``, ``int(md5(f"{i}_{s}_{j}").hexdigest(), 16) % v`` with the first ``j = 0, 1, …``
whose id is not yet in the row; the row is sorted. (The paper's Alg. 2 hashes
``f"{trigram}_{s}"`` instead.) With ``k > 0`` lowercase slots, every trigram of ASCII letters
and spaces with at least one capital gets the last ``k`` entries of its lowercase trigram's
sorted row in place of its own last ``k`` (the paper says the *first* ``k`` hashes use the
lowercased trigram). Such a row is then no longer sorted and may repeat an id; both are kept,
as the original's embedding sums repeated ids twice. Words containing ``<|`` (all words with
``entire_words``) skip trigrams: their one row is ``md5(f"{word}_{s}") % v`` for
``s < m - k`` followed by ``md5(f"{word.lower()}_lower_{s}") % v`` for ``s < k``, neither
deduplicated nor sorted.

The original fills all 16,777,216 rows in a Python loop (about 1.3 GB for ``m = 10``) and caches
them as a ``.pt``; :class:`TrigramHasher` computes only the rows asked for, in batches, keeps
them in memory and saves/loads them as ``.npz``. Not reproduced: the ``orthogonal`` table, the
``lowercase`` option (lower the text first) and the ``strip`` the training path applies to text
(strip it first), and ``word_edge_weight`` (every released config uses 1).

A T-Free tokenizer is just its settings: :func:`save_settings` writes them as a small JSON file,
the counterpart of a ``tokenizer.json`` whose SHA-256 word arrays record
(:mod:`toklab.datasets.tfree_words`), and :func:`load_settings` makes a hasher from it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numba
import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_path, read_json, write_json
from toklab.sorting import distinct
from toklab.tokenizers.tfree_md5 import MD5_MAX_SLOTS, md5_rows
from toklab.tokenizers.tfree_trigrams import (
    TRIGRAM_COUNT,
    check_text,
    is_whole_word,
    trigram_ids,
    word_trigrams,
)

__all__ = [
    "LINEBREAK_TOKEN",
    "NO_WHITESPACE_TOKEN",
    "SETTINGS_FORMAT",
    "WHITESPACE_TOKEN",
    "TrigramHasher",
    "hasher_settings",
    "join_words",
    "load_settings",
    "save_settings",
    "split_words",
]

WHITESPACE_TOKEN = "<|ws|>"
NO_WHITESPACE_TOKEN = "<|no_ws|>"
LINEBREAK_TOKEN = "<|\n|>"
_FOLD = {WHITESPACE_TOKEN: "<-ws->", LINEBREAK_TOKEN: "<-\n->"}
_FOLD_TEXT = {WHITESPACE_TOKEN: " ", LINEBREAK_TOKEN: "\n"}
_DIGITS = frozenset("0123456789")
_NO_SPACE_AFTER = frozenset("#$=-+*/'\"\\(<[]~^&@%_\n ")
_NO_SPACE_BEFORE = frozenset(".,:;?!=-+*/'\"\\)>]~^&@%_\n ") | _DIGITS

_SPECIAL = re.compile(r"(<\|.*?\|>)")
# the items re.split(r"(\d|\W|\_)") yields (empty strings dropped): a run of the word characters
# that are neither digits nor "_", or any other single character (a digit, "_" or non-word)
_ITEM = re.compile(r"[^\W\d_]+|.", re.DOTALL)

FORMAT = "toklab-tfree-rows-v1"
#: The ``format`` of a T-Free settings file (:func:`save_settings`).
SETTINGS_FORMAT = "toklab-tfree-v1"
_SETTINGS_KEYS = ("v", "m", "k", "entire_words")


def _is_special(word: str) -> bool:
    return word.startswith("<|") and word.endswith("|>")


# ---------------------------------------------------------------------------------------------
# Words


def _fold(out: list[str], token: str, count: int) -> None:
    """Append a run of ``count`` whitespace or linebreak markers, folded as the original does."""
    if count == 1:
        out.append(token)
        return
    fold = _FOLD[token]
    pairs, odd = divmod(count, 2)
    while pairs > 2:  # "limiting to 4": never 6 or 8
        out.append(f"<|4{fold}|>")
        pairs -= 2
    if pairs:
        out.append(f"<|{2 * pairs}{fold}|>")
    if odd:
        out.append(token)


def _split_span(items: list[str], out: list[str]) -> None:
    """Words of one span between special tokens (its items from ``_ITEM``), appended to ``out``."""
    last = len(items) - 1
    previous = ""  # the item before (not the emitted word)
    run_token = ""
    run = 0
    for i, item in enumerate(items):
        if item == " ":
            if (
                0 < i < last
                and previous[-1] not in _NO_SPACE_AFTER
                and items[i + 1][0] not in _NO_SPACE_BEFORE
            ):
                previous = item
                continue  # the expected space between two items
            token = WHITESPACE_TOKEN
        else:
            if (
                previous
                and previous != " "
                and previous[-1] not in _NO_SPACE_AFTER
                and item[0] not in _NO_SPACE_BEFORE
            ):
                if run:
                    _fold(out, run_token, run)
                    run = 0
                out.append(NO_WHITESPACE_TOKEN)
            token = LINEBREAK_TOKEN if item == "\n" else item
        previous = item
        if run and token == run_token:
            run += 1
            continue
        if run:
            _fold(out, run_token, run)
            run = 0
        if token in (WHITESPACE_TOKEN, LINEBREAK_TOKEN):
            run_token, run = token, 1
        else:
            out.append(token)
    if run:
        _fold(out, run_token, run)


def split_words(text: str) -> list[str]:
    """The words of ``text`` as the original's ``text_to_words`` splits it (see the module doc).

    >>> split_words("In 2024")
    ['In', '<|ws|>', '2', '0', '2', '4']

    A :class:`~toklab.errors.DataError` for text with NUL characters or lone surrogates.
    """
    check_text(text)
    words: list[str] = []
    for span in _SPECIAL.split(text):
        if _is_special(span):
            words.append(span)
        elif span:
            _split_span(_ITEM.findall(span), words)
    return words


def join_words(words: Sequence[str]) -> str:
    """The text of ``words``: the inverse of :func:`split_words` (the original's ``words_to_text``).

    Expected spaces are put back between words, markers turned back into spaces, newlines or
    nothing. An empty word is a :class:`~toklab.errors.DataError` (the original crashed).
    """
    out: list[str] = []
    append = out.append
    previous = ""  # the last word, as a marker when it was whitespace; "" before the first
    for word in words:
        if not isinstance(word, str) or not word:
            raise DataError(f"words must be non-empty strings, got {word!r}")
        special = _is_special(word)
        if special and word[2] in _DIGITS and ("<-ws->" in word or "<-\n->" in word):
            end = 3
            while word[end] in _DIGITS:
                end += 1
            marker = WHITESPACE_TOKEN if "<-ws->" in word else LINEBREAK_TOKEN
            count = int(word[2:end])
            if count:  # a run of markers: never a space inside or next to it
                append(_FOLD_TEXT[marker] * count)
                previous = marker
            continue
        if (
            previous
            and not special
            and previous[-1] not in _NO_SPACE_AFTER
            and word[0] not in _NO_SPACE_BEFORE
            and not _is_special(previous)
        ):
            append(" ")
        if special:
            if word == WHITESPACE_TOKEN:
                append(" ")
            elif word == LINEBREAK_TOKEN:
                append("\n")
            elif word != NO_WHITESPACE_TOKEN:
                append(word)
        else:
            append(word)
        previous = word
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Hashing


def _md5_mod(data: bytes, v: int) -> int:
    return int.from_bytes(hashlib.md5(data).digest(), "big") % v


# The cache's index: each block of _BLOCK consecutive trigram ids that has a cached row gets an
# int32 slot per id. A text's trigrams fill few blocks (a dense index of all 2^24 ids would
# cost a page fault per 1024 ids the first time, more than hashing their rows).
_BLOCK_BITS = 6
_BLOCK = 1 << _BLOCK_BITS


@numba.njit(cache=True)
def _read_slots(block_of: np.ndarray, blocks: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The index's slot of each id (0: none)."""
    out = np.empty(len(ids), dtype=np.int32)
    for j in range(len(ids)):
        out[j] = blocks[block_of[ids[j] >> _BLOCK_BITS], ids[j] & (_BLOCK - 1)]
    return out


@numba.njit(cache=True)
def _number_blocks(block_of: np.ndarray, ids: np.ndarray, count: int) -> int:
    """Number the blocks of ``ids`` that have none yet from ``count`` on; the new count."""
    for j in range(len(ids)):
        block = ids[j] >> _BLOCK_BITS
        if block_of[block] == 0:
            block_of[block] = count
            count += 1
    return count


@numba.njit(cache=True)
def _write_slots(block_of: np.ndarray, blocks: np.ndarray, ids: np.ndarray, slots) -> None:
    """Set the index's slot of each id (its block numbered already)."""
    for j in range(len(ids)):
        blocks[block_of[ids[j] >> _BLOCK_BITS], ids[j] & (_BLOCK - 1)] = slots[j]


def _check_int(value: object, what: str, low: int) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ConfigError(f"{what} must be an integer >= {low}, got {value!r}")
    return int(value)


class TrigramHasher:
    """Trigram and whole-word rows of ``m`` ids out of ``v``, exactly as the original hashes them.

    ``k`` is the original's ``vocab_population_partial_lowercase`` and ``entire_words`` its
    option of the same name. Rows are computed on first use and kept (see :meth:`save`): ``8·m``
    bytes per row, 256 bytes of index per block of 64 ids with a row, and 1 MiB of block index.
    """

    def __init__(self, v: int, m: int, k: int = 0, entire_words: bool = False) -> None:
        self.v = _check_int(v, "v (the vocabulary size)", 1)
        if self.v >= 1 << 31:
            raise ConfigError(f"v (the vocabulary size) must be < 2^31, got {self.v}")
        self.m = _check_int(m, "m (ids per trigram)", 1)
        self.k = _check_int(k, "k (lowercase slots)", 0)
        if self.m > self.v:
            raise ConfigError(f"m (ids per trigram) must be <= v, got m={self.m} > v={self.v}")
        if self.k > self.m:
            raise ConfigError(f"k (lowercase slots) must be <= m, got k={self.k} > m={self.m}")
        if not isinstance(entire_words, bool):
            raise ConfigError(f"entire_words must be a bool, got {entire_words!r}")
        self.entire_words = entire_words
        # each trigram id's row in _rows + 1, or 0, in blocks of _BLOCK ids: block 0 stays zeros
        # (no id of it cached); _block_of (one int32 per block of ids) is allocated on first use
        self._block_of: np.ndarray | None = None
        self._blocks = np.zeros((1, _BLOCK), dtype=np.int32)
        self._block_count = 1
        self._rows = np.empty((0, self.m), dtype=np.int64)
        self._count = 0
        self._words: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        return (
            f"TrigramHasher(v={self.v}, m={self.m}, k={self.k}, "
            f"entire_words={self.entire_words}; {self._count} rows cached)"
        )

    @property
    def cached(self) -> int:
        """How many trigram rows are computed and kept."""
        return self._count

    # rows ------------------------------------------------------------------------------------

    def _hash_rows(self, ids: np.ndarray) -> np.ndarray:
        """Sorted rows of the original's table before lowercase sharing."""
        v, m = self.v, self.m
        if m <= MD5_MAX_SLOTS:
            rows, unfinished = md5_rows(ids.astype(np.int64, copy=False), m, v)
        else:  # slots too long for the compiled block (m > 10,000 is never a useful setting)
            rows = np.empty((len(ids), m), dtype=np.int64)
            unfinished = np.ones(len(ids), dtype=bool)
        # rows whose retries outgrow the compiled block: slot by slot with hashlib, as the original
        for r in np.flatnonzero(unfinished).tolist():
            i = int(ids[r])
            seen: set[int] = set()
            for s in range(m):
                value, j = _md5_mod(b"%d_%d_0" % (i, s), v), 0
                while value in seen:
                    j += 1
                    value = _md5_mod(b"%d_%d_%d" % (i, s, j), v)
                seen.add(value)
            rows[r] = sorted(seen)
        return rows

    def _store(self, ids: np.ndarray, rows: np.ndarray) -> None:
        if not self._count:  # the first rows: no copy
            self._rows, self._count = rows, len(ids)
            self._set_slots(ids, np.arange(1, len(ids) + 1, dtype=np.int32))
            return
        need = self._count + len(ids)
        if need > len(self._rows):
            grown = np.empty((max(need, 2 * len(self._rows), 1024), self.m), dtype=np.int64)
            grown[: self._count] = self._rows[: self._count]
            self._rows = grown
        self._rows[self._count : need] = rows
        self._set_slots(ids, np.arange(self._count + 1, need + 1, dtype=np.int32))
        self._count = need

    def _slots(self, ids: np.ndarray) -> np.ndarray:
        """Each id's row in ``_rows`` + 1, or 0 where it has none."""
        if self._block_of is None:
            return np.zeros(len(ids), dtype=np.int32)
        return _read_slots(self._block_of, self._blocks, ids)

    def _set_slots(self, ids: np.ndarray, slots: np.ndarray) -> None:
        """Set the slots of ``ids``, giving their blocks of ids index blocks where they lack one."""
        if self._block_of is None:
            self._block_of = np.zeros(TRIGRAM_COUNT >> _BLOCK_BITS, dtype=np.int32)
        need = _number_blocks(self._block_of, ids, self._block_count)
        if need > len(self._blocks):
            grown = np.zeros((max(need, 2 * len(self._blocks)), _BLOCK), dtype=np.int32)
            grown[: self._block_count] = self._blocks[: self._block_count]
            self._blocks = grown
        self._block_count = need
        _write_slots(self._block_of, self._blocks, ids, slots)

    def _shared(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which ids share lowercase slots (ASCII letters and spaces, a capital) and their lowercase."""
        b = [ids & 255, (ids >> 8) & 255, ids >> 16]
        upper = [(x >= 65) & (x <= 90) for x in b]
        letters = [u | ((x >= 97) & (x <= 122)) | (x == 32) for u, x in zip(upper, b, strict=True)]
        shared = (upper[0] | upper[1] | upper[2]) & letters[0] & letters[1] & letters[2]
        capitals = (upper[0] << 5) | (upper[1] << 13) | (upper[2] << 21)
        return shared, ids[shared] | capitals[shared]

    def _fill(self, ids: np.ndarray) -> None:
        """Compute and keep the rows of the unique ``ids`` not cached yet."""
        ids = ids[self._slots(ids) == 0]
        if not len(ids):
            return
        if self.k:
            shared, lower = self._shared(ids)
            if len(lower):
                self._fill(distinct(lower))  # lowercase trigrams: never shared themselves
                # drop lowercase trigrams asked for too (now cached); no shared one is dropped
                keep = self._slots(ids) == 0
                ids, shared = ids[keep], shared[keep]
                rows = self._hash_rows(ids)
                rows[shared, self.m - self.k :] = self._rows[
                    self._slots(lower) - 1, self.m - self.k :
                ]
                self._store(ids, rows)
                return
        self._store(ids, self._hash_rows(ids))

    def rows(self, trigram_ids: np.ndarray) -> np.ndarray:
        """The ``m`` vocabulary ids of each trigram id: shape ``trigram_ids.shape + (m,)``."""
        ids = np.asarray(trigram_ids)
        if ids.size and not np.issubdtype(ids.dtype, np.integer):
            raise DataError(f"trigram ids must be integers, got dtype {ids.dtype}")
        flat = ids.reshape(-1).astype(np.int64, copy=False)
        if not flat.size:
            return np.empty((*ids.shape, self.m), dtype=np.int64)
        low, high = flat.min(), flat.max()
        if low < 0 or high >= TRIGRAM_COUNT:
            raise DataError(f"trigram ids must be in [0, {TRIGRAM_COUNT}), got {low}..{high}")
        slots = self._slots(flat)
        missing = slots == 0
        if missing.any():
            self._fill(distinct(flat[missing]))
            slots = self._slots(flat)
        return np.take(self._rows, slots - 1, axis=0).reshape(*ids.shape, self.m)  # 3x [] here

    def word_hash_row(self, word: str) -> np.ndarray:
        """The ``m`` ids of a word hashed whole (special tokens, or all words with entire_words)."""
        row = self._words.get(word)
        if row is None:
            check_text(word, "word")
            v, lower = self.v, word.lower()
            row = np.array(
                [_md5_mod(f"{word}_{s}".encode(), v) for s in range(self.m - self.k)]
                + [_md5_mod(f"{lower}_lower_{s}".encode(), v) for s in range(self.k)],
                dtype=np.int64,
            )
            row.flags.writeable = False
            self._words[word] = row
        return row.copy()

    def word_rows(self, word: str) -> np.ndarray:
        """The rows a word is embedded from, ``(trigrams, m)``: one per sorted trigram, or one row.

        The word's embedding is the sum of the embeddings of all these ids, repeats included.
        """
        if is_whole_word(word, self.entire_words):
            return self.word_hash_row(word)[None, :]
        return self.rows(word_trigrams(word))

    def words_rows(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`word_rows` of many words: ``rows[offsets[w]:offsets[w+1]]`` are word ``w``'s."""
        whole = [is_whole_word(word, self.entire_words) for word in words]
        ids, offsets = trigram_ids(
            ["" if w else word for word, w in zip(words, whole, strict=True)]
        )
        counts = np.diff(offsets)
        counts[np.asarray(whole, dtype=bool)] = 1
        new_offsets = np.zeros(len(words) + 1, dtype=np.int64)
        np.cumsum(counts, out=new_offsets[1:])
        out = np.empty((int(new_offsets[-1]), self.m), dtype=np.int64)
        trigram_rows = self.rows(ids)
        keep = np.ones(len(out), dtype=bool)
        for w in np.flatnonzero(whole).tolist():
            out[new_offsets[w]] = self.word_hash_row(words[w])
            keep[new_offsets[w]] = False
        out[keep] = trigram_rows
        return out, new_offsets

    def encode_word(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """The word's multi-label target: sorted active ids and how many of its trigrams hit each.

        As a row of the original's ``encode_training_trigram`` targets: every trigram (or the
        whole-word row) adds 1 to each distinct id of its row, so a repeat inside a row counts
        once. The loss binarises the counts.
        """
        rows = np.sort(self.word_rows(word), axis=1)
        first = np.ones(rows.shape, dtype=bool)
        first[:, 1:] = rows[:, 1:] != rows[:, :-1]
        ids, counts = np.unique(rows[first], return_counts=True)
        return ids, counts.astype(np.int64)

    # cache files -----------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the computed trigram rows and the settings as an ``.npz`` (atomically)."""
        if self._block_of is None:
            ids = np.empty(0, dtype=np.int64)
        else:  # ascending: blocks in id order, ids in order inside each
            used = np.flatnonzero(self._block_of)
            block, at = np.nonzero(self._blocks[self._block_of[used]])
            ids = (used[block] << _BLOCK_BITS) | at
        rows = self._rows[self._slots(ids) - 1] if len(ids) else np.empty((0, self.m), np.int64)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez(
                handle,
                format=np.array(FORMAT),
                settings=np.array([self.v, self.m, self.k, int(self.entire_words)], np.int64),
                trigram_ids=ids,
                rows=rows,
            )

    @classmethod
    def load(cls, path: str | Path) -> TrigramHasher:
        """A hasher with the settings and rows of a file written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise DataError(f"{path}: T-Free row cache not found")
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["format"]) != FORMAT:
                    raise DataError(f"{path}: not a T-Free row cache ({data['format']})")
                v, m, k, entire = (int(x) for x in data["settings"])
                ids = data["trigram_ids"].astype(np.int64)
                rows = data["rows"].astype(np.int64)
        except DataError:
            raise
        except Exception as err:
            raise DataError(
                f"{path}: corrupt T-Free row cache ({type(err).__name__}: {err})"
            ) from None
        try:
            hasher = cls(v, m, k, bool(entire))
        except ConfigError as err:
            raise DataError(f"{path}: corrupt T-Free row cache ({err})") from None
        if (
            rows.shape != (len(ids), m)
            or (ids.size and (ids.min() < 0 or ids.max() >= TRIGRAM_COUNT))
            or np.any(np.diff(ids) <= 0)
            or (rows.size and (rows.min() < 0 or rows.max() >= v))
        ):
            raise DataError(f"{path}: corrupt T-Free row cache (shapes, ids or rows out of range)")
        if len(ids):
            hasher._store(ids, rows)
        return hasher


# ---------------------------------------------------------------------------------------------
# Settings files: what a T-Free "tokenizer file" is


def hasher_settings(hasher: TrigramHasher) -> dict[str, int | bool]:
    """``{"v", "m", "k", "entire_words"}`` of ``hasher``."""
    return {"v": hasher.v, "m": hasher.m, "k": hasher.k, "entire_words": hasher.entire_words}


def save_settings(hasher: TrigramHasher, path: str | Path) -> None:
    """Write the hasher's settings as a small JSON file (atomically, stable bytes).

    ``{"format": "toklab-tfree-v1", "v": ..., "m": ..., "k": ..., "entire_words": ...}``: the
    T-Free counterpart of a ``tokenizer.json`` (its SHA-256 ties word arrays to it). The cached
    rows are not part of it (see :meth:`TrigramHasher.save`).
    """
    write_json(path, {"format": SETTINGS_FORMAT, **hasher_settings(hasher)})


def load_settings(path: str | Path) -> TrigramHasher:
    """A fresh :class:`TrigramHasher` with the settings of a file written by :func:`save_settings`.

    A :class:`~toklab.errors.DataError` naming the file when it is missing, not JSON, of another
    format, lacks a setting or has unknown keys, or holds values the hasher rejects.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: T-Free settings file not found")
    try:
        data = read_json(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a T-Free settings file (not JSON: {err})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: not a T-Free settings file (a JSON {type(data).__name__})")
    if data.get("format") != SETTINGS_FORMAT:
        raise DataError(f"{path}: not a T-Free settings file (format {data.get('format')!r})")
    missing = [key for key in _SETTINGS_KEYS if key not in data]
    extra = sorted(set(data) - {"format", *_SETTINGS_KEYS})
    if missing or extra:
        raise DataError(f"{path}: bad T-Free settings file (missing {missing}, unknown {extra})")
    try:
        return TrigramHasher(*(data[key] for key in _SETTINGS_KEYS))
    except ConfigError as err:
        raise DataError(f"{path}: bad T-Free settings file ({err})") from None
