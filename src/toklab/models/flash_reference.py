"""A pure-torch reference for flash-attn's ``flash_attn_varlen_func``, so that the varlen path is tested on CPU.

flash-attn runs only on CUDA, so without this module no test would run the code of
:mod:`toklab.models.llama` around the kernel (documents packed into sequences, the cumulative
lengths, the reshapes in and out). The tests install :func:`flash_attn_varlen_func` as that
module's varlen kernel (:data:`toklab.models.llama.varlen_kernel`) and compare the varlen path
with the SDPA path; the function itself is checked against brute-force attention per sequence.

It takes flash-attn's arguments and follows its documented semantics (flash-attn 2.x):

* ``q`` is (total_q, heads, head_dim) and ``k``, ``v`` are (total_k, kv_heads, head_dim): the
  sequences of a batch packed one after another; sequence ``i`` is rows
  ``cu_seqlens[i]:cu_seqlens[i + 1]`` (int32 cumulative lengths with a leading 0, the same
  number of sequences for queries and keys);
* grouped-query attention: ``heads`` is a multiple of ``kv_heads``, and query head ``h`` reads
  key/value head ``h // (heads // kv_heads)``;
* ``causal`` aligns the mask to the bottom-right corner (query ``i`` of a sequence of
  ``seqlen_q`` queries over ``seqlen_k`` keys sees keys ``j <= i + seqlen_k - seqlen_q``),
  ``window_size=(left, right)`` keeps keys within ``[i + seqlen_k - seqlen_q - left,
  i + seqlen_k - seqlen_q + right]`` (-1: unbounded), and a query that sees no key gives zeros;
* ``softmax_scale`` defaults to ``1 / sqrt(head_dim)``; ``dropout_p`` drops attention
  probabilities (with torch's generator, so not flash-attn's dropout pattern);
* the result is (total_q, heads, head_dim) in ``q``'s dtype.

Scores and softmax are computed in float32 over a (total_q, total_k) mask, one matrix for the
whole batch: meant for test-sized inputs, with no host-device synchronisation. ``max_seqlen_q``
and ``max_seqlen_k`` are accepted and not needed (flash-attn sizes its launch grid with them).
ALiBi and the returned attention probabilities are not implemented (``NotImplementedError``);
``deterministic`` changes nothing here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flash_attn_varlen_func(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
    max_seqlen_q: int,
    max_seqlen_k: int,
    dropout_p: float = 0.0,
    softmax_scale: float | None = None,
    causal: bool = False,
    window_size: tuple[int, int] = (-1, -1),
    alibi_slopes: torch.Tensor | None = None,
    deterministic: bool = False,
    return_attn_probs: bool = False,
) -> torch.Tensor:
    """Attention within each packed sequence: (total_q, heads, head_dim), as flash-attn's."""
    if alibi_slopes is not None or return_attn_probs:
        raise NotImplementedError("the reference has no ALiBi and returns no probabilities")
    _check_shapes(q, k, v, cu_seqlens_q, cu_seqlens_k)
    groups = q.shape[1] // k.shape[1]
    scale = q.shape[-1] ** -0.5 if softmax_scale is None else softmax_scale
    mask = _sequence_mask(cu_seqlens_q, cu_seqlens_k, q.shape[0], k.shape[0], causal, window_size)
    sees_a_key = mask.any(dim=-1)  # a query without keys gives zeros (and finite gradients)
    with torch.autocast(q.device.type, enabled=False):  # float32, as flash-attn accumulates
        keys = k.float().repeat_interleave(groups, dim=1)
        values = v.float().repeat_interleave(groups, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q.float(), keys) * scale
        scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~sees_a_key[:, None], 0.0)
        probs = torch.softmax(scores, dim=-1).masked_fill(~sees_a_key[:, None], 0.0)
        if dropout_p > 0.0:
            probs = F.dropout(probs, p=dropout_p)
        return torch.einsum("hqk,khd->qhd", probs, values).to(q.dtype)


def _check_shapes(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
) -> None:
    """flash-attn's argument checks on shapes and dtypes (none that reads tensor values)."""
    if q.dim() != 3 or k.dim() != 3 or k.shape != v.shape:
        raise ValueError(
            f"expected q (total_q, heads, d) and k, v (total_k, kv_heads, d) of one shape, got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    if q.shape[2] != k.shape[2] or q.shape[1] % k.shape[1]:
        raise ValueError(
            f"query heads {q.shape[1]} (dim {q.shape[2]}) must be a multiple of key heads "
            f"{k.shape[1]} (dim {k.shape[2]})"
        )
    for name, cu in (("cu_seqlens_q", cu_seqlens_q), ("cu_seqlens_k", cu_seqlens_k)):
        if cu.dtype != torch.int32 or cu.dim() != 1 or cu.numel() < 1:
            raise ValueError(f"{name} must be a 1-D int32 tensor, got {cu.dtype} {tuple(cu.shape)}")
    if cu_seqlens_q.numel() != cu_seqlens_k.numel():
        raise ValueError("cu_seqlens_q and cu_seqlens_k must count the same sequences")


def _sequence_mask(
    cu_seqlens_q: torch.Tensor,
    cu_seqlens_k: torch.Tensor,
    total_q: int,
    total_k: int,
    causal: bool,
    window_size: tuple[int, int],
) -> torch.Tensor:
    """(total_q, total_k) booleans: query row ``i`` may attend to key row ``j``.

    Rows past the last sequence (``cu_seqlens[-1]`` short of the total) attend to nothing.
    """
    sequence_q, position_q = _locate(cu_seqlens_q, total_q)
    sequence_k, position_k = _locate(cu_seqlens_k, total_k)
    sequences = cu_seqlens_q.numel() - 1
    mask = (sequence_q[:, None] == sequence_k[None, :]) & (sequence_q < sequences)[:, None]
    # Bottom-right alignment: query i of a sequence sits at key position i + seqlen_k - seqlen_q
    shift = F.pad((cu_seqlens_k.diff() - cu_seqlens_q.diff()).long(), (0, 1))  # 0 past the end
    diagonal = position_q + shift[sequence_q]
    left, right = window_size
    if causal:
        right = 0
    if right >= 0:
        mask &= position_k[None, :] <= diagonal[:, None] + right
    if left >= 0:
        mask &= position_k[None, :] >= diagonal[:, None] - left
    return mask


def _locate(cu_seqlens: torch.Tensor, total: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The sequence of each of ``total`` packed rows and the row's position in it.

    Rows past the last sequence get the index ``len(cu_seqlens) - 1``.
    """
    cu = cu_seqlens.long()
    rows = torch.arange(total, device=cu.device)
    sequence = torch.searchsorted(cu[1:], rows, right=True)
    return sequence, rows - cu[sequence]
