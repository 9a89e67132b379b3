"""LangGame (Sims et al., 2025): multiple-choice questions about how words are spelled.

**Questions.** Each question is one of six kinds, drawn uniformly, and lists four words of a word
pool (the original used a list of the 1000 most frequent English words): the answer and three
distractors, in random order.

- ``most_letter``: which word has the most of a letter ``x`` (a-z): the answer has ``x`` at
  least twice, each distractor at most once.
- ``contains`` / ``starts_with`` / ``ends_with``: which word contains, starts with or ends with
  ``s``, a piece of 1-3 characters of the answer (its length uniform in ``1..min(3, len)``, then
  for ``contains`` its position uniform); no distractor contains / starts with / ends with it.
- ``longest``: the answer has at least 7 characters, each distractor at most 4.
- ``shortest``: the answer has at most 3 characters, each distractor at least 6.

Distractors are uniform among the pool words that qualify, and so are answers (for the piece
kinds the answer is drawn first and the piece from it); the four words are listed in a uniformly
random order. So exactly one option is correct.

**Rendering.** The stem opens with one of ``Which <option>``, ``What <option>`` or ``Which of
<the> <options>``, continued by the kind's ending (``has the most letter 'x's?``, ``contains
'x'?``, ``starts with 'x'?``, ``ends with 'x'?``, ``is the longest?``, ``is the shortest?``). The
list reads ``<The> <options>: [ w1, w2, w3, w4].``, with ``are:`` or ``These are <the>
<options>:`` instead of the bare colon. ``<option>``, ``<options>`` and ``<the>`` are synonyms
drawn per question (:data:`OPTION_NOUNS`, :data:`OPTIONS_NOUNS`, :data:`ARTICLES`), the same in
stem and list; the first letter of each part is capitalised. Stem and list come in random order,
joined by a space, and the prompt ends with ``" Answer:"``; the model is to produce
``" " + answer``. For example: ``The option strings: [ get, flat, paint, stretch]. What string
starts with 'f'? Answer:`` and `` flat``.

**Differences from the original** (``dataset_preprocessing/make_langgame_dataset.py`` of
``anyasims/stochastok``), which has the same templates, synonyms and rendering:

- Questions are seeded (one ``random.Random(seed)``); the original drew from unseeded global
  generators.
- The original retried a kind up to 100 times when its draw (the letter, or the word and its
  piece) left fewer than three distractors, then gave up on that question and drew a new kind.
  Here the draw is made directly among the letters, or word-piece pairs, that leave enough
  distractors, with the probabilities the original's retries give when they succeed; a pool that
  cannot serve some kind at all is a :class:`~toklab.errors.ConfigError` before anything is drawn.
- The pool is deduplicated (first occurrence kept), so no option is listed twice.
- :attr:`Question.options` holds the words in the order the prompt lists them, without the leading
  space; the original stored them answer first, each with a leading space.
- :func:`encode_examples` ends every example with EOS and the loss covers it; the original's
  examples were the question and answer tokens alone (right-padded with EOT, which the loss mask
  left out).
- Kept as in the original: the empty synonym of ``<option>`` leaves two spaces in the stem
  (``Which  is the longest?``); the original's two unused list templates (``<the> <options>
  were:``, ``Repeat <the> <options>:``) are unused here too.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toklab.errors import ConfigError, DataError
from toklab.io import atomic_write

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The six kinds of question, drawn uniformly.
KINDS = ("most_letter", "contains", "starts_with", "ends_with", "longest", "shortest")
NUM_OPTIONS = 4
NUM_DISTRACTORS = NUM_OPTIONS - 1
#: The longest piece a ``contains``/``starts_with``/``ends_with`` question asks about.
MAX_PIECE = 3
LETTERS = "abcdefghijklmnopqrstuvwxyz"
LETTER_MIN, LETTER_DISTRACTOR_MAX = 2, 1
LONGEST_MIN, LONGEST_DISTRACTOR_MAX = 7, 4
SHORTEST_MAX, SHORTEST_DISTRACTOR_MIN = 3, 6

# Templates: ``{option}``, ``{options}`` and ``{the}`` take a synonym drawn per question.
#: Synonyms of "options", used in the stem and the list.
OPTIONS_NOUNS = ("options", "choices", "option words", "option strings")
#: Synonyms of "option" (the empty one too), used in the stem.
OPTION_NOUNS = ("word", "", "string", "option", "choice", "option word", "option string")
#: Synonyms of "the".
ARTICLES = ("the", "the possible", "the available")
#: How a stem opens.
STEM_OPENINGS = ("Which {option}", "What {option}", "Which of {the} {options}")
#: How the list of options is introduced (followed by `` [ w1, w2, w3, w4].``).
LIST_INTRODUCTIONS = ("{the} {options}:", "{the} {options} are:", "These are {the} {options}:")
#: How a stem ends, per kind; ``{aux}`` is the letter or the piece.
STEM_ENDINGS = {
    "most_letter": "has the most letter '{aux}'s?",
    "contains": "contains '{aux}'?",
    "starts_with": "starts with '{aux}'?",
    "ends_with": "ends with '{aux}'?",
    "longest": "is the longest?",
    "shortest": "is the shortest?",
}
ANSWER_CUE = " Answer:"

_LETTER_RUN = re.compile(r"[^\W\d_]+")
_JSON_KEYS = ("prompt", "options", "answer", "kind")
_ENCODE_CHUNK = 10_000


def word_pool(texts: Iterable[str], size: int = 1000) -> list[str]:
    """The ``size`` most frequent words of ``texts``, most frequent first.

    Texts are split into runs of letters and lowercased; only words made of a-z alone are kept.
    Ties are broken alphabetically. Fewer than ``size`` words come back when the texts have
    fewer distinct ones; none at all is a :class:`~toklab.errors.DataError`. A single string is
    taken as one text.
    """
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ConfigError(f"word_pool size must be a positive integer, got {size!r}")
    if isinstance(texts, str):
        texts = [texts]
    counts: Counter[str] = Counter()
    for text in texts:
        lowered = (run.lower() for run in _LETTER_RUN.findall(text))
        counts.update(word for word in lowered if word.isascii() and word.isalpha())
    if not counts:
        raise DataError("word_pool: the texts contain no words of letters a-z")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [word for word, _ in ranked[:size]]


def read_word_list(path: str | Path) -> list[str]:
    """The words of a file of one word per line; surrounding whitespace and blank lines dropped."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word list not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: word list is not UTF-8 ({err.reason})") from None
    words = []
    for number, line in enumerate(lines, start=1):
        word = line.strip()
        if word and len(word.split()) > 1:
            raise DataError(f"{path}:{number}: more than one word on a line: {word!r}")
        if word:
            words.append(word)
    if not words:
        raise DataError(f"{path}: word list is empty")
    return words


