"""Next-word accuracy: the same items for every model, token models and T-Free alike."""

from __future__ import annotations

import json
import math
from collections import Counter

import numpy as np
import pytest
import torch
from torch import nn

from tests.helpers import TINY_MODEL, byte_corpus, byte_level_bpe
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
    boundary_ids,
    choice_credit,
    next_item,
    next_word_accuracy,
    next_word_items,
    tfree_choice_scores,
    tfree_guesses,
    token_choice_scores,
    token_guesses,
)
from toklab.models.causal_lm import save_model
from toklab.models.llama import LlamaModel, ModelConfig
from toklab.tokenizers.byte_level import byte_level_tokenizer
from toklab.tokenizers.tfree import TrigramHasher, join_words, save_settings, split_words
from toklab.tokenizers.tfree_dictionary import WordDictionary
from toklab.tokenizers.tokenizer_files import load_tokenizer
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


#: Words with prefixes among them ("ev" begins "evler"), drawn with unequal frequencies.
CHOICE_WORDS = ["ev", "evler", "kedi", "kediler", "su", "yol", "dag", "gol", "kus", "ada"]


def choice_texts(documents: int = 20, length: int = 40) -> list[str]:
    rng = np.random.default_rng(7)
    weights = np.arange(len(CHOICE_WORDS), 0, -1) ** 2.0
    return [" ".join(rng.choice(CHOICE_WORDS, length, p=weights / weights.sum()))
            for _ in range(documents)]  # fmt: skip


def test_distractors_are_other_words_of_the_text_drawn_by_frequency():
    texts = choice_texts()
    items = next_word_items(texts, context_words=3, max_items=200, per_document=10, choices=4)
    assert len(items) == 200
    for item in items:
        assert len(item.distractors) == 3 and len(set(item.candidates)) == 4
        for word in item.distractors:
            # never the target, a beginning of it, or a word it begins
            assert not word.startswith(item.target) and not item.target.startswith(word)
    # the same items and distractors for every model; another seed draws others
    again = next_word_items(texts, context_words=3, max_items=200, per_document=10, choices=4)
    assert again == items
    other = next_word_items(texts, context_words=3, max_items=200, per_document=10, choices=4,
                            seed=1)  # fmt: skip
    assert [i.target for i in other] == [i.target for i in items] and other != items
    # by frequency: the most frequent word is drawn far more often than the rarest
    drawn = Counter(w for item in items for w in item.distractors)
    assert drawn["ev"] > 3 * drawn["ada"]
    # without choices, no distractors: the exact measure's items are unchanged
    plain = next_word_items(texts, context_words=3, max_items=200, per_document=10)
    assert [(i.context, i.target) for i in plain] == [(i.context, i.target) for i in items]
    assert all(not i.distractors for i in plain)


def test_distractors_among_the_frequent_words_and_too_few_words():
    texts = choice_texts()
    top = {w for w, _ in Counter(w for t in texts for w in t.split()).most_common(5)}
    items = next_word_items(texts, context_words=3, max_items=50, frequent_words=5, choices=3)
    assert all(set(item.candidates) <= top for item in items)
    # "ev" begins "evler": 3 unrelated words among the 5 for 4 distractors
    with pytest.raises(DataError, match="fewer than 4 words unrelated to"):
        next_word_items(texts, context_words=3, max_items=50, frequent_words=5, choices=5)
    with pytest.raises(ConfigError, match="choices 6 need at least as many words"):
        next_word_items(texts, context_words=3, max_items=50, frequent_words=5, choices=6)
    with pytest.raises(ConfigError, match="choices must be 0"):
        next_word_items(texts, context_words=3, max_items=5, choices=1)


def test_rare_unrelated_words_fill_the_distractors():
    """Nearly all of the text is words related to the target: the few others are found."""
    text = " ".join(["ev", "evler"] * 200 + ["kus", "ada"])
    items = next_word_items([text], context_words=2, max_items=20, per_document=20, choices=3)
    for item in items:
        if item.target in ("ev", "evler"):
            assert set(item.distractors) == {"kus", "ada"}


