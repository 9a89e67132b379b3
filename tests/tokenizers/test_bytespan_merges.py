"""BPE-merge inference for ByteSpan vocabularies: exact size, round trips, reachable tokens."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.errors import DataError
from toklab.pretokenization import pretoken_start_flags
from toklab.tokenizers.bytespan import count_spans, initial_tokens, monotonic_starts
from toklab.tokenizers.bytespan_merges import (
    MergeBuilder,
    bpe_inference_from,
    bpe_inference_vocabulary,
)
from toklab.tokenizers.tokenizer_files import build_hf_tokenizer

SPECIALS = ["<|endoftext|>"]


def hf(vocab, merges):
    return build_hf_tokenizer(vocab, merges, SPECIALS)


def whole_pretoken(tokenizer, text: str) -> bool:
    pieces = tokenizer.pre_tokenizer.pre_tokenize_str(text)
    return len(pieces) == 1 and pieces[0][1] == (0, len(text))


def assert_reachable(vocab, merges):
    """Every ordinary token that is a whole pre-token encodes to itself, in HF's BPE."""
    tokenizer = hf(vocab, merges)
    checked = 0
    for token_id, body in vocab.items():
        if body.decode("utf-8", "replace") in SPECIALS:
            continue
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if whole_pretoken(tokenizer, text):
            assert tokenizer.encode(text, add_special_tokens=False).ids == [token_id], text
            checked += 1
    return checked


words = st.text(alphabet="abcd", min_size=2, max_size=7)
candidate_lists = st.lists(
    st.tuples(st.booleans(), st.one_of(words, words.map(lambda w: " " + w)).map(str.encode)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(candidate_lists, st.integers(1, 30), st.lists(words, max_size=10))
def test_random_candidates_give_exactly_v_reachable_tokens(candidates, learned, probes):
    vocab_size = 256 + learned + len(SPECIALS)
    # two-byte types that need no intermediates come last, so that V can always be filled
    fallback = [(False, b"Q" + bytes([65 + i])) for i in range(learned)]
    vocab, merges = bpe_inference_vocabulary(candidates + fallback, vocab_size, SPECIALS)
    assert len(vocab) == vocab_size and len(set(vocab.values())) == vocab_size
    tokenizer = hf(vocab, merges)
    assert tokenizer.get_vocab_size() == vocab_size
    assert_reachable(vocab, merges)
    # every merge joins two tokens into a token
    table = set(vocab.values())
    assert all(a in table and b in table and a + b in table for a, b in merges)
    # the builder's BPE is Hugging Face's
    builder = MergeBuilder()
    for a, b in merges:
        builder.add(a + b)
    for word in probes:
        ids = tokenizer.encode(word, add_special_tokens=False).ids
        assert [vocab[i] for i in ids] == [builder.tokens[i] for i in builder.encode(word.encode())]


def test_spans_without_token_prefixes_get_intermediates():
    # "abcd" has no merges yet: the pair "bc" is a later candidate, so it becomes a token first
    # (pulled forward), then "abc" (the pair whose parts rank earliest), then "abcd"
    candidates = [(True, b"abcd"), (False, b"xy"), (False, b"bc")]
    vocab, merges = bpe_inference_vocabulary(candidates, 256 + 3 + 1, SPECIALS)
    assert [vocab[i] for i in range(256, 260)] == [b"bc", b"abc", b"abcd", b"<|endoftext|>"]
    assert merges == [(b"b", b"c"), (b"a", b"bc"), (b"abc", b"d")]
    assert hf(vocab, merges).encode("abcd").tokens == ["abcd"]  # "xy", ranked last, left out


def test_a_type_that_does_not_fit_is_skipped_with_its_intermediates():
    # "abcd" needs "ab" and "cd" first: three tokens where two are left
    candidates = [(True, b"abcd"), (False, b"xy"), (False, b"zw")]
    vocab, merges = bpe_inference_vocabulary(candidates, 256 + 2 + 1, SPECIALS)
    assert [vocab[i] for i in range(256, 258)] == [b"xy", b"zw"]
    assert merges == [(b"x", b"y"), (b"z", b"w")]
    with pytest.raises(DataError, match="give only 258 BPE tokens"):
        bpe_inference_vocabulary(candidates[:2], 256 + 2 + 1, SPECIALS)


def demo_vocabulary(vocab_size: int):
    from toklab.data.demo import DEMO_LANGUAGES, generate_documents
    from toklab.tokenizers.bytespan import frequency_vocabulary

    docs = itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 60)
    text = "\n".join(d.text for d in docs)
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    cue = np.random.default_rng(0).random(len(data)).astype(np.float32)
    spans = count_spans(monotonic_starts(cue, pretok, data), data, pretok)
    base = initial_tokens()
    learned = [t for t in spans.tokens if t not in set(base)]

    def candidates(extra: int):
        return base + learned[: vocab_size - len(base) + extra]

    return candidates, frequency_vocabulary(spans, vocab_size, SPECIALS)


@pytest.fixture(scope="module")
def demo_bpe():
    candidates, wordpiece = demo_vocabulary(900)
    vocab, merges = bpe_inference_from(candidates, 900, SPECIALS)
    return vocab, merges, wordpiece


def test_demo_bytespan_bpe_has_v_tokens_and_reaches_them(demo_bpe):
    vocab, merges, wordpiece = demo_bpe
    tokenizer = hf(vocab, merges)
    assert tokenizer.get_vocab_size() == 900
    assert len(set(vocab.values())) == 900
    assert assert_reachable(vocab, merges) > 300
    # the tokens are the ByteSpan types in rank order (as byte strings), with intermediates
    spans = list(dict.fromkeys(body for _, body in wordpiece[len(initial_tokens()) :]))
    learned = set(vocab.values())
    assert sum(body in learned for body in spans[:100]) == 100


@settings(max_examples=80, deadline=None)
@given(st.text(max_size=60).filter(lambda t: "<|" not in t))
def test_demo_bytespan_bpe_round_trips_any_text(demo_bpe, text):
    vocab, merges, _ = demo_bpe
    tokenizer = hf(vocab, merges)
    assert tokenizer.decode(tokenizer.encode(text).ids) == text


def test_more_candidates_are_asked_for_until_v_is_reached():
    asked = []
    pool = [(True, bytes([97 + i % 26, 97 + i // 26])) for i in range(400)]

    def candidates(extra: int):
        asked.append(extra)
        return pool[: 10 + extra // 100]

    vocab, _ = bpe_inference_from(candidates, 256 + 30 + 1, SPECIALS)
    assert len(vocab) == 287 and len(asked) >= 2
    with pytest.raises(DataError, match="give only"):
        bpe_inference_from(lambda extra: pool[:20], 256 + 30 + 1, SPECIALS)
