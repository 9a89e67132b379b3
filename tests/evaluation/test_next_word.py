"""Next-word accuracy: the same items for every model, token models and T-Free alike."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import TINY_MODEL, byte_corpus
from toklab.datasets.tfree_words import tokenize_words
from toklab.errors import ConfigError, DataError
from toklab.evaluation.language_models import (
    NextWordSettings,
    TokenEvaluation,
    WordEvaluation,
    evaluate_language_model,
)
from toklab.evaluation.next_word import (
    LETTERS,
    NextWordItem,
    next_item,
    next_word_accuracy,
    next_word_items,
    tfree_guesses,
    token_guesses,
)
from toklab.models.causal_lm import save_model
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.tokenizers.tfree import TrigramHasher, join_words, save_settings, split_words
from toklab.tokenizers.tfree_dictionary import WordDictionary
from toklab.training.lm_kinds import lm_kind

TEXTS = [
    "the cat sat on the mat and the dog sat on the log, 42 times.",
    "short one",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
]


def test_items_are_letter_words_after_a_full_context():
    items = next_word_items(TEXTS, context_words=4, max_items=100, per_document=3)
    for item in items:
        assert len(item.context) == 4 and LETTERS.fullmatch(item.target)
    # each item's context is the words right before its target in its document
    first = split_words(TEXTS[0])
    for item in items[:3]:
        joined = join_words([*item.context, item.target])
        assert joined in TEXTS[0] or joined in join_words(first)
    assert len(items) == 6  # 3 per long document, none from "short one"
    assert next_word_items(TEXTS, context_words=4, max_items=4, per_document=3)[:4] == items[:4]
    assert len(next_word_items(TEXTS, context_words=4, max_items=4)) == 4
    with pytest.raises(ConfigError, match="context_words"):
        next_word_items(TEXTS, context_words=0, max_items=4)


def test_items_among_the_most_frequent_words():
    """frequent_words N: only the N most frequent letter words are targets (ties: seen first)."""
    items = next_word_items(TEXTS, context_words=4, max_items=100, per_document=100,
                            frequent_words=2)  # fmt: skip
    # "the" (4 times) and "sat" (twice; "on" too, but seen later) of the first document
    assert [item.target for item in items] == ["the", "the", "sat", "the"]
    everything = next_word_items(TEXTS, context_words=4, max_items=100, per_document=100)
    assert [i for i in everything if i.target in ("the", "sat")] == items
    with pytest.raises(ConfigError, match="frequent_words"):
        next_word_items(TEXTS, context_words=4, max_items=4, frequent_words=-1)


def test_the_guess_is_the_item_after_the_context():
    context = ("the", "black")
    assert next_item(context, " cat sat") == "cat"
    assert next_item(context, ", and") == ","
    assert next_item(context, "") == ""
    # whitespace before the word is an item of its own, as it is for T-Free
    assert next_item(context, "\n\ncat") == split_words("black\n\ncat")[1]
    assert next_item(context, "\n\ncat") != "cat"
    # a continuation of the context's last word is no next word
    assert next_item(("the", "bla"), "ck cat") == ""


def test_contexts_never_end_in_a_no_space_marker():
    items = next_word_items(["a b c d 2apples e f g"], context_words=2, max_items=50,
                            per_document=50)  # fmt: skip
    assert items and all(item.context[-1] != "<|no_ws|>" for item in items)
    assert "apples" not in [item.target for item in items]
    # documents the word split refuses (NUL) give no items instead of failing every model
    assert next_word_items(["a\x00b c d e"], context_words=1, max_items=5) == []


class ScriptedLM(nn.Module):
    """A byte LM that continues any prompt with ``script`` (its logits pick the next byte)."""

    def __init__(self, prompt_lengths: dict[int, bytes]) -> None:
        super().__init__()
        self.scripts = prompt_lengths
        self.anchor = nn.Parameter(torch.zeros(1))
        self.start: int | None = None

    def forward(self, ids):
        length = ids.shape[1]
        if self.start is None or length <= self.start:
            self.start = length
        script = self.scripts[self.start]
        position = length - self.start
        logits = torch.full((1, length, 257), -10.0)
        logits[0, -1, script[position] if position < len(script) else 256] = 10.0
        return logits


def test_token_guesses_read_the_first_generated_word():
    tokenizer = byte_level_tokenizer().hf_tokenizer
    items = [
        NextWordItem(("the", "black"), "cat"),
        NextWordItem(("one", "more"), "dog"),
    ]
    lengths = {len(join_words(item.context).encode()): script for item, script in
               zip(items, [b" cat sat", b" doge"], strict=True)}  # fmt: skip
    result = next_word_accuracy(
        items,
        lambda batch: token_guesses(ScriptedLM(lengths), tokenizer, batch, max_new_tokens=8,
                                    eos_id=256, progress=False),
    )  # fmt: skip
    assert result["next_word_accuracy"] == 0.5 and result["next_word_stderr"] == pytest.approx(
        0.5 / 2**0.5
    )
    assert [e["guess"] for e in result["next_word_examples"]] == ["cat", "doge"]


class PatternLM(nn.Module):
    """A T-Free 'model' whose last logits are the pattern of a chosen word per row."""

    def __init__(self, dictionary: WordDictionary, targets: list[str]) -> None:
        super().__init__()
        self.dictionary, self.targets = dictionary, targets
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, inputs):
        batch, length = inputs.shape
        logits = torch.full((batch, length, self.dictionary.hasher.v), -8.0)
        for row, word in enumerate(self.targets[:batch]):
            logits[row, -1, torch.from_numpy(self.dictionary.pattern(word).ids)] = 8.0
        self.targets = self.targets[batch:]
        return logits


def test_tfree_guesses_decode_each_row_from_its_own_logits():
    hasher = TrigramHasher(4096, 4)
    dictionary = WordDictionary.from_counts({"cat": 5, "dog": 4, "mat": 3, "log": 1}, hasher)
    items = [NextWordItem(("a", "b"), w) for w in ("cat", "dog", "mat", "log", "cat")]
    model = PatternLM(dictionary, ["cat", "dog", "mat", "dog", "cat"])
    result = next_word_accuracy(
        items, lambda batch: tfree_guesses(model, dictionary, batch, batch_size=2, progress=False)
    )
    assert [e["guess"] for e in result["next_word_examples"]] == ["cat", "dog", "mat", "dog", "cat"]
    assert result["next_word_accuracy"] == pytest.approx(4 / 5)


def test_no_items_leave_the_accuracy_empty():
    result = next_word_accuracy([], lambda batch: [])
    assert math.isnan(result["next_word_accuracy"]) and result["next_word_items"] == 0


@pytest.fixture
def tfree_run(tmp_path):
    """A T-Free model (untrained), its settings, dictionary, word arrays and text."""
    texts = [" ".join(["the cat sat on the mat"] * 12) for _ in range(6)]
    corpus = byte_corpus(tmp_path, texts, "text")
    hasher = TrigramHasher(256, 4)
    settings = tmp_path / "tok" / "tfree.json"
    settings.parent.mkdir()
    save_settings(hasher, settings)
    dictionary = tmp_path / "tok" / "dictionary.tsv"
    WordDictionary.from_counts({"the": 2, "cat": 1, "sat": 1, "on": 1, "mat": 1}, hasher).save(
        dictionary
    )
    tokenize_words(settings, corpus, tmp_path / "words")
    torch.manual_seed(0)
    model = LlamaModel(
        ModelConfig(vocab_size=256, tfree={"m": 4, "k": 0, "entire_words": False}, **TINY_MODEL)
    )
    save_model(model, tmp_path / "model")
    return tmp_path, settings, dictionary, corpus


def test_tfree_model_evaluation(tfree_run):
    root, settings, dictionary, corpus = tfree_run
    # the loss's settings are the run's (its train_config.json)
    (root / "model" / "train_config.json").write_text(
        json.dumps({"multi_label": {"pos_weight": 10.0, "loss_scale": 1.0}})
    )
    result = evaluate_language_model(
        root / "model", root / "words", lm_kind(settings, dictionary), context=16, stride=4,
        batch_size=4, next_word=NextWordSettings(corpus, context_words=8, max_items=20),
    )  # fmt: skip
    assert math.isnan(result["bits_per_byte"]) and result["objective"] == "multi_label"
    assert result["vocab_size"] == 256 and result["embedding_parameters"] == 2 * 256 * 32
    assert result["val_loss"] > 0 and result["next_word_items"] == 20
    assert 0.0 <= result["next_word_accuracy"] <= 1.0
    assert result["tokens_per_byte"] == pytest.approx(result["val_tokens"] / result["val_bytes"])
    guesses = {e["guess"] for e in result["next_word_examples"]}
    assert guesses <= set(WordDictionary.load(dictionary, TrigramHasher(256, 4)).words)


def test_tfree_evaluation_refuses_other_settings(tfree_run):
    root, _, dictionary, _ = tfree_run
    other = root / "other.json"
    save_settings(TrigramHasher(256, 5), other)
    with pytest.raises(DataError, match="another tokenizer"):
        evaluate_language_model(
            root / "model", root / "words", lm_kind(other, dictionary), context=16, stride=16
        )


def test_next_word_items_are_deterministic():
    texts = [" ".join(np.random.default_rng(i).choice(["ab", "cd", "ef"], 50)) for i in range(5)]
    a = next_word_items(texts, context_words=5, max_items=12, per_document=4)
    assert a == next_word_items(texts, context_words=5, max_items=12, per_document=4)
    assert len(a) == 12


def test_tfree_evaluation_refuses_a_model_of_other_settings(tfree_run):
    """The array fits the settings, the model was trained with another m: an error."""
    root, settings, dictionary, _ = tfree_run
    other = LlamaModel(
        ModelConfig(vocab_size=256, tfree={"m": 5, "k": 0, "entire_words": False}, **TINY_MODEL)
    )
    save_model(other, root / "other_model")
    with pytest.raises(DataError, match="T-Free settings"):
        evaluate_language_model(
            root / "other_model", root / "words", lm_kind(settings, dictionary), context=16,
            stride=16,
        )  # fmt: skip


def test_the_kind_of_the_tokenizer_file_picks_the_evaluation(tfree_run):
    """A token model scored as T-Free (or T-Free without a dictionary): one-line errors."""
    root, settings, dictionary, corpus = tfree_run
    byte_level_tokenizer(["<|endoftext|>"]).save(root / "bytes")
    token_kind = lm_kind(root / "bytes" / "tokenizer.json")
    assert isinstance(token_kind.select(token_lm=TokenEvaluation, tfree_lm=WordEvaluation),
                      TokenEvaluation)  # fmt: skip
    save_model(LlamaModel(ModelConfig(vocab_size=257, **TINY_MODEL)), root / "token_model")
    with pytest.raises(DataError, match=r"^\S+token_model: the model's T-Free settings \(None\)"):
        evaluate_language_model(
            root / "token_model", root / "words", lm_kind(settings, dictionary), context=16,
            stride=16,
        )  # fmt: skip
    without = lm_kind(settings)
    assert isinstance(without.select(token_lm=TokenEvaluation, tfree_lm=WordEvaluation),
                      WordEvaluation)  # fmt: skip
    with pytest.raises(ConfigError, match="needs its word dictionary"):
        evaluate_language_model(
            root / "model", root / "words", without, context=16, stride=16,
            next_word=NextWordSettings(corpus, context_words=8, max_items=4),
        )  # fmt: skip


def test_tfree_guesses_feed_each_context_as_its_words_bags():
    hasher = TrigramHasher(4096, 4)
    dictionary = WordDictionary.from_counts({"cat": 5, "dog": 4}, hasher)
    items = [NextWordItem(("a", "big"), "cat"), NextWordItem(("the", "a"), "dog")]
    seen = []

    class Recording(PatternLM):
        def forward(self, inputs):
            seen.append(inputs)
            return super().forward(inputs)

    tfree_guesses(Recording(dictionary, ["cat", "dog"]), dictionary, items, progress=False)
    (inputs,) = seen
    sizes = np.diff(np.append(inputs.offsets.numpy(), len(inputs.ids)))
    bags = np.split(inputs.ids.numpy(), np.cumsum(sizes)[:-1])
    for bag, word in zip(bags, [w for item in items for w in item.context], strict=True):
        assert sorted(bag.tolist()) == sorted(hasher.word_rows(word).ravel().tolist())
