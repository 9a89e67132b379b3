"""The trainer of every LM: AdamW, schedules, accumulation, DDP, exact resume, preemption.

* Models: toklab's Llama or any ``transformers`` causal LM (``model_class`` in the preset;
  :mod:`toklab.models.causal_lm`), with the tokenizer's vocabulary.
* Data: windows of packed token arrays (attention within documents with
  ``document_masking``), (``data: chunks``) Delphi's fixed-length samples with epochs and a
  seeded per-epoch shuffle (``max_epochs`` sets the length of the run), or (``data:
  examples``) instruction examples packed into rows, attention within each example and the
  loss on its answer only; ``init_from`` starts from a trained model's weights (fine-tuning).
* Kinds of LM (:mod:`toklab.training.lm_kinds`): a token LM, or T-Free's (a trigram
  embedding and a multi-label head, on windows of words, ``data: aligned`` samples of the
  original or ``data: examples`` with their loss on ``has_loss`` segments, trained with
  :class:`~toklab.training.objectives.MultiLabelLoss`); the loop is the same for both.
  The order is a pure function of (seed, step) (:mod:`toklab.training.data`), so resuming
  needs only the step; the checkpoint still stores every RNG state.
* DDP: launch with ``torchrun``; rank r takes windows ``r, r + W, ...`` of each global batch, so
  the global batch and its gradient equal single-process training (up to float summation
  order). NCCL on CUDA, gloo on CPU.
* A checkpoint (``checkpoint/``: model, tokenizer files, optimizer, scheduler, RNG, step, run
  context; written and read by :mod:`toklab.training.checkpoint`) is saved every
  ``checkpoint_interval`` steps and atomically replaces the previous one. Delphi's checkpoint
  suites keep copies as ``checkpoints/step-{N}/``: every interval's with ``keep_checkpoints``,
  and those of ``extra_checkpoint_steps`` (1, 2, 4, ..., 512). On SIGUSR1 or SIGTERM the
  trainer finishes its step, checkpoints, and exits with :data:`EXIT_PREEMPTED`, so SLURM or
  Snakemake can requeue it and the next run resumes, exactly.
* Metrics go to ``metrics.jsonl`` (training loss, learning rate, gradient norm, tokens seen,
  validation loss in nats per token), byte-identical across reruns, and optionally to Weights
  & Biases (``wandb: entity/project``); throughput goes to the log. Bits per byte is scored
  after training (:mod:`toklab.evaluation.bits_per_byte`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import random
import signal
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from toklab import fingerprint as fingerprints
from toklab.data.packed_stream import PackedStream
from toklab.datasets.token_array import require_ids_below
from toklab.errors import ConfigError, DataError
from toklab.fingerprint import set_aside
from toklab.io import atomic_write
from toklab.models.causal_lm import build_model, load_model, model_spec, save_model, spec_of
from toklab.training.checkpoint import (
    RunFiles,
    RunPaths,
    file_digest,
    has_state,
    load_sharded_state,
    load_state,
    logged_metrics,
    run_context,
    run_fingerprint,
    save_sharded_state,
    save_state,
    stale_reason,
    writer_lock,
)
from toklab.training.config import TrainConfig, config_to_dict
from toklab.training.data import (
    AlignedSampler,
    Batch,
    ChunkSampler,
    ExampleSampler,
    WindowSampler,
    WordExampleSampler,
    data_digests,
    read_chunks,
)
from toklab.training.lm_kinds import LMKind, TokenLM, check_data_kind
from toklab.training.objectives import NextTokenLoss, Objective
from toklab.training.parallel import (
    check_parallelism,
    distribute,
    full_model,
    gradient_sync,
    load_full_weights,
    local_value,
)

log = logging.getLogger(__name__)

#: Exit status after a preemption checkpoint (EX_TEMPFAIL: "try again").
EXIT_PREEMPTED = 75


class Preempted(SystemExit):
    """Raised after the preemption checkpoint is written."""


def resumable(paths: RunPaths, fingerprint: dict[str, Any], max_steps: int) -> bool:
    """Whether the run resumes from ``paths.checkpoint``; else it starts from step 0.

    It resumes only when every state in the directory (the checkpoint and the kept ones) has
    the run's fingerprint. Otherwise the directory holds another run's files: one line names
    what differs, and (rank 0) the files are set aside in ``stale/``, so that neither the model
    nor the metrics of the old run are ever mistaken for the new one's.
    """
    stale = {}
    for state in paths.states():
        reason = stale_reason(state, fingerprint, max_steps)
        if reason is not None:
            stale[state] = reason
    resume = has_state(paths.checkpoint) and not stale
    world = dist.get_world_size() if dist.is_initialized() else 1
    if world > 1:
        dist.barrier()  # every rank has decided before rank 0 moves anything
    if not resume and (not dist.is_initialized() or dist.get_rank() == 0):
        previous = paths.previous_run()
        if stale:
            state, reason = next(iter(stale.items()))
            log.warning(
                "%s is another run's state (%s): set aside in %s; training from step 0",
                state,
                reason,
                paths.stale,
            )
        elif previous:
            log.info("no state to resume: the earlier files set aside in %s", paths.stale)
        set_aside(previous, paths.stale)
    if world > 1:
        dist.barrier()
    return resume


def clip_gradients(model: torch.nn.Module, max_norm: float) -> torch.Tensor:
    """Scale the gradients to a total norm of at most ``max_norm`` (0: leave them); their norm.

    The norm stays a tensor (reading it would wait for the device every step); a sharded run's
    is gathered from its DTensor.
    """
    parameters = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.get_total_norm([p.grad for p in parameters])
    if max_norm > 0:
        torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, norm)
    return local_value(norm)


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


def as_batch(rows: np.ndarray | Batch, eos_id: int, document_masking: bool) -> Batch:
    """A sampler's rows as a :class:`Batch`, with document ids when ``document_masking``.

    Windows of a packed stream: each document starts at the EOS before it.
    """
    if isinstance(rows, Batch):
        return rows
    documents = np.cumsum(rows[:, :-1] == eos_id, axis=1) if document_masking else None
    return Batch(rows, documents)


def batch_loss(forward, batch: Batch, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed next-token loss (nats) of a batch's (weighted) targets, and their weight."""
    return NextTokenLoss()(forward, batch, device)


