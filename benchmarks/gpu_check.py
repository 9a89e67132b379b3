#!/usr/bin/env python
"""One prepared GPU check: correctness, an FSDP2 step, throughput and MFU, extraction bytes/s.

Meant for one GPU, to finish within 8 minutes on an H100 (not yet timed on one); writes one
JSON (``--output``) and prints a table. Every figure in the JSON says what it is compared with.

Sections (``--sections``, comma-separated; all by default):

* ``attention``: the varlen attention path (flash-attn's kernel, as ``llama.varlen_kernel``)
  against torch SDPA, both under bf16 autocast, on the ``tiny`` preset's logits and gradients
  with document masking (random documents, one-token ones included). The yardstick is bf16's
  own error: SDPA in bf16 against SDPA in fp32. Without flash-attn (or on CPU) the pure-torch
  reference ``toklab.models.flash_reference`` stands in, as in the tests.
* ``precision``: two 30-step runs of the real trainer (``toklab.training.trainer.train``) on a
  demo byte corpus, ``precision=fp32`` and ``precision=bf16``: the loss trajectories compared.
* ``fsdp``: one FSDP2 step (``fully_shard`` on every block and the root, the trainer's
  mixed-precision policy) on a 1-process group (NCCL on CUDA, gloo on CPU), against the same
  step of the unsharded model (the trainer refuses ``parallelism: fsdp`` on one process).
* ``extraction``: ``toklab.cues.extract_predictions`` of the byte LM (``fw57M-tied``, 258 ids)
  at context 2048, stride 512, batch 8 (ByteSpan's settings), in bytes/s.
* ``throughput``: training tokens/s (forward + backward + AdamW on random batches,
  ``bench_lm.train_throughput``) and MFU for ``fw57M-tied``, ``cs336-17M``, ``stochastok-47M``
  and ``tfree-1B``, each at the vocabulary, context and per-GPU micro-batch of its experiment
  config, eager and ``torch.compile``, flash-attn and SDPA. MFU = FLOPs per token x tokens/s /
  peak, FLOPs per token as nanoGPT counts them (6 N + 12 L h T; N: the matmul parameters, the
  output head included) and also 6 N alone. A row starts only if it should end within
  ``--time-budget`` (390 s from the start), so that the whole check stays within 8 minutes.

The report is rewritten after every section and throughput row (``complete`` is false until
the end), so a job killed at its time limit leaves what it measured. The exit status is 1 when
a section fails (an error, or a correctness check out of tolerance), after the report is
written; MFU below the goal is reported, not failed.

``--cpu-smoke`` runs every section on the CPU with the ``tiny`` preset, a few steps and tiny
shapes (well under a minute), recording why the parts that need CUDA or flash-attn are skipped.

    python benchmarks/gpu_check.py --output gpu_check.json            # on one GPU
    python benchmarks/gpu_check.py --cpu-smoke --output smoke.json    # anywhere
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import importlib.metadata
import json
import logging
import math
import os
import platform
import shlex
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import torch
import torch.nn.functional as F
from bench_lm import PRESETS, device_peak, extraction_throughput, synchronize, train_throughput

from toklab.io import write_json
from toklab.models import flash_reference, llama
from toklab.models.llama import LlamaModel, ModelConfig, VarlenKernel

SCHEMA = "toklab-gpu-check-v1"
SECTIONS = ("attention", "precision", "fsdp", "extraction", "throughput")
KERNELS = ("flash-attn", "sdpa")
COMPILE_MODES = ("eager", "compile")

#: The byte-level tokenizer of the experiments: 256 bytes, <|endoftext|> (256), <|padding|>.
BYTE_VOCAB, BYTE_EOS = 258, 256

#: What MFU is compared with.
MFU_ANCHOR = (
    "nanoGPT-class training reaches 40-50% MFU at this model size (bf16, flash attention, "
    "torch.compile)"
)
#: toklab's MFU goals, per preset (the others are compared with the anchor only).
MFU_GOALS = {"fw57M-tied": 0.45}
#: Peaks of parts that bench_lm.PEAK_BF16 would misread (it matches "H100" for every H100).
PEAK_OVERRIDES = {("H100", "PCIe"): 756e12, ("H100", "NVL"): 835e12}
#: H100 SXM's dense fp32 peak (no tensor cores): extraction runs the model in fp32.
H100_FP32_PEAK = 67e12


@dataclass(frozen=True)
class Workload:
    """A preset at the vocabulary, context and per-GPU micro-batch its experiment trains with."""

    preset: str
    vocab_size: int
    seq_len: int
    batch: int
    source: str


#: The throughput section's presets (vocabularies, contexts and micro-batches from
#: config/experiments/*.yaml).
WORKLOADS = {
    w.preset: w
    for w in (
        Workload(
            "fw57M-tied", 64_000, 2048, 16,
            "bytespan_fineweb.yaml lm: the 64k tokenizers (bpe-64000, bytespan-*-64000), "
            "seq_len 2048, micro_batch_size 16",
        ),
        Workload(
            "cs336-17M", 10_000, 256, 32,
            "cs336_tinystories.yaml lm: the 10,000-id BPE, seq_len 256, micro_batch_size 32",
        ),
        Workload(
            "stochastok-47M", 50_257, 512, 60,
            "stochastok_openwebtext.yaml lm: GPT-2's 50,257 ids, seq_len 512, "
            "micro_batch_size 60",
        ),
        Workload(
            "tfree-1B", 64_000, 2048, 4,
            "tfree_fineweb.yaml lm: the dense baseline bpe-64000 (T-Free's own model has the "
            "same blocks, an 8,000-row trigram embedding and head), seq_len 2048, "
            "micro_batch_size 4",
        ),
    )
}  # fmt: skip
SMOKE_WORKLOAD = Workload("tiny", 257, 64, 4, "cpu-smoke: the tiny preset on bytes + EOS")


@dataclass(frozen=True)
class Settings:
    """The shapes and lengths of every section (one set for a GPU, one for ``--cpu-smoke``)."""

    workloads: tuple[Workload, ...]
    kernels: tuple[str, ...]
    compile_modes: tuple[str, ...]
    steps: int  # throughput: timed steps per row
    warmup: int  # throughput: untimed steps first (compilation included)
    attention_batch: int
    attention_seq_len: int
    train_preset: str
    train_seq_len: int
    train_batch: int
    train_steps: int
    corpus_bytes: int
    fsdp: Workload
    extract_preset: str
    extract_context: int
    extract_stride: int
    extract_batch: int
    extract_bytes: int


FULL = Settings(
    workloads=tuple(WORKLOADS.values()),
    kernels=KERNELS,
    compile_modes=COMPILE_MODES,
    steps=20,
    warmup=5,
    attention_batch=8,
    attention_seq_len=256,
    train_preset="cs336-17M",
    train_seq_len=256,
    train_batch=32,
    train_steps=30,
    corpus_bytes=2_000_000,
    fsdp=dataclasses.replace(WORKLOADS["fw57M-tied"], batch=4),
    extract_preset="fw57M-tied",
    extract_context=2048,
    extract_stride=512,
    extract_batch=8,
    extract_bytes=1_000_000,
)
SMOKE = Settings(
    workloads=(SMOKE_WORKLOAD,),
    kernels=KERNELS,
    compile_modes=("eager",),
    steps=5,
    warmup=3,
    attention_batch=3,
    attention_seq_len=64,
    train_preset="tiny",
    train_seq_len=64,
    train_batch=4,
    train_steps=6,
    corpus_bytes=100_000,
    fsdp=SMOKE_WORKLOAD,
    extract_preset="tiny",
    extract_context=128,
    extract_stride=32,
    extract_batch=8,
    extract_bytes=6_000,
)


class Skipped(Exception):  # noqa: N818 - a section's outcome, not an error
    """A section that cannot run here, and why."""


# --------------------------------------------------------------------------------------------
# Shared helpers


def flash_kernel(device: torch.device) -> tuple[VarlenKernel, str, str | None]:
    """The varlen kernel to check, its name, and why it is not flash-attn's (None if it is)."""
    installed = llama.varlen_kernel  # flash-attn's when importable (read at import time)
    if device.type == "cuda" and installed is not None:
        return installed, "flash-attn", None
    why = "flash-attn is not installed" if installed is None else "flash-attn needs CUDA"
    reference = VarlenKernel(
        flash_reference.flash_attn_varlen_func, (device.type,), (torch.bfloat16,)
    )
    return reference, "flash_reference", f"{why}: the pure-torch reference stands in"


