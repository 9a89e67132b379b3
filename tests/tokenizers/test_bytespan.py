"""ByteSpan segmentation and vocabularies: hand-built cues, the original's bugs, properties."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.errors import ConfigError
from toklab.pretokenization import pretoken_start_flags
from toklab.tokenizers.bytespan import (
    UNK,
    absorb_spaces,
    build_wordpiece_tokenizer,
    count_spans,
    frequency_vocabulary,
    global_starts,
    initial_tokens,
    monotonic_starts,
)


def spans(
    text: str,
    cue: list[float],
    constraint: str,
    threshold: float | None = None,
    as_bytes: bool = False,
):
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    values = np.asarray(cue, dtype=np.float32)
    if constraint == "global":
        starts = global_starts(values, pretok, data, threshold)
    else:
        starts = monotonic_starts(values, pretok, data, threshold)
    cuts = [*np.flatnonzero(starts), len(data)]
    pieces = [data[a:b].tobytes() for a, b in itertools.pairwise(cuts)]
    return pieces if as_bytes else [p.decode() for p in pieces]


def test_monotonic_spans_follow_decreasing_cue():
    #            a    b    c    d    e    f
    cue = [5.0, 4.0, 3.0, 6.0, 2.0, 1.0]
    assert spans("abcdef", cue, "monotonic") == ["abc", "def"]


def test_last_span_of_a_document_is_kept():
    # The original dropped the trailing run of continuing bytes ("def" here).
    assert spans("abcdef", [5, 4, 3, 6, 2, 1], "monotonic")[-1] == "def"


def test_combined_does_not_invert_when_the_first_byte_is_below_threshold():
    # The original inverted the document when byte 0 was below the threshold.
    cue = [0.1, 5.0, 4.0, 9.0, 8.0]
    assert spans("abcde", cue, "combined", threshold=1.0) == ["a", "bc", "de"]
    # Below-threshold bytes continue a span even when the cue rises.
    assert spans("abcde", [5.0, 0.5, 0.9, 9.0, 0.2], "combined", threshold=1.0) == ["abc", "de"]


def test_spans_never_cross_pretoken_starts_and_absorb_spaces():
    text = "ab cd"  # pre-tokens "ab", " cd"
    falling = [5, 4, 3, 2, 1]
    assert spans(text, falling, "monotonic") == ["ab", " cd"]
    # a lone space span before a continuing span is absorbed into it
    assert spans(text, [5, 4, 0.5, 9, 8], "monotonic") == ["ab", " cd"]
    # but not into a span that starts a pre-token: "a ." has pre-tokens "a", " ."
    assert spans("a  b", [9, 1, 9, 1], "monotonic") == ["a", " ", " b"]


def test_global_runs_of_low_cue_bytes():
    text = "abcd efg"
    cue = [9, 1, 1, 9, 0.5, 1, 1, 9]
    # at threshold 2: "a" | "bc" | "d" | " ef" (space below threshold starts its pre-token) | "g"
    assert spans(text, cue, "global", threshold=2.0) == ["a", "bc", "d", " ef", "g"]
    # a high-cue space alone before low-cue bytes of its pre-token is absorbed
    cue = [9, 1, 1, 9, 9, 1, 1, 9]
    assert spans(text, cue, "global", threshold=2.0) == ["a", "bc", "d", " ef", "g"]


texts = st.text(alphabet=st.sampled_from(list("ab c\n.,é🙂")), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(texts, st.data(), st.sampled_from(["monotonic", "combined", "global"]))
def test_spans_partition_text_within_pretokens(text, data, constraint):
    n = len(text.encode())
    cue = data.draw(st.lists(st.floats(0, 10, allow_nan=False), min_size=n, max_size=n))
    # spans are byte strings: a span may end inside a multi-byte character
    pieces = spans(text, cue, constraint, None if constraint == "monotonic" else 3.0, as_bytes=True)
    assert b"".join(pieces) == text.encode()  # every byte in exactly one span, in order
    pretok = pretoken_start_flags(text)
    position = 0
    for piece in pieces:
        size = len(piece)
        assert not pretok[position + 1 : position + size].any()  # no pre-token start inside
        position += size


def test_count_spans_orders_by_count_then_first_occurrence():
    text = "xy xy zz xy zz q"
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    counts = count_spans(pretok.astype(bool), data, pretok)
    assert counts.tokens[:3] == [(True, b" xy"), (True, b" zz"), (True, b"xy")]
    assert counts.counts[:3].tolist() == [2, 2, 1]


def test_frequency_vocabulary_size_and_errors():
    text = "the cat sat on the mat " * 5
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    counts = count_spans(pretok.astype(bool), data, pretok)
    base = len(initial_tokens()) + 2  # + <|endoftext|> and the unk token
    vocab = frequency_vocabulary(counts, base + 3, ["<|endoftext|>"])
    assert len(vocab) + 2 == base + 3
    # " the" occurs 9 times; " cat", " sat", " on", " mat" 5 times each, tied: first occurrence
    assert vocab[-3:] == [(True, b" the"), (True, b" cat"), (True, b" sat")]
    assert len(set(vocab)) == len(vocab)
    with pytest.raises(ConfigError, match="smaller than the initial vocabulary"):
        frequency_vocabulary(counts, 500, ["<|endoftext|>"])


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80).filter(lambda t: "<|" not in t))  # special tokens stay whole
def test_wordpiece_tokenizer_round_trips_any_text(text):
    vocab = [*initial_tokens(), (True, b" the"), (False, b"##"), (True, b"##"), (False, b"ing")]
    tokenizer = build_wordpiece_tokenizer(vocab, ["<|endoftext|>"])
    ids = tokenizer.encode(text).ids
    assert UNK not in tokenizer.encode(text).tokens
    assert tokenizer.decode(ids) == text


def test_absorb_spaces_takes_one_lone_space():
    data = np.frombuffer(b"a  bc", dtype=np.uint8)
    starts = np.array([1, 1, 1, 1, 0], dtype=bool)  # spans "a", " ", " ", "bc"
    # GPT-2 flags ("a", " ", " bc"): the second space joins "bc"; the first stays alone
    pretok = np.array([1, 1, 1, 0, 0], dtype=np.uint8)
    assert absorb_spaces(starts, data, pretok).astype(int).tolist() == [1, 1, 1, 0, 0]
    # even where no flag separates the two spaces, only the space next to "bc" joins it
    pretok = np.array([1, 1, 0, 0, 0], dtype=np.uint8)
    assert absorb_spaces(starts, data, pretok).astype(int).tolist() == [1, 1, 1, 0, 0]


def corpus_arrays(text: str, seed: int = 0):
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    cue = np.random.default_rng(seed).random(len(data)).astype(np.float32)
    return data, pretok, cue


@pytest.mark.parametrize("proportion", [0.0, 0.6, 1.0])
def test_seeded_vocabulary_size_and_share(proportion):
    import itertools

    from toklab.data.demo import DEMO_LANGUAGES, generate_documents
    from toklab.tokenizers.bytespan import seeded_vocabulary

    docs = itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 30)
    text = "\n".join(d.text for d in docs)
    data, pretok, cue = corpus_arrays(text)
    starts = monotonic_starts(cue, pretok, data)
    spans = count_spans(starts, data, pretok)
    size = len(initial_tokens()) + 2 + 40
    vocab = seeded_vocabulary(starts, data, pretok, spans, size, ["<|endoftext|>"], proportion)
    assert len(vocab) + 2 == size and len(set(vocab)) == len(vocab)
    learned = vocab[len(initial_tokens()) :]
    from_spans = max(int(proportion * size) - len(initial_tokens()) - 2, 0)
    top = [t for t in spans.tokens if t not in set(initial_tokens())][:from_spans]
    assert learned[:from_spans] == top  # the span share comes first, most frequent first
    assert all(not start or body for start, body in learned)
    tokenizer = build_wordpiece_tokenizer(vocab, ["<|endoftext|>"])
    assert tokenizer.decode(tokenizer.encode(text[:500]).ids) == text[:500]
    if proportion == 0.0:
        # BPE with WordPiece inference: the first merges are frequent byte pairs
        assert all(len(body) <= 4 for _, body in learned[:5])


def test_seeded_vocabulary_rejects_bad_sizes():
    from toklab.tokenizers.bytespan import seeded_vocabulary

    data, pretok, cue = corpus_arrays("ab ab ab")
    starts = monotonic_starts(cue, pretok, data)
    spans = count_spans(starts, data, pretok)
    with pytest.raises(ConfigError, match="smaller than the initial vocabulary"):
        seeded_vocabulary(starts, data, pretok, spans, 100, [], 0.5)
    from toklab.errors import DataError

    with pytest.raises(DataError, match="ran out of pairs"):
        seeded_vocabulary(starts, data, pretok, spans, len(initial_tokens()) + 50, [], 0.0)


def test_balanced_vocabulary_takes_turns_between_languages():
    from toklab.errors import DataError
    from toklab.tokenizers.bytespan import balanced_vocabulary

    docs = ["alpha alpha alpha beta beta gamma", "uno uno dos dos dos tres"]
    text = "".join(docs)
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = np.concatenate([pretoken_start_flags(d) for d in docs])
    offsets = np.array([0, len(docs[0]), len(text)])
    starts = pretok.astype(bool)  # one span per pre-token
    base = len(initial_tokens()) + 1
    vocab = balanced_vocabulary(starts, data, pretok, offsets, ["en", "es"], base + 4, [])
    learned = vocab[len(initial_tokens()) :]
    # en's most frequent first, then es's, alternating; ties go to the first occurrence
    # ("uno" opens the Spanish document without a space)
    assert learned == [(True, b" alpha"), (True, b" dos"), (True, b" beta"), (True, b"uno")]
    with pytest.raises(DataError, match="fill only"):
        balanced_vocabulary(starts, data, pretok, offsets, ["en", "es"], base + 50, [])
    with pytest.raises(DataError, match="1 document languages for 2 documents"):
        balanced_vocabulary(starts, data, pretok, offsets, ["en"], base + 4, [])
