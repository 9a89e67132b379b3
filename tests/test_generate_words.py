"""T-Free generation: words decoded from a dictionary, fed back through a KV cache."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner

from tests.conftest import REPO
from tests.helpers import script_module
from toklab.datasets.tfree_words import word_bags
from toklab.errors import ConfigError, DataError
from toklab.generation import generate_words
from toklab.models.causal_lm import save_model
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.tfree import TrigramHasher, join_words, save_settings, split_words
from toklab.tokenizers.tfree_dictionary import WordDictionary

WORDS = {"the": 9, "cat": 5, "sat": 4, "on": 4, "mat": 3, "dog": 2, "ran": 2, "<|endoftext|>": 1}


def tiny_tfree(positions: int = 12) -> LlamaModel:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=positions,
        tfree={"m": 4, "k": 0, "entire_words": False},
    )  # fmt: skip
    return LlamaModel(config).eval()


def reference(model, dictionary, prompt, steps, limit):
    """The same generation without a cache: the last ``limit`` words run again every step."""
    dictionary = dictionary.add_words(split_words(prompt))
    sequence, new = split_words(prompt), []
    with torch.no_grad():
        for _ in range(steps):
            bags = word_bags([sequence[-limit:]], dictionary.hasher, torch.device("cpu"))
            (word,) = dictionary.decode(model(bags)[:, -1])
            new.append(word)
            sequence.append(word)
    return new


@pytest.mark.parametrize("steps", [5, 20])  # 20 runs past the 12 positions: the window slides
def test_cached_generation_equals_recomputing_every_step(steps):
    model = tiny_tfree()
    dictionary = WordDictionary.from_counts(WORDS, TrigramHasher(512, 4))
    prompt = "the cat sat on the"
    got = generate_words(model, dictionary, prompt, max_new_words=steps, stop_word=None)
    assert got == reference(model, dictionary, prompt, steps, 12)
    assert len(got) == steps


def test_stops_after_the_stop_word_and_rebuilds_text():
    model = tiny_tfree()
    dictionary = WordDictionary.from_counts(WORDS, TrigramHasher(512, 4))
    words = generate_words(model, dictionary, "the dog", max_new_words=30)
    assert words.count("<|endoftext|>") <= 1
    if "<|endoftext|>" in words:
        assert words[-1] == "<|endoftext|>"
    text = join_words(split_words("the dog") + words)
    assert text.startswith("the dog")
    # sampling with a seeded generator is reproducible
    a = generate_words(model, dictionary, "the", max_new_words=8, temperature=0.5,
                       generator=torch.Generator().manual_seed(3))  # fmt: skip
    b = generate_words(model, dictionary, "the", max_new_words=8, temperature=0.5,
                       generator=torch.Generator().manual_seed(3))  # fmt: skip
    assert a == b


def test_generation_errors():
    model = tiny_tfree()
    dictionary = WordDictionary.from_counts(WORDS, TrigramHasher(256, 4))
    with pytest.raises(DataError, match="'v': 256"):
        generate_words(model, dictionary, "the cat", max_new_words=2)
    dense = LlamaModel(ModelConfig(vocab_size=512, hidden_size=32, intermediate_size=64,
                                   num_hidden_layers=1, num_attention_heads=4))  # fmt: skip
    with pytest.raises(ConfigError, match="T-Free model"):
        generate_words(dense, dictionary, "the cat", max_new_words=2)
    with pytest.raises(DataError, match="no words"):
        generate_words(model, WordDictionary.from_counts(WORDS, TrigramHasher(512, 4)), "",
                       max_new_words=2)  # fmt: skip


def test_generate_script_on_a_tfree_checkpoint(tmp_path):
    model = tiny_tfree(positions=64)
    save_model(model, tmp_path)
    hasher = TrigramHasher(512, 4)
    save_settings(hasher, tmp_path / "tfree.json")
    WordDictionary.from_counts(WORDS, hasher).save(tmp_path / "dictionary.tsv")
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate.py"), "--checkpoint", str(tmp_path),
         "--prompt", "the cat", "--prompt", "a dog ran", "--max-new-tokens", "6",
         "--temperature", "0", "--json"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["prompt"] for r in records] == ["the cat", "a dog ran"]
    for record in records:
        assert 1 <= len(record["words"]) <= 6
        dictionary = WordDictionary.load(tmp_path / "dictionary.tsv", hasher)  # specials too
        allowed = set(dictionary.words) | set(split_words(record["prompt"]))
        assert set(record["words"]) <= allowed
        stopped = record["finish_reason"] == "eos"
        kept = record["words"][:-1] if stopped else record["words"]
        assert record["prompt"] + record["completion"] == join_words(
            split_words(record["prompt"]) + kept
        )


def test_nan_is_not_a_number():
    model = tiny_tfree()
    dictionary = WordDictionary.from_counts(WORDS, TrigramHasher(512, 4))
    for name in ("temperature", "top_p", "edge_weight"):
        with pytest.raises(ConfigError, match=rf"^{name}: nan is not a number$"):
            generate_words(model, dictionary, "the cat", max_new_words=2, **{name: float("nan")})


def test_a_prompt_longer_than_the_positions_warns_how_many_words_are_dropped(caplog):
    model = tiny_tfree(positions=12)
    dictionary = WordDictionary.from_counts(WORDS, TrigramHasher(512, 4))
    with caplog.at_level(logging.WARNING, logger="toklab.generation"):
        generate_words(model, dictionary, " ".join(["the cat sat"] * 4), max_new_words=1)
        assert not caplog.records  # 12 words fit
        got = generate_words(model, dictionary, " ".join(["the cat sat"] * 5), max_new_words=3,
                             stop_word=None)  # fmt: skip
    assert [r.getMessage() for r in caplog.records] == [
        "the prompt has 15 words, more than the model's 12 positions: its first 3 are dropped"
    ]
    assert got == reference(model, dictionary, " ".join(["the cat sat"] * 5), 3, 12)


@pytest.fixture
def tfree_checkpoint(tmp_path):
    save_model(tiny_tfree(positions=64), tmp_path)
    hasher = TrigramHasher(512, 4)
    save_settings(hasher, tmp_path / "tfree.json")
    WordDictionary.from_counts(WORDS, hasher).save(tmp_path / "dictionary.tsv")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--tokenizer", "tok.json"],
            "{ckpt}: --tokenizer applies only to token models, and this is a T-Free checkpoint",
        ),
        (
            ["--start-with-eos", "--context-length", "8"],
            "{ckpt}: --context-length, --start-with-eos apply only to token models, and this is "
            "a T-Free checkpoint",
        ),
        (["--temperature", "nan"], "temperature: nan is not a number"),
        (["--edge-weight", "nan"], "edge_weight: nan is not a number"),
    ],
)
def test_generate_script_refuses_what_a_tfree_checkpoint_does_not_read(
    tfree_checkpoint, args, message
):
    result = CliRunner().invoke(
        script_module("generate.py").main,
        ["--checkpoint", str(tfree_checkpoint), "--prompt", "the cat", *args],
    )
    assert result.exit_code == 1, result.output
    message = message.replace("{ckpt}", str(tfree_checkpoint))
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"
