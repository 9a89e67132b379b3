"""The kinds of LM: chosen from the tokenizer file alone, each bundling what the trainer needs."""

from __future__ import annotations

import pytest

from toklab.errors import ConfigError, DataError
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.tokenizers.tfree import TrigramHasher, save_settings
from toklab.training.config import load_train_config
from toklab.training.lm_kinds import TfreeLM, TokenLM, check_data_kind, lm_kind


def test_the_kind_comes_from_the_tokenizer_file(tmp_path):
    byte_level_tokenizer(["<|endoftext|>", "<pad>"]).save(tmp_path / "bytes")
    token = lm_kind(tmp_path / "bytes" / "tokenizer.json")
    assert isinstance(token, TokenLM)
    assert (token.vocab_size, token.eos_id) == (258, 256)
    assert token.model_overrides() == {} and not token.words
    # T-Free settings are told by their content, whatever the file is called
    save_settings(TrigramHasher(1024, 4, 1), tmp_path / "hasher.json")
    tfree = lm_kind(tmp_path / "hasher.json")
    assert isinstance(tfree, TfreeLM) and tfree.words
    assert (tfree.vocab_size, tfree.tokenizer_file) == (1024, tmp_path / "hasher.json")
    assert tfree.model_overrides() == {
        "tfree": {"m": 4, "k": 1, "entire_words": False},
        "tie_word_embeddings": False,
    }
    bytes_lm = lm_kind(None)
    assert (bytes_lm.vocab_size, bytes_lm.eos_id, bytes_lm.tokenizer_file) == (257, 256, None)


def test_each_kind_names_the_data_it_trains_on(tmp_path):
    save_settings(TrigramHasher(1024, 4), tmp_path / "tfree.json")
    tfree, token = lm_kind(tmp_path / "tfree.json"), TokenLM()
    for data in ("windows", "examples"):
        check_data_kind(token, data)
        check_data_kind(tfree, data)
    check_data_kind(token, "chunks")
    check_data_kind(tfree, "aligned")
    with pytest.raises(ConfigError, match="'aligned': token LMs train on windows of token arrays"):
        check_data_kind(token, "aligned")
    with pytest.raises(ConfigError, match="'chunks': T-Free LMs train on windows of words"):
        check_data_kind(tfree, "chunks")


def test_token_objectives_and_limits():
    config = load_train_config([], [])
    train_objective, valid_objective = TokenLM(300, 3).objectives(config, "unused", None)
    assert type(train_objective).__name__ == type(valid_objective).__name__ == "NextTokenLoss"
    assert TokenLM(300, 3).id_limit("unused") == (300, "the vocab size")
    with pytest.raises(DataError, match="EOS id 300 is outside the vocabulary of 300 tokens"):
        TokenLM(300, 300)
