"""The trainer: packed windows, AdamW, schedules, accumulation, DDP, exact resume, preemption.

* Data order is a pure function of (seed, step) (:class:`WindowSampler`), so resuming needs
  only the step; the checkpoint still stores every RNG state.
* DDP: launch with ``torchrun``; rank r takes windows ``r, r + W, ...`` of each global batch, so
  the global batch and its gradient equal single-process training (up to float summation
  order). NCCL on CUDA, gloo on CPU.
* A checkpoint (``checkpoint/``: model, optimizer, scheduler, RNG, step; written and read by
  :mod:`toklab.training.checkpoint`) is saved every ``checkpoint_interval`` steps and
  atomically replaces the previous one. On SIGUSR1 or SIGTERM the trainer finishes its step,
  checkpoints, and exits with :data:`EXIT_PREEMPTED`, so SLURM or Snakemake can requeue it and
  the next run resumes.
* Metrics go to ``metrics.jsonl`` (training loss, learning rate, gradient norm, tokens seen,
  validation loss in nats per token), byte-identical across reruns; throughput goes to the
  log. Bits per byte is scored after training (:mod:`toklab.evaluation.bits_per_byte`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from toklab.errors import DataError
from toklab.io import atomic_write
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint
from toklab.training.checkpoint import has_state, load_state, logged_metrics, save_state
from toklab.training.config import TrainConfig, config_to_dict
from toklab.training.data import PackedStream, WindowSampler

log = logging.getLogger(__name__)

#: Exit status after a preemption checkpoint (EX_TEMPFAIL: "try again").
EXIT_PREEMPTED = 75


class Preempted(SystemExit):
    """Raised after the preemption checkpoint is written."""


@dataclass
class RunPaths:
    """Where a run writes: the final model, metrics and the resumable checkpoint."""

    out_dir: Path

    @property
    def checkpoint(self) -> Path:
        """The resumable state."""
        return self.out_dir / "checkpoint"

    @property
    def metrics(self) -> Path:
        """One JSON object per logged step."""
        return self.out_dir / "metrics.jsonl"


def lr_multiplier(step: int, config: TrainConfig) -> float:
    """Learning-rate factor at ``step`` for the configured schedule (linear warmup first)."""
    optim = config.optim
    if step < optim.warmup_steps:
        return (step + 1) / optim.warmup_steps
    if optim.schedule == "constant":
        return 1.0
    if optim.schedule == "cosine":
        span = max(config.max_steps - optim.warmup_steps, 1)
        progress = min((step - optim.warmup_steps) / span, 1.0)
    elif optim.schedule == "wsd":
        decay_start = config.max_steps - optim.decay_steps
        if step < decay_start:
            return 1.0
        progress = min((step - decay_start) / max(optim.decay_steps, 1), 1.0)
    else:
        raise DataError(f"unknown schedule '{optim.schedule}' (cosine, wsd or constant)")
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return optim.min_lr_ratio + (1 - optim.min_lr_ratio) * cosine


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only; fused kernels on CUDA."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": config.optim.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(
        groups, lr=config.optim.lr, betas=config.optim.betas, eps=config.optim.eps, fused=fused
    )


def _distributed() -> tuple[int, int, torch.device]:
    """(rank, world size, device); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


@torch.no_grad()
def evaluate(model, sampler: WindowSampler, windows: int, device, autocast) -> dict:
    """Mean loss (nats/token) over the first ``windows`` validation windows.

    A quick measure during training, on windows of the packed stream (EOS tokens included).
    Bits per byte, the measure that compares tokenizers, is scored document by document by
    :mod:`toklab.evaluation.bits_per_byte` once training is done.
    """
    model.eval()
    total_nats = total_tokens = 0.0
    count = min(windows, sampler.num_windows)
    for first in range(0, count, 16):
        batch = torch.from_numpy(sampler.stream_batch(first, min(16, count - first))).to(device)
        with autocast():
            logits = model(batch[:, :-1])
        nats = F.cross_entropy(
            logits.float().flatten(0, 1), batch[:, 1:].flatten(), reduction="none"
        )
        total_nats += nats.sum().item()
        total_tokens += nats.numel()
    model.train()
    return {"val_loss": total_nats / total_tokens}


class _ValidationWindows(WindowSampler):
    """Validation windows in stream order (no shuffling), the same for every evaluation."""

    def stream_batch(self, first: int, size: int) -> np.ndarray:
        return np.stack(
            [
                self.stream.slice(i * self.seq_len, i * self.seq_len + self.seq_len + 1)
                for i in range(first, first + size)
            ]
        )