def test_choice_credit_shares_ties_at_the_top():
    assert choice_credit([3.0, 1.0, 2.0]) == 1.0
    assert choice_credit([1.0, 3.0, 2.0]) == 0.0
    assert choice_credit([3.0, 3.0, 1.0, 3.0]) == pytest.approx(1 / 3)


def test_the_choice_measure_and_its_control():
    items = [NextWordItem((c,), t, d) for c, t, d in
             (("a", "cat", ("dog", "mat")), ("b", "dog", ("cat", "mat")),
              ("c", "mat", ("cat", "log")), ("d", "log", ("mat", "cat")))]  # fmt: skip
    right = {"a": [0.0, -1.0, -2.0], "b": [-3.0, -1.0, -2.0], "c": [-1.0, -1.0, -5.0],
             "d": [0.0, 1.0, 2.0]}  # fmt: skip
    seen = []

    def choose(batch):
        seen.append([(i.context, i.target) for i in batch])
        # with its own context a row scores as in ``right``; after another, the target first
        return [right[i.context[0]] if (i.context, i.target) in own else [1.0, 0.0, 0.0]
                for i in batch]  # fmt: skip

    own = {(i.context, i.target) for i in items}
    result = next_word_accuracy(items, lambda batch: ["cat"] * 4, choose)
    assert result["next_word_choice_accuracy"] == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert result["next_word_choice_control"] == 1.0
    assert result["next_word_choices"] == 3 and result["next_word_accuracy"] == pytest.approx(1 / 4)
    assert [e["choice"] for e in result["next_word_examples"]] == ["cat", "cat", "mat", "cat"]
    # the control: item i after item (i + 2) mod 4's context, the same candidates
    assert seen[1] == [(("c",), "cat"), (("d",), "dog"), (("a",), "mat"), (("b",), "log")]
    # items without distractors leave the choice measure out
    plain = [NextWordItem(i.context, i.target) for i in items]
    assert "next_word_choice_accuracy" not in next_word_accuracy(
        plain, lambda batch: ["cat"] * 4, choose
    )


def _reference_word_score(model, ids: list[int], start: int, boundary: list[int]) -> float:
    """log P(ids[start:] | ids[:start]) + log P(a boundary id after them), one full forward."""
    with torch.no_grad():
        logprobs = torch.log_softmax(model(torch.tensor([ids])).float(), dim=-1)[0]
    tokens = sum(float(logprobs[j - 1, ids[j]]) for j in range(start, len(ids)))
    return tokens + float(torch.logsumexp(logprobs[-1, boundary], dim=0))


def test_token_choice_scores_score_running_text_then_a_word_boundary(tmp_path):
    """Against one forward pass per candidate: the candidates encoded with their context.

    The context ends in two spaces: on its own they encode as one token, but in running text
    the second space goes with the next word, which is how the model saw such text.
    """
    path = byte_level_bpe(tmp_path, [(b" ", b" "), (b" ", b"d"), (b"o", b"g")], [])
    tokenizer = load_tokenizer(path)
    boundary = boundary_ids(path)
    torch.manual_seed(0)
    model = LlamaModel(ModelConfig(vocab_size=tokenizer.get_vocab_size(), **TINY_MODEL)).eval()
    words = split_words("the cat  dog")
    item = NextWordItem(tuple(words[:-1]), "dog", ("kedi", "su", "dag"))
    (scores,) = token_choice_scores(model, tokenizer, [item], boundary, progress=False)
    encoded = [tokenizer.encode(join_words((*item.context, w))).ids for w in item.candidates]
    context_alone = tokenizer.encode(join_words(item.context)).ids
    assert encoded[0][: len(context_alone)] != context_alone  # the case this test is about
    shared = next(j for j in range(len(encoded[0])) if len({e[j] for e in encoded}) > 1)
    expected = [_reference_word_score(model, ids, shared, boundary.tolist()) for ids in encoded]
    assert scores == pytest.approx(expected, abs=1e-4)
    # the boundary: specials and pieces starting with a non-letter, never a letter
    pieces = [tokenizer.id_to_token(int(i)) for i in boundary]
    assert "Ġ" in pieces and "," in pieces and "d" not in pieces and "og" not in pieces


