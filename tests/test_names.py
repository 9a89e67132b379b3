"""Tokenizer-name grammars: format/parse round trips and the generated wildcard constraints."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toklab import names
from toklab.errors import ConfigError
from toklab.names import BpeName, ByteSpanName

bpe_names = st.builds(BpeName, st.sampled_from(["toklab", "hf"]), st.integers(257, 10**6))


@st.composite
def bytespan_names(draw) -> ByteSpanName:
    constraint = draw(st.sampled_from(names.BYTESPAN_CONSTRAINTS))
    variants = ["frequency"]
    if constraint != "global":
        variants += ["balanced", *(f"seeding{p}" for p in (0, 5, 50, 75, 100))]
    return ByteSpanName(
        cue=draw(st.sampled_from(names.BYTESPAN_CUES)),
        constraint=constraint,
        variant=draw(st.sampled_from(variants)),
        inference=draw(st.sampled_from(["wordpiece", "bpe"])),
        vocab_size=draw(st.integers(770, 10**6)),
        percentile=draw(st.integers(0, 100)) if constraint == "combined" else None,
        source=draw(st.sampled_from(list(names.BYTESPAN_CUE_SOURCES))),
    )


pretrained_names = st.builds(
    names.PretrainedName, st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
)


@given(st.one_of(bpe_names, bytespan_names(), pretrained_names, st.just(names.ByteLevelName())))
def test_format_parse_round_trip(name):
    text = name.format()
    assert type(name).parse(text) == name
    assert names.parse(text) == name
    assert re.fullmatch(type(name).wildcard(), text)
    assert re.fullmatch(names.TOKENIZER, text)  # the global tokenizer wildcard admits it


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bpe-500", BpeName("toklab", 500)),
        ("hfbpe-4096", BpeName("hf", 4096)),
        (
            "bytespan-surprisal-combined-p30-frequency-1000",
            ByteSpanName("surprisal", "combined", "frequency", "wordpiece", 1000, 30),
        ),
        (
            "bytespan-entropy-monotonic-seeding75-bpeinf-64000",
            ByteSpanName("entropy", "monotonic", "seeding75", "bpe", 64000),
        ),
        (
            "bytespan-ngram-surprisal-global-frequency-1000",
            ByteSpanName("surprisal", "global", "frequency", "wordpiece", 1000, source="ngram"),
        ),
    ],
)
def test_known_names(text, expected):
    assert names.parse(text) == expected
    assert expected.format() == text


@pytest.mark.parametrize(
    ("grammar", "foreign"),
    [
        (BpeName, "bytespan-surprisal-global-frequency-1000"),
        (BpeName, "bpe-"),
        (BpeName, "gpt2"),
        (BpeName, "bpe-500-extra"),
        (ByteSpanName, "bpe-500"),
        (ByteSpanName, "bytespan-surprisal-combined-frequency-1000"),  # no percentile
        (ByteSpanName, "bytespan-surprisal-combined-p101-frequency-1000"),
        (ByteSpanName, "bytespan-bogus-global-frequency-1000"),
        (ByteSpanName, "bytespan-surprisal-monotonic-seeding101-1000"),
        (ByteSpanName, "bytespan-surprisal-monotonic-frequency-wpinf-1000"),
        (ByteSpanName, "bytespan-surprisal-monotonic-frequency"),
    ],
)
def test_wildcards_reject_foreign_names(grammar, foreign):
    assert re.fullmatch(grammar.wildcard(), foreign) is None
    assert grammar.match(foreign) is None
    with pytest.raises(ConfigError, match="is not a"):
        grammar.parse(foreign)


def test_family_wildcards_do_not_overlap():
    """A name belongs to one family, so Snakemake never finds two rules for one tokenizer."""
    for name in (
        "bpe-500",
        "hfbpe-500",
        "unigram-500",
        "tfree-1024-m4",
        "bytespan-surprisal-global-frequency-1000",
        "pretrained-gpt2",
        "pretrained-bpe-500",
        "bytes",
    ):
        matching = [g for g in names.GRAMMARS if re.fullmatch(g.wildcard(), name)]
        assert len(matching) == 1, name


def test_unigram_names_round_trip():
    assert names.UnigramName.parse("unigram-8000") == names.UnigramName(8000)
    assert names.parse("unigram-8000").format() == "unigram-8000"
    assert names.vocab_size("unigram-8000") == 8000
    assert names.TokenizationName.parse("unigram-8000-stochastok0.1").tokenizer == "unigram-8000"
    with pytest.raises(ConfigError, match="not a Unigram tokenizer name"):
        names.UnigramName.parse("unigram-")


def test_every_grammar_is_registered_once():
    """Defining a Grammar registers it: parse() reads every family's names."""
    assert len(set(names.GRAMMARS)) == len(names.GRAMMARS)
    assert {g.__name__ for g in names.GRAMMARS} >= {
        "BpeName", "UnigramName", "ByteSpanName", "PretrainedName", "ByteLevelName", "TfreeName"
    }  # fmt: skip


