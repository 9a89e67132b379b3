import numpy as np
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import pre_tokenizers

from toklab.pretokenization import (
    GPT2_PATTERN,
    pretoken_start_flags,
    pretokenize,
    utf8_char_offsets,
)

# The pattern as published with GPT-2 (encoder.py), written out independently.
REFERENCE = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

mixed_text = st.text(
    alphabet=st.sampled_from(list(" \n\t\r'sdmtlvreAZaz09,.!?-é中ğ🙂\u00a0\u2003\u0301")),
    max_size=60,
) | st.text(max_size=60)


def reference_flags(text: str) -> np.ndarray:
    flags = np.zeros(len(text.encode("utf-8")), dtype=np.uint8)
    for match in REFERENCE.finditer(text):
        flags[len(text[: match.start()].encode("utf-8"))] = 1
    return flags


@settings(max_examples=400, deadline=None)
@given(mixed_text)
def test_flags_match_regex_reference(text):
    np.testing.assert_array_equal(pretoken_start_flags(text), reference_flags(text))


@settings(max_examples=200, deadline=None)
@given(mixed_text)
def test_pretokens_partition_text(text):
    assert "".join(pretokenize(text)) == text
    assert pretokenize(text) == REFERENCE.findall(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=50))
def test_char_offsets_are_utf8_offsets(text):
    offsets = utf8_char_offsets(text)
    expected = [len(text[:i].encode("utf-8")) for i in range(len(text) + 1)]
    assert offsets.tolist() == expected


@settings(max_examples=200, deadline=None)
@given(
    mixed_text.filter(lambda t: all(ord(c) < 0x3000 or c in "中🙂" for c in t))
    | st.text(st.characters(max_codepoint=0x2FFF, exclude_categories=["Cs", "Cn"]), max_size=50)
)
def test_agrees_with_hf_bytelevel_pretokenizer(text):
    # Characters outside the BMP's older blocks are left out: the two regex engines ship
    # different Unicode versions, so recently assigned code points may be classified differently.
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    hf_starts = sorted({start for _, (start, _) in hf.pre_tokenize_str(text)})
    ours = [m.start() for m in regex.finditer(GPT2_PATTERN, text)]
    assert ours == hf_starts


def test_examples():
    text = "Hi there, it's 2024!\n\n  ok"
    assert pretokenize(text) == ["Hi", " there", ",", " it", "'s", " 2024", "!", "\n\n ", " ok"]
    flags = pretoken_start_flags("é a")  # é is two bytes
    assert flags.tolist() == [1, 0, 1, 0]
    assert pretoken_start_flags("").tolist() == []