@torch.no_grad()
def evaluate(
    model,
    sampler,
    windows: int,
    device,
    autocast,
    eos_id: int,
    masking: bool,
    objective: Objective | None = None,
    batch_size: int = 16,
) -> dict:
    """Mean loss (nats/token; T-Free: its loss) over the first ``windows`` validation windows.

    A quick measure during training, on windows of the packed stream (EOS tokens included), on
    the first Delphi samples, or on the answers of the first examples, in order, ``batch_size``
    at a time; the model is in eval mode meanwhile, then back in the mode it was in. Bits per
    byte, the measure that compares tokenizers, is scored document by document by
    :mod:`toklab.evaluation.bits_per_byte` after training.
    """
    objective = objective or NextTokenLoss()
    training = model.training
    model.eval()
    total_nats = total_tokens = 0.0
    count = min(windows, sampler.num_windows)
    for first in range(0, count, batch_size):
        batch = as_batch(sampler.sequential(first, min(batch_size, count - first)), eos_id, masking)
        with autocast():
            nats, weight = objective(model, batch, device)
        total_nats += nats.item()
        total_tokens += weight.item()
    model.train(training)
    return {"val_loss": total_nats / max(total_tokens, 1.0)}


def open_data(
    config: TrainConfig,
    train_path: str | Path,
    valid_path: str | Path | None,
    eos_id: int,
    words: bool = False,
):
    """Training and validation samplers of the configured kind; their largest token id.

    ``words``: the data are T-Free word arrays (``examples`` are then word examples).
    """
    if config.data == "chunks":
        chunks, _ = read_chunks(train_path)
        if chunks.shape[1] != config.seq_len + 1:
            raise ConfigError(
                f"seq_len {config.seq_len} does not fit the Delphi samples of {train_path} "
                f"({chunks.shape[1]} ids: seq_len must be {chunks.shape[1] - 1})"
            )
        train_sampler = ChunkSampler(chunks, config.batch_size, config.seed)
        valid = None
        if valid_path is not None:
            valid_chunks, _ = read_chunks(valid_path)
            if valid_chunks.shape[1] != chunks.shape[1]:
                raise DataError(f"{valid_path}: samples of another length than {train_path}")
            valid = ChunkSampler(valid_chunks, 1, config.seed)
        max_id = int(chunks.max()) if chunks.size else 0
        return train_sampler, valid, max_id
    if config.data == "examples" and not words:
        from toklab.datasets.examples import ExampleArray

        examples = ExampleArray.open(train_path)
        train_sampler = ExampleSampler(examples, config.seq_len, config.seed, eos_id)
        valid = None
        if valid_path is not None:
            valid = ExampleSampler(
                ExampleArray.open(valid_path), config.seq_len, config.seed, eos_id
            )
        max_id = int(examples.tokens.tokens.max()) if examples.tokens.num_tokens else 0
        return train_sampler, valid, max_id
    if config.data == "aligned" or (words and config.data == "examples"):
        kind = AlignedSampler if config.data == "aligned" else WordExampleSampler
        train_sampler = kind(train_path, config.seq_len, config.seed)
        valid = None
        if valid_path is not None:
            valid = kind(valid_path, config.seq_len, config.seed)
        tokens = train_sampler.tokens
        return train_sampler, valid, int(tokens.max()) if tokens.size else 0
    stream = PackedStream(train_path, eos_id)
    max_id = int(stream.tokens.max()) if stream.tokens.size else 0
    train_sampler = WindowSampler(stream, config.seq_len, config.seed)
    valid = None
    if valid_path is not None:
        valid = WindowSampler(PackedStream(valid_path, eos_id), config.seq_len, config.seed)
    return train_sampler, valid, max_id


