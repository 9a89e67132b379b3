"""Byte-level Unigram (toklab.tokenizers.unigram) against tokenizers' UnigramTrainer itself."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import tool_env
from toklab.errors import ConfigError, DataError
from toklab.tokenizers.base import save_directory
from toklab.tokenizers.byte_unicode import decode_bytes
from toklab.tokenizers.unigram import (
    PENALTY_STEP,
    byte_alphabet,
    canonical_pieces,
    fit_to_size,
    train_unigram,
)

SPECIALS = ["<|endoftext|>", "<pad>"]
VOCAB = 600
SYLLABLES = (
    "ka to ri mu ne sa lo be di fu ша ко по ли ня дзе 中 文 字 語 의 한 글 ب س ل 😀 🦊 é ü ß ñ"
)


def corpus() -> list[str]:
    """150 documents (48 kB) of words made of Latin, Cyrillic, CJK, Hangul, Arabic and emoji."""
    rng = random.Random(0)
    syllables = SYLLABLES.split()

    def word() -> str:
        return "".join(rng.choice(syllables) for _ in range(rng.randint(1, 4)))

    endings = [".", "!", "\n", "?\n\n", ", 42."]
    return [" ".join(word() for _ in range(40)) + rng.choice(endings) for _ in range(150)]


def reference(texts: list[str], vocab_size: int, special_tokens: list[str]):
    """UnigramTrainer called directly on ``texts``, with the components toklab's BPE uses."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def spec(tokenizer) -> dict:
    return json.loads(tokenizer.to_str())


@pytest.fixture(scope="module")
def docs() -> list[str]:
    return corpus()


@pytest.fixture(scope="module")
def trained(docs):
    return train_unigram(docs, VOCAB, SPECIALS)


def test_equals_the_trainer_up_to_its_hash_order(docs, trained):
    ref_tokenizer = reference(docs, VOCAB, SPECIALS)
    ours, ref = spec(trained.hf_tokenizer), spec(ref_tokenizer)
    assert {k: v for k, v in ours.items() if k != "model"} == {
        k: v for k, v in ref.items() if k != "model"
    }
    assert {k: v for k, v in ours["model"].items() if k != "vocab"} == {
        k: v for k, v in ref["model"].items() if k != "vocab"
    }
    n = len(SPECIALS)
    assert ours["model"]["vocab"][:n] == ref["model"]["vocab"][:n] == [[s, 0.0] for s in SPECIALS]
    ours_scores = dict(map(tuple, ours["model"]["vocab"][n:]))
    ref_scores = dict(map(tuple, ref["model"]["vocab"][n:]))
    assert ours_scores.keys() == ref_scores.keys()
    rounding = 0.5 * 10.0**-4 + 1e-9
    moved = {p for p in ref_scores if abs(ours_scores[p] - ref_scores[p]) > rounding}
    # Only the characters the EM dropped, scored min + k * step in hash order, moved: the same
    # scores, handed out to other characters.
    assert all(len(piece) == 1 for piece in moved)
    assert sorted(ours_scores[p] for p in moved) == pytest.approx(
        sorted(ref_scores[p] for p in moved), abs=rounding
    )
    for doc in docs[:20]:
        assert trained.hf_tokenizer.encode(doc).tokens == ref_tokenizer.encode(doc).tokens


def test_vocabulary_layout(docs, trained):
    tokenizer = trained.hf_tokenizer
    model = spec(tokenizer)["model"]
    assert tokenizer.get_vocab_size() == len(model["vocab"]) == VOCAB
    assert [tokenizer.token_to_id(s) for s in SPECIALS] == [0, 1]
    assert [
        (t.content, t.special, t.normalized) for t in tokenizer.get_added_tokens_decoder().values()
    ] == [(s, True, False) for s in SPECIALS]
    assert (model["type"], model["unk_id"], model["byte_fallback"]) == ("Unigram", None, False)
    alphabet = byte_alphabet()
    vocab = tokenizer.get_vocab()
    assert all(char in vocab for char in alphabet)
    scores = [score for _, score in model["vocab"][len(SPECIALS) :]]
    assert scores == sorted(scores, reverse=True)
    seen = set("".join(docs).encode("utf-8"))
    unseen_ids = [vocab[alphabet[b]] for b in range(256) if b not in seen]
    assert len(unseen_ids) > 100 and unseen_ids == sorted(unseen_ids)  # byte order


def test_specials_are_never_split(trained):
    ids = trained.encode("kato<|endoftext|><pad>ša")
    assert ids[ids.index(0) + 1] == 1 and ids.count(0) == 1
    assert trained.decode(ids) == "kato<|endoftext|><pad>ša"


@settings(max_examples=150, deadline=None)
@given(st.text())
@example("")
@example("naïve café 🦊 — 中文字 의 한글 بسل\n\n\t  trailing  ")
@example("\x00\x01\x7f\x80 \u200d👩‍👩‍👧 e\u0301 \U0001d518\U0001d52b\U0001d526 \U0010ffff")
def test_round_trip(trained, text):
    assert trained.decode(trained.encode(text)) == text


