"""How a run spreads its model over the ranks: DDP replicas or FSDP2 shards.

``parallelism: ddp`` (the default) keeps the whole model and its AdamW state, about 16 bytes
per parameter, on every rank, so a model past about 2B parameters does not fit an 80 GB GPU.
``parallelism: fsdp`` shards parameters, gradients and optimizer state over the ranks with
PyTorch's FSDP2 (``torch.distributed.fsdp.fully_shard``), one unit per transformer block and
one at the root: a block's parameters are gathered for its forward and backward and freed
after, gradients are reduce-scattered. On CUDA with bf16 the shards compute in bf16 and reduce
gradients in fp32 (``MixedPrecisionPolicy``); on CPU (gloo, the tests) everything stays fp32.

``activation_checkpointing`` recomputes each block's activations in the backward pass instead of
keeping them (``checkpoint_wrapper``, whose state-dict hooks keep the parameter names, so
checkpoints are unchanged).

Sharded runs write their checkpoints with ``torch.distributed.checkpoint``
(:func:`toklab.training.checkpoint.save_sharded_state`) and their models consolidated
(:func:`full_model`), so every stage downstream reads the usual ``model.safetensors``.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch
from torch import nn

from toklab.errors import ConfigError
from toklab.models.causal_lm import build_model, spec_of

#: The values of ``TrainConfig.parallelism``.
PARALLELISMS = ("ddp", "fsdp")
#: toklab's own block class; a transformers model names its own in ``_no_split_modules``.
TOKLAB_BLOCKS = ("DecoderLayer",)


def transformer_blocks(model: nn.Module) -> list[nn.Module]:
    """The model's transformer blocks, the units FSDP shards and checkpointing recomputes."""
    hf = getattr(model, "hf", None)
    names = {*TOKLAB_BLOCKS, *(getattr(hf, "_no_split_modules", None) or ())}
    blocks = [module for module in model.modules() if type(module).__name__ in names]
    if not blocks:
        raise ConfigError(f"{type(model).__name__}: no transformer blocks to shard or checkpoint")
    return blocks


def check_parallelism(parallelism: str, world: int) -> None:
    """FSDP shards over several ranks: on one process it is refused (DDP then is the model)."""
    if parallelism == "fsdp" and world < 2:
        raise ConfigError(
            "parallelism: fsdp shards the model over several processes, but this run has one "
            "(launch it with torchrun, or use parallelism: ddp)"
        )


def distribute(
    model: nn.Module,
    *,
    parallelism: str,
    activation_checkpointing: bool,
    world: int,
    device: torch.device,
    bf16: bool,
) -> nn.Module:
    """Prepare ``model`` for the run; return the module the training loop calls.

    Call it before building the optimizer: FSDP replaces the parameters by sharded ones.
    DDP returns a wrapper (the model itself is still the one to save); FSDP shards ``model``
    in place and returns it. The caller has checked ``parallelism`` for ``world``
    (:func:`check_parallelism`) before it built the model.
    """
    if activation_checkpointing:
        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (
            apply_activation_checkpointing,
        )

        blocks = set(transformer_blocks(model))
        apply_activation_checkpointing(model, check_fn=lambda module: module in blocks)
    if parallelism == "fsdp":
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        policy = MixedPrecisionPolicy()
        if bf16 and device.type == "cuda":
            policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        for block in transformer_blocks(model):
            fully_shard(block, mp_policy=policy)
        fully_shard(model, mp_policy=policy)
        return model
    if world > 1:
        return nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    return model


def gradient_sync(network: nn.Module, sync: bool) -> AbstractContextManager[Any]:
    """The context of one micro-batch's backward: reduce gradients only when ``sync``.

    Gradient accumulation reduces once per optimizer step, after the last micro-batch.
    """
    if hasattr(network, "set_requires_gradient_sync"):  # FSDP2
        network.set_requires_gradient_sync(sync)
        return nullcontext()
    if isinstance(network, nn.parallel.DistributedDataParallel) and not sync:
        return network.no_sync()
    return nullcontext()


def local_value(value: torch.Tensor) -> torch.Tensor:
    """A plain tensor of ``value``: a sharded run's DTensor (e.g. the gradient norm) gathered."""
    full_tensor = getattr(value, "full_tensor", None)
    return full_tensor() if full_tensor is not None else value


def load_full_weights(
    model: nn.Module, weights: dict[str, torch.Tensor] | None, device: torch.device
) -> None:
    """Rank 0's full ``weights`` into every rank's shards of ``model``; collective.

    The other ranks built ``model`` on the meta device: its shards are allocated on ``device``
    first, then filled from rank 0 tensor by tensor.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    if any(parameter.is_meta for parameter in model.parameters()):
        model.to_empty(device=device)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, weights or {}, options=options)


def full_model(model: nn.Module, rank: int) -> nn.Module | None:
    """A sharded model consolidated on rank 0, as an ordinary model (None on the other ranks).

    Collective: every rank calls it. The full weights go to rank 0's CPU memory and into a model
    built on the meta device (no second initialisation), so saving it writes the usual files.
    """
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_model_state_dict(model, options=options)
    if rank != 0:
        return None
    with torch.device("meta"):
        plain = build_model(spec_of(model))
    plain.load_state_dict(state, assign=True)
    plain.tie_weights()  # assign=True put two copies where the model shares one parameter
    return plain