def train(
    config: TrainConfig,
    train_prefix: str | Path,
    out_dir: str | Path,
    *,
    valid_prefix: str | Path | None = None,
    presets_path: str | Path,
    eos_id: int = 256,
    vocab_size: int = 257,
) -> Path:
    """Train (or resume) a model; return the directory of the final checkpoint."""
    rank, world, device = _distributed()
    paths = RunPaths(Path(out_dir))
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    if config.batch_size % (config.micro_batch_size * world):
        raise DataError(
            f"batch_size {config.batch_size} is not a multiple of micro_batch_size "
            f"{config.micro_batch_size} x {world} ranks"
        )
    accumulation = config.batch_size // (config.micro_batch_size * world)

    model_config = ModelConfig.from_preset(
        config.model_preset, presets_path, **{"vocab_size": vocab_size, **config.model}
    )
    if config.seq_len > model_config.max_position_embeddings:
        raise DataError(
            f"seq_len {config.seq_len} exceeds the model's max_position_embeddings "
            f"{model_config.max_position_embeddings}"
        )
    # The same initial weights on every rank; Python's and numpy's generators are seeded too, so
    # the RNG states a checkpoint stores are themselves reproducible.
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    model = LlamaModel(model_config).to(device)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(s, config))
    step = 0
    logged: list[str] = []  # metrics records so far, one JSON object per line
    if has_state(paths.checkpoint):
        step = load_state(paths.checkpoint, model, optimizer, scheduler, map_location=device)
        log.info("resumed from %s at step %d", paths.checkpoint, step)
        logged = logged_metrics(paths.checkpoint, paths.metrics, step)
        if rank == 0:
            with atomic_write(paths.metrics, "w") as handle:
                handle.writelines(line + "\n" for line in logged)
    elif rank == 0 and paths.metrics.exists():
        paths.metrics.unlink()  # a fresh run: no stale metrics from an earlier one

    if not 0 <= eos_id < vocab_size:
        raise DataError(f"EOS id {eos_id} is outside the vocabulary of {vocab_size} tokens")
    train_stream = PackedStream(train_prefix, eos_id)
    if train_stream.tokens.size and int(train_stream.tokens.max()) >= vocab_size:
        raise DataError(f"{train_prefix}: token ids exceed the vocab size {vocab_size}")
    sampler = WindowSampler(train_stream, config.seq_len, config.seed)
    valid = None
    if valid_prefix is not None:
        valid_stream = PackedStream(valid_prefix, eos_id)
        valid = _ValidationWindows(valid_stream, config.seq_len, config.seed)

    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    network = model
    if world > 1:
        network = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    forward = torch.compile(network) if config.compile else network

    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGUSR1, signal.SIGTERM)}
    # closed in the finally block below, which also restores the signal handlers
    metrics = open(paths.metrics, "a", encoding="utf-8") if rank == 0 else None  # noqa: SIM115
    progress = tqdm(total=config.max_steps, initial=step, desc="train", disable=rank != 0)
    started, tokens_done = time.perf_counter(), 0
    try:
        while step < config.max_steps:
            loss_sum = torch.zeros((), device=device)
            for micro in range(accumulation):
                first = step * config.batch_size + (micro * world + rank) * config.micro_batch_size
                batch = torch.from_numpy(sampler.batch(first, config.micro_batch_size)).to(device)
                sync = micro == accumulation - 1 or world == 1
                context = network.no_sync() if (world > 1 and not sync) else nullcontext()
                with context, autocast():
                    logits = forward(batch[:, :-1])
                    loss = F.cross_entropy(logits.float().flatten(0, 1), batch[:, 1:].flatten())
                (loss / accumulation).backward()
                loss_sum += loss.detach() / accumulation
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens_done += config.batch_size * config.seq_len
            if world > 1:
                dist.all_reduce(loss_sum)
                loss_sum /= world
            last = step == config.max_steps
            evaluate_now = valid is not None and (step % config.eval_interval == 0 or last)
            record: dict[str, Any] = {}
            if evaluate_now or step % config.log_interval == 0 or last:
                record = {
                    "step": step,
                    "tokens": step * config.batch_size * config.seq_len,
                    "loss": loss_sum.item(),
                    "lr": scheduler.get_last_lr()[0],
                    "grad_norm": float(grad_norm),
                }
                # Throughput is a measurement, not a result: it goes to the log, not metrics.jsonl.
                elapsed = time.perf_counter() - started
                log.info(
                    "step %d: loss %.4f, %.0f tokens/s", step, record["loss"], tokens_done / elapsed
                )
            if evaluate_now:
                record.update(evaluate(model, valid, config.eval_windows, device, autocast))
            if record and metrics is not None:
                logged.append(json.dumps(record))
                metrics.write(logged[-1] + "\n")
                metrics.flush()
            progress.update()
            if world > 1:
                flag = torch.tensor([stop["signal"] is not None], dtype=torch.int32, device=device)
                dist.all_reduce(flag)
                preempted = bool(flag.item())
            else:
                preempted = stop["signal"] is not None
            if rank == 0 and (preempted or step % config.checkpoint_interval == 0):
                save_state(paths.checkpoint, model, optimizer, scheduler, step, logged)
            if preempted:
                log.warning("signal received: checkpointed at step %d, exiting", step)
                raise Preempted(EXIT_PREEMPTED)
        if rank == 0:
            save_checkpoint(model, paths.out_dir)
            with atomic_write(paths.out_dir / "train_config.json", "w") as handle:
                json.dump(config_to_dict(config), handle, indent=2, sort_keys=True)
    finally:
        progress.close()
        if metrics is not None:
            metrics.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if world > 1 and dist.is_initialized():
            dist.barrier()
    return paths.out_dir