@dataclass(frozen=True)
class Question:
    """One LangGame question: the prompt, its options in listed order, the answer and the kind."""

    prompt: str
    options: tuple[str, ...]
    answer: str
    kind: str

    @property
    def completion(self) -> str:
        """The text the model is to produce after the prompt: a space and the answer."""
        return " " + self.answer


class _Pieces:
    """The ``contains``/``starts_with``/``ends_with`` draws: word-piece pairs and their weights.

    The original picks a word uniformly, a piece length uniformly in ``1..min(3, len)`` and (for
    ``contains``) a start uniformly, and retries when fewer than three pool words lack the piece.
    The pairs that leave enough distractors are listed with those probabilities (cumulated), so
    one uniform number draws a pair as the successful retries would.
    """

    def __init__(self, words: list[str], kind: str) -> None:
        self.words = words
        self.has: Callable[[str, str], bool] = {
            "contains": lambda word, piece: piece in word,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
        }[kind]
        pieces = [self._pieces(word, kind) for word in words]
        holders = Counter(piece for weights in pieces for piece in weights)
        self.pairs: list[tuple[str, str]] = []
        self.cumulative: list[float] = []
        total = 0.0
        for word, weights in zip(words, pieces, strict=True):
            for piece, weight in weights.items():
                if len(words) - holders[piece] >= NUM_DISTRACTORS:
                    total += weight
                    self.pairs.append((word, piece))
                    self.cumulative.append(total)
        self._lacking: dict[str, list[str]] = {}

    @staticmethod
    def _pieces(word: str, kind: str) -> dict[str, float]:
        """The pieces of ``word`` a question may ask about, with their probabilities."""
        weights: dict[str, float] = {}
        longest = min(MAX_PIECE, len(word))
        for length in range(1, longest + 1):
            if kind == "contains":
                starts = range(len(word) - length + 1)
            elif kind == "starts_with":
                starts = range(1)
            else:
                starts = range(len(word) - length, len(word) - length + 1)
            for start in starts:
                piece = word[start : start + length]
                weights[piece] = weights.get(piece, 0.0) + 1.0 / (longest * len(starts))
        return weights

    def draw(self, rng: random.Random) -> tuple[str, str, list[str]]:
        """A piece, the word it comes from, and three words that lack it."""
        index = bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])
        word, piece = self.pairs[min(index, len(self.pairs) - 1)]
        lacking = self._lacking.get(piece)
        if lacking is None:
            lacking = self._lacking[piece] = [w for w in self.words if not self.has(w, piece)]
        return piece, word, rng.sample(lacking, NUM_DISTRACTORS)


