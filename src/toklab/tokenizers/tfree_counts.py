r"""T-Free word count files: the counts a decoding dictionary is cut from.

Counts are ``{word: count}`` in a meaningful order (the file's, or a dictionary's). Three
formats are read (:func:`read_word_counts`, told apart by the file's name or a pickle header):
a JSON object, the original's pickled ``collections.Counter`` (``top_word_dict``), unpickled
with only that class allowed so that a crafted file cannot run anything, and a UTF-8 TSV of
``word<TAB>count`` lines, the one format written (:func:`write_word_counts`, with backslash
escapes that keep every word on its line). :func:`check_counts` is the check every set of
counts passes, those of :class:`~toklab.tokenizers.tfree_dictionary.WordDictionary` included.
"""

from __future__ import annotations

import collections
import io
import json
import pickle
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from toklab.errors import DataError
from toklab.io import atomic_write

__all__ = ["check_counts", "read_word_counts", "write_word_counts"]

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_COUNT = re.compile(r"[0-9]+")
_PICKLE_SUFFIXES = frozenset({".pkl", ".pckl", ".pickle"})


def _escape(word: str) -> str:
    return word.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
_ESCAPE = re.compile(r"\\(.?)", re.DOTALL)


def _unescape(text: str) -> str:
    if "\\" not in text:
        return text

    def one(match: re.Match[str]) -> str:
        out = _UNESCAPES.get(match.group(1))
        if out is None:
            raise ValueError(f"bad escape {match.group()!a}")
        return out

    return _ESCAPE.sub(one, text)


def check_counts(items: Iterable[tuple[Any, Any]], where: str) -> dict[str, int]:
    """``(word, count)`` items as a dict, or a DataError (``where`` starts its message).

    Words must be non-empty strings without NUL characters or lone surrogates, each once, and
    counts integers >= 0; an empty ``items`` is an error too.
    """
    out: dict[str, int] = {}
    for word, count in items:
        if not isinstance(word, str) or not word:
            raise DataError(f"{where}: words must be non-empty strings, got {word!a}")
        bad = _BAD_TEXT.search(word)
        if bad is not None:
            raise DataError(f"{where}: word {word!a} contains {bad.group()!a}")
        if not isinstance(count, int | np.integer) or isinstance(count, bool) or count < 0:
            raise DataError(f"{where}: count of {word!a} must be an integer >= 0, got {count!a}")
        if word in out:
            raise DataError(f"{where}: word {word!a} appears twice")
        out[word] = int(count)
    if not out:
        raise DataError(f"{where}: no words")
    return out


class _CounterUnpickler(pickle.Unpickler):
    """Unpickles only ``collections.Counter`` and plain data: any other global is refused.

    A Counter pickles as ``Counter(dict)`` (its ``__reduce__``) for every protocol, so that one
    class is all a genuine word counter needs; refusing the rest means a crafted file cannot call
    anything (``os.system``, ``builtins.eval``, ...).
    """

    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file)
        self._path = path

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "Counter":
            return collections.Counter
        raise DataError(
            f"{self._path}: refusing to unpickle {module}.{name} "
            "(a word count pickle may only hold a collections.Counter)"
        )


def _read_pickle(path: Path, data: bytes) -> dict[str, int]:
    try:
        obj = _CounterUnpickler(io.BytesIO(data), path).load()
    except DataError:
        raise
    except Exception as err:  # any corrupt pickle: UnpicklingError, EOFError, ValueError, ...
        raise DataError(f"{path}: not a word count pickle ({type(err).__name__}: {err})") from None
    if not isinstance(obj, collections.Counter):
        raise DataError(f"{path}: not a word count pickle (a {type(obj).__name__}, not a Counter)")
    return check_counts(obj.items(), str(path))


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's items, duplicates kept (so that they can be refused)."""


def _read_json(path: Path, data: bytes) -> dict[str, int]:
    try:
        obj = json.loads(data, object_pairs_hook=_Pairs)
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"{path}: not a JSON word count object ({err})") from None
    if not isinstance(obj, _Pairs):
        raise DataError(f"{path}: not a JSON word count object (a JSON {type(obj).__name__})")
    # a nested object is a _Pairs count, not an int: refused like any other bad count
    return check_counts(obj, str(path))


def _read_tsv(path: Path, data: bytes) -> dict[str, int]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: word count TSV is not UTF-8 ({err})") from None
    if not text:
        raise DataError(f"{path}: no words (empty file)")
    # split on "\n" only: other line breaks (\r, \x85, \u2028, ...) are part of words
    lines = text.removesuffix("\n").split("\n")
    items: list[tuple[str, int]] = []
    for number, line in enumerate(lines, 1):
        escaped, tab, count = line.partition("\t")
        if not tab or not _COUNT.fullmatch(count):
            raise DataError(
                f"{path}: line {number} is not 'word<TAB>count' (a non-negative integer): "
                f"{line[:80]!a}"
            )
        try:
            word = _unescape(escaped)
        except ValueError as err:
            raise DataError(f"{path}: line {number}: {err} in word {escaped[:80]!a}") from None
        items.append((word, int(count)))
    return check_counts(items, f"{path}")


def read_word_counts(path: str | Path) -> dict[str, int]:
    r"""Word counts from a file, in the file's order.

    The format follows the name: ``.json`` is a JSON object ``{word: count}``; ``.pkl``,
    ``.pckl`` or ``.pickle`` (or content starting with a pickle protocol 2+ header) is a pickled
    ``collections.Counter`` (the original's ``top_word_dict``), unpickled with only that class
    allowed; anything else is a TSV as :func:`write_word_counts` writes it. Counts are integers
    >= 0, words non-empty and unique. A :class:`~toklab.errors.DataError` naming the file for a
    missing, empty or malformed file, and for a pickle that refers to anything but a Counter
    (it is refused before anything in it runs).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word count file not found")
    data = path.read_bytes()
    suffix = path.suffix.lower()
    if suffix == ".json":
        return _read_json(path, data)
    # b"\x80" never starts UTF-8 text, so a TSV is never mistaken for a pickle
    if suffix in _PICKLE_SUFFIXES or data[:1] == b"\x80":
        return _read_pickle(path, data)
    return _read_tsv(path, data)


def write_word_counts(counts: Mapping[str, int], path: str | Path) -> None:
    r"""Write word counts as a UTF-8 TSV, ``word<TAB>count`` per line, in ``counts``' order.

    Atomic (a temporary file renamed over ``path``). So that every word fits on its line,
    backslash, tab, newline and carriage return in words are written as ``\\``, ``\t``, ``\n``
    and ``\r`` (:func:`read_word_counts` undoes it); every other character is written as is.
    A :class:`~toklab.errors.DataError` for an empty word, one with a NUL or a lone surrogate,
    or a count that is not an integer >= 0.
    """
    checked = check_counts(counts.items(), f"{path}: word counts")
    lines = "".join(f"{_escape(word)}\t{count}\n" for word, count in checked.items())
    with atomic_write(path, "wb") as handle:
        handle.write(lines.encode("utf-8"))