def _wandb_run(config: TrainConfig, out_dir: Path):
    """A Weights & Biases run for ``config.wandb`` ("entity/project"), resumed across restarts."""
    try:
        import wandb
    except ImportError:
        raise ConfigError("wandb logging is configured but wandb is not installed") from None
    entity, _, project = config.wandb.rpartition("/")
    run_id = hashlib.sha256(str(out_dir.resolve()).encode()).hexdigest()[:16]
    return wandb.init(
        entity=entity or None,
        project=project,
        name=out_dir.as_posix(),
        id=run_id,
        resume="allow",
        dir=str(out_dir),
        config=config_to_dict(config),
    )


def train(
    config: TrainConfig,
    train_prefix: str | Path,
    out_dir: str | Path,
    *,
    valid_prefix: str | Path | None = None,
    presets_path: str | Path,
    lm: LMKind | None = None,
) -> Path:
    """Train (or resume) a model; return the directory of the final checkpoint.

    ``train_prefix``/``valid_prefix`` are token-array prefixes (``data: windows``), Delphi
    export directories (``data: chunks``), example arrays or T-Free word arrays, as ``lm``, the
    kind of LM (:mod:`toklab.training.lm_kinds`; default: a byte LM), trains on. The files of
    its tokenizer's directory go into every checkpoint. One trainer writes a directory at a
    time (:func:`~toklab.training.checkpoint.writer_lock`, held by rank 0): a second one waits.
    """
    lm = lm or TokenLM()
    rank, world, device = _distributed()
    paths = RunPaths(Path(out_dir))
    paths.out_dir.mkdir(parents=True, exist_ok=True)
    with writer_lock(paths) if rank == 0 else nullcontext():
        if world > 1:
            dist.barrier()  # the other ranks read the directory once rank 0 holds it
        return _train(
            config, train_prefix, paths, valid_prefix, presets_path, lm, rank, world, device
        )


