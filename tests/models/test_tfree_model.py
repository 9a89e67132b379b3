"""T-Free's swappable parts of the one model: the trigram embedding and the multi-label head."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from toklab.errors import ConfigError
from toklab.models.causal_lm import (
    build_model,
    load_model,
    model_spec,
    save_model,
    spec_of,
    word_settings,
)
from toklab.models.llama import (
    TFREE_ARCHITECTURE,
    LlamaModel,
    ModelConfig,
    TrigramEmbedding,
    TrigramInputs,
)
from toklab.tokenizers.tfree import TrigramHasher, split_words
from toklab.training.data import Batch
from toklab.training.objectives import MultiLabelLoss

TFREE = {"m": 4, "k": 1, "entire_words": False}
WORDS = ["<|endoftext|>", "Hello", "World", "!", "hello", "world", "<|ws|>", "Straße", "a", "2"]


def tiny_config(**overrides) -> ModelConfig:
    values = dict(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=64,
        tfree=TFREE,
    )
    return ModelConfig(**{**values, **overrides})


def patterns(hasher: TrigramHasher):
    from toklab.datasets.tfree_words import WordPatterns

    return WordPatterns.from_words(WORDS, hasher)


def random_bags(generator: torch.Generator, shape: tuple[int, int], v: int) -> TrigramInputs:
    sizes = torch.randint(1, 9, (shape[0] * shape[1],), generator=generator)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]])
    ids = torch.randint(0, v, (int(sizes.sum()),), generator=generator)
    return TrigramInputs(ids, offsets, shape)


def test_trigram_embedding_is_the_sum_of_its_rows():
    generator = torch.Generator().manual_seed(0)
    embedding = TrigramEmbedding(50, 8)
    inputs = random_bags(generator, (3, 5), 50)
    got = embedding(inputs)
    # reference: a dense count matrix (bags x v) times the table, repeats counted
    counts = torch.zeros(15, 50)
    ends = torch.cat([inputs.offsets[1:], torch.tensor([len(inputs.ids)])])
    for bag, (start, end) in enumerate(zip(inputs.offsets.tolist(), ends.tolist(), strict=True)):
        for i in inputs.ids[start:end].tolist():
            counts[bag, i] += 1
    torch.testing.assert_close(got, (counts @ embedding.weight).view(3, 5, 8))
    # the gradient touches only the rows the bags use, each as often as it is used
    got.sum().backward()
    used = counts.sum(0)
    torch.testing.assert_close(embedding.weight.grad, used[:, None].expand(50, 8))


def test_tfree_model_takes_words_not_ids():
    torch.manual_seed(0)
    model = LlamaModel(tiny_config())
    inputs = random_bags(torch.Generator().manual_seed(1), (2, 7), 97)
    assert model(inputs).shape == (2, 7, 97)
    with pytest.raises(ValueError, match="T-Free words"):
        model(torch.zeros(2, 7, dtype=torch.long))
    dense = LlamaModel(tiny_config(tfree=None))
    with pytest.raises(ValueError, match="token ids"):
        dense(inputs)


def test_document_masking_resets_attention_between_words():
    torch.manual_seed(0)
    model = LlamaModel(tiny_config()).eval()
    generator = torch.Generator().manual_seed(2)
    first, second = random_bags(generator, (1, 4), 97), random_bags(generator, (1, 3), 97)
    joined = TrigramInputs(
        torch.cat([first.ids, second.ids]),
        torch.cat([first.offsets, second.offsets + len(first.ids)]),
        (1, 7),
    )
    documents = torch.tensor([[0, 0, 0, 0, 1, 1, 1]])
    with torch.no_grad():
        together = model(joined, documents)
        torch.testing.assert_close(together[:, :4], model(first), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(together[:, 4:], model(second), atol=1e-5, rtol=1e-5)


def test_tfree_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = LlamaModel(tiny_config())
    save_model(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["architectures"] == [TFREE_ARCHITECTURE]
    assert config["tfree"] == TFREE
    loaded = load_model(tmp_path)
    assert spec_of(loaded) == spec_of(model)
    inputs = random_bags(torch.Generator().manual_seed(3), (2, 5), 97)
    with torch.no_grad():
        torch.testing.assert_close(loaded(inputs), model(inputs))
    # a dense Llama's config stays transformers' (no tfree key)
    save_model(LlamaModel(tiny_config(tfree=None)), tmp_path / "dense")
    assert "tfree" not in json.loads((tmp_path / "dense" / "config.json").read_text())


def test_config_json_of_each_kind_is_pinned(tmp_path):
    """The saved config.json, key for key: the kind asks reads_words, the file stays as it was."""
    llama = {
        "hidden_act": "silu", "attention_bias": False, "mlp_bias": False,
        "attention_dropout": 0.0, "torch_dtype": "float32", "vocab_size": 97,
        "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 64,
        "rope_theta": 10000.0, "rms_norm_eps": 1e-5, "tie_word_embeddings": False,
        "initializer_range": 0.02,
    }  # fmt: skip
    expected = {
        "dense": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", **llama},
        "tfree": {"architectures": [TFREE_ARCHITECTURE], "model_type": "toklab-tfree", **llama},
    }
    expected["tfree"]["tfree"] = TFREE
    for name, config in (("dense", tiny_config(tfree=None)), ("tfree", tiny_config())):
        assert config.reads_words == (name == "tfree")
        save_model(LlamaModel(config), tmp_path / name)
        saved = (tmp_path / name / "config.json").read_text()
        assert saved == json.dumps(expected[name], indent=2, sort_keys=True)


def test_word_settings_are_the_hashers_of_a_words_model_only():
    assert word_settings(LlamaModel(tiny_config())) == {**TFREE, "v": 97}
    assert word_settings(LlamaModel(tiny_config(tfree=None))) is None


def test_transformers_refuses_a_tfree_checkpoint(tmp_path):
    from transformers import AutoModelForCausalLM

    save_model(LlamaModel(tiny_config()), tmp_path)
    with pytest.raises((ValueError, KeyError)):
        AutoModelForCausalLM.from_pretrained(tmp_path)


def test_bad_tfree_configs():
    with pytest.raises(ConfigError, match="tied"):
        tiny_config(tie_word_embeddings=True)
    with pytest.raises(ConfigError, match="keys"):
        tiny_config(tfree={"m": 4})


def test_model_spec_takes_tfree_as_an_override(tmp_path):
    presets = tmp_path / "presets.yaml"
    presets.write_text("tiny:\n  hidden_size: 32\n  intermediate_size: 64\n"
                       "  num_hidden_layers: 1\n  num_attention_heads: 4\n")  # fmt: skip
    spec = model_spec("tiny", presets, 97, {"tfree": TFREE})
    model = build_model(spec)
    assert isinstance(model.model.embed_tokens, TrigramEmbedding)


def reference_loss(logits, words, hasher, pos_weight, scale, weights=None):
    """BCE-with-logits written out, position by position, from each next word's pattern."""
    v = logits.shape[-1]
    total, weight = 0.0, 0.0
    flat = logits.reshape(-1, v).double()
    next_words = words[:, 1:].reshape(-1)
    for position, word_id in enumerate(next_words.tolist()):
        active = set(hasher.encode_word(WORDS[word_id])[0].tolist())
        target = torch.tensor([1.0 if i in active else 0.0 for i in range(v)], dtype=torch.double)
        x = flat[position]
        bce = -(pos_weight * target * F.logsigmoid(x) + (1 - target) * F.logsigmoid(-x))
        w = 1.0 if weights is None else float(weights.reshape(-1)[position])
        total += w * float(bce.mean()) * scale
        weight += w
    return total, weight


