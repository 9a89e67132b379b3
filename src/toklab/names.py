"""The grammar of tokenizer names: one format/parse pair per family.

A tokenizer's name is its directory under ``results/tokenizers/{corpus}/`` and its row in every
table, so it must be derivable from the config and parseable back into settings. Each family's
grammar is one regular expression with named groups; its wildcard constraint (the same
expression without group names) and its parser come from that expression, and its formatter is
tested against it, so the grammar exists once.

- BPE: ``bpe-{V}`` (toklab's exact trainer) and ``hfbpe-{V}`` (tokenizers' BpeTrainer).
- Unigram: ``unigram-{V}``, a byte-level Unigram LM (tokenizers' UnigramTrainer).
- Pretrained: ``pretrained-{key}``, a Hugging Face tokenizer (hub id or directory).
- Byte-level: ``bytes``, the 256 bytes and the special tokens.
- T-Free: ``tfree-{v}-m{m}``, with ``-k{k}`` for ``k`` lowercase slots and ``-words`` for whole
  words hashed instead of trigrams: a trigram hasher of ``v`` ids, ``m`` per trigram.
- ByteSpan: ``bytespan-{cue}-{constraint}-{variant}-{V}`` with WordPiece inference and
  ``bytespan-{cue}-{constraint}-{variant}-bpeinf-{V}`` with BPE-merge inference, where the
  constraint is ``global``, ``monotonic`` or ``combined-p{percentile}`` and the variant is
  ``frequency``, ``balanced`` or ``seeding{P}`` (P in 0..100); the cue is the byte LM's
  (``surprisal``) or, prefixed with ``ngram-``, the byte n-gram model's (``ngram-surprisal``).

A token array is named by its *tokenization*: a tokenizer's name, or one of its variants
(:class:`TokenizationName`): ``{tokenizer}-stochastok{p}`` (StochasTok-expanded),
``{tokenizer}-bpedropout{p}`` (seeded BPE-dropout) and ``{tokenizer}-chars`` (every character
encoded on its own). The suffix is read first, so no tokenizer name may end in one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from toklab.errors import ConfigError

#: Names of corpora, subsets, languages and models: path-safe, as the config schema requires.
NAME = r"[A-Za-z0-9][A-Za-z0-9_-]*"
#: Any tokenizer name (the ``tokenizer`` wildcard outside a family's own rule).
TOKENIZER = r"[A-Za-z0-9][A-Za-z0-9_.+-]*"


#: Every family's grammar, in definition order (each :class:`Grammar` subclass adds itself).
GRAMMARS: list[type[Grammar]] = []


def constraint(pattern: str) -> str:
    """A grammar's expression as a wildcard constraint: the same, without group names."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern)