def _train(
    config: TrainConfig,
    train_prefix: str | Path,
    paths: RunPaths,
    valid_prefix: str | Path | None,
    presets_path: str | Path,
    lm: LMKind,
    rank: int,
    world: int,
    device: torch.device,
) -> Path:
    """The body of :func:`train`, under the writer lock (rank ``rank`` of ``world``)."""
    if config.batch_size % (config.micro_batch_size * world):
        raise DataError(
            f"batch_size {config.batch_size} is not a multiple of micro_batch_size "
            f"{config.micro_batch_size} x {world} ranks"
        )
    accumulation = config.batch_size // (config.micro_batch_size * world)

    check_data_kind(lm, config.data)
    overrides = {**config.model, **lm.model_overrides()}
    spec = model_spec(config.model_preset, presets_path, lm.vocab_size, overrides)
    limit = spec.config.get("max_position_embeddings")
    if limit is not None and config.seq_len > limit:
        raise DataError(
            f"seq_len {config.seq_len} exceeds the model's max_position_embeddings {limit}"
        )
    objective, valid_objective = lm.objectives(config, train_prefix, valid_prefix)
    eos_id = lm.eos_id
    sampler, valid, max_id = open_data(config, train_prefix, valid_prefix, eos_id, words=lm.words)
    require_ids_below(train_prefix, max_id, *lm.id_limit(train_prefix))
    epoch_steps = sampler.epoch_steps(config.batch_size)
    if config.max_epochs is not None:
        config = dataclasses.replace(config, max_steps=config.max_epochs * epoch_steps)
    kept_steps = set(config.extra_checkpoint_steps)
    if config.keep_checkpoints:
        kept_steps |= set(
            range(config.checkpoint_interval, config.max_steps, config.checkpoint_interval)
        )
        kept_steps.add(config.max_steps)

    # The same initial weights on every rank; Python's and numpy's generators are seeded too, so
    # the RNG states a checkpoint stores are themselves reproducible.
    # A sharded run builds the model on rank 0 only (the others on the meta device, no memory)
    # and sends each rank its shards: a node holds one full copy, not one per GPU.
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    sharded = config.parallelism == "fsdp"
    check_parallelism(config.parallelism, world)
    full_copy = not sharded or rank == 0
    with nullcontext() if full_copy else torch.device("meta"):
        model = build_model(spec)
    problem = None
    if full_copy:
        model = model.to(device)
        if config.init_from:
            initial = load_model(config.init_from)
            if spec_of(initial) != spec_of(model):
                problem = (
                    f"{config.init_from}: its model ({spec_of(initial)}) is not the one this run "
                    f"builds ({spec_of(model)}): another preset or tokenizer?"
                )
            else:
                model.load_state_dict(initial.state_dict())
            del initial
    if sharded:  # every rank stops, not only rank 0
        shared = [problem]
        dist.broadcast_object_list(shared, src=0)
        problem = shared[0]
    if problem is not None:
        raise DataError(problem)
    weights = model.state_dict() if sharded and rank == 0 else None
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    network = distribute(
        model,
        parallelism=config.parallelism,
        activation_checkpointing=config.activation_checkpointing,
        world=world,
        device=device,
        bf16=use_bf16,
    )
    if sharded:
        load_full_weights(model, weights, device)
        del weights
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(s, config))
    inputs = None
    if rank == 0:  # every file is read once, by one rank, and the digests sent to the others
        inputs = {"train": data_digests(train_prefix, config.data)}
        if valid_prefix is not None:
            inputs["valid"] = data_digests(valid_prefix, config.data)
        if lm.tokenizer_file is not None:
            inputs["tokenizer"] = file_digest(lm.tokenizer_file, "tokenizer")
        if config.init_from:
            inputs["init_from"] = file_digest(
                Path(config.init_from) / "model.safetensors", "init_from's weights"
            )
    if world > 1:
        shared = [inputs]
        dist.broadcast_object_list(shared, src=0)
        inputs = shared[0]
    fingerprint = run_fingerprint(config, spec, bf16=use_bf16, eos_id=eos_id, inputs=inputs)
    step = 0
    logged: list[str] = []  # metrics records so far, one JSON object per line
    if resumable(paths, fingerprint, config.max_steps):
        if sharded:
            step = load_sharded_state(paths.checkpoint, model, optimizer, scheduler, world=world)
        else:
            step = load_state(paths.checkpoint, model, optimizer, scheduler, map_location=device)
        log.info("resumed from %s at step %d", paths.checkpoint, step)
        logged = logged_metrics(paths.checkpoint, paths.metrics, step)
        if rank == 0:
            with atomic_write(paths.metrics, "w") as handle:
                handle.writelines(line + "\n" for line in logged)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16)

    # constant within a run (run_context holds no time or host): computed once, not per checkpoint
    run_json = {
        "train_config.json": config_to_dict(config),
        "run_context.json": run_context(device, world),
    }

    def run_files(at_step: int) -> RunFiles:
        return RunFiles(
            lm.tokenizer_file.parent if lm.tokenizer_file is not None else None,
            {
                **run_json,
                "training_state.json": {
                    "step": at_step,
                    "epoch": at_step // epoch_steps,
                    "tokens": at_step * config.batch_size * config.seq_len,
                    "lr": scheduler.get_last_lr()[0],
                },
            },
        )

    forward = torch.compile(network) if config.compile else network

    stop = {"signal": None}

    def on_signal(signum, frame):
        stop["signal"] = signum

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGUSR1, signal.SIGTERM)}
    # closed in the finally block below, which also restores the signal handlers
    metrics = open(paths.metrics, "a", encoding="utf-8") if rank == 0 else None  # noqa: SIM115
    tracker = _wandb_run(config, paths.out_dir) if rank == 0 and config.wandb else None
    progress = tqdm(total=config.max_steps, initial=step, desc="train", disable=rank != 0)
    started, tokens_done = time.perf_counter(), 0
    try:
        while step < config.max_steps:
            loss_sum = torch.zeros((), device=device)
            batches = [
                as_batch(
                    sampler.batch(
                        step * config.batch_size + (micro * world + rank) * config.micro_batch_size,
                        config.micro_batch_size,
                    ),
                    eos_id,
                    config.document_masking,
                )
                for micro in range(accumulation)
            ]
            total = None  # weighted targets (answers only): their count over the global batch
            if batches[0].weights is not None:
                total = torch.tensor(float(sum(b.weights.sum() for b in batches)), device=device)
                if world > 1:
                    dist.all_reduce(total)
                total = total.clamp(min=1.0)
            for micro, batch in enumerate(batches):
                sync = micro == accumulation - 1
                with gradient_sync(network, sync), autocast():
                    nats, weight = objective(forward, batch, device)
                    # unweighted: every micro-batch has micro_batch x seq_len targets; weighted:
                    # each target of the global batch weighs the same (the ranks are averaged)
                    loss = nats / weight / accumulation if total is None else nats * world / total
                loss.backward()
                loss_sum += loss.detach()
            grad_norm = clip_gradients(model, config.optim.grad_clip)
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
                masking = config.document_masking
                record.update(
                    evaluate(
                        model,
                        valid,
                        config.eval_windows,
                        device,
                        autocast,
                        eos_id,
                        masking,
                        valid_objective,
                    )
                )
            if record and metrics is not None:
                logged.append(json.dumps(record))
                metrics.write(logged[-1] + "\n")
                metrics.flush()
                if tracker is not None:
                    tracker.log(record, step=step)
            progress.update()
            if world > 1:
                flag = torch.tensor([stop["signal"] is not None], dtype=torch.int32, device=device)
                dist.all_reduce(flag)
                preempted = bool(flag.item())
            else:
                preempted = stop["signal"] is not None
            targets = []
            if step in kept_steps:
                targets.append(paths.kept(step))
            if preempted or step % config.checkpoint_interval == 0:
                targets.append(paths.checkpoint)
            # a sharded model is gathered once per step, however many directories it goes to
            consolidated = full_model(model, rank) if sharded and targets else None
            for directory in targets:
                files = run_files(step)
                state = (directory, model, optimizer, scheduler, step, logged, files, fingerprint)
                if sharded:  # every rank writes its shards
                    save_sharded_state(*state, consolidated=consolidated, rank=rank, world=world)
                elif rank == 0:
                    save_state(*state)
            if preempted:
                log.warning("signal received: checkpointed at step %d, exiting", step)
                raise Preempted(EXIT_PREEMPTED)
        # the final model: the run's directory is itself a complete checkpoint (no state.pt)
        final = full_model(model, rank) if sharded else model
        if rank == 0:
            files = run_files(step)
            files.write(paths.out_dir)
            fingerprints.write(paths.out_dir, fingerprint)
            save_model(final, paths.out_dir)
    finally:
        progress.close()
        if metrics is not None:
            metrics.close()
        if tracker is not None:
            tracker.finish()
        for s, handler in previous.items():
            signal.signal(s, handler)
        if world > 1 and dist.is_initialized():
            dist.barrier()
    return paths.out_dir
