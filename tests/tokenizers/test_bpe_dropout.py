"""Seeded BPE-dropout against the tokenizer (p = 0) and tokenizers' own dropout; characters."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, models, pre_tokenizers

from toklab.errors import ConfigError
from toklab.tokenizers.bpe_dropout import MergeTable, encode_characters, encode_with_dropout
from toklab.tokenizers.tokenizer_files import save_tokenizer_files

from .test_stochastok import EOT


@pytest.fixture(scope="module")
def gpt2(gpt2_tokenizer):
    """The session's GPT-2 tokenizer.json, its tokenizer and its merge table."""
    path = gpt2_tokenizer
    return path, Tokenizer.from_file(str(path)), MergeTable.from_tokenizer(path)


@pytest.fixture(scope="module")
def shakespeare(shared_data) -> list[str]:
    text = (shared_data / "tinyshakespeare" / "input.txt").read_text()[:60000]
    return [*text.split("\n\n"), f"Hello{EOT}world  héllo 日本語 it's\n\n\t x"]


def decode(tokenizer, ids) -> str:
    return tokenizer.decode(np.asarray(ids).tolist(), skip_special_tokens=False)


def test_p_zero_gives_the_tokenizers_ids(gpt2, shakespeare):
    _, tokenizer, table = gpt2
    ids, offsets = encode_with_dropout(tokenizer, table, shakespeare, 0.0, seed=0, key=0)
    expected = tokenizer.encode_batch(shakespeare, add_special_tokens=False)
    for d, encoding in enumerate(expected):
        assert ids[offsets[d] : offsets[d + 1]].tolist() == encoding.ids


def test_p_zero_equals_a_trained_bpe_with_its_specials(tmp_path, shared_data):
    from toklab.tokenizers.bpe import train_bpe

    corpus = (shared_data / "cs336" / "tinystories_sample.txt").read_text()
    path = tmp_path / "corpus.txt"
    path.write_text(corpus)
    vocab, merges = train_bpe(path, 400, [EOT])
    save_tokenizer_files(tmp_path / "bpe", vocab, merges, [EOT])
    tokenizer = Tokenizer.from_file(str(tmp_path / "bpe" / "tokenizer.json"))
    table = MergeTable.from_tokenizer(tmp_path / "bpe" / "tokenizer.json")
    texts = corpus.split(EOT)[:200]
    ids, offsets = encode_with_dropout(tokenizer, table, texts, 0.0, seed=0, key=0)
    for d, text in enumerate(texts):
        assert ids[offsets[d] : offsets[d + 1]].tolist() == tokenizer.encode(text).ids


@settings(max_examples=40, deadline=None)
@given(text=st.text(max_size=200), p=st.floats(0.0, 1.0), seed=st.integers(0, 2**63))
def test_every_sample_decodes_to_the_text(gpt2, text, p, seed):
    _, tokenizer, table = gpt2
    ids, offsets = encode_with_dropout(tokenizer, table, [text], p, seed=seed, key=1)
    assert decode(tokenizer, ids) == text
    assert offsets.tolist() == [0, len(ids)]
    if p == 1.0:  # every merge dropped: bytes (and specials)
        assert len(ids) == len(text.encode("utf-8"))


def test_samples_are_seeded_per_document(gpt2, shakespeare):
    _, tokenizer, table = gpt2
    whole = encode_with_dropout(tokenizer, table, shakespeare, 0.1, seed=3, key=9)
    again = encode_with_dropout(tokenizer, table, shakespeare, 0.1, seed=3, key=9)
    assert np.array_equal(whole[0], again[0])
    tail = encode_with_dropout(
        tokenizer, table, shakespeare[40:], 0.1, seed=3, key=9, first_document=40
    )
    assert np.array_equal(tail[0], whole[0][whole[1][40] :])
    other = encode_with_dropout(tokenizer, table, shakespeare, 0.1, seed=4, key=9)
    assert not np.array_equal(other[0], whole[0])
    for d, text in enumerate(shakespeare):
        assert decode(tokenizer, whole[0][whole[1][d] : whole[1][d + 1]]) == text


def test_dropout_has_the_distribution_of_tokenizers_dropout(gpt2, shared_data):
    """Mean tokens per word under p = 0.1: toklab's seeded samples against tokenizers' own."""
    path, tokenizer, table = gpt2
    words = (shared_data / "tinyshakespeare" / "input.txt").read_text().split()[:3000]
    texts = [f" {w}" for w in words]
    spec = json.loads(path.read_text())
    reference = Tokenizer(
        models.BPE(
            {k: v for k, v in spec["model"]["vocab"].items()},
            [
                tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
                for m in spec["model"]["merges"]
            ],
            dropout=0.1,
        )
    )
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    repeats = 8
    theirs = np.mean([len(e.ids) for _ in range(repeats) for e in reference.encode_batch(texts)])
    ours = np.mean(
        [
            np.diff(encode_with_dropout(tokenizer, table, texts, 0.1, seed=s, key=0)[1]).mean()
            for s in range(repeats)
        ]
    )
    deterministic = np.mean([len(e.ids) for e in tokenizer.encode_batch(texts)])
    assert ours > deterministic * 1.05  # dropout splits words
    assert abs(ours - theirs) / theirs < 0.02, (ours, theirs, deterministic)


def test_only_bpe_models_and_probabilities(tmp_path, gpt2):
    _, tokenizer, table = gpt2
    wordpiece = Tokenizer(models.WordPiece({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))
    wordpiece.save(str(tmp_path / "wp.json"))
    with pytest.raises(ConfigError, match="needs a BPE tokenizer, not WordPiece"):
        MergeTable.from_tokenizer(tmp_path / "wp.json")
    with pytest.raises(ConfigError, match=r"in \[0, 1\]"):
        encode_with_dropout(tokenizer, table, ["x"], 1.1, seed=0, key=0)


def test_characters_are_encoded_one_by_one(gpt2, shakespeare):
    _, tokenizer, _ = gpt2
    texts = [*shakespeare[:50], "", "naïve café 日本 🙂 \x00"]
    ids, offsets = encode_characters(tokenizer, texts)
    for d, text in enumerate(texts):
        expected = [i for c in text for i in tokenizer.encode(c, add_special_tokens=False).ids]
        assert ids[offsets[d] : offsets[d + 1]].tolist() == expected
        assert decode(tokenizer, ids[offsets[d] : offsets[d + 1]]) == text
    assert offsets[-1] == len(ids)