def test_wildcards_have_no_named_groups():
    for grammar in names.GRAMMARS:
        assert "(?P<" not in grammar.wildcard()
        assert re.compile(grammar.PATTERN).groupindex or grammar is names.ByteLevelName


def test_global_constraint_takes_only_the_frequency_variant():
    with pytest.raises(ConfigError, match="monotonic and combined constraints"):
        names.parse("bytespan-surprisal-global-seeding50-1000")
    with pytest.raises(ConfigError, match="monotonic and combined"):
        ByteSpanName("surprisal", "global", "balanced", "wordpiece", 1000)


@pytest.mark.parametrize(
    ("variant", "proportion"),
    [("frequency", None), ("balanced", None), ("seeding0", 0.0), ("seeding75", 0.75)],
)
def test_bytespan_seeding(variant, proportion):
    assert names.bytespan_seeding(variant, "monotonic") == proportion


@pytest.mark.parametrize("variant", ["seeding", "seeding101", "seeding07", "freq"])
def test_bad_variants(variant):
    with pytest.raises(ConfigError, match="unknown variant"):
        names.bytespan_seeding(variant, "monotonic")


def test_percentile_belongs_to_combined():
    with pytest.raises(ConfigError, match="percentile"):
        ByteSpanName("surprisal", "monotonic", "frequency", "wordpiece", 1000, percentile=30)
    with pytest.raises(ConfigError, match="percentile"):
        ByteSpanName("surprisal", "combined", "frequency", "wordpiece", 1000)


def test_vocab_size_of_any_family():
    assert names.vocab_size("hfbpe-1000") == 1000
    assert names.vocab_size("bytespan-surprisal-global-frequency-1500") == 1500
    with pytest.raises(ConfigError, match="any family"):
        names.vocab_size("gpt2")


@given(
    base=st.one_of(bpe_names, bytespan_names(), pretrained_names).map(str),
    method=st.sampled_from(["stochastok", "bpedropout", "chars"]),
    p=st.floats(0.0, 1.0).map(lambda p: round(p, 4)),
)
def test_tokenization_names_round_trip(base, method, p):
    variant = names.TokenizationName(base, method, None if method == "chars" else p)
    name = variant.format()
    assert names.TokenizationName.parse(name) == variant
    assert names.tokenizer_of(name) == base
    assert re.fullmatch(names.TokenizationName.pattern(method), name)
    assert re.fullmatch(names.TOKENIZER, name)
    assert variant.stochastic == (method != "chars")
    assert names.TokenizationName.parse(base) == names.TokenizationName(base)


def test_tokenization_probabilities_are_canonical():
    assert [names.format_probability(p) for p in (0.0, 0.1, 1.0, 0.05, 1e-5)] == [
        "0", "0.1", "1", "0.05", "0.00001",
    ]  # fmt: skip
    with pytest.raises(
        ConfigError, match=r"not written canonically \(write 'bpe-1000-stochastok0.1'\)"
    ):
        names.TokenizationName.parse("bpe-1000-stochastok0.10")
    with pytest.raises(ConfigError, match="a probability belongs to stochastok and bpedropout"):
        names.TokenizationName("bpe-1000", "chars", 0.1)
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        names.format_probability(1.5)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "bpe-1000-stochastok1.5",
            "'bpe-1000-stochastok1.5': the stochastok probability 1.5 is outside [0, 1]",
        ),
        ("bpe-1000-stochastok2", "the stochastok probability 2 is outside [0, 1]"),
        ("bpe-1000-bpedropout-0.1", "the bpedropout probability -0.1 is outside [0, 1]"),
        ("hfbpe-500-bpedropout1e3", "the bpedropout probability 1e3 is outside [0, 1]"),
        ("bpe-1000-stochastok1.0", "not written canonically (write 'bpe-1000-stochastok1')"),
        ("bpe-1000-bpedropout.5", "not written canonically (write 'bpe-1000-bpedropout0.5')"),
    ],
)
def test_variant_probability_out_of_range_is_named(name, message):
    with pytest.raises(ConfigError) as error:
        names.TokenizationName.parse(name)
    assert message in str(error.value)
    with pytest.raises(ConfigError):
        names.tokenizer_of(name)
