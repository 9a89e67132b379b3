"""The kinds of LM: chosen from the tokenizer file or the checkpoint, each bundling its parts."""

from __future__ import annotations

import pytest

from tests.helpers import TINY_MODEL
from toklab.errors import ConfigError, DataError
from toklab.generation import GenerationOptions, TokenGeneration, WordGeneration
from toklab.models.causal_lm import save_model
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.tokenizers.tfree import TrigramHasher, save_settings
from toklab.training.config import load_train_config
from toklab.training.lm_kinds import (
    TfreeLM,
    TokenLM,
    check_data_kind,
    checkpoint_kind,
    lm_kind,
    refuse_other_kinds_options,
)


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


def save_tiny(directory, **config):
    save_model(LlamaModel(ModelConfig(**TINY_MODEL, **config)), directory)


def test_the_kind_of_a_checkpoint_comes_from_its_config(tmp_path):
    save_tiny(tmp_path / "token", vocab_size=257)
    save_tiny(tmp_path / "tfree", vocab_size=512, tfree={"m": 4, "k": 0, "entire_words": False})
    assert checkpoint_kind(tmp_path / "token") is TokenLM
    assert checkpoint_kind(tmp_path / "tfree") is TfreeLM
    assert checkpoint_kind(tmp_path / "empty") is TokenLM  # no config.json: not T-Free's
    # each kind decodes its own way; the token kind finds its tokenizer file at once
    options = GenerationOptions(tokenizer=tmp_path / "tok.json")
    with pytest.raises(DataError, match=r"tok\.json: tokenizer file not found"):
        TokenLM.generation(tmp_path / "token", options)
    words = TfreeLM.generation(tmp_path / "tfree", GenerationOptions())
    assert isinstance(words, WordGeneration) and words.unit == "words"
    assert words.dictionary_file == tmp_path / "tfree" / "dictionary.tsv"
    byte_level_tokenizer(["<|endoftext|>"]).save(tmp_path / "token")
    tokens = TokenLM.generation(tmp_path / "token", GenerationOptions())
    assert isinstance(tokens, TokenGeneration) and tokens.unit == "tokens"
    assert tokens.tokenizer_file == tmp_path / "token" / "tokenizer.json"


def test_each_kind_selects_its_own_case(tmp_path):
    save_settings(TrigramHasher(1024, 4), tmp_path / "tfree.json")
    tfree = lm_kind(tmp_path / "tfree.json", tmp_path / "dictionary.tsv")
    assert tfree.dictionary == tmp_path / "dictionary.tsv"
    cases = {"token_lm": lambda kind: ("token", kind), "tfree_lm": lambda kind: ("tfree", kind)}
    assert tfree.select(**cases) == ("tfree", tfree)
    token = TokenLM()
    assert token.select(**cases) == ("token", token)


@pytest.mark.parametrize(
    ("kind", "given", "message"),
    [
        (TokenLM, {"--dictionary"}, "--dictionary applies only to T-Free checkpoints, and this "
         "is a token model"),
        (TokenLM, {"--edge-weight", "--scoring", "--prompt"}, "--scoring, --edge-weight apply "
         "only to T-Free checkpoints, and this is a token model"),
        (TfreeLM, {"--tokenizer"}, "--tokenizer applies only to token models, and this is a "
         "T-Free checkpoint"),
        (TfreeLM, {"--start-with-eos", "--context-length"}, "--context-length, --start-with-eos "
         "apply only to token models, and this is a T-Free checkpoint"),
    ],
)  # fmt: skip
def test_options_of_the_other_kind_are_one_line_errors(kind, given, message):
    with pytest.raises(ConfigError) as raised:
        refuse_other_kinds_options(kind, given, "ckpt")
    assert str(raised.value) == f"ckpt: {message}"


def test_a_kind_s_own_options_pass():
    for kind in (TokenLM, TfreeLM):
        refuse_other_kinds_options(kind, {*kind.generation_options, "--seed", "--json"}, "ckpt")
