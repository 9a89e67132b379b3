"""The Llama under the trainer's bf16 autocast and under ``torch.compile``, on CPU.

The GPU trainer runs both (``torch.autocast(..., dtype=torch.bfloat16)``, ``compile = true``);
these tests run the same model code through them with a tiny model: a forward and backward
pass, with and without packed documents, and the varlen path (reference kernel) compiled too.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.helpers import TINY_MODEL
from toklab.models import llama
from toklab.models.flash_reference import flash_attn_varlen_func
from toklab.models.llama import LlamaModel, ModelConfig, VarlenKernel

VOCAB = 61
EOS = 0
#: Inductor (the default backend) takes about 30 s here to compile this tiny model's forward
#: and backward on a cold cache (C++ code generation); "aot_eager" traces the same graphs
#: (dynamo, then AOTAutograd's forward and backward) and runs them with eager kernels, so the
#: model code is checked for tracing in a second or two.
BACKEND = "aot_eager"


def make_model() -> LlamaModel:
    torch.manual_seed(0)
    return LlamaModel(ModelConfig(vocab_size=VOCAB, initializer_range=0.2, **TINY_MODEL))


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """(2, 33) token rows with EOS tokens, and the document ids of their first 32 positions."""
    ids = torch.randint(1, VOCAB, (2, 33), generator=torch.Generator().manual_seed(1))
    ids[0, [7, 8, 20]] = EOS
    ids[1, [0, 31]] = EOS
    return ids, torch.cumsum(ids[:, :-1] == EOS, dim=1)


def loss_and_grads(forward, model, documents, autocast=False):
    """Next-token cross-entropy of :func:`batch`, and the parameter gradients."""
    ids, _ = batch()
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = forward(ids[:, :-1], documents)
        loss = F.cross_entropy(logits.float().reshape(-1, VOCAB), ids[:, 1:].reshape(-1))
    loss.backward()
    return loss.detach(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("masking", [False, True])
def test_bf16_autocast_forward_and_backward_are_finite_and_close_to_fp32(masking):
    model = make_model()
    documents = batch()[1] if masking else None
    loss, grads = loss_and_grads(model, model, documents)
    low_loss, low_grads = loss_and_grads(model, model, documents, autocast=True)
    assert torch.isfinite(low_loss) and low_loss.dtype == torch.float32
    assert low_loss.item() == pytest.approx(loss.item(), rel=0.02)
    for name, grad in low_grads.items():
        assert grad.dtype == torch.float32 and torch.isfinite(grad).all(), name
        scale = grads[name].abs().max().item()
        torch.testing.assert_close(grad, grads[name], rtol=0, atol=0.1 * scale, msg=name)


@pytest.mark.parametrize("path", ["causal", "sdpa documents", "varlen documents"])
def test_compiled_model_gives_the_eager_loss_and_gradients(path, monkeypatch):
    calls = []

    def kernel(*args, **kwargs):  # the reference kernel, as flash-attn's would run on GPU
        calls.append(args[3])
        return flash_attn_varlen_func(*args, **kwargs)

    if path == "varlen documents":
        monkeypatch.setattr(
            llama, "varlen_kernel", VarlenKernel(kernel, ("cpu",), (torch.float32,))
        )
    documents = None if path == "causal" else batch()[1]
    model = make_model()
    loss, grads = loss_and_grads(model, model, documents)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend=BACKEND)
    compiled_loss, compiled_grads = loss_and_grads(compiled, model, documents)
    torch.testing.assert_close(compiled_loss, loss, rtol=1e-5, atol=1e-6)
    for name, grad in compiled_grads.items():
        torch.testing.assert_close(grad, grads[name], rtol=1e-4, atol=1e-6, msg=name)
    assert len(calls) == (4 if path == "varlen documents" else 0)  # 2 layers, eager + compiled
