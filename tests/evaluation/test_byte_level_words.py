"""The byte-level count of word statistics against the word-ids count it replaces.

The reference is ``word_statistics``' other path: ``encode_batch`` word ids (the tokenizer's own
pre-tokens) and ``decode_batch`` (reversibility), forced by reporting the tokenizer as not a
byte-level BPE. Two small BPEs: one splits characters into bytes, one has every word of the
test text whole (tokens longer than one 8-byte word too).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from toklab.evaluation import byte_level_words, metrics
from toklab.evaluation.byte_level_words import (
    LETTER,
    NUMBER,
    OTHER,
    SPACE,
    TOTALS,
    character_classes,
    count_words,
    token_byte_table,
    word_buffer,
)
from toklab.evaluation.metrics import word_statistics
from toklab.pretokenization import pretokenize
from toklab.tokenizers.byte_unicode import bytes_to_unicode, encode_bytes

TEXT = (
    "The quick brown fox's den, isn't it? We'll see: 1234 naïve cafés\t\n\n  zebras' giraffe   "
    "Ünïcödé 漢字 ١٢٣ 🙃🙃 \u3000\u2003x 'S 'll'd'mTHE\r\n"
)


def byte_level_bpe(vocab_size: int, texts: list[str]) -> Tokenizer:
    """A ByteLevel BPE trained by ``tokenizers`` (no prefix space), one special token."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=["<|endoftext|>"],
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


@pytest.fixture(scope="module")
def small_bpe() -> Tokenizer:
    """Characters split into bytes, short tokens."""
    return byte_level_bpe(300, [TEXT] * 20)


@pytest.fixture(scope="module")
def whole_bpe() -> Tokenizer:
    """Every word of ``TEXT`` one token: " giraffe" has 8 bytes, " Ünïcödé" 12."""
    return byte_level_bpe(400, [TEXT] * 20)