class Grammar:
    """Base of the per-family name types: ``PATTERN`` has one named group per field.

    Defining a subclass registers it in :data:`GRAMMARS`, through which :func:`parse` reads a
    name of any family.
    """

    PATTERN: ClassVar[str]
    FAMILY: ClassVar[str]

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        GRAMMARS.append(cls)

    @classmethod
    def wildcard(cls) -> str:
        """The wildcard constraint of this family's names."""
        return constraint(cls.PATTERN)

    @classmethod
    def match(cls, name: str) -> dict[str, str] | None:
        """The named groups of ``name``, or None when it is not a name of this family."""
        found = re.fullmatch(cls.PATTERN, name)
        return found.groupdict() if found else None

    @classmethod
    def parse(cls, name: str):
        """The settings spelled by ``name``; ``ConfigError`` when it is not of this family."""
        groups = cls.match(name)
        if groups is None:
            raise ConfigError(f"'{name}' is not a {cls.FAMILY} tokenizer name")
        return cls._from_groups(groups)

    @classmethod
    def _from_groups(cls, groups: dict[str, str]):
        raise NotImplementedError

    def format(self) -> str:
        """The name spelling these settings (the inverse of :meth:`parse`)."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.format()


# ---------------------------------------------------------------------------------------------
# BPE

#: Name prefix of each BPE training backend.
BPE_BACKEND_PREFIX = {"toklab": "bpe", "hf": "hfbpe"}


@dataclass(frozen=True)
class BpeName(Grammar):
    """``bpe-{V}`` or ``hfbpe-{V}``: a byte-level BPE of vocabulary size V."""

    backend: str  # toklab | hf
    vocab_size: int

    FAMILY: ClassVar[str] = "BPE"
    PATTERN: ClassVar[str] = r"(?P<prefix>bpe|hfbpe)-(?P<vocab>[0-9]+)"

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> BpeName:
        backend = {prefix: b for b, prefix in BPE_BACKEND_PREFIX.items()}[groups["prefix"]]
        return cls(backend, int(groups["vocab"]))

    def format(self) -> str:
        """``bpe-V`` or ``hfbpe-V``."""
        return f"{BPE_BACKEND_PREFIX[self.backend]}-{self.vocab_size}"


@dataclass(frozen=True)
class UnigramName(Grammar):
    """``unigram-{V}``: a byte-level Unigram LM of vocabulary size V."""

    vocab_size: int

    FAMILY: ClassVar[str] = "Unigram"
    PATTERN: ClassVar[str] = r"unigram-(?P<vocab>[0-9]+)"

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> UnigramName:
        return cls(int(groups["vocab"]))

    def format(self) -> str:
        """``unigram-V``."""
        return f"unigram-{self.vocab_size}"


# ---------------------------------------------------------------------------------------------
# ByteSpan

BYTESPAN_CUES = ("entropy", "surprisal", "space_nll", "eos_nll")
#: Where a ByteSpan cue comes from, by its prefix in names and configs: the byte LM (none) or
#: the byte n-gram model (``ngram-``), each the corpus block of that name.
BYTESPAN_CUE_SOURCES = {"bytelm": "", "ngram": "ngram-"}


def bytespan_cue(cue: str) -> tuple[str, str]:
    """``(source, cue)`` of a configured cue: ``ngram-surprisal`` is ``("ngram", "surprisal")``."""
    for source, prefix in reversed(BYTESPAN_CUE_SOURCES.items()):
        if prefix and cue.startswith(prefix):
            return source, cue.removeprefix(prefix)
    return "bytelm", cue


BYTESPAN_CONSTRAINTS = ("global", "monotonic", "combined")
#: A variant: frequency, balanced, or seeding with a percentage 0..100 of V from spans.
BYTESPAN_VARIANT = r"frequency|balanced|seeding(?:[0-9]|[1-9][0-9]|100)"
#: Name suffix of each ByteSpan inference method.
BYTESPAN_INFERENCE_SUFFIX = {"wordpiece": "", "bpe": "-bpeinf"}


def bytespan_seeding(variant: str, constraint: str) -> float | None:
    """The seeding proportion of a ByteSpan variant (None for frequency and balanced).

    Balanced and seeding variants apply to the monotonic and combined constraints only.
    """
    if not re.fullmatch(BYTESPAN_VARIANT, variant):
        raise ConfigError(
            f"unknown variant '{variant}' (frequency, balanced or seeding0 .. seeding100)"
        )
    if variant != "frequency" and constraint == "global":
        raise ConfigError(
            f"the {variant} variant applies to the monotonic and combined constraints"
        )
    return int(variant.removeprefix("seeding")) / 100 if variant.startswith("seeding") else None


@dataclass(frozen=True)
class ByteSpanName(Grammar):
    """``bytespan-[ngram-]{cue}-{constraint}-{variant}[-bpeinf]-{V}``."""

    cue: str
    constraint: str  # global | monotonic | combined
    variant: str
    inference: str  # wordpiece | bpe
    vocab_size: int
    percentile: int | None = None  # the combined constraint's threshold
    source: str = "bytelm"  # bytelm | ngram: the model whose cue it is

    FAMILY: ClassVar[str] = "ByteSpan"
    PATTERN: ClassVar[str] = (
        r"bytespan-(?P<source>ngram-)?"
        rf"(?P<cue>{'|'.join(BYTESPAN_CUES)})"
        r"-(?P<constraint>global|monotonic|combined-p(?:[0-9]|[1-9][0-9]|100))"
        rf"-(?P<variant>{BYTESPAN_VARIANT})"
        r"(?P<inference>-bpeinf)?-(?P<vocab>[0-9]+)"
    )

    def __post_init__(self) -> None:
        if self.cue not in BYTESPAN_CUES:
            raise ConfigError(f"unknown ByteSpan cue '{self.cue}'")
        if self.source not in BYTESPAN_CUE_SOURCES:
            raise ConfigError(f"unknown ByteSpan cue source '{self.source}'")
        if self.constraint not in BYTESPAN_CONSTRAINTS:
            raise ConfigError(f"unknown ByteSpan constraint '{self.constraint}'")
        if (self.percentile is not None) != (self.constraint == "combined"):
            raise ConfigError("a ByteSpan percentile belongs to the combined constraint only")
        if self.inference not in BYTESPAN_INFERENCE_SUFFIX:
            raise ConfigError(f"unknown ByteSpan inference '{self.inference}'")
        bytespan_seeding(self.variant, self.constraint)

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> ByteSpanName:
        constraint, _, percentile = groups["constraint"].partition("-p")
        return cls(
            cue=groups["cue"],
            constraint=constraint,
            variant=groups["variant"],
            inference="bpe" if groups["inference"] else "wordpiece",
            vocab_size=int(groups["vocab"]),
            percentile=int(percentile) if percentile else None,
            source="ngram" if groups["source"] else "bytelm",
        )

    @property
    def constraint_name(self) -> str:
        """The constraint as it is spelled in names: ``combined-p30`` for combined."""
        return f"combined-p{self.percentile}" if self.constraint == "combined" else self.constraint

    def format(self) -> str:
        """``bytespan-[ngram-]{cue}-{constraint}-{variant}[-bpeinf]-{V}``."""
        suffix = BYTESPAN_INFERENCE_SUFFIX[self.inference]
        return (
            f"bytespan-{BYTESPAN_CUE_SOURCES[self.source]}{self.cue}-{self.constraint_name}"
            f"-{self.variant}{suffix}-{self.vocab_size}"
        )


# ---------------------------------------------------------------------------------------------
# Pretrained and byte-level


@dataclass(frozen=True)
class PretrainedName(Grammar):
    """``pretrained-{key}``: the Hugging Face tokenizer a corpus's ``pretrained`` block names."""

    key: str

    FAMILY: ClassVar[str] = "pretrained"
    PATTERN: ClassVar[str] = r"pretrained-(?P<key>[A-Za-z0-9][A-Za-z0-9_.-]*)"

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> PretrainedName:
        return cls(groups["key"])

    def format(self) -> str:
        """``pretrained-{key}``."""
        return f"pretrained-{self.key}"

    @property
    def vocab_size(self) -> None:
        """Unknown until the tokenizer is fetched."""
        return None


