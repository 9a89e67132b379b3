"""StochasTok: split tables against brute force, expansion against the original process, caches."""

from __future__ import annotations

import math
import random
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.stochastok import SplitTable, build_split_table, expand_documents
from toklab.tokenizers.tokenizer_files import (
    save_tokenizer_files,
    vocabulary_pieces,
)

EOT = "<|endoftext|>"
#: A vocabulary small enough to enumerate: abc splits two ways, ab and bc one way each.
TINY_VOCAB = {0: b"a", 1: b"b", 2: b"c", 3: b"ab", 4: b"bc", 5: b"abc"}
TINY_MERGES = [(b"a", b"b"), (b"b", b"c"), (b"ab", b"c")]
A, B, C, AB, BC, ABC = range(6)


def chi_square_critical(df: int, z: float = 3.29) -> float:
    """The chi-square quantile at p = 0.0005 (z = 3.29), by Wilson and Hilferty's approximation."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def chi_square(observed: Counter, expected: dict, trials: int) -> float:
    assert set(observed) <= set(expected), set(observed) - set(expected)
    return sum(
        (observed.get(k, 0) - trials * float(p)) ** 2 / (trials * float(p))
        for k, p in expected.items()
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny")
    save_tokenizer_files(directory, TINY_VOCAB, TINY_MERGES, [EOT])
    return directory / "tokenizer.json"


@pytest.fixture(scope="module")
def gpt2_table(gpt2_tokenizer):
    return build_split_table(gpt2_tokenizer)


def brute_force_splits(pieces) -> dict[int, set[tuple[int, int]]]:
    """Every pair (i, j) of tokens whose bytes concatenate to token t's, by a double loop."""
    splits: dict[int, set[tuple[int, int]]] = {}
    for t, whole in enumerate(pieces):
        if whole is None:
            continue
        for i, left in enumerate(pieces):
            for j, right in enumerate(pieces):
                if left and right and left[0] + right[0] == whole[0]:
                    splits.setdefault(t, set()).add((i, j))
    return splits


def test_tiny_table_has_every_binary_split(tiny):
    table = build_split_table(tiny)
    assert table.vocab_size == 7  # six tokens and <|endoftext|>
    assert set(table.splits(ABC)) == {(A, BC), (AB, C)}  # not only BPE's parent (ab, c)
    assert table.splits(AB) == [(A, B)] and table.splits(BC) == [(B, C)]
    assert table.splits(A) == [] and table.splits(6) == []  # bytes and specials have none
    assert table.splittable == 3


def test_gpt2_table_equals_brute_force_on_a_sample(gpt2_tokenizer, gpt2_table):
    pieces = vocabulary_pieces(gpt2_tokenizer)
    ids = {piece[0]: i for i, piece in enumerate(pieces) if piece}
    rng = random.Random(0)
    for t in rng.sample(range(256, 50256), 300):
        data = pieces[t][0]
        expected = {
            (ids[data[:k]], ids[data[k:]])
            for k in range(1, len(data))
            if data[:k] in ids and data[k:] in ids
        }
        assert set(gpt2_table.splits(t)) == expected
    assert gpt2_table.splittable == 50000  # every merged token; not the 256 bytes or EOT
    assert gpt2_table.splits(50256) == []


def test_wordpiece_table_keeps_continuations(tmp_path):
    from tokenizers import models, pre_tokenizers

    from toklab.tokenizers.byte_unicode import encode_bytes

    vocab = {"a": 0, "b": 1, "##b": 2, "##c": 3, "ab": 4, "##bc": 5, "abc": 6, "[UNK]": 7}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.add_special_tokens(["[UNK]"])
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    assert encode_bytes(b"abc") == "abc"
    table = build_split_table(path)
    pieces = vocabulary_pieces(path)
    assert pieces[2] == (b"b", True) and pieces[7] is None
    assert set(table.splits(6)) == {(4, 3), (0, 5)}  # abc = ab + ##c = a + ##bc
    assert table.splits(5) == [(2, 3)]  # ##bc = ##b + ##c
    assert table.splits(4) == [(0, 2)]  # ab = a + ##b, never a + b (b starts a word)
    brute = brute_force_splits(pieces)
    for t, expected in brute.items():
        valid = {(i, j) for i, j in expected if pieces[i][1] == pieces[t][1] and pieces[j][1]}
        assert set(table.splits(t)) == valid


def test_a_vocabulary_without_splits_warns_with_the_count(tmp_path, caplog):
    vocab = {0: b"a", 1: b"b", 2: b"xy"}
    save_tokenizer_files(tmp_path, vocab, [], [EOT])
    with caplog.at_level("WARNING"):
        table = build_split_table(tmp_path / "tokenizer.json")
    assert table.splittable == 0
    assert "only 0 of 1 multi-byte tokens can be split" in caplog.text


def test_cached_table_expands_exactly_like_a_fresh_one(tmp_path, gpt2_tokenizer, gpt2_table):
    # The original cached its table as JSON: string keys, and nothing expanded after run one.
    gpt2_table.save(tmp_path / "splits.npz")
    cached = SplitTable.load(tmp_path / "splits.npz", gpt2_tokenizer)
    tokens = np.array(
        Tokenizer.from_file(str(gpt2_tokenizer)).encode("The quick brown fox " * 50).ids
    )
    offsets = np.array([0, 120, len(tokens)])
    fresh = expand_documents(tokens, offsets, gpt2_table, 0.3, seed=1, key=2)
    again = expand_documents(tokens, offsets, cached, 0.3, seed=1, key=2)
    assert np.array_equal(fresh[0], again[0]) and np.array_equal(fresh[1], again[1])
    assert len(fresh[0]) > len(tokens)  # it did expand