class CountingKernel:
    """A varlen kernel function that counts its calls (the varlen path did run)."""

    def __init__(self, function: Callable[..., torch.Tensor]) -> None:
        self.function, self.calls = function, 0

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        self.calls += 1
        return self.function(*args, **kwargs)


@contextlib.contextmanager
def installed_kernel(kernel: VarlenKernel | None):
    """``llama.varlen_kernel`` set to ``kernel`` (None: SDPA) inside the block."""
    saved, llama.varlen_kernel = llama.varlen_kernel, kernel
    try:
        yield
    finally:
        llama.varlen_kernel = saved


def packed_batch(
    batch: int, length: int, mean_document: int, device: torch.device, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """(batch, length + 1) byte ids with EOS at random places, and the inputs' document ids.

    Document ids as the trainer's ``as_batch`` builds them: each document starts at its EOS.
    """
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, BYTE_EOS, (batch, length + 1), generator=generator)
    ids[torch.rand(batch, length + 1, generator=generator) < 1 / mean_document] = BYTE_EOS
    documents = torch.cumsum(ids[:, :-1] == BYTE_EOS, dim=1)
    return ids.to(device), documents.to(device)


def demo_byte_corpus(directory: Path, size_bytes: int) -> Path:
    """A byte corpus of about ``size_bytes`` of demo text (toklab.data.demo); its prefix."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.data.byte_corpus import write_byte_corpus
    from toklab.data.demo import DEMO_LANGUAGES, generate_documents

    texts, total = [], 0
    for document in generate_documents(DEMO_LANGUAGES, 0):
        texts.append(document.text)
        total += len(document.text.encode())
        if total >= size_bytes:
            break
    directory.mkdir(parents=True, exist_ok=True)
    shard = directory / "part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard)
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # tqdm
        write_byte_corpus([shard], directory / "corpus")
    return directory / "corpus"


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.float() - b.float()).abs().max().item()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def release_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


# --------------------------------------------------------------------------------------------
# attention: the varlen kernel against SDPA in bf16


def logits_and_grads(
    model: LlamaModel,
    ids: torch.Tensor,
    documents: torch.Tensor,
    kernel: VarlenKernel | None,
    bf16: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Logits (float) and parameter gradients of the next-token loss, with ``kernel``."""
    with installed_kernel(kernel):
        model.zero_grad(set_to_none=True)
        with torch.autocast(ids.device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids[:, :-1], documents)
        F.cross_entropy(logits.float().flatten(0, 1), ids[:, 1:].flatten()).backward()
    grads = {name: p.grad.detach().float().clone() for name, p in model.named_parameters()}
    return logits.detach().float(), grads


