"""The compiled GPT-2 pre-tokenizer against the ``regex`` pattern, and its counting table."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.pretokenization import GPT2_REGEX
from toklab.tokenizers.pretoken_scan import (
    PretokenCounts,
    character_classes,
    count_into,
    empty_table,
    scan,
)

# characters at the pattern's edges: contractions, the optional space, every whitespace kind
# (\x1c-\x1f are str.isspace() but not \s), letters and digits of other scripts, marks, emoji
TRICKY = list("ab Zsdmtlvre'\u2019 1٣²\t\n\r\x0b\x0c\x1c\x85\u00a0\u2003\u3000\u0301é🙂!.,-")


def pretokens(text: str, segments: list[tuple[int, int]] | None = None) -> list[str]:
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    bounds = np.array(segments or [(0, len(data))], dtype=np.int64).reshape(-1, 2)
    starts, ends = scan(data, bounds[:, 0], bounds[:, 1], character_classes())
    return [data[a:b].tobytes().decode("utf-8") for a, b in zip(starts, ends, strict=True)]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.sampled_from(TRICKY), max_size=30) | st.text(max_size=30))
def test_scan_equals_the_regex(text):
    assert pretokens(text) == GPT2_REGEX.findall(text)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TRICKY), max_size=12), min_size=1, max_size=6))
def test_segments_are_pre_tokenized_on_their_own(parts):
    text = "".join(parts)
    ends = np.cumsum([len(p.encode("utf-8")) for p in parts]).tolist()
    segments = list(zip([0, *ends[:-1]], ends, strict=True))
    assert pretokens(text, segments) == [t for p in parts for t in GPT2_REGEX.findall(p)]


def test_character_classes_follow_the_regex_module():
    classes = character_classes()
    assert classes[ord("a")] == 1 and classes[ord("٣")] == 2 and classes[ord(" ")] == 3
    assert classes[0x1C] == 0 and classes[0x85] == 3 and classes[0x0301] == 0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(TRICKY), max_size=8), max_size=40))
def test_table_counts_like_a_counter(tokens):
    words = [t.encode("utf-8") for t in tokens]
    data = np.frombuffer(b"".join(words) or b"\0", dtype=np.uint8)
    lengths = np.array([len(w) for w in words], dtype=np.int64)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    table = count_into(empty_table(), data, starts, ends, np.ones(len(words), dtype=np.int64))
    counts = PretokenCounts.from_table(table)
    assert counts.as_dict() == Counter(tokens)
    # adding the counts to a table twice doubles them
    doubled = PretokenCounts.from_table(counts.add_to(counts.add_to(empty_table())))
    assert doubled.as_dict() == {t: 2 * c for t, c in Counter(tokens).items()}


def test_table_grows_past_its_first_size():
    tokens = [f"w{i}" for i in range(20_000)] * 2
    assert PretokenCounts.from_strings(Counter(tokens)).as_dict() == Counter(tokens)
    data = np.frombuffer("".join(tokens).encode(), dtype=np.uint8)
    ends = np.cumsum([len(t) for t in tokens]).astype(np.int64)
    starts = ends - [len(t) for t in tokens]
    table = count_into(empty_table(), data, starts, ends, np.ones(len(tokens), dtype=np.int64))
    assert PretokenCounts.from_table(table).as_dict() == Counter(tokens)


def test_longer_than_keeps_the_multi_byte_pre_tokens():
    counts = PretokenCounts.from_strings({"a": 5, "ab": 2, "é": 3, "xyz": 1})
    data, offsets, kept = counts.longer_than(1)
    assert data.tobytes() == b"ab" + "é".encode() + b"xyz"
    assert offsets.tolist() == [0, 2, 4, 7] and kept.tolist() == [2, 3, 1]