def test_table_for_another_tokenizer_or_corrupt_is_refused(
    tmp_path, tiny, gpt2_tokenizer, gpt2_table
):
    gpt2_table.save(tmp_path / "splits.npz")
    with pytest.raises(DataError, match="built for another tokenizer"):
        SplitTable.load(tmp_path / "splits.npz", tiny)
    (tmp_path / "bad.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataError, match="corrupt split table"):
        SplitTable.load(tmp_path / "bad.npz")
    with pytest.raises(DataError, match="not found"):
        SplitTable.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "pickled.npz", format=np.array([object()], dtype=object))
    with pytest.raises(DataError, match="corrupt split table"):
        SplitTable.load(tmp_path / "pickled.npz")  # never unpickled
    with pytest.raises(DataError, match="outside the split table"):
        expand_documents(np.array([60000]), np.array([0, 1]), gpt2_table, 0.5, seed=0, key=0)


@pytest.mark.parametrize("p", [-0.1, 1.5, math.nan, "0.1"])
def test_p_outside_the_unit_interval_is_refused(tiny, p):
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        expand_documents(
            np.array([ABC]), np.array([0, 1]), build_split_table(tiny), p, seed=0, key=0
        )


# ---------------------------------------------------------------------------------------------
# Expansion: the original process, exactly


def original_distribution(tokens: tuple[int, ...], attempts: int, table: SplitTable) -> dict:
    """The exact distribution of the original algorithm's output, by enumerating its choices.

    Each attempt picks a position uniformly in the current sequence and, when that token has
    splits, replaces it by one of them chosen uniformly.
    """
    states = {tokens: Fraction(1)}
    for _ in range(attempts):
        following: dict[tuple[int, ...], Fraction] = {}
        for state, weight in states.items():
            for position, token in enumerate(state):
                splits = table.splits(token)
                if not splits:
                    following[state] = following.get(state, 0) + weight / len(state)
                for left, right in splits:
                    new = (*state[:position], left, right, *state[position + 1 :])
                    following[new] = following.get(new, 0) + weight / len(state) / len(splits)
        states = following
    return states


@pytest.mark.parametrize(
    ("tokens", "p"),
    [((ABC, AB, C), 0.34), ((ABC, ABC), 1.0), ((ABC, A, BC), 0.67)],
    ids=["one-step", "re-splitting", "two-steps"],
)
def test_expansion_matches_the_original_distribution(tiny, tokens, p):
    table = build_split_table(tiny)
    attempts = int(len(tokens) * p)
    expected = original_distribution(tokens, attempts, table)
    trials = 6000
    array = np.tile(np.array(tokens), trials)
    offsets = np.arange(trials + 1) * len(tokens)
    out, new_offsets = expand_documents(array, offsets, table, p, seed=7, key=3)
    observed = Counter(
        tuple(out[new_offsets[d] : new_offsets[d + 1]].tolist()) for d in range(trials)
    )
    statistic = chi_square(observed, expected, trials)
    assert statistic < chi_square_critical(len(expected) - 1), (statistic, observed, expected)


@settings(max_examples=40, deadline=None)
@given(
    text=st.text(min_size=0, max_size=300),
    p=st.floats(min_value=0.0, max_value=1.0),
    seed=st.integers(min_value=0, max_value=2**63),
)
def test_expansion_keeps_the_text_and_bounds_the_growth(gpt2_tokenizer, gpt2_table, text, p, seed):
    tokenizer = Tokenizer.from_file(str(gpt2_tokenizer))
    tokens = np.array(tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.uint16)
    out, offsets = expand_documents(
        tokens, np.array([0, len(tokens)]), gpt2_table, p, seed=seed, key=0
    )
    assert out.dtype == tokens.dtype
    assert tokenizer.decode(out.tolist(), skip_special_tokens=False) == text
    assert len(tokens) <= len(out) <= len(tokens) + int(len(tokens) * p)
    assert offsets.tolist() == [0, len(out)]


def test_p_zero_is_the_identity_and_p_one_expands_most(gpt2_tokenizer, gpt2_table, shared_data):
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text()[:20000]
    tokens = np.array(Tokenizer.from_file(str(gpt2_tokenizer)).encode(text).ids)
    offsets = np.array([0, len(tokens)])
    same, _ = expand_documents(tokens, offsets, gpt2_table, 0.0, seed=0, key=0)
    assert np.array_equal(same, tokens)
    grown, _ = expand_documents(tokens, offsets, gpt2_table, 1.0, seed=0, key=0)
    assert 1.4 * len(tokens) < len(grown) <= 2 * len(tokens)


def test_expansion_is_seeded_per_document(gpt2_tokenizer, gpt2_table):
    tokenizer = Tokenizer.from_file(str(gpt2_tokenizer))
    docs = [tokenizer.encode(f"Document {i}: the quick brown fox jumps.").ids for i in range(50)]
    tokens = np.concatenate([np.array(d) for d in docs])
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])])
    whole = expand_documents(tokens, offsets, gpt2_table, 0.5, seed=11, key=5)
    assert np.array_equal(
        expand_documents(tokens, offsets, gpt2_table, 0.5, seed=11, key=5)[0], whole[0]
    )
    # documents 20.. alone, as a later chunk: the same ids as in the single pass
    tail, tail_offsets = expand_documents(
        tokens[offsets[20] :], offsets[20:], gpt2_table, 0.5, seed=11, key=5, first_document=20
    )
    assert np.array_equal(tail, whole[0][whole[1][20] :])
    assert np.array_equal(tail_offsets, whole[1][20:] - whole[1][20])
    for other in ({"seed": 12, "key": 5}, {"seed": 11, "key": 6}):
        assert not np.array_equal(
            expand_documents(tokens, offsets, gpt2_table, 0.5, **other)[0], whole[0]
        )