def grad_error(grads: dict[str, torch.Tensor], reference: dict[str, torch.Tensor]) -> float:
    """The largest gradient difference of any parameter, relative to that parameter's largest."""
    return max(
        max_abs(grads[name], ref) / max(ref.abs().max().item(), 1e-30)
        for name, ref in reference.items()
    )


def check_attention(settings: Settings, device: torch.device) -> dict[str, Any]:
    kernel, kernel_name, note = flash_kernel(device)
    counter = CountingKernel(kernel.function)
    config = ModelConfig.from_preset(
        "tiny", PRESETS, vocab_size=BYTE_VOCAB, initializer_range=0.2
    )  # a wide initialisation: attention far from uniform, so masking matters
    torch.manual_seed(0)
    model = LlamaModel(config).to(device)
    length = settings.attention_seq_len
    ids, documents = packed_batch(settings.attention_batch, length, max(length // 8, 2), device)
    fp32, fp32_grads = logits_and_grads(model, ids, documents, None, bf16=False)
    sdpa, sdpa_grads = logits_and_grads(model, ids, documents, None, bf16=True)
    varlen, varlen_grads = logits_and_grads(
        model, ids, documents, kernel._replace(function=counter), bf16=True
    )
    diff, bf16_error = max_abs(varlen, sdpa), max_abs(sdpa, fp32)
    grad_diff, grad_bf16 = grad_error(varlen_grads, sdpa_grads), grad_error(sdpa_grads, fp32_grads)
    ran = counter.calls == config.num_hidden_layers
    passed = ran and diff <= 2 * bf16_error and grad_diff <= 2 * grad_bf16
    return {
        "kernel": kernel_name,
        "note": note,
        "model": f"tiny preset (vocab {BYTE_VOCAB}, initializer_range 0.2)",
        "shape": [settings.attention_batch, settings.attention_seq_len],
        "documents": int(llama.document_starts(documents).sum()),
        "varlen_calls": counter.calls,
        "layers": config.num_hidden_layers,
        "logits_max_abs_diff": diff,
        "logits_bf16_error": bf16_error,
        "varlen_bf16_error": max_abs(varlen, fp32),
        "logits_max_abs": fp32.abs().max().item(),
        "grad_max_rel_diff": grad_diff,
        "grad_bf16_rel_error": grad_bf16,
        "compared_with": (
            "logits_bf16_error and grad_bf16_rel_error: SDPA under bf16 autocast against SDPA "
            "in fp32, bf16's own error on the same model and batch"
        ),
        "tolerance": (
            "the varlen path ran in every layer, and |varlen - SDPA| (both bf16) is at most "
            "twice bf16's own error, for the logits and for the gradients"
        ),
        "pass": passed,
    }


# --------------------------------------------------------------------------------------------
# precision: the trainer's loss trajectory, bf16 against fp32


def run_losses(settings: Settings, precision: str, prefix: Path, out_dir: Path) -> list[float]:
    """The per-step training losses of one ``train()`` run (metrics.jsonl at log_interval 1)."""
    from toklab.training.config import load_train_config
    from toklab.training.trainer import train

    config = load_train_config(
        [],
        [
            f"model_preset={settings.train_preset}",
            f"seq_len={settings.train_seq_len}",
            f"batch_size={settings.train_batch}",
            f"micro_batch_size={settings.train_batch}",
            f"max_steps={settings.train_steps}",
            "optim.lr=1.0e-3",
            f"optim.warmup_steps={max(settings.train_steps // 10, 1)}",
            "log_interval=1",
            f"checkpoint_interval={10**9}",
            f"precision={precision}",
            "compile=false",
        ],
    )
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # tqdm
        train(config, prefix, out_dir, presets_path=PRESETS)
    lines = (out_dir / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["loss"] for line in lines]


def check_precision(settings: Settings, device: torch.device, work: Path) -> dict[str, Any]:
    prefix = demo_byte_corpus(work / "corpus", settings.corpus_bytes)
    losses = {
        precision: run_losses(settings, precision, prefix, work / f"train-{precision}")
        for precision in ("fp32", "bf16")
    }
    fp32, bf16 = losses["fp32"], losses["bf16"]
    differences = [abs(a - b) for a, b in zip(fp32, bf16, strict=True)]
    drop = fp32[0] - fp32[-1]
    passed = all(map(math.isfinite, fp32 + bf16)) and max(differences) <= 0.05 * max(drop, 0.0)
    return {
        "preset": settings.train_preset,
        "data": f"demo byte corpus, {settings.corpus_bytes:,} bytes (vocab 257: bytes + EOS)",
        "seq_len": settings.train_seq_len,
        "batch": settings.train_batch,
        "steps": settings.train_steps,
        "loss_fp32": fp32,
        "loss_bf16": bf16,
        "max_abs_diff": max(differences),
        "final_abs_diff": differences[-1],
        "loss_drop_fp32": drop,
        "compared_with": "the fp32 run: same seed, data order and initial weights",
        "tolerance": "every step's |loss bf16 - loss fp32| <= 5% of the fp32 run's loss drop",
        "pass": passed,
    }


# --------------------------------------------------------------------------------------------
# fsdp: one FSDP2 step on one process


def check_fsdp(settings: Settings, device: torch.device) -> dict[str, Any]:
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
    from torch.distributed.tensor import DTensor

    from toklab.models.causal_lm import build_model, model_spec
    from toklab.training.config import load_train_config
    from toklab.training.parallel import local_value, transformer_blocks
    from toklab.training.trainer import build_optimizer

    if dist.is_initialized():
        raise Skipped("a process group is already initialised (run the check as one process)")
    work = settings.fsdp
    bf16 = device.type == "cuda"
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{free_port()}", rank=0, world_size=1
    )
    try:
        torch.manual_seed(0)
        plain = build_model(model_spec(work.preset, PRESETS, work.vocab_size)).to(device)
        sharded = copy.deepcopy(plain)
        # the trainer's policy (toklab.training.parallel.distribute); the mesh on this device
        # (by default FSDP2 takes the machine's accelerator, even for a CPU check on a GPU node)
        policy = MixedPrecisionPolicy()
        if bf16:
            policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        mesh = init_device_mesh(device.type, (1,))
        for block in transformer_blocks(sharded):
            fully_shard(block, mesh=mesh, mp_policy=policy)
        fully_shard(sharded, mesh=mesh, mp_policy=policy)
        data = torch.randint(0, work.vocab_size, (work.batch, work.seq_len + 1), device=device)
        config = load_train_config([], [])

        def step(model: torch.nn.Module) -> tuple[float, float, float]:
            optimizer = build_optimizer(model, config)
            synchronize(device)
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                logits = model(data[:, :-1])
                loss = F.cross_entropy(logits.float().flatten(0, 1), data[:, 1:].flatten())
            loss.backward()
            norm = local_value(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            optimizer.step()
            synchronize(device)
            return loss.item(), float(norm), time.perf_counter() - start

        release_memory(device)
        loss, norm, seconds = step(sharded)
        memory = peak_memory_gib(device)
        ref_loss, ref_norm, ref_seconds = step(plain)
        distributed = sum(isinstance(p, DTensor) for p in sharded.parameters())
        moved = max(
            max_abs(local_value(p.detach()), q.detach())
            for p, q in zip(sharded.parameters(), plain.parameters(), strict=True)
        )
    finally:
        dist.destroy_process_group()
    loss_diff, norm_diff = abs(loss - ref_loss), abs(norm - ref_norm) / max(ref_norm, 1e-30)
    tolerance = (2e-2, 1e-1) if bf16 else (1e-5, 1e-4)
    return {
        "preset": work.preset,
        "vocab_size": work.vocab_size,
        "shape": [work.batch, work.seq_len],
        "backend": backend,
        "mixed_precision": "bf16 parameters, fp32 reduction" if bf16 else "fp32",
        "sharded_parameters": distributed,
        "loss": loss,
        "loss_unsharded": ref_loss,
        "loss_abs_diff": loss_diff,
        "grad_norm": norm,
        "grad_norm_unsharded": ref_norm,
        "grad_norm_rel_diff": norm_diff,
        "params_max_abs_diff_after_step": moved,
        "step_seconds": seconds,
        "step_seconds_unsharded": ref_seconds,
        "peak_memory_gib": memory,  # the unsharded copy included
        "compared_with": (
            "the same step of the unsharded model (same initial weights and batch"
            + (", bf16 autocast)" if bf16 else ", fp32)")
        ),
        "tolerance": (
            f"parameters are DTensors, |loss difference| <= {tolerance[0]:g} and relative gradient-norm difference <= "
            f"{tolerance[1]:g}"
        ),
        "tolerance_loss": tolerance[0],
        "tolerance_grad_norm": tolerance[1],
        "pass": distributed > 0 and loss_diff <= tolerance[0] and norm_diff <= tolerance[1],
    }


# --------------------------------------------------------------------------------------------
# extraction: the byte LM's predictions, bytes/s


def check_extraction(settings: Settings, device: torch.device) -> dict[str, Any]:
    config = ModelConfig.from_preset(settings.extract_preset, PRESETS, vocab_size=BYTE_VOCAB)
    context, stride = settings.extract_context, settings.extract_stride
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):  # tqdm
        rate = extraction_throughput(
            config, device, context, stride, settings.extract_batch, settings.extract_bytes
        )
    # every byte is read by context / stride windows (forward only: a third of training FLOPs)
    forward_flops = config.flops_per_token(context) / 3 * context / stride
    return {
        "preset": settings.extract_preset,
        "vocab_size": BYTE_VOCAB,
        "context": context,
        "stride": stride,
        "batch": settings.extract_batch,
        "bytes": settings.extract_bytes,
        "precision": "fp32 (extract_predictions runs no autocast)",
        "bytes_per_s": rate,
        "hours_per_gb": 1e9 / rate / 3600,
        "forward_tflops": rate * forward_flops / 1e12,
        "fp32_peak_tflops": H100_FP32_PEAK / 1e12 if device.type == "cuda" else None,
        "compared_with": (
            "forward_tflops: the GPU's dense fp32 peak (H100 SXM: 67 TFLOP/s; fp32 matmuls "
            "use no tensor cores unless TF32 is allowed); hours_per_gb: the time ByteSpan's "
            "tok_train extraction takes per GB of text"
            if device.type == "cuda"
            else "none on CPU: the smoke checks that extraction runs"
        ),
    }


# --------------------------------------------------------------------------------------------
# throughput: tokens/s and MFU per preset, kernel and compile mode


def mfu_verdict(preset: str, mfu: float | None) -> str:
    if mfu is None:
        return "n/a"
    goal = MFU_GOALS.get(preset)
    if goal is not None:
        return "PASS" if mfu >= goal else "BELOW GOAL"
    return "in anchor" if 0.40 <= mfu <= 0.50 else ("above anchor" if mfu > 0.5 else "below anchor")


def measure_row(
    workload: Workload,
    kernel: str,
    mode: str,
    settings: Settings,
    device: torch.device,
    peak: float | None,
) -> dict[str, Any]:
    """One throughput row; out of memory halves the batch until it fits."""
    config = ModelConfig.from_preset(workload.preset, PRESETS, vocab_size=workload.vocab_size)
    seq_len = min(workload.seq_len, config.max_position_embeddings)
    flops = config.flops_per_token(seq_len)
    attention = 12 * config.num_hidden_layers * config.hidden_size * seq_len
    flash = llama.varlen_kernel if kernel == "flash-attn" else None
    batch = workload.batch
    while True:
        release_memory(device)
        if mode == "compile":
            torch._dynamo.reset()  # a fresh cache: no recompile limit reached across rows
        start = time.perf_counter()
        try:
            with installed_kernel(flash):
                tps = train_throughput(
                    config, device, seq_len, batch, settings.steps, settings.warmup,
                    mode == "compile",
                )  # fmt: skip
            break
        except torch.OutOfMemoryError:
            if batch == 1:
                raise
            batch //= 2
    wall = time.perf_counter() - start
    mfu = flops * tps / peak if peak else None
    return {
        "tokens_per_s": tps,
        "batch": batch,
        "seq_len": seq_len,
        "parameters": config.num_parameters(non_embedding=False),
        "non_embedding_parameters": config.num_parameters(),
        "flops_per_token": flops,
        "flops_per_token_6n": flops - attention,
        "achieved_tflops": flops * tps / 1e12,
        "mfu": mfu,
        "mfu_6n": (flops - attention) * tps / peak if peak else None,
        "setup_seconds": wall - settings.steps * batch * seq_len / tps,
        "peak_memory_gib": peak_memory_gib(device),
        "verdict": mfu_verdict(workload.preset, mfu),
    }


def row_header(workload: Workload, kernel: str, mode: str) -> dict[str, Any]:
    goal = MFU_GOALS.get(workload.preset)
    return {
        "preset": workload.preset,
        "vocab_size": workload.vocab_size,
        "vocab_source": workload.source,
        "seq_len": workload.seq_len,
        "batch_requested": workload.batch,
        "kernel": kernel,
        "compile": mode == "compile",
        "goal_mfu": goal,
        "compared_with": MFU_ANCHOR
        + (f"; toklab's goal for {workload.preset}: >= {100 * goal:.0f}%" if goal else ""),
    }


def skip_reason(kernel: str, mode: str, settings: Settings, device: torch.device, smoke: bool):
    """Why a row cannot run here (None: it can), before the time budget is asked."""
    if mode not in settings.compile_modes:
        if smoke:
            return (
                "cpu-smoke: inductor's CPU build takes about 20 s, past the smoke's budget "
                "(--compile-modes eager,compile includes it)"
            )
        return "not in --compile-modes"
    if kernel not in settings.kernels:
        return "not in --kernels"
    if kernel == "flash-attn" and device.type != "cuda":
        return "flash-attn needs CUDA (on CPU the reference kernel checks correctness only)"
    if kernel == "flash-attn" and llama.varlen_kernel is None:
        return "flash-attn is not installed (pip install toklab[gpu], or the torch-gpu env)"
    return None


def check_throughput(
    settings: Settings,
    device: torch.device,
    peak: float | None,
    deadline: float,
    smoke: bool,
    on_row: Callable[[list[dict[str, Any]]], None] = lambda rows: None,
) -> dict[str, Any]:
    """The throughput rows; ``on_row`` gets the rows so far after each measured one."""
    # Eager rows first (cheap), then the compiled ones: every preset with flash-attn (the
    # trainer's kernel), then with SDPA; presets in order of importance. A row starts only if
    # the longest row of its mode so far (a guess before the first) fits before the deadline.
    order = [
        (mode, workload, kernel)
        for mode in COMPILE_MODES
        for kernel in KERNELS
        for workload in settings.workloads
    ]
    longest = {"eager": 15.0, "compile": 90.0}
    rows: list[dict[str, Any]] = []
    for mode, workload, kernel in order:
        row = row_header(workload, kernel, mode)
        rows.append(row)
        reason = skip_reason(kernel, mode, settings, device, smoke)
        if reason is None and time.perf_counter() + longest[mode] > deadline:
            reason = f"--time-budget: about {longest[mode]:.0f} s needed, too little left"
        if reason is not None:
            row.update(status="skipped", reason=reason)
            continue
        start = time.perf_counter()
        try:
            row.update(measure_row(workload, kernel, mode, settings, device, peak))
            row["status"] = "ok"
        except Exception as err:
            row.update(status="error", reason=f"{type(err).__name__}: {err}")
        row["seconds"] = time.perf_counter() - start
        longest[mode] = max(longest[mode], row["seconds"])
        print(f"   {row_figure(row)}: {row_value(row)}", flush=True)
        on_row(rows)
    measured = [row for row in rows if row["status"] != "skipped"]
    return {
        "rows": rows,
        "steps": settings.steps,
        "warmup": settings.warmup,
        "what": (
            "forward + backward + clip + AdamW on random batches (bench_lm.train_throughput), "
            "bf16 autocast on CUDA, fp32 on CPU; tokens/s over the timed steps after the "
            "warm-up steps (compilation included in setup_seconds)"
        ),
        "mfu_definition": (
            "mfu = flops_per_token x tokens/s / peak, flops_per_token = 6 N + 12 L h T "
            "(nanoGPT's and PaLM's count; N = the matmul parameters, output head included, "
            "embedding lookup and norms not); mfu_6n counts 6 N alone"
        ),
        "compared_with": MFU_ANCHOR,
        "status": "error" if measured and all(r["status"] == "error" for r in measured) else "ok",
    }


# --------------------------------------------------------------------------------------------
# The report


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def environment(device: torch.device, peak: float | None, peak_source: str) -> dict[str, Any]:
    try:
        flash_version = importlib.metadata.version("flash-attn")
    except importlib.metadata.PackageNotFoundError:
        flash_version = None
    cuda = device.type == "cuda"
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_name(),
        "capability": list(torch.cuda.get_device_capability(device)) if cuda else None,
        "gpu_memory_gib": (
            torch.cuda.get_device_properties(device).total_memory / 2**30 if cuda else None
        ),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "flash_attn": flash_version,
        "flash_attn_active": cuda and llama.varlen_kernel is not None,
        "python": platform.python_version(),
        "host": platform.node(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
        "threads": torch.get_num_threads(),
        "peak_tflops": peak / 1e12 if peak else None,
        "peak_source": peak_source,
    }


def resolve_peak(device: torch.device, peak_tflops: float | None) -> tuple[float | None, str]:
    """The peak dense bf16 FLOP/s that MFU divides by, and where it comes from."""
    if peak_tflops:
        return peak_tflops * 1e12, "--peak-tflops"
    if device.type != "cuda":
        return None, "no peak on CPU: MFU is not computed"
    name = torch.cuda.get_device_name(device)
    for parts, peak in PEAK_OVERRIDES.items():
        if all(part in name for part in parts):
            return peak, f"{name}: {' '.join(parts)} dense bf16 peak (data sheet)"
    peak = device_peak(device)
    if peak is None:
        return None, f"{name}: unknown peak, pass --peak-tflops (MFU not computed)"
    return peak, (
        f"{name}: dense bf16 tensor-core peak of the data sheet (bench_lm.PEAK_BF16; "
        "H100 SXM 989 TFLOP/s)"
    )


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: "-"}[passed]


