"""The offline demo corpus: seeded synthetic languages with real morphology.

Two languages are generated from a seed:

* ``agglutinative`` (Turkish-like): stems followed by chains of one-meaning suffixes in fixed
  slots (plural, possessive, case; causative, negation, tense, person), with front/back vowel
  harmony and a buffer consonant between vowels. Word order is subject-object-verb.
* ``fusional`` (Latin-like): stems followed by one portmanteau ending that fuses case and number
  (nouns, agreeing adjectives) or person, number and tense (verbs), in several inflection
  classes; strong verbs change their stem vowel in the past. Word order is subject-verb-object.

Stems are drawn with Zipf-Mandelbrot frequencies, each document has a few topic words,
sentences carry commas, quotes, names and numbers (written with each language's own decimal and
thousands separators), and documents have an optional title and several paragraphs.

Everything is a pure function of the seed: document ``i`` uses its own generator seeded with
``(seed, i)``, so documents can be produced in any order, and the gold morphological
segmentations (MorphScore's ``full_word, pt1, rest``) come from the same lexicon.

Python's :class:`random.Random` is used (only its ``random()`` method, whose sequence is fixed
across Python versions) because the generator makes millions of tiny scalar draws, where numpy's
per-call overhead would dominate.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import ClassVar

from toklab.data.document import Document

DEMO_LANGUAGES = ("agglutinative", "fusional")

ZIPF_EXPONENT = 1.07
ZIPF_SHIFT = 2.7


class Draw:
    """Scalar random draws built on ``random.Random.random`` only (stable across versions)."""

    def __init__(self, seed: str) -> None:
        self._random = random.Random(seed).random

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self._random() < p

    def integer(self, low: int, high: int) -> int:
        """A uniform integer in ``[low, high]``."""
        return low + int(self._random() * (high - low + 1))

    def pick(self, items: Sequence[str]) -> str:
        """A uniform element of ``items``."""
        return items[int(self._random() * len(items))]

    def weighted(self, items: Sequence[str], cumulative: Sequence[float]) -> str:
        """An element of ``items`` drawn with the given cumulative weights."""
        return items[bisect.bisect_right(cumulative, self._random() * cumulative[-1])]


def zipf_cumulative(n: int) -> list[float]:
    """Cumulative Zipf-Mandelbrot weights for ranks 1..n."""
    return list(itertools.accumulate((r + ZIPF_SHIFT) ** -ZIPF_EXPONENT for r in range(1, n + 1)))


@dataclass(frozen=True)
class Word:
    """A generated word with its gold segmentation (``stem`` + ``ending`` == ``surface``)."""

    stem: str
    ending: str = ""

    @property
    def surface(self) -> str:
        """The word as written."""
        return self.stem + self.ending


@dataclass
class Lexicon:
    """Stems of one language by part of speech, with their Zipfian sampling weights."""

    nouns: list[str]
    verbs: list[str]
    adjectives: list[str]
    names: list[str]
    function_words: list[str]
    noun_weights: list[float] = field(init=False)
    verb_weights: list[float] = field(init=False)
    adjective_weights: list[float] = field(init=False)
    function_weights: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.noun_weights = zipf_cumulative(len(self.nouns))
        self.verb_weights = zipf_cumulative(len(self.verbs))
        self.adjective_weights = zipf_cumulative(len(self.adjectives))
        self.function_weights = zipf_cumulative(len(self.function_words))


def _unique_words(make: callable, count: int, taken: set[str]) -> list[str]:
    words: list[str] = []
    while len(words) < count:
        word = make()
        if word not in taken:
            taken.add(word)
            words.append(word)
    return words


class Language:
    """Shared machinery: sentence and document structure; subclasses define words and order."""

    name: str
    decimal_mark: str
    thousands_mark: str
    quotes: tuple[str, str]

    def __init__(self, seed: int) -> None:
        self.lexicon = self.build_lexicon(Draw(f"toklab-demo:{seed}:{self.name}:lexicon"))

    def build_lexicon(self, draw: Draw) -> Lexicon:
        """Generate the stems of the language."""
        raise NotImplementedError

    def noun(self, draw: Draw, role: str) -> Word:
        """An inflected noun for a clause role (``subject``, ``object`` or ``oblique``)."""
        raise NotImplementedError

    def verb(self, draw: Draw) -> Word:
        """An inflected verb."""
        raise NotImplementedError

    def clause(self, draw: Draw, topic: list[str]) -> list[str]:
        """The words of one clause."""
        raise NotImplementedError

    def pick_noun_stem(self, draw: Draw, topic: list[str]) -> str:
        """A noun stem: a topic word of the document, or a Zipfian draw from the lexicon."""
        if topic and draw.chance(0.18):
            return draw.pick(topic)
        return draw.weighted(self.lexicon.nouns, self.lexicon.noun_weights)

    def function_word(self, draw: Draw) -> str:
        """A frequent uninflected word."""
        return draw.weighted(self.lexicon.function_words, self.lexicon.function_weights)

    def number(self, draw: Draw) -> str:
        """A number as written in this language: counts, years, decimals, large numbers."""
        kind = draw.integer(0, 9)
        if kind <= 4:
            return str(draw.integer(2, 99))
        if kind <= 6:
            return str(draw.integer(1750, 2030))
        if kind <= 8:
            return f"{draw.integer(0, 99)}{self.decimal_mark}{draw.integer(0, 99):02d}"
        return f"{draw.integer(1, 999)}{self.thousands_mark}{draw.integer(0, 999):03d}"

    def sentence(self, draw: Draw, topic: list[str]) -> str:
        """One sentence: clauses joined by commas, capitalised, with final punctuation."""
        clauses = [self.clause(draw, topic) for _ in range(1 if draw.chance(0.6) else 2)]
        text = ", ".join(" ".join(words) for words in clauses)
        if draw.chance(0.06):
            open_quote, close_quote = self.quotes
            text = f"{open_quote}{text}{close_quote}"
        ending = "?" if draw.chance(0.08) else "!" if draw.chance(0.04) else "."
        first = 1 if text[0] in '"«' else 0
        return text[:first] + text[first].upper() + text[first + 1 :] + ending

    def document(self, draw: Draw) -> str:
        """A document: an optional title, then one to five paragraphs of sentences."""
        topic = [self.pick_noun_stem(draw, []) for _ in range(4)]
        paragraphs = []
        if draw.chance(0.5):
            title = " ".join([draw.pick(topic).capitalize(), *self.clause(draw, topic)[:3]])
            paragraphs.append(title)
        for _ in range(draw.integer(1, 5)):
            sentences = [self.sentence(draw, topic) for _ in range(draw.integer(2, 7))]
            paragraphs.append(" ".join(sentences))
        return "\n\n".join(paragraphs)

    def segmentable_word(self, draw: Draw) -> Word:
        """An inflected noun or verb, as they occur in text (used for the gold segmentations)."""
        if draw.chance(0.6):
            return self.noun(draw, draw.pick(("subject", "object", "oblique")))
        return self.verb(draw)


class Agglutinative(Language):
    """Turkish-like: suffix chains with vowel harmony, subject-object-verb order."""

    name = "agglutinative"
    decimal_mark = ","
    thousands_mark = "."
    quotes = ('"', '"')

    BACK, FRONT = "aıou", "eiöü"
    ONSETS = "ptkbdgmnszlrvjşhç"
    CODAS = "nmrlsştk"

    def syllable(self, draw: Draw, vowels: str, first: bool) -> str:
        onset = "" if first and draw.chance(0.15) else draw.pick(self.ONSETS)
        coda = draw.pick(self.CODAS) if draw.chance(0.35) else ""
        return onset + draw.pick(vowels) + coda

    def stem(self, draw: Draw, max_syllables: int = 3) -> str:
        vowels = self.BACK if draw.chance(0.55) else self.FRONT
        count = 1 + (draw.chance(0.7)) + (max_syllables > 2 and draw.chance(0.25))
        while len(stem := "".join(self.syllable(draw, vowels, i == 0) for i in range(count))) < 2:
            pass
        return stem

    def build_lexicon(self, draw: Draw) -> Lexicon:
        taken: set[str] = set()
        return Lexicon(
            nouns=_unique_words(lambda: self.stem(draw), 2400, taken),
            verbs=_unique_words(lambda: self.stem(draw), 900, taken),
            adjectives=_unique_words(lambda: self.stem(draw), 500, taken),
            names=[n.capitalize() for n in _unique_words(lambda: self.stem(draw), 120, taken)],
            function_words=_unique_words(lambda: self.stem(draw, 2)[:3], 36, taken),
        )

    @staticmethod
    def is_back(word: str) -> bool:
        """Whether the last vowel of ``word`` is a back vowel (drives harmony)."""
        for char in reversed(word):
            if char in Agglutinative.BACK:
                return True
            if char in Agglutinative.FRONT:
                return False
        return True

    def suffix(self, word: str, back: str, front: str) -> str:
        """Attach a harmonising suffix.

        Between two vowels, possessive and person suffixes lose their first vowel
        (``araba`` + ``ım`` → ``arabam``); other suffixes take a buffer ``y``.
        """
        form = back if self.is_back(word) else front
        vowels = self.BACK + self.FRONT
        if word and word[-1] in vowels and form and form[0] in vowels:
            form = form[1:] if (back, front) in self.VOWEL_DROPPING else "y" + form
        return form

    NOUN_CASES = (("da", "de"), ("dan", "den"), ("a", "e"), ("ı", "i"), ("la", "le"), ("ın", "in"))
    POSSESSIVES = (("ım", "im"), ("ın", "in"), ("ımız", "imiz"), ("ları", "leri"))
    TENSES = (("dı", "di"), ("acak", "ecek"), ("ır", "ir"), ("mış", "miş"))
    PERSONS = (
        ("ım", "im"),
        ("sın", "sin"),
        ("ız", "iz"),
        ("sınız", "siniz"),
        ("lar", "ler"),
        ("", ""),
    )
    VOWEL_DROPPING = frozenset(POSSESSIVES[:3] + PERSONS[:3])

    def inflect(self, stem: str, slots: list[tuple[str, str]]) -> Word:
        word = stem
        for back, front in slots:
            word += self.suffix(word, back, front)
        return Word(stem, word[len(stem) :])

    def noun(self, draw: Draw, role: str, stem: str | None = None) -> Word:
        stem = stem or draw.weighted(self.lexicon.nouns, self.lexicon.noun_weights)
        slots = []
        if draw.chance(0.3):
            slots.append(("lar", "ler"))
        if draw.chance(0.22):
            slots.append(self.POSSESSIVES[draw.integer(0, 3)])
        if role == "object":
            slots.append(("ı", "i"))
        elif role == "oblique" or draw.chance(0.1):
            slots.append(self.NOUN_CASES[draw.integer(0, 5)])
        return self.inflect(stem, slots)

    def verb(self, draw: Draw) -> Word:
        stem = draw.weighted(self.lexicon.verbs, self.lexicon.verb_weights)
        slots = []
        if draw.chance(0.1):
            slots.append(("dır", "dir"))
        if draw.chance(0.2):
            slots.append(("ma", "me"))
        slots.append(self.TENSES[draw.integer(0, 3)])
        slots.append(self.PERSONS[draw.integer(0, 5)])
        return self.inflect(stem, slots)

    def noun_phrase(self, draw: Draw, topic: list[str], role: str) -> list[str]:
        words = []
        if draw.chance(0.08):
            words.append(self.number(draw))
        if draw.chance(0.3):
            words.append(draw.weighted(self.lexicon.adjectives, self.lexicon.adjective_weights))
        if draw.chance(0.04):
            words.append(draw.pick(self.lexicon.names))
        else:
            words.append(self.noun(draw, role, self.pick_noun_stem(draw, topic)).surface)
        return words

    def clause(self, draw: Draw, topic: list[str]) -> list[str]:
        words = []
        if draw.chance(0.25):
            words.append(self.function_word(draw))
        words += self.noun_phrase(draw, topic, "subject")
        if draw.chance(0.5):
            words += self.noun_phrase(draw, topic, "oblique")
        if draw.chance(0.7):
            words += self.noun_phrase(draw, topic, "object")
        if draw.chance(0.2):
            words.append(self.function_word(draw))
        words.append(self.verb(draw).surface)
        return words


class Fusional(Language):
    """Latin-like: portmanteau endings in inflection classes, stem ablaut, subject-verb-object."""

    name = "fusional"
    decimal_mark = "."
    thousands_mark = ","
    quotes = ("«", "»")

    ONSETS = (
        "p",
        "t",
        "k",
        "b",
        "d",
        "g",
        "f",
        "v",
        "s",
        "m",
        "n",
        "l",
        "r",
        "c",
        "pr",
        "tr",
        "cr",
        "br",
        "dr",
        "gr",
        "fl",
        "pl",
        "st",
        "sp",
        "qu",
    )
    VOWELS = ("a", "e", "i", "o", "u", "a", "e", "o", "á", "é", "ó")
    CODAS = ("n", "r", "s", "l", "m", "t", "x", "nt", "rd", "st", "c")

    # Endings indexed [class][number][case]; cases are nominative, accusative, genitive, dative.
    NOUN_ENDINGS = (
        (("a", "am", "ae", "ae"), ("ae", "as", "arum", "is")),
        (("us", "um", "i", "o"), ("i", "os", "orum", "is")),
        (("", "em", "is", "i"), ("es", "es", "um", "ibus")),
    )
    # Endings indexed [conjugation][tense][person]; tenses are present, past, future.
    VERB_ENDINGS = (
        (
            ("o", "as", "at", "amus", "atis", "ant"),
            ("avi", "avisti", "avit", "avimus", "avistis", "averunt"),
            ("abo", "abis", "abit", "abimus", "abitis", "abunt"),
        ),
        (
            ("eo", "es", "et", "emus", "etis", "ent"),
            ("i", "isti", "it", "imus", "istis", "erunt"),
            ("ebo", "ebis", "ebit", "ebimus", "ebitis", "ebunt"),
        ),
    )
    ABLAUT = str.maketrans({"a": "e", "e": "i", "o": "u", "á": "é", "é": "í", "ó": "ú"})
    ROLE_CASE: ClassVar[dict[str, int]] = {"subject": 0, "object": 1, "oblique": 3}

    def stem(self, draw: Draw) -> str:
        syllables = 1 + draw.chance(0.6) + draw.chance(0.15)
        parts = []
        for i in range(syllables):
            onset = "" if i == 0 and draw.chance(0.12) else draw.pick(self.ONSETS)
            parts.append(onset + draw.pick(self.VOWELS))
        return "".join(parts) + draw.pick(self.CODAS)

    def build_lexicon(self, draw: Draw) -> Lexicon:
        taken: set[str] = set()
        self.noun_class = {}
        self.strong_verbs = set()
        self.conjugation = {}
        nouns = _unique_words(lambda: self.stem(draw), 2400, taken)
        verbs = _unique_words(lambda: self.stem(draw), 900, taken)
        for noun in nouns:
            self.noun_class[noun] = draw.integer(0, 2)
        for verb in verbs:
            self.conjugation[verb] = draw.integer(0, 1)
            if draw.chance(0.2):
                self.strong_verbs.add(verb)
        return Lexicon(
            nouns=nouns,
            verbs=verbs,
            adjectives=_unique_words(lambda: self.stem(draw), 500, taken),
            names=[
                n.capitalize() + "o" for n in _unique_words(lambda: self.stem(draw), 120, taken)
            ],
            function_words=_unique_words(lambda: self.stem(draw)[:3], 36, taken),
        )

    def noun(self, draw: Draw, role: str, stem: str | None = None) -> Word:
        stem = stem or draw.weighted(self.lexicon.nouns, self.lexicon.noun_weights)
        case = self.ROLE_CASE[role] if not (role == "oblique" and draw.chance(0.5)) else 2
        number = int(draw.chance(0.3))
        return Word(stem, self.NOUN_ENDINGS[self.noun_class[stem]][number][case])

    def agreeing_adjective(self, draw: Draw, noun: Word) -> str:
        stem = draw.weighted(self.lexicon.adjectives, self.lexicon.adjective_weights)
        noun_class = self.noun_class[noun.stem]
        for number, row in enumerate(self.NOUN_ENDINGS[noun_class]):
            if noun.ending in row:
                return stem + self.NOUN_ENDINGS[min(noun_class, 1)][number][row.index(noun.ending)]
        return stem

    def verb(self, draw: Draw) -> Word:
        stem = draw.weighted(self.lexicon.verbs, self.lexicon.verb_weights)
        tense = draw.integer(0, 2)
        if tense == 1 and stem in self.strong_verbs:
            # The strong past: the stem vowel changes and the ending comes from the second class.
            return Word(stem.translate(self.ABLAUT), self.VERB_ENDINGS[1][1][draw.integer(0, 5)])
        return Word(stem, self.VERB_ENDINGS[self.conjugation[stem]][tense][draw.integer(0, 5)])

    def noun_phrase(self, draw: Draw, topic: list[str], role: str) -> list[str]:
        words = []
        if draw.chance(0.08):
            words.append(self.number(draw))
        if draw.chance(0.04):
            return [*words, draw.pick(self.lexicon.names)]
        noun = self.noun(draw, role, self.pick_noun_stem(draw, topic))
        words.append(noun.surface)
        if draw.chance(0.3):
            words.append(self.agreeing_adjective(draw, noun))
        return words

    def clause(self, draw: Draw, topic: list[str]) -> list[str]:
        words = []
        if draw.chance(0.3):
            words.append(self.function_word(draw))
        words += self.noun_phrase(draw, topic, "subject")
        words.append(self.verb(draw).surface)
        if draw.chance(0.7):
            words += self.noun_phrase(draw, topic, "object")
        if draw.chance(0.4):
            words.append(self.function_word(draw))
            words += self.noun_phrase(draw, topic, "oblique")
        return words


@cache
def language(name: str, seed: int) -> Language:
    """The generated language ``name`` for ``seed`` (built once per process)."""
    classes = {cls.name: cls for cls in (Agglutinative, Fusional)}
    return classes[name](seed)


def generate_documents(languages: Sequence[str], seed: int) -> Iterator[Document]:
    """Yield documents forever; document ``i`` is in ``languages[i % len(languages)]``."""
    for index in itertools.count():
        name = languages[index % len(languages)]
        draw = Draw(f"toklab-demo:{seed}:document:{index}")
        yield Document(f"demo-{index:09d}", language(name, seed).document(draw), name)


def gold_segmentations(name: str, seed: int, count: int = 1000) -> list[Word]:
    """``count`` distinct inflected words of a language with their stem|ending segmentation.

    Words are sampled with their corpus frequencies, so frequent stems dominate as in real gold
    sets. A surface form that two different segmentations can produce is left out.
    """
    lang = language(name, seed)
    draw = Draw(f"toklab-demo:{seed}:{name}:gold")
    seen: dict[str, Word | None] = {}
    for _ in range(count * 200):
        word = lang.segmentable_word(draw)
        if not word.ending:
            continue
        previous = seen.get(word.surface, word)
        seen[word.surface] = word if previous == word else None
        if len(seen) % 64 == 0 and sum(w is not None for w in seen.values()) >= count:
            break
    words = [w for w in seen.values() if w is not None]
    if len(words) < count:
        raise ValueError(f"demo language '{name}' has fewer than {count} distinct segmented words")
    return words[:count]


def morphscore_csv(words: Sequence[Word]) -> str:
    """Gold segmentations in MorphScore's CSV layout: an index column, full_word, pt1, rest."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["", "full_word", "pt1", "rest"])
    for index, word in enumerate(words):
        writer.writerow([index, word.surface, word.stem, word.ending])
    return buffer.getvalue()
