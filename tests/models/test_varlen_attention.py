"""The Llama's varlen attention path (flash-attn's on GPU) run on CPU with the reference kernel.

:data:`toklab.models.llama.varlen_kernel` is set to the pure-torch ``flash_attn_varlen_func``
(:mod:`toklab.models.flash_reference`) for CPU tensors, so the model's own packing (documents
to cumulative lengths, computed once per forward pass) and the reshapes around the kernel run,
and are compared with the SDPA path (block-diagonal causal mask): logits and gradients.

Document boundaries are ``document_ids`` (B, T), as the trainer builds them: a document is a
contiguous run of one id within a row; a document cut by the window's end continues in the
next row as a document of its own (the rows are independent), possibly with the same id.
"""

from __future__ import annotations

import pytest
import torch

from tests.helpers import TINY_MODEL
from toklab.models import llama
from toklab.models.flash_reference import flash_attn_varlen_func
from toklab.models.llama import KVCache, LlamaModel, ModelConfig, VarlenKernel

VOCAB = 61
EOS = 0
#: The reference takes the CPU tensors that flash-attn's kernel would take on CUDA (and fp32).
REFERENCE = VarlenKernel(flash_attn_varlen_func, ("cpu",), (torch.float32, torch.bfloat16))


class Spy:
    """The reference kernel, recording the metadata of every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[torch.Tensor, torch.Tensor, int, int]] = []

    def __call__(self, q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, **kw):
        self.calls.append((cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k))
        return flash_attn_varlen_func(
            q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k, **kw
        )


def make_model(kv_heads: int = 2, layers: int = 2) -> LlamaModel:
    torch.manual_seed(0)
    config = dict(TINY_MODEL, num_key_value_heads=kv_heads, num_hidden_layers=layers)
    # A wide initialisation, so that attention is far from uniform and masking matters.
    return LlamaModel(ModelConfig(vocab_size=VOCAB, initializer_range=0.2, **config))


def packed_rows() -> tuple[torch.Tensor, torch.Tensor]:
    """(3, 37) ids and document ids: documents of odd lengths; one-token documents (EOS EOS,
    one at a row's start, one at its end); a row that is one document; a document crossing
    from row 0 into row 1, with the same id on both sides of the row boundary.
    """
    ids = torch.randint(1, VOCAB, (3, 37), generator=torch.Generator().manual_seed(1))
    for row, eos in ((0, [4, 5, 6, 19, 30]), (1, [1, 14, 15, 28, 36]), (2, [])):
        ids[row, eos] = EOS
    documents = torch.cumsum(ids == EOS, dim=1)  # each document starts at its EOS
    documents[1] += documents[0, -1] - documents[1, 0]  # row 1 continues row 0's last id
    return ids, documents


def run(model, ids, documents, kernel, autocast=False):
    """Logits and parameter gradients of a squared-logits loss, with ``kernel`` installed."""
    saved, llama.varlen_kernel = llama.varlen_kernel, kernel
    try:
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(ids, documents)
        logits.float().pow(2).mean().backward()
    finally:
        llama.varlen_kernel = saved
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    return logits.detach(), grads


def test_packed_rows_have_the_documents_they_claim():
    _, documents = packed_rows()
    assert documents[0, -1] == documents[1, 0]  # the id crossing the row boundary
    assert documents[2].unique().numel() == 1  # a row that is one document
    starts = llama.document_starts(documents).flatten().nonzero().flatten()
    lengths = torch.diff(starts, append=torch.tensor([documents.numel()])).tolist()
    assert lengths == [4, 1, 1, 13, 11, 7, 1, 13, 1, 13, 8, 1, 37]


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
@pytest.mark.parametrize("masking", ["documents", "rows"])
def test_varlen_path_equals_sdpa_path_logits_and_gradients(kv_heads, masking):
    model = make_model(kv_heads)
    ids, documents = packed_rows()
    documents = documents if masking == "documents" else None
    spy = Spy()
    logits, grads = run(model, ids, documents, REFERENCE._replace(function=spy))
    expected_logits, expected_grads = run(model, ids, documents, None)
    assert len(spy.calls) == model.config.num_hidden_layers  # the varlen path ran
    torch.testing.assert_close(logits, expected_logits, rtol=1e-5, atol=1e-5)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], rtol=1e-4, atol=1e-6, msg=name)


def test_varlen_path_under_bf16_autocast_is_as_close_to_fp32_as_sdpa():
    model = make_model()
    ids, documents = packed_rows()
    spy = Spy()
    fp32_logits, fp32_grads = run(model, ids, documents, None)
    for kernel in (REFERENCE._replace(function=spy), None):
        logits, grads = run(model, ids, documents, kernel, autocast=True)
        assert logits.dtype == torch.bfloat16
        # bf16 keeps 8 bits: both paths measured within 5% of fp32's largest logit/gradient
        scale = fp32_logits.abs().max().item()
        torch.testing.assert_close(logits.float(), fp32_logits, rtol=0, atol=0.1 * scale)
        for name, grad in grads.items():
            scale = fp32_grads[name].abs().max().item()
            torch.testing.assert_close(grad, fp32_grads[name], rtol=0, atol=0.1 * scale)
    assert len(spy.calls) == 2  # the varlen path ran (in the first round)


def test_metadata_is_computed_once_per_forward_and_shared_by_every_layer():
    model = make_model(layers=3).eval()
    ids, documents = packed_rows()
    spy = Spy()
    saved, llama.varlen_kernel = llama.varlen_kernel, REFERENCE._replace(function=spy)
    try:
        with torch.no_grad(), torch.profiler.profile() as profile:
            model(ids, documents)
    finally:
        llama.varlen_kernel = saved
    cu_seqlens = spy.calls[0][0]
    assert len(spy.calls) == 3
    for cu_q, cu_k, max_q, max_k in spy.calls:
        assert cu_q is cu_seqlens and cu_k is cu_seqlens  # one tensor for every layer
        assert type(max_q) is int and max_q == max_k == 37  # the row length: a bound, no sync
    assert cu_seqlens.dtype == torch.int32
    lengths = [4, 1, 1, 13, 11, 7, 1, 13, 1, 13, 8, 1, 37]
    assert cu_seqlens.tolist() == torch.tensor([0, *lengths]).cumsum(0).tolist()
    # Reading a tensor back (.item(), int()) is aten::_local_scalar_dense: none at all; the
    # number of documents is read once (the one aten::nonzero) for the whole forward pass.
    ops = [event.name for event in profile.events()]
    assert ops.count("aten::_local_scalar_dense") == 0
    assert ops.count("aten::nonzero") == 1


def test_kernel_is_used_only_on_its_devices_and_dtypes():
    model = make_model()
    ids, documents = packed_rows()
    spy = Spy()
    flash_like = VarlenKernel(spy)  # flash-attn's defaults: CUDA, fp16/bf16
    logits, _ = run(model, ids, documents, flash_like)
    assert spy.calls == []
    assert torch.equal(logits, run(model, ids, documents, None)[0])  # SDPA, bit for bit
    run(model, ids, documents, REFERENCE._replace(function=spy, dtypes=(torch.bfloat16,)))
    assert spy.calls == []  # fp32 without autocast
    run(model, ids, documents, REFERENCE._replace(function=spy, dtypes=(torch.bfloat16,)), True)
    assert len(spy.calls) == 2  # bf16 under autocast


def test_prefill_takes_the_varlen_path_and_decoding_continues_it():
    model = make_model().eval()
    ids, _ = packed_rows()
    spy = Spy()
    saved, llama.varlen_kernel = llama.varlen_kernel, REFERENCE._replace(function=spy)
    try:
        with torch.no_grad():
            cache = KVCache()
            steps = [model(ids[:, :20], cache=cache), model(ids[:, 20:21], cache=cache)]
            steps.append(model(ids[:, 21:], cache=cache))
            full = model(ids)
    finally:
        llama.varlen_kernel = saved
    assert len(spy.calls) == 2 + 2  # the prefill's layers, then the full forward's
    torch.testing.assert_close(torch.cat(steps, dim=1), full, rtol=1e-5, atol=1e-5)