def accumulators(tokenizer, labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero totals and id counts for ``labels`` labels, as word_statistics gives them."""
    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    return np.zeros((labels, len(TOTALS)), np.int64), np.zeros((labels, vocab_size), np.int32)


def both_ways(tokenizer, documents, **kwargs) -> tuple[str, str]:
    """``word_statistics`` the byte-level way and the word-ids way, as comparable text."""

    def run() -> str:
        stats = word_statistics(tokenizer, documents, **kwargs)
        return repr(
            {
                label: (s.summary(), s.first_irreversible, s.reversible_documents, s.token_counts)
                for label, s in stats.items()
            }
        )

    assert byte_level_words.byte_level_bpe(tokenizer)
    fast = run()
    original = metrics.byte_level_bpe
    try:
        metrics.byte_level_bpe = lambda tokenizer: False
        slow = run()
    finally:
        metrics.byte_level_bpe = original
    return fast, slow


def test_character_classes_by_hand():
    classes = character_classes()
    for char, label in [
        ("a", LETTER),
        ("é", LETTER),
        ("漢", LETTER),
        ("1", NUMBER),
        ("\u0661", NUMBER),  # ARABIC-INDIC DIGIT ONE
        ("Ⅻ", NUMBER),
        (" ", SPACE),
        ("\n", SPACE),
        ("\u3000", SPACE),
        ("\x85", SPACE),
        ("!", OTHER),
        ("'", OTHER),
        ("🙃", OTHER),
        ("\u0301", OTHER),  # a combining mark (Mn) is neither a letter nor a number
    ]:
        assert classes[ord(char)] == label, char
    assert classes[0xD800:0xE000].tolist() == [OTHER] * 0x800  # surrogates


def token_bytes(words: np.ndarray, row: np.ndarray) -> bytes:
    """A token's bytes from ``token_byte_table``'s words and its row of the table."""
    offset, length = int(row[0]) >> 16, int(row[0]) & 0xFFFF
    assert row[1] == words[offset]  # the row holds the first word
    return words.view(np.uint8)[8 * offset : 8 * offset + length].tobytes()


def test_token_byte_table_gives_bytes_and_marks_the_rest(whole_bpe):
    words, table = token_byte_table(whole_bpe)
    assert table.shape == (whole_bpe.get_vocab_size(with_added_tokens=True), 2)
    special = whole_bpe.token_to_id("<|endoftext|>")
    assert table[special].tolist() == [0, 0]
    for token, index in whole_bpe.get_vocab(with_added_tokens=False).items():
        if index == special:
            continue
        assert encode_bytes(token_bytes(words, table[index])) == token
        offset, length = int(table[index, 0]) >> 16, len(token)
        padding = words.view(np.uint8)[8 * offset + length : 8 * (offset + (length + 7) // 8)]
        assert not padding.any()
    for word in ("ab", " naïve", "漢字"):  # a word's tokens spell its bytes
        ids = whole_bpe.encode(word).ids
        assert b"".join(token_bytes(words, table[i]) for i in ids) == word.encode()
    assert max(int(length) & 0xFFFF for length in table[:, 0]) > 8  # longer than one word


def count(
    tokenizer, texts: list[str], ids: list[list[int]] | None = None, labels: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count_words`` of ``texts`` with these ``ids`` (default: the tokenizer's), one batch."""
    if ids is None:
        ids = [e.ids for e in tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    labels = labels or [0] * len(texts)
    totals, counts = accumulators(tokenizer, max(labels) + 1)
    done = count_words(
        word_buffer([text.encode() for text in texts]),
        np.cumsum([0] + [len(text.encode()) for text in texts]),
        np.array([i for document in ids for i in document], dtype=np.int32),
        np.cumsum([0] + [len(document) for document in ids]),
        np.array(labels),
        *token_byte_table(tokenizer),
        character_classes(),
        totals,
        counts,
    )
    return done, totals, counts


def test_hand_computed_words_and_split_words(small_bpe):
    words = ["ab", " ab", " a", "'s", "  ", " 1", "\n"]  # the GPT-2 words of the first text
    assert pretokenize("ab ab a's   1\n") == words
    done, totals, counts = count(small_bpe, ["ab ab a's   1\n", "", "'ll"], labels=[0, 1, 0])
    assert done.tolist() == [True, True, True]
    per_word = [len(small_bpe.encode(w).ids) for w in [*words, "'ll"]]  # each word alone
    words, split, tokens, num_bytes, docs = totals[0]
    assert (words, docs, num_bytes) == (8, 2, 17)
    assert split == sum(n > 1 for n in per_word)
    assert tokens == sum(per_word) == counts[0].sum()
    assert totals[1].tolist() == [0, 0, 0, 0, 1]


def test_every_document_a_bpe_spells_is_counted(small_bpe, whole_bpe):
    """Nothing goes the slow way without a reason (tokens of 8 and 12 bytes here)."""
    assert [len(whole_bpe.encode(word).ids) for word in (" giraffe", " Ünïcödé")] == [1, 1]
    texts = [TEXT[i:] + TEXT[: i // 2] for i in range(0, 120, 7)] + ["", " ", "🙃", "'"]
    for tokenizer in (small_bpe, whole_bpe):
        done, totals, _ = count(tokenizer, texts)
        assert done.all()
        assert totals[0, 3] == sum(len(text.encode()) for text in texts)


def test_tokens_that_do_not_spell_the_document_hand_it_back(small_bpe, whole_bpe):
    text = "ab ab"
    ids = small_bpe.encode(text).ids
    last = small_bpe.id_to_token(ids[-1])
    other = next(  # a token as long as the last one, other bytes (one character a byte)
        index
        for token, index in small_bpe.get_vocab(with_added_tokens=False).items()
        if len(token) == len(last) and token not in (last, "<|endoftext|>")
    )
    special = small_bpe.token_to_id("<|endoftext|>")
    for candidate in (ids[:-1], [special, *ids[1:]], [*ids[:-1], other], [*ids, ids[0]]):
        done, totals, counts = count(small_bpe, [text], [candidate])
        assert not done[0] and not totals.any() and not counts.any()
    past = small_bpe.get_vocab_size(with_added_tokens=True)  # an id past the vocabulary
    done, totals, _ = count(small_bpe, ["a", "a"], [[small_bpe.token_to_id("a")], [past]])
    assert done.tolist() == [True, False] and totals[0, 4] == 1
    # A 12-byte token, its second word wrong: " Ünïcödè" is not " Ünïcödé".
    ids = whole_bpe.encode(" Ünïcödé").ids
    assert len(ids) == 1
    done, totals, counts = count(whole_bpe, [" Ünïcödè"], [ids])
    assert not done[0] and not totals.any() and not counts.any()


def test_a_token_across_a_word_end_hands_the_document_back():
    """Tokens that spell the text but cross a word's end (no BPE does that) are not counted."""
    alphabet = [bytes_to_unicode()[b] for b in range(256)]
    vocab = {char: index for index, char in enumerate(alphabet)} | {"sa": 256}
    tokenizer = Tokenizer(models.BPE(vocab, [("s", "a")]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    text = "'sa"  # the words "'s" and "a"
    for ids, counted in (([ord("'"), ord("s"), ord("a")], True), ([ord("'"), 256], False)):
        done, totals, _ = count(tokenizer, [text], [ids])
        assert done[0] == counted
        assert totals[0].tolist() == ([2, 1, 3, 3, 1] if counted else [0] * 5)


def test_the_demo_text_both_ways(small_bpe, whole_bpe):
    documents = [(["a", "b", "c"][i % 3], TEXT[i:] + TEXT[: i // 2]) for i in range(0, 120, 7)]
    for tokenizer in (small_bpe, whole_bpe):
        fast, slow = both_ways(tokenizer, documents, batch_size=4)
        assert fast == slow


# Any code point but surrogates (which UTF-8 cannot hold): both ways use the tokenizer's own
# regex engine, so recent or unassigned characters are classified alike.
CHARACTERS = st.characters(codec="utf-8")
WORDY = st.sampled_from([" ", "  ", "\n", "\t", "'s", "'ll", "'re", "'x", " '", "a", "1", "!", "é"])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["en", "fr"]),
            st.lists(st.one_of(st.text(CHARACTERS, max_size=6), WORDY), max_size=12).map("".join),
        ),
        min_size=1,
        max_size=7,
    ),
    st.integers(1, 3),
)
def test_random_text_both_ways(small_bpe, whole_bpe, documents, batch_size):
    for tokenizer in (small_bpe, whole_bpe):
        fast, slow = both_ways(tokenizer, documents, batch_size=batch_size)
        assert fast == slow


def test_unknown_and_added_tokens_go_the_word_ids_way():
    """Unk tokens and a non-special added token: those documents are counted from word ids."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=280, special_tokens=["<unk>", "<|endoftext|>"], show_progress=False
    )
    tokenizer.train_from_iterator(["the cat sat on the mat, the end\n"] * 10, trainer)
    tokenizer.add_tokens([AddedToken("mat", special=False)])
    documents = [
        ("x", "the cat sat"),  # byte-level
        ("x", "the zebra sat"),  # z, b, r are unknown
        ("y", "on the mat"),  # the added token
        ("y", "the end\n"),
        ("x", "<|endoftext|> cat"),  # the special token's text is text
    ]
    fast, slow = both_ways(tokenizer, documents, batch_size=2)
    assert fast == slow
    stats = word_statistics(tokenizer, documents)
    assert stats["x"].summary()["num_unk"] >= 1
    assert stats["x"].first_irreversible == "the zebra sat"


def test_counts_move_on_before_int32_could_overflow(small_bpe, monkeypatch):
    documents = [("en", TEXT), ("fr", TEXT[::-1]), ("en", TEXT[:50])] * 3
    expected, _ = both_ways(small_bpe, documents, batch_size=2)
    monkeypatch.setattr(metrics._ByteLevelCount, "MAX_UNMOVED", 100)  # about one batch
    fast, slow = both_ways(small_bpe, documents, batch_size=2)
    assert fast == slow == expected


def test_progress_reports_every_batch_s_bytes(small_bpe):
    documents = [("x", "naïve"), ("x", "ab"), ("y", "🙃")]
    seen: list[int] = []
    word_statistics(small_bpe, documents, batch_size=2, progress=seen.append)
    assert seen == [len("naïveab".encode()), len("🙃".encode())]