def test_tokens_split_utf8_characters_and_still_round_trip(trained):
    text = "🐍🐍 и 和平 ❤"  # characters the corpus never saw: one token per byte
    tokens = trained.hf_tokenizer.encode(text).tokens
    pieces = [decode_bytes(token) for token in tokens]
    assert b"".join(pieces) == text.encode("utf-8")
    assert any(not _valid_utf8(piece) for piece in pieces)
    assert trained.decode(trained.encode(text)) == text


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def test_deterministic_across_runs_and_processes(docs, trained, tmp_path):
    again = train_unigram(docs, VOCAB, SPECIALS)
    assert again.hf_tokenizer.to_str(pretty=True) == trained.hf_tokenizer.to_str(pretty=True)
    save_directory(trained, tmp_path / "here")
    (tmp_path / "docs.json").write_text(json.dumps(docs), encoding="utf-8")
    code = (
        "import json, sys; from toklab.tokenizers.base import save_directory; "
        "from toklab.tokenizers.unigram import train_unigram; "
        "docs = json.load(open(sys.argv[1], encoding='utf-8')); "
        f"save_directory(train_unigram(docs, {VOCAB}, {SPECIALS!r}), sys.argv[2])"
    )
    env = {**tool_env(), "RAYON_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "docs.json"), str(tmp_path / "there")],
        check=True,
        env=env,
    )
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes()


def test_canonical_pieces_ignores_the_order_of_added_characters():
    alphabet = byte_alphabet()
    trained = [("ab", -1.234567891), ("a", -2.0), ("Ġa", -2.00000001), ("c", -3.5)]
    lowest = -9.0
    added = [alphabet[b] for b in (200, 7, 150)]  # the trainer's hash order
    grid = [(char, lowest + k * PENALTY_STEP) for k, char in enumerate(added)]
    noisy = [(p, s + 1e-14) for p, s in reversed(trained + grid)]
    assert canonical_pieces(trained + grid, alphabet) == canonical_pieces(noisy, alphabet)
    assert canonical_pieces(trained + grid, alphabet) == [
        ("ab", -1.2346),
        ("a", -2.0),
        ("Ġa", -2.0),  # a tie after rounding: by piece
        ("c", -3.5),
        (alphabet[7], -8.9998),  # byte order, highest score first
        (alphabet[150], -8.9999),
        (alphabet[200], -9.0),
    ]


def test_fit_to_size_keeps_the_characters():
    pieces = [("ab", -1.0), ("a", -2.0), ("cd", -3.0), ("b", -4.0), ("c", -5.0), ("ef", -6.0)]
    assert fit_to_size(pieces, 4, ["a", "b", "c"]) == [
        ("ab", -1.0),
        ("a", -2.0),
        ("b", -4.0),
        ("c", -5.0),
    ]
    assert fit_to_size(pieces, 3, ["a", "b", "c"]) == [("a", -2.0), ("b", -4.0), ("c", -5.0)]
    assert fit_to_size(pieces, 6, ["a", "b", "c"]) == pieces


def test_fewer_tokens_than_asked_when_the_corpus_is_small(caplog):
    tokenizer = train_unigram(["hello world, hello there"] * 3, 1000, SPECIALS, source="tiny")
    size = tokenizer.hf_tokenizer.get_vocab_size()
    assert 256 + len(SPECIALS) <= size < 1000
    assert f"tiny: the trainer kept {size} tokens of the 1000 asked for" in caplog.text
    assert tokenizer.decode(tokenizer.encode("hello ☃")) == "hello ☃"


def test_vocab_too_small(docs):
    with pytest.raises(ConfigError) as err:
        train_unigram(docs, 257, SPECIALS)
    assert str(err.value) == (
        "vocab_size 257 is too small: the 256 bytes and 2 special token(s) need at least 258"
    )
    # The smallest size: the trainer alone would keep every piece here (its cut misses).
    smallest = spec(train_unigram(docs, 258, SPECIALS).hf_tokenizer)["model"]["vocab"]
    assert [p for p, _ in smallest[:2]] == SPECIALS
    assert sorted(p for p, _ in smallest[2:]) == sorted(byte_alphabet())
    assert len(spec(reference(docs, 258, SPECIALS))["model"]["vocab"]) > 258


@pytest.mark.parametrize("texts", [[], ["", ""]])
def test_empty_corpus(texts):
    with pytest.raises(DataError, match=r"^corpus/x: no text to train on \(no documents"):
        train_unigram(texts, 300, SPECIALS, source="corpus/x")


def test_special_token_that_is_also_a_piece(docs, trained):
    model = spec(trained.hf_tokenizer)["model"]
    word = next(p for p, _ in model["vocab"] if len(p) > 2 and p.isascii() and p.isalpha())
    with pytest.raises(ConfigError, match=f"special token '{word}' is also an ordinary token"):
        train_unigram(docs, VOCAB, [word])