@pytest.mark.parametrize("weighted", [False, True])
def test_multi_label_loss_equals_its_definition(weighted):
    hasher = TrigramHasher(97, 4, 1)
    torch.manual_seed(0)
    model = LlamaModel(tiny_config())
    words = np.random.default_rng(0).integers(0, len(WORDS), size=(2, 9))
    weights = np.random.default_rng(1).integers(0, 2, size=(2, 8)).astype(np.float32)
    batch = Batch(words, None, weights if weighted else None)
    objective = MultiLabelLoss(patterns(hasher), pos_weight=30.0, loss_scale=10.0)
    seen = {}

    def forward(inputs):
        seen["logits"] = model(inputs)
        # the inputs are the words' bags: the embedding of word w is the sum of its rows
        row = hasher.word_rows(WORDS[int(words[0, 0])]).ravel()
        embedding = model.model.embed_tokens.weight[torch.from_numpy(row)].sum(0)
        torch.testing.assert_close(model.model.embed_tokens(inputs)[0, 0], embedding)
        return seen["logits"]

    total, weight = objective(forward, batch, torch.device("cpu"))
    expected, expected_weight = reference_loss(
        seen["logits"].detach(), words, hasher, 30.0, 10.0, weights if weighted else None
    )
    assert float(weight) == pytest.approx(expected_weight)
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_multi_label_targets_are_the_next_words_patterns():
    hasher = TrigramHasher(97, 4, 0)
    objective = MultiLabelLoss(patterns(hasher))
    words = np.array([[1, 2, 3], [4, 0, 9]])
    target = objective.targets(words, torch.device("cpu"))
    for position, word_id in enumerate(words.ravel().tolist()):
        active = np.flatnonzero(target[position].numpy())
        np.testing.assert_array_equal(active, hasher.encode_word(WORDS[word_id])[0])


def test_words_of_a_text_embed_as_their_trigrams():
    hasher = TrigramHasher(97, 4, 1)
    words = split_words("Hello World! hello world")
    table = list(dict.fromkeys(["<|endoftext|>", *words]))
    from toklab.datasets.tfree_words import WordPatterns

    ids = np.array([[table.index(w) for w in words]])
    flat, offsets = WordPatterns.from_words(table, hasher).inputs(ids)
    for position, word in enumerate(words):
        end = offsets[position + 1] if position + 1 < len(offsets) else len(flat)
        np.testing.assert_array_equal(
            np.sort(flat[offsets[position] : end]), np.sort(hasher.word_rows(word).ravel())
        )