class _Sampler:
    """What each kind of question draws from, for one word pool; a one-line error if it cannot."""

    def __init__(self, words: Sequence[str]) -> None:
        for word in words:
            if not isinstance(word, str) or not word or word != "".join(word.split()):
                raise ConfigError(
                    f"LangGame words must be non-empty strings without spaces, got {word!r}"
                )
        self.words = list(dict.fromkeys(words))
        size = len(self.words)
        if size < NUM_OPTIONS:
            raise ConfigError(
                f"LangGame needs a word pool of at least {NUM_OPTIONS} distinct words, got {size}"
            )
        self.letters: dict[str, tuple[list[str], list[str]]] = {}
        for letter in LETTERS:
            correct = [w for w in self.words if w.count(letter) >= LETTER_MIN]
            others = [w for w in self.words if w.count(letter) <= LETTER_DISTRACTOR_MAX]
            if correct and len(others) >= NUM_DISTRACTORS:
                self.letters[letter] = (correct, others)
        self.letter_keys = list(self.letters)
        self.longest = (
            [w for w in self.words if len(w) >= LONGEST_MIN],
            [w for w in self.words if len(w) <= LONGEST_DISTRACTOR_MAX],
        )
        self.shortest = (
            [w for w in self.words if len(w) <= SHORTEST_MAX],
            [w for w in self.words if len(w) >= SHORTEST_DISTRACTOR_MIN],
        )
        self.pieces = {
            kind: _Pieces(self.words, kind) for kind in ("contains", "starts_with", "ends_with")
        }
        missing = []
        if not self.letter_keys:
            missing.append(
                f"most_letter needs a letter a-z that some word has at least {LETTER_MIN} times "
                f"and {NUM_DISTRACTORS} words at most {LETTER_DISTRACTOR_MAX} time, "
                "the pool has none"
            )
        for kind, name in (
            ("contains", "substring"),
            ("starts_with", "prefix"),
            ("ends_with", "suffix"),
        ):
            if not self.pieces[kind].pairs:
                missing.append(
                    f"{kind} needs a 1-{MAX_PIECE} character {name} of some word that "
                    f"{NUM_DISTRACTORS} other words lack, the pool has none"
                )
        for kind, (correct, others), correct_rule, other_rule in (
            (
                "longest",
                self.longest,
                f"at least {LONGEST_MIN}",
                f"at most {LONGEST_DISTRACTOR_MAX}",
            ),
            (
                "shortest",
                self.shortest,
                f"at most {SHORTEST_MAX}",
                f"at least {SHORTEST_DISTRACTOR_MIN}",
            ),
        ):
            if not correct or len(others) < NUM_DISTRACTORS:
                missing.append(
                    f"{kind} needs a word of {correct_rule} characters and {NUM_DISTRACTORS} of "
                    f"{other_rule}, the pool has {len(correct)} and {len(others)}"
                )
        if missing:
            raise ConfigError(
                f"LangGame word pool of {size} words is too small: {'; '.join(missing)}"
            )

    def draw(self, kind: str, rng: random.Random) -> tuple[str | None, str, list[str]]:
        """The letter or piece (or None), the answer, and three distractors of one question."""
        if kind == "most_letter":
            letter = self.letter_keys[rng.randrange(len(self.letter_keys))]
            correct, others = self.letters[letter]
            return letter, rng.choice(correct), rng.sample(others, NUM_DISTRACTORS)
        if kind in self.pieces:
            return self.pieces[kind].draw(rng)
        correct, others = self.longest if kind == "longest" else self.shortest
        return None, rng.choice(correct), rng.sample(others, NUM_DISTRACTORS)


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _render_prompt(kind: str, aux: str | None, options: Sequence[str], rng: random.Random) -> str:
    """The prompt listing ``options`` in their order; synonyms and part order drawn from ``rng``."""
    fill = {
        "options": rng.choice(OPTIONS_NOUNS),
        "option": rng.choice(OPTION_NOUNS),
        "the": rng.choice(ARTICLES),
    }
    opening = _capitalize(rng.choice(STEM_OPENINGS).format(**fill))
    stem = f"{opening} {STEM_ENDINGS[kind].format(aux=aux)}"
    listing = (
        f"{_capitalize(rng.choice(LIST_INTRODUCTIONS).format(**fill))} [ {', '.join(options)}]."
    )
    parts = (stem, listing) if rng.random() < 0.5 else (listing, stem)
    return " ".join(parts) + ANSWER_CUE


