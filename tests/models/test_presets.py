"""Delphi's stories-llama2 and stories-mamba suites as model presets: every size, as Delphi's.

The expected values below are typed in from delphi-suite/delphi's configs/stories/llama2/ and
configs/stories/mamba/ (commit 1efcabec4bceffbf4e9a383d05958f8c0704d2ce), an independent
reference for resources/model_presets.yaml; the parameter counts are worked out by hand.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from tests.conftest import REPO
from toklab.models.causal_lm import build_model, model_spec
from toklab.models.presets import read_presets

PRESETS = REPO / "resources" / "model_presets.yaml"
#: The file names of Delphi's size configs, the same for both architectures.
SIZES = ("50k", "100k", "250k", "500k", "1m", "2.5m", "5m", "10m", "25m", "50m")
#: configs/stories/llama2/base.json (the values that differ from toklab's Llama defaults).
LLAMA_BASE = {"max_position_embeddings": 512, "rms_norm_eps": 1e-6}
#: configs/stories/mamba/base.json (vocab and special ids aside), and MambaConfig's default tying.
MAMBA_BASE = {
    "model_class": "MambaForCausalLM",
    "state_size": 16,
    "expand": 2,
    "conv_kernel": 4,
    "use_bias": False,
    "use_conv_bias": True,
    "hidden_act": "silu",
    "layer_norm_epsilon": 1e-5,
    "initializer_range": 0.1,
    "residual_in_fp32": True,
    "rescale_prenorm_residual": True,
    "tie_word_embeddings": True,
}


@pytest.fixture(scope="module")
def presets():
    return read_presets(PRESETS)


def test_every_delphi_size_is_a_preset_of_both_suites(presets):
    for kind in ("stories", "mamba"):
        names = {name for name in presets if name.startswith(f"delphi-{kind}-")}
        assert names == {f"delphi-{kind}-{size}" for size in SIZES}
    for size in SIZES:
        assert presets[f"delphi-stories-{size}"].get("model_class", "LlamaForCausalLM") == (
            "LlamaForCausalLM"
        )
        assert {k: v for k, v in presets[f"delphi-stories-{size}"].items() if k in LLAMA_BASE} == (
            LLAMA_BASE
        )
        mamba = presets[f"delphi-mamba-{size}"]
        assert {k: v for k, v in mamba.items() if k in MAMBA_BASE} == MAMBA_BASE
        assert set(mamba) == {*MAMBA_BASE, "hidden_size", "num_hidden_layers"}


def test_two_sizes_of_each_suite_as_delphi_configures_them(presets):
    # configs/stories/llama2/2.5m.json and 25m.json
    assert presets["delphi-stories-2.5m"] == {
        "hidden_size": 160,
        "intermediate_size": 426,
        "num_attention_heads": 8,
        "num_hidden_layers": 4,
        "num_key_value_heads": 4,
        **LLAMA_BASE,
    }
    assert presets["delphi-stories-25m"] == {
        "hidden_size": 480,
        "intermediate_size": 1280,
        "num_attention_heads": 16,
        "num_hidden_layers": 8,
        "num_key_value_heads": 8,
        **LLAMA_BASE,
    }
    # configs/stories/mamba/250k.json and 5m.json
    assert presets["delphi-mamba-250k"] == {"hidden_size": 36, "num_hidden_layers": 4, **MAMBA_BASE}
    assert presets["delphi-mamba-5m"] == {"hidden_size": 308, "num_hidden_layers": 6, **MAMBA_BASE}


def test_the_experiment_trains_the_whole_suites(presets):
    config = yaml.safe_load((REPO / "config" / "experiments" / "delphi_stories.yaml").read_text())
    models = config["corpora"]["stories"]["lm"]["models"]
    assert {spec["preset"] for spec in models.values()} == {
        f"delphi-{kind}-{size}" for kind in ("stories", "mamba") for size in SIZES
    }
    assert len(models) == 2 * len(SIZES)


def parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied weight once


@pytest.mark.parametrize(
    "preset",
    [*(f"delphi-stories-{size}" for size in SIZES[:4]), "delphi-mamba-100k"],
)  # the small ones (and one Mamba: its 50k is built below)
def test_the_small_sizes_build_at_a_small_vocab_and_run(preset):
    torch.manual_seed(0)
    model = build_model(model_spec(preset, PRESETS, 300)).eval()
    ids = torch.randint(0, 300, (2, 9))
    with torch.no_grad():
        logits = model(ids)
    assert logits.shape == (2, 9, 300) and torch.isfinite(logits).all()


def test_the_50k_models_have_about_50k_parameters_at_delphis_vocab():
    # llama2 50k (hidden 6, intermediate 16, 1 layer, 3 heads of 2, 1 kv head), vocab 4096:
    # untied embedding and head 2 x 4096 x 6 = 49,152; attention 6x6 + 6x2 + 6x2 + 6x6 = 96;
    # SwiGLU 3 x 6 x 16 = 288; two norms of 6 in the layer, one after it: 18.
    llama = build_model(model_spec("delphi-stories-50k", PRESETS, 4096))
    assert parameters(llama) == 49_152 + 96 + 288 + 18 == 49_554
    # mamba 50k (hidden 12, inner 24, state 16, dt rank 1, 2 layers), tied embedding 4096 x 12
    # = 49,152; per layer in_proj 12 x 48 = 576, conv 24 x 4 + 24 = 120, x_proj 24 x 33 = 792,
    # dt_proj 24 + 24 = 48, A_log 24 x 16 = 384, D 24, out_proj 24 x 12 = 288, norm 12: 2,244;
    # final norm 12.
    mamba = build_model(model_spec("delphi-mamba-50k", PRESETS, 4096))
    assert parameters(mamba) == 49_152 + 2 * 2_244 + 12 == 53_652