@dataclass(frozen=True)
class ByteLevelName(Grammar):
    """``bytes``: the 256 bytes and the special tokens."""

    FAMILY: ClassVar[str] = "byte-level"
    PATTERN: ClassVar[str] = r"bytes"

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> ByteLevelName:
        return cls()

    def format(self) -> str:
        """``bytes``."""
        return "bytes"

    @property
    def vocab_size(self) -> None:
        """256 plus the special tokens, which the name does not spell."""
        return None


@dataclass(frozen=True)
class TfreeName(Grammar):
    """``tfree-{v}-m{m}[-k{k}][-words]``: T-Free's trigram hasher (no token vocabulary)."""

    v: int
    m: int
    k: int = 0
    entire_words: bool = False

    FAMILY: ClassVar[str] = "T-Free"
    PATTERN: ClassVar[str] = (
        r"tfree-(?P<v>[1-9][0-9]*)-m(?P<m>[1-9][0-9]*)(?:-k(?P<k>[1-9][0-9]*))?(?P<words>-words)?"
    )

    def __post_init__(self) -> None:
        if not 1 <= self.m <= self.v or not 0 <= self.k <= self.m:
            raise ConfigError(
                f"T-Free hasher v={self.v}, m={self.m}, k={self.k}: needs 1 <= m <= v, 0 <= k <= m"
            )

    @classmethod
    def _from_groups(cls, groups: dict[str, str]) -> TfreeName:
        return cls(int(groups["v"]), int(groups["m"]), int(groups["k"] or 0), bool(groups["words"]))

    def format(self) -> str:
        """``tfree-{v}-m{m}``, then ``-k{k}`` when k > 0 and ``-words`` for whole words."""
        k = f"-k{self.k}" if self.k else ""
        return f"tfree-{self.v}-m{self.m}{k}{'-words' if self.entire_words else ''}"

    @property
    def vocab_size(self) -> int:
        """The hasher's ``v`` (the width of the embedding and of the multi-label head)."""
        return self.v


def is_tfree(name: str) -> bool:
    """Whether a tokenizer (or tokenization) name is a T-Free hasher's."""
    return TfreeName.match(name) is not None


# ---------------------------------------------------------------------------------------------
# Tokenizations: a tokenizer's own ids, or a variant of them

#: A probability as names spell it: 0, 1, or a decimal fraction without trailing zeros.
PROBABILITY = r"0|1|0\.[0-9]*[1-9]"
#: Variant methods: stochastic ones (expansion, dropout) and the deterministic characters.
STOCHASTIC_METHODS = ("stochastok", "bpedropout")
CHARACTERS = "chars"


def format_probability(p: float) -> str:
    """``p`` as names spell it (``0.1``, ``1``, ``0.05``; never an exponent)."""
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"a probability must be in [0, 1], got {p}")
    return f"{p:.12f}".rstrip("0").rstrip(".") or "0"