def _check_count(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def generate_questions(words: Sequence[str], n: int, seed: int) -> list[Question]:
    """``n`` LangGame questions from the pool ``words``, the same for the same seed.

    Before anything is drawn, the pool is checked to serve every kind of question; a pool that
    cannot (no word of 7 characters, fewer than three distractors, ...) is a one-line
    :class:`~toklab.errors.ConfigError` that names the kinds and what they miss.
    """
    _check_count(n, "the number of LangGame questions")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"the LangGame seed must be an integer, got {seed!r}")
    sampler = _Sampler(words)
    rng = random.Random(seed)
    questions = []
    for _ in range(n):
        kind = KINDS[rng.randrange(len(KINDS))]
        aux, answer, distractors = sampler.draw(kind, rng)
        # the distractors come in random order: a random rotation makes the order uniform
        options = [answer, *distractors]
        turn = rng.randrange(NUM_OPTIONS)
        options = options[turn:] + options[:turn]
        prompt = _render_prompt(kind, aux, options, rng)
        questions.append(Question(prompt, tuple(options), answer, kind))
    return questions


def write_jsonl(path: str | Path, questions: Iterable[Question]) -> None:
    """Write questions as JSON lines (``prompt``, ``options``, ``answer``, ``kind``), atomically."""
    with atomic_write(path, "w") as handle:
        for question in questions:
            record = {
                "prompt": question.prompt,
                "options": list(question.options),
                "answer": question.answer,
                "kind": question.kind,
            }
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path: str | Path) -> list[Question]:
    """Read the questions of a file written by :func:`write_jsonl`, checking every line."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: LangGame questions not found")
    questions = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{where}: not JSON ({err.msg})") from None
            if not isinstance(record, dict) or sorted(record) != sorted(_JSON_KEYS):
                raise DataError(f"{where}: expected an object with keys {', '.join(_JSON_KEYS)}")
            prompt, options, answer, kind = (record[key] for key in _JSON_KEYS)
            if (
                not isinstance(prompt, str)
                or not isinstance(answer, str)
                or not isinstance(options, list)
                or not all(isinstance(option, str) for option in options)
            ):
                raise DataError(
                    f"{where}: prompt and answer must be strings, options a list of strings"
                )
            if kind not in KINDS:
                raise DataError(f"{where}: unknown question kind {kind!r}")
            if answer not in options:
                raise DataError(f"{where}: answer {answer!r} is not among the options")
            questions.append(Question(prompt, tuple(options), answer, kind))
    return questions


def encode_examples(
    tokenizer: Tokenizer, questions: Sequence[Question], eos_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fine-tuning examples: flat tokens, example offsets, and where each answer begins.

    Example ``i`` is ``tokens[offsets[i]:offsets[i + 1]]``: the ids of the prompt, then of
    ``" " + answer`` (encoded on their own, no special tokens added), then ``eos_id``.
    ``answer_start[i]`` is the index within the example where the answer's ids begin; the loss
    covers the answer and the EOS, ``tokens[offsets[i] + answer_start[i]:offsets[i + 1]]``. All
    three arrays are int64, ``offsets`` has ``len(questions) + 1`` entries.
    """
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    if (
        not isinstance(eos_id, int | np.integer)
        or isinstance(eos_id, bool)
        or not 0 <= int(eos_id) < vocab_size
    ):
        raise ConfigError(f"eos_id must be a token id in [0, {vocab_size}), got {eos_id!r}")
    eos = int(eos_id)
    questions = list(questions)
    chunks: list[np.ndarray] = []
    prompt_lengths = np.zeros(len(questions), dtype=np.int64)
    lengths = np.zeros(len(questions), dtype=np.int64)
    for first in range(0, len(questions), _ENCODE_CHUNK):
        batch = questions[first : first + _ENCODE_CHUNK]
        prompts = [
            e.ids
            for e in tokenizer.encode_batch([q.prompt for q in batch], add_special_tokens=False)
        ]
        answers = [
            e.ids
            for e in tokenizer.encode_batch([q.completion for q in batch], add_special_tokens=False)
        ]
        for question, answer in zip(batch, answers, strict=True):
            if not answer:
                raise DataError(f"the answer {question.completion!r} encodes to no tokens")
        stop = first + len(batch)
        prompt_lengths[first:stop] = [len(ids) for ids in prompts]
        lengths[first:stop] = prompt_lengths[first:stop] + [len(ids) + 1 for ids in answers]
        flat = itertools.chain.from_iterable(
            itertools.chain(p, a, (eos,)) for p, a in zip(prompts, answers, strict=True)
        )
        chunks.append(np.fromiter(flat, dtype=np.int64, count=int(lengths[first:stop].sum())))
    offsets = np.zeros(len(questions) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    return tokens, offsets, prompt_lengths
