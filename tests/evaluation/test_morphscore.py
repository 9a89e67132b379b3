"""MorphScore against a brute-force reference that decodes every token prefix, and gold reading."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.errors import DataError
from toklab.evaluation.morphscore import GoldData, GoldWord, morph_score, read_gold
from toklab.tokenizers.bpe import train_bpe
from toklab.tokenizers.bytespan import build_wordpiece_tokenizer, initial_tokens
from toklab.tokenizers.tokenizer_files import build_hf_tokenizer

ALPHABET = "abdeklmnorst" + "éşı世"


def reference_score(tokenizer, gold: GoldData, prefix_space: bool = True) -> float:
    """Score by decoding each prefix of the token sequence and comparing with the first part."""
    prefix = " " if prefix_space else ""
    hits = scored = 0
    for item in gold.words:
        ids = tokenizer.encode(prefix + item.word, add_special_tokens=False).ids
        if len(ids) < 2:
            continue
        scored += 1
        first = prefix + item.word[: item.boundary]
        hits += any(tokenizer.decode(ids[:k]) == first for k in range(1, len(ids)))
    return hits / scored if scored else math.nan


@pytest.fixture(scope="module")
def training_text(tmp_path_factory):
    import random

    rng = random.Random(0)
    stems = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 6))) for _ in range(40)]
    endings = ["lar", "ış", "é", "世界", "s", "ed", "ing"]
    words = [rng.choice(stems) + rng.choice(endings) for _ in range(3000)]
    path = tmp_path_factory.mktemp("morph") / "text.txt"
    path.write_text(" ".join(words), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def bpe(training_text):
    vocab, merges = train_bpe(training_text, 400, ["<|endoftext|>"])
    return build_hf_tokenizer(vocab, merges, ["<|endoftext|>"])


@pytest.fixture(scope="module")
def wordpiece(training_text):
    """A ByteSpan-style WordPiece vocabulary: the initial tokens plus frequent word pieces."""
    text = training_text.read_text(encoding="utf-8").encode("utf-8")
    spans = sorted({text[i : i + n] for n in (2, 3, 4) for i in range(0, 4000, 7)})
    extra = [(True, b" " + s) for s in spans[:150]] + [(False, s) for s in spans[150:300]]
    return build_wordpiece_tokenizer(initial_tokens() + extra, ["<|endoftext|>"])


WORDS = st.text(alphabet=ALPHABET, min_size=2, max_size=12).flatmap(
    lambda w: st.tuples(st.just(w), st.integers(1, len(w) - 1))
)


@settings(max_examples=30, deadline=None)
@given(st.lists(WORDS, min_size=1, max_size=30), st.booleans())
def test_matches_brute_force(bpe, wordpiece, items, prefix_space):
    gold = GoldData([GoldWord(word, boundary) for word, boundary in items], skipped=0)
    for tokenizer in (bpe, wordpiece):
        expected = reference_score(tokenizer, gold, prefix_space)
        got = morph_score(tokenizer, gold, prefix_space=prefix_space)
        assert got.score == pytest.approx(expected, nan_ok=True)
        assert got.scored_words + got.single_token_words == len(items)


def test_hand_example():
    # merges: li, gh, ligh, light, " light", ed, " ed"
    pairs = [(b"l", b"i"), (b"g", b"h"), (b"li", b"gh"), (b"ligh", b"t"), (b" ", b"light")]
    pairs += [(b"e", b"d"), (b" ", b"ed")]
    vocab = {i: bytes([i]) for i in range(256)}
    vocab.update({256 + k: a + b for k, (a, b) in enumerate(pairs)})
    tokenizer = build_hf_tokenizer(vocab, pairs)
    gold = GoldData([GoldWord("lighted", 5), GoldWord("lights", 4), GoldWord("ed", 1)], 0)
    # " lighted" -> " light" + "ed": hit; " lights" -> " light" + "s": miss (gold cut ligh|ts);
    # " ed" is one token: excluded
    score = morph_score(tokenizer, gold)
    assert (score.score, score.scored_words, score.single_token_words) == (0.5, 2, 1)
    # without the space: "lighted" -> light|ed, "lights" -> light|s, "ed" -> ed
    assert morph_score(tokenizer, gold, prefix_space=False).score == 0.5


def test_a_cut_inside_a_character_is_no_boundary(wordpiece):
    # '世' is three bytes; with only byte tokens for it, cuts fall inside the character
    gold = GoldData([GoldWord("世世", 1)], skipped=0)
    encoding = wordpiece.encode(" 世世", add_special_tokens=False)
    assert len(encoding.ids) >= 6  # byte by byte, so there are cuts inside each character
    expected = reference_score(wordpiece, gold)
    assert morph_score(wordpiece, gold).score == expected


def test_gold_rows_that_do_not_spell_the_word_are_skipped(tmp_path):
    path = tmp_path / "gold.csv"
    path.write_text(
        ",full_word,pt1,rest\n0,walked,walk,ed\n1,runs,ru,s\n2,cats,cats,\n3,x,,x\n",
        encoding="utf-8",
    )
    gold = read_gold(path)
    assert gold.words == [GoldWord("walked", 4)]
    assert gold.skipped == 3


def test_gold_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_gold(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("word,stem\nab,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="lacks columns"):
        read_gold(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("full_word,pt1,rest\nab,b,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="no usable gold words"):
        read_gold(empty)


def test_shared_morphscore_files_read(shared_data):
    english = read_gold(shared_data / "morphscore" / "english_morph_data.csv")
    assert len(english.words) == 2000 and english.skipped == 0
    assert english.words[0] == GoldWord("lighted", 5)
    gujarati = read_gold(shared_data / "morphscore" / "gujarati_morph_data.csv")
    assert gujarati.skipped == 191  # misaligned rows of MorphScore's file


def test_real_gold_data_against_brute_force(bpe, wordpiece, shared_data):
    gold = read_gold(shared_data / "morphscore" / "turkish_morph_data.csv")
    gold = GoldData(gold.words[:300], gold.skipped)
    for tokenizer in (bpe, wordpiece):
        assert morph_score(tokenizer, gold).score == pytest.approx(reference_score(tokenizer, gold))
