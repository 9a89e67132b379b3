"""The Llama's KV cache: incremental forwards give the full-sequence forward's logits."""

from __future__ import annotations

import pytest
import torch

from tests.helpers import TINY_MODEL
from toklab.models.llama import KVCache, LlamaModel, ModelConfig, TrigramInputs

VOCAB = 97
TFREE = {"m": 4, "k": 0, "entire_words": False}
#: Prefill 5 positions, then 7 single-token steps, then 3 tokens at once: 15 positions in all.
CHUNKS = [5, 1, 1, 1, 1, 1, 1, 1, 3]
LENGTH = sum(CHUNKS)
BATCH = 2

CONFIGS = {
    "mha": dict(TINY_MODEL, num_key_value_heads=4),
    "gqa": dict(TINY_MODEL, num_key_value_heads=2),
    "tfree": dict(TINY_MODEL, num_key_value_heads=2, tfree=TFREE),
}


def make_model(name: str) -> LlamaModel:
    torch.manual_seed(0)
    # A wide initialisation, so that attention is far from uniform and positions matter.
    config = ModelConfig(vocab_size=VOCAB, initializer_range=0.2, **CONFIGS[name])
    return LlamaModel(config).eval()


def random_words(generator: torch.Generator) -> list[list[list[int]]]:
    """(batch, length) T-Free words, each a bag of 1 to 8 hash ids (repeats allowed)."""
    sizes = torch.randint(1, 9, (BATCH, LENGTH), generator=generator).tolist()
    return [
        [torch.randint(0, VOCAB, (size,), generator=generator).tolist() for size in row]
        for row in sizes
    ]


def bags(words: list[list[list[int]]], start: int, stop: int) -> TrigramInputs:
    """The words at positions ``start:stop`` of every row, as embedding bags."""
    flat = [word for row in words for word in row[start:stop]]
    sizes = torch.tensor([len(word) for word in flat])
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.cumsum(0)[:-1]])
    ids = torch.tensor([i for word in flat for i in word])
    return TrigramInputs(ids, offsets, (len(words), stop - start))


def inputs_of(name: str):
    """A function ``(start, stop) -> inputs`` of positions start:stop, for either kind of model."""
    generator = torch.Generator().manual_seed(1)
    if name == "tfree":
        words = random_words(generator)
        return lambda start, stop: bags(words, start, stop)
    ids = torch.randint(0, VOCAB, (BATCH, LENGTH), generator=generator)
    return lambda start, stop: ids[:, start:stop]


@pytest.mark.parametrize("name", list(CONFIGS))
@torch.no_grad()
def test_incremental_logits_equal_full_forward(name):
    model = make_model(name)
    inputs = inputs_of(name)
    full = model(inputs(0, LENGTH))
    cache = KVCache()
    start = 0
    for chunk in CHUNKS:
        logits = model(inputs(start, start + chunk), cache=cache)
        assert logits.shape == (BATCH, chunk, VOCAB)
        torch.testing.assert_close(logits, full[:, start : start + chunk], rtol=0, atol=1e-5)
        start += chunk
        assert cache.length == start
    # Not vacuous: the same tokens at positions from 0 (no cache) give other logits.
    last = model(inputs(LENGTH - 3, LENGTH))
    assert (last - full[:, -3:]).abs().max() > 1e-2


@pytest.mark.parametrize("name", list(CONFIGS))
@torch.no_grad()
def test_prefill_equals_forward_without_cache(name):
    """An empty cache takes the uncached path: the prefill's logits are bit for bit the same."""
    model = make_model(name)
    inputs = inputs_of(name)
    assert torch.equal(model(inputs(0, 9), cache=KVCache()), model(inputs(0, 9)))


@pytest.mark.parametrize("name", ["mha", "gqa"])
@torch.no_grad()
def test_cache_bookkeeping(name):
    model = make_model(name)
    config = model.config
    ids = inputs_of(name)(0, LENGTH)
    cache = KVCache()
    assert cache.length == 0 and cache.batch_size is None and cache.keys == []
    model(ids[:, :4], cache=cache)
    model(ids[:, 4:6], cache=cache)
    assert cache.length == 6 and cache.batch_size == BATCH
    assert len(cache.keys) == len(cache.values) == config.num_hidden_layers
    shape = (BATCH, config.num_key_value_heads, 6, config.head_dim)
    assert all(t.shape == shape for t in (*cache.keys, *cache.values))
    # The cached keys are the layer's keys of a full forward (RoPE at positions 0..5).
    reference = KVCache()
    model(ids[:, :6], cache=reference)
    for mine, theirs in zip(
        cache.keys + cache.values, reference.keys + reference.values, strict=True
    ):
        torch.testing.assert_close(mine, theirs, rtol=0, atol=1e-6)
    cache.reset()
    assert cache.length == 0 and cache.keys == [] and cache.values == []
    # After a reset the cache starts again at position 0.
    torch.testing.assert_close(model(ids[:, :3], cache=cache), model(ids[:, :3]), rtol=0, atol=0)
    assert cache.length == 3


@torch.no_grad()
def test_cache_errors():
    model = make_model("gqa")
    limit = model.config.max_position_embeddings
    ids = torch.randint(0, VOCAB, (1, limit))
    cache = KVCache()
    model(ids[:, :-1], cache=cache)
    model(ids[:, -1:], cache=cache)  # exactly at the limit: fine
    assert cache.length == limit
    with pytest.raises(ValueError, match=f"after {limit} cached positions exceeds"):
        model(ids[:, :1], cache=cache)
    with pytest.raises(ValueError, match="document_ids cannot be combined with a KV cache"):
        model(ids[:, :4], torch.zeros(1, 4, dtype=torch.long), cache=KVCache())
    cache = KVCache()
    model(torch.zeros(2, 3, dtype=torch.long), cache=cache)
    with pytest.raises(ValueError, match="batch size 1 does not match the cache's 2"):
        model(torch.zeros(1, 1, dtype=torch.long), cache=cache)
