"""The pure-torch ``flash_attn_varlen_func`` against brute-force attention, one sequence at a time.

The brute force reads flash-attn's documented semantics literally: a Python loop over the
sequences, float64 scores, the causal mask aligned to the bottom-right corner, a sliding
window, query head ``h`` reading key head ``h // (heads // kv_heads)``, zeros for a query that
sees no key.
"""

from __future__ import annotations

import math

import pytest
import torch

from toklab.models.flash_reference import flash_attn_varlen_func

HEAD_DIM = 8


def cumulative(lengths: list[int]) -> torch.Tensor:
    return torch.tensor([0, *torch.tensor(lengths).cumsum(0).tolist()], dtype=torch.int32)


def brute_force(q, k, v, lengths_q, lengths_k, causal, window=(-1, -1), scale=None):
    """Attention sequence by sequence, query by query, head by head (float64)."""
    groups = q.shape[1] // k.shape[1]
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = torch.zeros(q.shape, dtype=torch.float64)
    start_q = start_k = 0
    for length_q, length_k in zip(lengths_q, lengths_k, strict=True):
        for i in range(length_q):
            diagonal = i + length_k - length_q
            keys = [
                j
                for j in range(length_k)
                if not (causal and j > diagonal)
                and not (window[0] >= 0 and j < diagonal - window[0])
                and not (window[1] >= 0 and j > diagonal + window[1])
            ]
            if not keys:
                continue
            for head in range(q.shape[1]):
                query = q[start_q + i, head].double()
                rows = torch.tensor(keys) + start_k
                key = k[rows, head // groups].double()
                value = v[rows, head // groups].double()
                weights = torch.softmax(key @ query * scale, dim=0)
                out[start_q + i, head] = weights @ value
        start_q, start_k = start_q + length_q, start_k + length_k
    return out


def packed(lengths: list[int], heads: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(sum(lengths), heads, HEAD_DIM, generator=generator)


CASES = {
    # name: (query lengths, key lengths, heads, kv heads)
    "one sequence": ([13], [13], 2, 2),
    "documents of odd lengths": ([7, 1, 5, 1, 1, 11], [7, 1, 5, 1, 1, 11], 4, 4),
    "gqa": ([9, 3, 1, 6], [9, 3, 1, 6], 6, 2),
    "mqa": ([4, 8], [4, 8], 4, 1),
    "fewer queries than keys": ([2, 3, 1], [5, 3, 4], 2, 1),
    "more queries than keys": ([5, 3], [2, 3], 2, 2),
    "empty sequences": ([3, 0, 4, 0], [3, 0, 4, 0], 2, 2),
}


@pytest.mark.parametrize("causal", [True, False])
@pytest.mark.parametrize("case", CASES)
def test_reference_equals_brute_force_attention_per_sequence(case, causal):
    lengths_q, lengths_k, heads, kv_heads = CASES[case]
    generator = torch.Generator().manual_seed(0)
    q, k, v = (
        packed(lengths_q, heads, generator),
        packed(lengths_k, kv_heads, generator),
        packed(lengths_k, kv_heads, generator),
    )
    out = flash_attn_varlen_func(
        q, k, v, cumulative(lengths_q), cumulative(lengths_k),
        max(lengths_q), max(lengths_k), causal=causal,
    )  # fmt: skip
    assert out.shape == q.shape and out.dtype == q.dtype
    expected = brute_force(q, k, v, lengths_q, lengths_k, causal)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-6)
    if case == "more queries than keys" and causal:  # bottom-right: the first queries see none
        assert out[:3].eq(0).all() and out[3:5].ne(0).all()


@pytest.mark.parametrize("window", [(2, 0), (1, 3), (-1, 2)])
@pytest.mark.parametrize("causal", [True, False])
def test_sliding_window_and_softmax_scale(window, causal):
    lengths = [6, 1, 9]
    generator = torch.Generator().manual_seed(1)
    q, k, v = (packed(lengths, 4, generator) for _ in range(3))
    cu = cumulative(lengths)
    out = flash_attn_varlen_func(
        q, k, v, cu, cu, 9, 9, softmax_scale=0.3, causal=causal, window_size=window
    )
    expected = brute_force(q, k, v, lengths, lengths, causal, window, scale=0.3)
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-6)


def test_gradients_equal_brute_force_gradients():
    lengths = [5, 1, 2, 7]
    generator = torch.Generator().manual_seed(2)
    inputs = [packed(lengths, 4, generator), *(packed(lengths, 2, generator) for _ in range(2))]
    weights = torch.randn(sum(lengths), 4, HEAD_DIM, generator=generator)
    cu = cumulative(lengths)
    q, k, v = (x.clone().requires_grad_() for x in inputs)
    (flash_attn_varlen_func(q, k, v, cu, cu, 7, 7, causal=True) * weights).sum().backward()
    q64, k64, v64 = (x.double().requires_grad_() for x in inputs)
    (brute_force(q64, k64, v64, lengths, lengths, True) * weights).sum().backward()
    for ours, expected in ((q, q64), (k, k64), (v, v64)):
        torch.testing.assert_close(ours.grad.double(), expected.grad, rtol=1e-5, atol=1e-6)


def test_half_precision_inputs_give_their_dtype_computed_in_float32():
    lengths = [4, 6]
    generator = torch.Generator().manual_seed(3)
    q, k, v = (packed(lengths, 2, generator) for _ in range(3))
    cu = cumulative(lengths)
    low = [x.bfloat16() for x in (q, k, v)]
    with torch.autocast("cpu", dtype=torch.bfloat16):  # no effect inside: float32 throughout
        out = flash_attn_varlen_func(*low, cu, cu, 6, 6, causal=True)
    assert out.dtype == torch.bfloat16
    expected = flash_attn_varlen_func(*(x.float() for x in low), cu, cu, 6, 6, causal=True)
    torch.testing.assert_close(out, expected.bfloat16(), rtol=0, atol=0)


def test_dropout_drops_probabilities():
    lengths = [5, 3]
    q, k, v = (packed(lengths, 2, torch.Generator().manual_seed(4)) for _ in range(3))
    cu = cumulative(lengths)
    assert flash_attn_varlen_func(q, k, v, cu, cu, 5, 5, dropout_p=1.0).eq(0).all()
    plain = flash_attn_varlen_func(q, k, v, cu, cu, 5, 5, dropout_p=0.0)
    torch.manual_seed(0)
    assert not torch.equal(flash_attn_varlen_func(q, k, v, cu, cu, 5, 5, dropout_p=0.5), plain)


def test_argument_errors():
    q = torch.zeros(6, 4, HEAD_DIM)
    k = torch.zeros(6, 3, HEAD_DIM)
    cu = cumulative([6])
    with pytest.raises(ValueError, match="must be a multiple of key heads"):
        flash_attn_varlen_func(q, k, k, cu, cu, 6, 6)
    with pytest.raises(ValueError, match="1-D int32"):
        flash_attn_varlen_func(q, q, q, cu.long(), cu, 6, 6)
    with pytest.raises(ValueError, match="the same sequences"):
        flash_attn_varlen_func(q, q, q, cumulative([3, 3]), cu, 3, 6)
    with pytest.raises(NotImplementedError):
        flash_attn_varlen_func(q, q, q, cu, cu, 6, 6, return_attn_probs=True)
