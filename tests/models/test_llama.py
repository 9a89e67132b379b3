import json

import pytest
import torch

from tests.conftest import REPO
from tests.helpers import TINY_MODEL
from toklab.errors import ConfigError, DataError
from toklab.models.llama import (
    LlamaModel,
    ModelConfig,
    load_checkpoint,
    positions_within_documents,
    save_checkpoint,
)

PRESETS = REPO / "resources" / "model_presets.yaml"


@pytest.mark.parametrize("tied", [False, True])
@pytest.mark.parametrize("kv_heads", [4, 2])
def test_transformers_loads_checkpoint_with_same_logits(tmp_path, tied, kv_heads):
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=300, **{**TINY_MODEL, "num_key_value_heads": kv_heads}, tie_word_embeddings=tied
    )
    model = LlamaModel(config).eval()
    save_checkpoint(model, tmp_path)
    hf = LlamaForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        torch.testing.assert_close(model(ids), hf(ids).logits, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(load_checkpoint(tmp_path)(ids), model(ids), rtol=0, atol=0)


def test_document_masking_equals_separate_documents():
    torch.manual_seed(0)
    model = LlamaModel(ModelConfig(vocab_size=50, **TINY_MODEL)).eval()
    ids = torch.randint(0, 50, (1, 30))
    docs = torch.tensor([[0] * 10 + [1] * 12 + [2] * 8])
    with torch.no_grad():
        packed = model(ids, docs)
        separate = torch.cat([model(ids[:, :10]), model(ids[:, 10:22]), model(ids[:, 22:])], dim=1)
    torch.testing.assert_close(packed, separate, rtol=1e-5, atol=1e-5)
    assert positions_within_documents(docs).tolist() == [
        list(range(10)) + list(range(12)) + list(range(8))
    ]


def test_presets():
    import yaml

    names = yaml.safe_load(PRESETS.read_text())
    for name in names:
        ModelConfig.from_preset(name, PRESETS, vocab_size=257)
    fw57m = ModelConfig.from_preset("fw57M", PRESETS, vocab_size=257)
    assert round(fw57m.num_parameters() / 1e6, 1) == 56.6  # ByteSpan: about 56.6M non-embedding
    cs336 = ModelConfig.from_preset("cs336-17M", PRESETS, vocab_size=10_000)
    # CS336's "about 17M non-embedding parameters" counts the output head (untied) as well
    assert 17e6 < cs336.num_parameters() + 10_000 * 512 < 18e6
    stochastok = ModelConfig.from_preset("stochastok-47M", PRESETS, vocab_size=50_257)
    assert 46e6 < stochastok.num_parameters(non_embedding=False) < 48e6  # about 47M, tied
    assert fw57m.flops_per_token(2048) > 6 * fw57m.num_parameters()
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        ModelConfig.from_preset("huge", PRESETS)
    with pytest.raises(ConfigError, match="not divisible"):
        ModelConfig(hidden_size=30, num_attention_heads=4)


def test_sequence_longer_than_positions_is_rejected():
    model = LlamaModel(ModelConfig(vocab_size=50, **TINY_MODEL))
    with pytest.raises(ValueError, match="exceeds max_position_embeddings"):
        model(torch.zeros(1, 65, dtype=torch.long))


def test_bad_checkpoints(tmp_path):
    model = LlamaModel(ModelConfig(vocab_size=50, **TINY_MODEL))
    with pytest.raises(DataError, match=r"config\.json: checkpoint file not found"):
        load_checkpoint(tmp_path)
    save_checkpoint(model, tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "vocab_size": 60}))
    with pytest.raises(DataError, match=r"does not match its config\.json"):
        load_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(config))
    (tmp_path / "model.safetensors").write_bytes(b"garbage" * 10)
    with pytest.raises(DataError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path)