@dataclass(frozen=True)
class TokenizationName:
    """A token array's tokenization: ``tokenizer`` alone, or a variant method of it."""

    tokenizer: str
    method: str | None = None  # stochastok | bpedropout | chars
    p: float | None = None

    VARIANT: ClassVar[str] = (
        rf"-(?:(?P<method>{'|'.join(STOCHASTIC_METHODS)})(?P<p>{PROBABILITY})|(?P<chars>{CHARACTERS}))"
    )

    def __post_init__(self) -> None:
        if self.method not in (None, CHARACTERS, *STOCHASTIC_METHODS):
            raise ConfigError(f"unknown tokenization method '{self.method}'")
        if (self.p is not None) != (self.method in STOCHASTIC_METHODS):
            raise ConfigError(f"a probability belongs to {' and '.join(STOCHASTIC_METHODS)} only")

    @classmethod
    def pattern(cls, method: str) -> str:
        """The wildcard constraint of one method's tokenization names."""
        tail = CHARACTERS if method == CHARACTERS else f"{method}(?:{PROBABILITY})"
        return f"{TOKENIZER}-{tail}"

    @classmethod
    def own_pattern(cls) -> str:
        """The wildcard constraint of a tokenizer's own tokenization.

        Any name but a variant's or a T-Free hasher's (whose word arrays have their own rule).
        The lookaheads stop at the wildcard's end (a ``/`` or the end of the path), so they
        reject exactly the names :meth:`parse` reads as variants and the T-Free names.
        """
        variant = rf"(?![^/]*?{constraint(cls.VARIANT)}(?:/|$))"
        tfree = rf"(?!{TfreeName.wildcard()}(?:/|$))"
        return rf"{variant}{tfree}{TOKENIZER}"

    #: A stochastic variant with any number, to name the problem with one that is not a
    #: probability (out of [0, 1]) or not written canonically, instead of taking the whole name
    #: for a tokenizer's.
    ANY_NUMBER: ClassVar[str] = (
        rf"-(?P<method>{'|'.join(STOCHASTIC_METHODS)})"
        r"(?P<p>[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)"
    )

    @classmethod
    def parse(cls, name: str) -> TokenizationName:
        """The tokenizer and variant a token array's name spells (canonical spellings only).

        A StochasTok or BPE-dropout suffix whose number is outside [0, 1] is a ``ConfigError``
        saying so (the name is not read as a tokenizer's own).
        """
        found = re.fullmatch(rf"(?P<tokenizer>.+?){cls.VARIANT}", name)
        if found is None:
            loose = re.fullmatch(rf"(?P<tokenizer>.+?){cls.ANY_NUMBER}", name)
            if loose is not None and not 0.0 <= float(loose["p"]) <= 1.0:
                raise ConfigError(
                    f"'{name}': the {loose['method']} probability {loose['p']} is outside [0, 1]"
                )
            if loose is not None:
                spelled = format_probability(float(loose["p"]))
                raise ConfigError(
                    f"'{name}' is not written canonically "
                    f"(write '{loose['tokenizer']}-{loose['method']}{spelled}')"
                )
            return cls(name)
        groups = found.groupdict()
        if groups["chars"]:
            return cls(groups["tokenizer"], CHARACTERS)
        parsed = cls(groups["tokenizer"], groups["method"], float(groups["p"]))
        if parsed.format() != name:
            raise ConfigError(f"'{name}' is not written canonically (write '{parsed.format()}')")
        return parsed

    def format(self) -> str:
        """The tokenization's name."""
        if self.method is None:
            return self.tokenizer
        if self.method == CHARACTERS:
            return f"{self.tokenizer}-{CHARACTERS}"
        assert self.p is not None
        return f"{self.tokenizer}-{self.method}{format_probability(self.p)}"

    @property
    def stochastic(self) -> bool:
        """Whether its ids are a random sample (LMs are then validated on the tokenizer's own)."""
        return self.method in STOCHASTIC_METHODS

    def __str__(self) -> str:
        return self.format()


def tokenizer_of(tokenization: str) -> str:
    """The tokenizer a tokenization's ids belong to (the name without its variant suffix)."""
    return TokenizationName.parse(tokenization).tokenizer


def parse(name: str) -> Grammar:
    """The settings spelled by a tokenizer name of any family."""
    for grammar in GRAMMARS:
        if grammar.match(name) is not None:
            return grammar.parse(name)
    raise ConfigError(f"'{name}' is not a tokenizer name of any family")


def vocab_size(name: str) -> int:
    """The vocabulary size spelled by a tokenizer name."""
    return parse(name).vocab_size