def test_token_choice_scores_fit_the_models_positions():
    tokenizer = byte_level_tokenizer().hf_tokenizer
    torch.manual_seed(0)
    config = dict(TINY_MODEL, max_position_embeddings=24)
    model = LlamaModel(ModelConfig(vocab_size=257, **config)).eval()
    item = NextWordItem(
        tuple(["one", "two", "three", "four", "five", "six", "seven"]), "cat", ("kediler",)
    )
    (scores,) = token_choice_scores(model, tokenizer, [item], np.arange(32, 65), progress=False)
    # the shared ids (the context and the space) keep their last ones that leave room for the
    # longest candidate ("kediler": 7 bytes)
    prompt = list(join_words(item.context).encode() + b" ")[-(24 - 7) :]
    expected = [_reference_word_score(model, prompt + list(w.encode()), len(prompt),
                                      list(range(32, 65))) for w in item.candidates]  # fmt: skip
    assert scores == pytest.approx(expected, abs=1e-4)


class ContextFreeLM(nn.Module):
    """A token 'model' whose next-token distribution ignores its input: a fixed unigram."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.randn(vocab, generator=torch.Generator().manual_seed(0)))

    def forward(self, ids):
        return self.bias.expand(*ids.shape, -1)


def test_a_model_that_ignores_its_context_scores_its_control_exactly():
    texts = choice_texts(documents=10)
    items = next_word_items(texts, context_words=4, max_items=60, per_document=6, choices=5)
    tokenizer = byte_level_tokenizer().hf_tokenizer
    model = ContextFreeLM(257)
    result = next_word_accuracy(
        items, lambda batch: [""] * len(batch),
        lambda batch: token_choice_scores(model, tokenizer, batch, np.arange(32, 65),
                                          progress=False),
    )  # fmt: skip
    assert result["next_word_choice_accuracy"] == result["next_word_choice_control"]
    assert 0 < result["next_word_choice_accuracy"] < 1


def test_tfree_choice_scores_are_the_dictionarys_scores_of_the_candidates():
    hasher = TrigramHasher(4096, 4)
    dictionary = WordDictionary.from_counts({"cat": 5, "dog": 4, "mat": 3, "log": 1}, hasher)
    items = [NextWordItem(("a",), "cat", ("dog", "mat")), NextWordItem(("b",), "log", ("cat",)),
             NextWordItem(("c",), "mat", ("log", "dog"))]  # fmt: skip
    lit = ["cat", "cat", "dog"]  # the word each row's logits point at
    scores = tfree_choice_scores(PatternLM(dictionary, list(lit)), hasher, items, batch_size=2,
                                 progress=False)  # fmt: skip
    reference = dictionary.scores(torch.stack([PatternLM(dictionary, [w])(torch.zeros(1, 1))[0, -1]
                                               for w in lit]))  # fmt: skip
    for row, item in enumerate(items):
        expected = [float(reference[row, dictionary.index(w)]) for w in item.candidates]
        assert scores[row] == pytest.approx(expected, rel=1e-5)
    assert [choice_credit(s) for s in scores] == [1.0, 0.0, 0.0]


def test_tfree_model_evaluation_with_choices(tfree_run):
    root, settings, dictionary, corpus = tfree_run
    result = evaluate_language_model(
        root / "model", root / "words", lm_kind(settings, dictionary), context=16, stride=4,
        batch_size=4,
        next_word=NextWordSettings(corpus, context_words=8, max_items=20, choices=3),
    )  # fmt: skip
    assert result["next_word_choices"] == 3 and 0 <= result["next_word_choice_accuracy"] <= 1
    assert 0 <= result["next_word_choice_control"] <= 1