def row_figure(row: dict[str, Any]) -> str:
    return f"{row['preset']} {row['kernel']} {'compile' if row['compile'] else 'eager'}"


def row_value(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row.get('reason', '')}"
    mfu = f"MFU {100 * row['mfu']:.1f}%" if row["mfu"] is not None else "MFU n/a"
    return f"{row['tokens_per_s']:,.0f} tok/s at {row['batch']}x{row['seq_len']}, {mfu}"


def section_rows(name: str, section: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(figure, value, compared with, verdict) rows of one finished section."""
    if name == "attention":
        return [
            (
                f"max |{section['kernel']} - SDPA|, bf16",
                f"logits {section['logits_max_abs_diff']:.3g}, "
                f"grads {section['grad_max_rel_diff']:.3g} (relative)",
                f"bf16's own error: {section['logits_bf16_error']:.3g}, "
                f"{section['grad_bf16_rel_error']:.3g}",
                verdict(section["pass"]),
            )
        ]
    if name == "precision":
        return [
            (
                f"max |loss bf16 - fp32|, {section['steps']} steps",
                f"{section['max_abs_diff']:.3g} nats",
                f"5% of the fp32 loss drop, {section['loss_drop_fp32']:.3g}",
                verdict(section["pass"]),
            )
        ]
    if name == "fsdp":
        return [
            (
                "FSDP2 step - unsharded step",
                f"loss {section['loss_abs_diff']:.3g}, "
                f"grad norm {section['grad_norm_rel_diff']:.3g} (relative)",
                f"at most {section['tolerance_loss']:g} (loss), "
                f"{section['tolerance_grad_norm']:g} (grad norm)",
                verdict(section["pass"]),
            )
        ]
    if name == "extraction":
        return [
            (
                f"{section['preset']} context {section['context']}, stride {section['stride']}",
                f"{section['bytes_per_s']:,.0f} bytes/s, {section['hours_per_gb']:.3g} h/GB",
                f"{section['forward_tflops']:.3g} TFLOP/s fp32"
                + (" (H100 SXM peak: 67)" if section["fp32_peak_tflops"] else ""),
                "-",
            )
        ]
    rows = []
    for row in section["rows"]:
        anchor, mark = "", "-"
        if row["status"] == "ok" and row["mfu"] is not None:
            goal = row.get("goal_mfu")
            anchor = "MFU 40-50%" + (f", goal >= {100 * goal:.0f}%" if goal else "")
        if row["status"] == "ok":
            mark = row["verdict"]
        rows.append((row_figure(row), row_value(row), anchor, mark))
    return rows


def table(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """(section, figure, value, compared with, verdict) rows for people."""
    rows = []
    for name, section in report["sections"].items():
        if section["status"] in ("skipped", "error"):
            rows.append((name, section["status"], section["reason"], "", section["status"]))
        else:
            rows += [(name, *row) for row in section_rows(name, section)]
    return rows


def print_table(rows: list[tuple[str, ...]], width: int = 64) -> None:
    def cut(cell: str) -> str:
        return cell if len(cell) <= width else cell[: width - 3] + "..."

    header = ("section", "figure", "value", "compared with", "verdict")
    cells = [tuple(map(cut, row)) for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    cells.insert(1, tuple("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run_section(function: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        result = function()
        result.setdefault("status", "ok")
    except Skipped as why:
        result = {"status": "skipped", "reason": str(why)}
    except Exception as err:
        result = {
            "status": "error",
            "reason": f"{type(err).__name__}: {err}",
            "traceback": traceback.format_exc(),
        }
    result["seconds"] = time.perf_counter() - start
    return result


def choose(value: str | None, default: tuple[str, ...], allowed: tuple[str, ...], what: str):
    if value is None:
        return default
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise click.BadParameter(f"unknown {what} {', '.join(unknown)}; choose from {allowed}")
    return chosen


@click.command(help=__doc__.split("\n\n")[0])
@click.option("--output", required=True, type=click.Path(path_type=Path), help="JSON report.")
@click.option(
    "--cpu-smoke", is_flag=True, help="Every section on the CPU, tiny shapes (< 1 minute)."
)
@click.option("--sections", default=None, help=f"Comma-separated, from {','.join(SECTIONS)}.")
@click.option("--presets", default=None, help=f"Throughput presets, from {','.join(WORKLOADS)}.")
@click.option("--kernels", default=None, help="Throughput kernels: flash-attn,sdpa.")
@click.option("--compile-modes", default=None, help="Throughput: eager,compile.")
@click.option("--steps", type=int, default=None, help="Throughput: timed steps per row [20].")
@click.option("--warmup", type=int, default=None, help="Throughput: warm-up steps per row [5].")
@click.option(
    "--peak-tflops",
    type=float,
    default=None,
    help="Peak dense bf16 TFLOP/s for MFU [from the GPU's name; H100 SXM 989].",
)
@click.option(
    "--time-budget",
    type=float,
    default=390.0,
    show_default=True,
    help="Seconds after which no further throughput row starts.",
)
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
def main(
    output: Path,
    cpu_smoke: bool,
    sections: str | None,
    presets: str | None,
    kernels: str | None,
    compile_modes: str | None,
    steps: int | None,
    warmup: int | None,
    peak_tflops: float | None,
    time_budget: float,
    threads: int | None,
) -> None:
    started, wall_start = datetime.now(UTC), time.perf_counter()
    deadline = wall_start + time_budget
    logging.basicConfig(level=logging.WARNING)
    if threads:
        torch.set_num_threads(threads)
    settings = SMOKE if cpu_smoke else FULL
    chosen = choose(sections, SECTIONS, SECTIONS, "section(s)")
    if presets is not None:
        names = choose(presets, (), tuple(WORKLOADS), "preset(s)")
        settings = dataclasses.replace(settings, workloads=tuple(WORKLOADS[n] for n in names))
    settings = dataclasses.replace(
        settings,
        kernels=choose(kernels, settings.kernels, KERNELS, "kernel(s)"),
        compile_modes=choose(compile_modes, settings.compile_modes, COMPILE_MODES, "mode(s)"),
        steps=steps or settings.steps,
        warmup=settings.warmup if warmup is None else warmup,
    )
    device = torch.device("cpu")
    if not cpu_smoke and not torch.cuda.is_available():
        raise click.UsageError("no CUDA device here: run on a GPU, or pass --cpu-smoke")
    if not cpu_smoke:
        device = torch.device("cuda", 0)  # the job's GPU (CUDA_VISIBLE_DEVICES)
        torch.cuda.set_device(device)
    peak, peak_source = resolve_peak(device, peak_tflops)
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "mode": "cpu-smoke" if cpu_smoke else "full",
        "command": shlex.join(["python", *sys.argv]),
        "started": started.isoformat(timespec="seconds"),
        "environment": environment(device, peak, peak_source),
        "settings": dataclasses.asdict(settings),
        "complete": False,  # True once every section has run
        "sections": {},
    }
    env = report["environment"]
    print(
        f"gpu_check ({report['mode']}): {env['device']} {env['device_name']}; torch "
        f"{env['torch']}, CUDA {env['cuda']}, flash-attn {env['flash_attn']}; peak "
        f"{env['peak_tflops']} TFLOP/s ({peak_source})",
        flush=True,
    )

    def save(throughput_rows: list[dict[str, Any]] | None = None) -> None:
        """Write the report so far: a run killed at its time limit leaves what it measured."""
        if throughput_rows is not None:
            report["sections"]["throughput"] = {"status": "running", "rows": throughput_rows}
        report["wall_seconds"] = time.perf_counter() - wall_start
        write_json(output, report)

    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        runs = {
            "attention": lambda: check_attention(settings, device),
            "precision": lambda: check_precision(settings, device, Path(tmp)),
            "fsdp": lambda: check_fsdp(settings, device),
            "extraction": lambda: check_extraction(settings, device),
            "throughput": lambda: check_throughput(
                settings, device, peak, deadline, cpu_smoke, on_row=save
            ),
        }
        for name in SECTIONS:
            if name not in chosen:
                continue
            print(f"== {name}", flush=True)
            report["sections"][name] = section = run_section(runs[name])
            print(f"   {section['status']} in {section['seconds']:.1f} s", flush=True)
            save()
            release_memory(device)
    report["complete"] = True
    save()
    print()
    print_table(table(report))
    print(f"\nwrote {output} ({report['wall_seconds']:.0f} s)")
    failed = [
        name
        for name, section in report["sections"].items()
        if section["status"] == "error"
        or section.get("pass") is False
        or any(row["status"] == "error" for row in section.get("rows", ()))
    ]
    if failed:
        raise click.ClickException(f"failed: {', '.join(failed)} (see {output})")


if __name__ == "__main__":
    main()
