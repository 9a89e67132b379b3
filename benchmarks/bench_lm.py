#!/usr/bin/env python
"""LM training throughput and MFU, attention kernels side by side, and extraction bytes/s.

Sections (``--sections``, comma-separated; all by default):

* ``train``: forward + backward + AdamW step on random batches, timed after warm-up steps, with
  the trainer's own optimizer and autocast. MFU = model FLOPs per token (6 x parameters incl.
  the head, plus attention) x tokens/s / the device's peak dense bf16 FLOP/s. On a GPU the
  flash-attn kernel (when installed) and torch SDPA are measured in the same run; on a CPU only
  tokens/s (and achieved GFLOP/s) are meaningful.
* ``extract``: prediction extraction bytes/s on demo text (a byte-level model).
* ``loader``: the trainer's data path (``WindowSampler.batch`` over a ``PackedStream`` of a
  uint16 token array on disk, then ``torch.from_numpy(...).to(device)``) in tokens/s, against
  the model's training tokens/s at the same batch and seq_len: the ratio must be far above 1.
* ``loop``: toklab's ``train()`` on that array against a minimal nanoGPT-style loop (random
  offsets into an ``np.memmap``, the same ``LlamaModel``, ``F.cross_entropy``, backward,
  ``clip_grad_norm_``, the trainer's AdamW from ``build_optimizer``). ``train()`` runs for N
  and 2N steps (fresh output directories, no validation, no checkpoint before the end), and
  its tokens/s is N steps' tokens over the difference of the wall times, which cancels its
  start-up and final save (after one untimed warm-up run); the minimal loop is timed over N
  steps after warm-up steps. Also: median per-step times of both, train()'s from its step log
  at log_interval=1, which resist bursts of load from other processes better.
* ``eval``: ``score_array`` (bits per byte) tokens/s and bytes/s on a validation token array,
  at the demo's context/stride (128/64) and at stride = context.
* ``estimate``: CS336's low-resource CPU run (the cs336-17M preset, a 10,000-entry BPE
  vocabulary that includes <|endoftext|>, batch 32, seq_len 256, fp32): the real trainer's
  step time after warm-up steps (from its per-step log records), extrapolated to 5,000 steps
  (40.96M tokens) and to the full run (327.68M tokens).

Token arrays are random ids with documents of random lengths, written in a temporary directory
in the token-array format (``.bin`` + ``.idx`` + ``.meta.json``). Ratios compare the same
model, batch, seq_len and threads on both sides; medians of ``--repeats`` runs are reported.

    python benchmarks/bench_lm.py --threads 2             # CPU: tiny and tiny-tied presets
    python benchmarks/bench_lm.py --sections loop,eval --preset tiny --threads 2
    python benchmarks/bench_lm.py --preset fw57M-tied --seq-len 2048 --batch 16 \
        --sections train                                  # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import logging
import os
import platform
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from toklab.data.arrays import INDEX_DTYPE
from toklab.data.packed_stream import PackedStream
from toklab.datasets.token_array import FORMAT, TokenArray, token_dtype
from toklab.io import write_json
from toklab.models import llama
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint
from toklab.training.config import TrainConfig, load_train_config
from toklab.training.data import WindowSampler
from toklab.training.lm_kinds import TokenLM
from toklab.training.trainer import build_optimizer, train

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "resources" / "model_presets.yaml"
SECTIONS = ("train", "extract", "loader", "loop", "eval", "estimate")

#: Peak dense bf16 tensor-core FLOP/s (vendor data sheets, SXM parts).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}

#: CS336 assignment 1: the low-resource run (5,000 steps of 32 x 256 tokens) and the full run.
CS336_RUNS = {"low-resource (5,000 steps)": 32 * 5000 * 256, "full": 327_680_000}


def device_peak(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def median(values: list[float]) -> float:
    return statistics.median(values)


def fastest(values: list[float]) -> float:
    """Mean of the fastest tenth (at least one): the least disturbed by other processes."""
    ordered = sorted(values)
    return statistics.fmean(ordered[: max(len(ordered) // 10, 1)])


# --------------------------------------------------------------------------------------------
# Token arrays on disk


def write_token_array(
    prefix: Path,
    num_tokens: int,
    vocab_size: int,
    eos_id: int,
    mean_document: int,
    bytes_per_token: float,
    seed: int,
) -> Path:
    """A token array of ``num_tokens`` random ids (never ``eos_id``) in documents of random
    lengths (uniform in ``[1, 2 * mean_document)``), in the format of ``tokenize_corpus``."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(1, 2 * mean_document, size=2 * num_tokens // mean_document + 16)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    offsets = offsets[offsets < num_tokens]
    offsets = np.append(offsets, num_tokens).astype(INDEX_DTYPE)
    dtype = token_dtype(vocab_size)
    ids = rng.integers(0, vocab_size - 1, size=num_tokens)
    ids[ids >= eos_id] += 1  # every id but the EOS
    prefix.with_name(prefix.name + ".bin").write_bytes(ids.astype(dtype).tobytes())
    prefix.with_name(prefix.name + ".idx").write_bytes(offsets.tobytes())
    write_json(
        prefix.with_name(prefix.name + ".meta.json"),
        {
            "format": FORMAT,
            "dtype": dtype.name,
            "vocab_size": vocab_size,
            "num_documents": len(offsets) - 1,
            "num_tokens": num_tokens,
            "num_bytes": round(num_tokens * bytes_per_token),
            "tokenizer_sha256": None,
            "source_sha256": None,
        },
    )
    return prefix


# --------------------------------------------------------------------------------------------
# train: the model alone on random batches


def train_throughput(
    config: ModelConfig,
    device: torch.device,
    seq_len: int,
    batch: int,
    steps: int,
    warmup: int,
    compile_model: bool,
) -> float:
    """Training tokens per second."""
    torch.manual_seed(0)
    model = LlamaModel(config).to(device)
    optimizer = build_optimizer(model, load_train_config([], []))
    forward = torch.compile(model) if compile_model else model
    use_bf16 = device.type == "cuda"
    data = torch.randint(0, config.vocab_size, (batch, seq_len + 1), device=device)

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = forward(data[:, :-1])
            loss = F.cross_entropy(logits.float().flatten(0, 1), data[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return steps * batch * seq_len / (time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# extract


def extraction_throughput(
    config: ModelConfig,
    device: torch.device,
    context: int,
    stride: int,
    batch: int,
    size_bytes: int,
) -> float:
    """Prediction extraction bytes per second on demo text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.cues import extract_predictions
    from toklab.data.byte_corpus import write_byte_corpus
    from toklab.data.demo import DEMO_LANGUAGES, generate_documents

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        save_checkpoint(LlamaModel(config), root / "model")
        texts, total = [], 0
        for doc in itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 100_000):
            texts.append(doc.text)
            total += len(doc.text.encode())
            if total >= size_bytes:
                break
        shard = root / "part-00000.parquet"
        pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard)
        prefix = root / "corpus"
        write_byte_corpus([shard], prefix)
        start = time.perf_counter()
        extract_predictions(
            root / "model",
            prefix,
            root / "p.zarr",
            context=context,
            stride=stride,
            batch_size=batch,
            device=str(device),
        )
        return total / (time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# loader: the trainer's data path alone


def loader_throughput(
    prefix: Path, eos_id: int, seq_len: int, batch: int, batches: int, device: torch.device
) -> float:
    """Tokens/s of ``WindowSampler.batch`` + ``torch.from_numpy(...).to(device)``, as in train()."""
    sampler = WindowSampler(PackedStream(prefix, eos_id), seq_len, seed=42)
    for step in range(3):  # warm-up: the epoch's permutation, the first pages
        torch.from_numpy(sampler.batch(step * batch, batch)).to(device)
    synchronize(device)
    start = time.perf_counter()
    for step in range(3, 3 + batches):
        torch.from_numpy(sampler.batch(step * batch, batch)).to(device)
    synchronize(device)
    return batches * batch * seq_len / (time.perf_counter() - start)


def nanogpt_get_batch(
    bin_path: Path, dtype: np.dtype, seq_len: int, batch: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """nanoGPT's ``get_batch``: random offsets into a fresh ``np.memmap``, stacked as int64."""
    data = np.memmap(bin_path, dtype=dtype, mode="r")  # re-opened per batch, as nanoGPT does
    ix = torch.randint(len(data) - seq_len, (batch,))
    x = torch.stack([torch.from_numpy(data[i : i + seq_len].astype(np.int64)) for i in ix])
    y = torch.stack([torch.from_numpy(data[i + 1 : i + 1 + seq_len].astype(np.int64)) for i in ix])
    return x.to(device), y.to(device)


def nanogpt_loader_throughput(
    prefix: Path, seq_len: int, batch: int, batches: int, device: torch.device
) -> float:
    """Tokens/s of nanoGPT's ``get_batch`` alone (for comparison with the trainer's loader)."""
    bin_path, dtype = prefix.with_name(prefix.name + ".bin"), TokenArray.open(prefix).tokens.dtype
    for _ in range(3):
        nanogpt_get_batch(bin_path, dtype, seq_len, batch, device)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(batches):
        nanogpt_get_batch(bin_path, dtype, seq_len, batch, device)
    synchronize(device)
    return batches * batch * seq_len / (time.perf_counter() - start)


# --------------------------------------------------------------------------------------------
# loop: toklab's train() against a minimal nanoGPT-style loop


def trainer_config(preset: str, seq_len: int, batch: int, steps: int, log_interval: int):
    """A train() config: fp32 on CPU (autocast bf16 on CUDA), no checkpoint before the end."""
    return load_train_config(
        [],
        [
            f"model_preset={preset}",
            f"seq_len={seq_len}",
            f"batch_size={batch}",
            f"micro_batch_size={batch}",
            f"max_steps={steps}",
            "optim.warmup_steps=1",
            f"checkpoint_interval={10**9}",
            f"eval_interval={10**9}",
            f"log_interval={log_interval}",
            "precision=auto",
            "compile=false",
        ],
    )


def run_trainer(
    config: TrainConfig, prefix: Path, eos_id: int, vocab_size: int, work: Path
) -> float:
    """Wall seconds of one ``train()`` call into a fresh output directory (tqdm silenced)."""
    out = Path(tempfile.mkdtemp(dir=work, prefix="run-"))
    with open(os.devnull, "w") as null, contextlib.redirect_stderr(null):
        start = time.perf_counter()
        train(config, prefix, out, presets_path=PRESETS, lm=TokenLM(vocab_size, eos_id))
        synchronize(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        return time.perf_counter() - start


def minimal_loop(
    config: TrainConfig,
    prefix: Path,
    vocab_size: int,
    device: torch.device,
    steps: int,
    warmup: int,
) -> list[float]:
    """Per-step wall seconds of a minimal nanoGPT-style loop (after ``warmup`` steps)."""
    model_config = ModelConfig.from_preset(
        config.model_preset, PRESETS, **{"vocab_size": vocab_size, **config.model}
    )
    torch.manual_seed(config.seed)
    model = LlamaModel(model_config).to(device)
    optimizer = build_optimizer(model, config)
    use_bf16 = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    bin_path = prefix.with_name(prefix.name + ".bin")
    dtype = TokenArray.open(prefix).tokens.dtype
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        x, y = nanogpt_get_batch(bin_path, dtype, config.seq_len, config.batch_size, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
            logits = model(x)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.optim.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        synchronize(device)
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return times


# --------------------------------------------------------------------------------------------
# eval: bits per byte scoring


def window_tokens(array: TokenArray, eos_id: int, context: int, stride: int) -> int:
    """Input tokens the model reads to score the array (overlapping windows count twice)."""
    from toklab.evaluation.bits_per_byte import document_windows

    return sum(
        len(window.inputs)
        for index in range(len(array))
        for window in document_windows(array.document(index), eos_id, context, stride)
    )


def eval_throughput(
    config: ModelConfig,
    prefix: Path,
    eos_id: int,
    context: int,
    stride: int,
    batch: int,
    repeats: int,
    device: torch.device,
) -> tuple[float, dict]:
    """Median wall seconds of ``score_array`` over the array, and its result."""
    from toklab.evaluation.bits_per_byte import score_array

    torch.manual_seed(0)
    model = LlamaModel(config).to(device).eval()
    array = TokenArray.open(prefix)
    with torch.no_grad():  # warm-up
        model(torch.zeros(batch, context, dtype=torch.long, device=device))
    times, scores = [], {}
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        scores = score_array(
            model, array, eos_id, context=context, stride=stride, batch_size=batch, device=device
        )
        synchronize(device)
        times.append(time.perf_counter() - start)
    return median(times), scores


# --------------------------------------------------------------------------------------------
# estimate: the real trainer's step time, from its per-step log records


class _StepClock(logging.Handler):
    """Records the time of every log record of the trainer (one per step at log_interval=1)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.times: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("step "):
            self.times.append(time.perf_counter())


def trainer_step_times(
    config: TrainConfig, prefix: Path, eos_id: int, vocab_size: int, work: Path, warmup: int
) -> list[float]:
    """Per-step wall seconds of ``train()`` after ``warmup`` steps (empty if no step records)."""
    logger = logging.getLogger("toklab.training.trainer")
    clock, level = _StepClock(), logger.level
    logger.addHandler(clock)
    logger.setLevel(logging.INFO)
    try:
        run_trainer(config, prefix, eos_id, vocab_size, work)
    finally:
        logger.removeHandler(clock)
        logger.setLevel(level)
    if len(clock.times) != config.max_steps:
        return []
    return list(np.diff(clock.times[warmup - 1 :]))


# --------------------------------------------------------------------------------------------


def print_header(args: argparse.Namespace, device: torch.device) -> None:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    print("command: " + shlex.join(["python", *sys.argv]))
    print(
        f"machine: {cpu}; nproc {len(os.sched_getaffinity(0))} (os.cpu_count {os.cpu_count()}); "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; python "
        f"{platform.python_version()}; device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"load average (1, 5, 15 min) at start: {load} (other processes share these CPUs)")
    print(
        f"settings: presets {','.join(args.preset)}, vocab {args.vocab} (EOS {args.eos_id}), "
        f"batch {args.batch}, seq_len {args.seq_len}, precision "
        f"{'bf16 autocast' if device.type == 'cuda' else 'fp32'}, repeats {args.repeats}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated, from {','.join(SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--preset", default="tiny,tiny-tied", help="model preset(s) for all but estimate"
    )
    parser.add_argument("--vocab", type=int, default=257, help="vocab (default: bytes + EOS)")
    parser.add_argument("--eos-id", type=int, default=256)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10, help="train: timed steps")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up steps before timing")
    parser.add_argument("--repeats", type=int, default=3, help="repeats (medians reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--extract-bytes", type=int, default=200_000)
    parser.add_argument("--train-tokens", type=int, default=4_000_000, help="training array")
    parser.add_argument("--doc-mean", type=int, default=512, help="mean document tokens")
    parser.add_argument("--loader-batches", type=int, default=200)
    parser.add_argument("--loop-steps", type=int, default=15, help="loop: N (train() runs N, 2N)")
    parser.add_argument("--eval-tokens", type=int, default=50_000, help="validation array")
    parser.add_argument("--eval-context", type=int, default=128)
    parser.add_argument("--eval-stride", type=int, default=64)
    parser.add_argument("--eval-batch", type=int, default=32)
    parser.add_argument(
        "--bytes-per-token",
        type=float,
        default=1.0,
        help="UTF-8 bytes per token in the validation meta (1 for byte-level ids)",
    )
    parser.add_argument("--estimate-preset", default="cs336-17M")
    parser.add_argument(
        "--estimate-vocab", type=int, default=10_000, help="a 10k BPE, <|endoftext|> included"
    )
    parser.add_argument("--estimate-batch", type=int, default=32)
    parser.add_argument("--estimate-seq-len", type=int, default=256)
    parser.add_argument("--estimate-warmup", type=int, default=2)
    parser.add_argument("--estimate-steps", type=int, default=3)
    args = parser.parse_args()
    args.preset = args.preset.split(",")
    sections = args.sections.split(",")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {','.join(unknown)}; choose from {','.join(SECTIONS)}")
    if args.threads:
        torch.set_num_threads(args.threads)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print_header(args, device)
    precision = "bf16" if device.type == "cuda" else "fp32"
    configs = {
        preset: ModelConfig.from_preset(preset, PRESETS, vocab_size=args.vocab)
        for preset in args.preset
    }
    for preset, config in configs.items():
        print(
            f"preset {preset}: {config.num_parameters() / 1e6:.2f}M non-embedding parameters "
            f"({config.num_parameters(non_embedding=False) / 1e6:.2f}M in all), "
            f"{config.flops_per_token(args.seq_len) / 1e6:.1f} MFLOP per training token at "
            f"context {args.seq_len}"
        )
    model_tps: dict[str, float] = {}  # preset -> training tokens/s with the trainer's kernel

    def model_throughput(preset: str) -> float:
        if preset not in model_tps:
            model_tps[preset] = train_throughput(
                configs[preset], device, args.seq_len, args.batch, args.steps, args.warmup,
                args.compile,
            )  # fmt: skip
        return model_tps[preset]

    work = Path(tempfile.mkdtemp(prefix="bench_lm-"))
    train_prefix = None
    if {"loader", "loop"} & set(sections):
        train_prefix = write_token_array(
            work / "train", args.train_tokens, args.vocab, args.eos_id, args.doc_mean,
            args.bytes_per_token, seed=1,
        )  # fmt: skip
        meta = TokenArray.open(train_prefix).meta
        print(
            f"training array (loader, loop): {meta['num_tokens']:,} {meta['dtype']} tokens of "
            f"random ids in {meta['num_documents']:,} documents (lengths uniform in "
            f"[1, {2 * args.doc_mean})), in a temporary directory"
        )
    runs = {
        "train": lambda: section_train(args, device, configs, model_tps),
        "extract": lambda: section_extract(args, device, configs),
        "loader": lambda: section_loader(args, device, train_prefix, model_throughput),
        "loop": lambda: section_loop(args, device, train_prefix, work, precision),
        "eval": lambda: section_eval(args, device, configs, work),
        "estimate": lambda: section_estimate(args, device, work, precision),
    }
    try:
        for section in SECTIONS:
            if section in sections:
                start, cpu = time.perf_counter(), os.times()
                runs[section]()
                wall, now = time.perf_counter() - start, os.times()
                # CPU seconds this process got per wall second and thread: well below 100%
                # means other processes took the cores and the section's timings are inflated
                share = (now.user + now.system - cpu.user - cpu.system) / wall
                threads = torch.get_num_threads()
                print(
                    f"  [{section}: {wall:.0f} s; CPU share {100 * share / threads:.0f}% of "
                    f"{threads} threads; {load_note()}]"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def load_note() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def section_train(args, device, configs, model_tps) -> None:
    print(f"\n== train: model step alone on random batches ({args.steps} steps after warm-up)")
    peak = device_peak(device)
    kernels = ["sdpa"]
    if device.type == "cuda" and llama.varlen_kernel is not None:
        kernels.insert(0, "flash-attn")
    elif device.type == "cuda":
        print("flash-attn is not installed: measuring torch SDPA (its own flash kernel on GPU)")
    flash = llama.varlen_kernel
    try:
        for preset, config in configs.items():
            flops = config.flops_per_token(args.seq_len)
            for kernel in kernels:
                llama.varlen_kernel = flash if kernel == "flash-attn" else None
                tps = train_throughput(
                    config, device, args.seq_len, args.batch, args.steps, args.warmup,
                    args.compile,
                )  # fmt: skip
                if kernel == kernels[0]:  # the kernel train() uses
                    model_tps[preset] = tps
                achieved = flops * tps
                mfu = f"MFU {100 * achieved / peak:.1f}%" if peak else "MFU n/a (no known peak)"
                print(
                    f"  {preset:<10} [{kernel}, {'bf16' if device.type == 'cuda' else 'fp32'}]: "
                    f"{tps:>10,.0f} tokens/s, {achieved / 1e9:,.1f} GFLOP/s, {mfu}"
                )
    finally:
        llama.varlen_kernel = flash


def section_extract(args, device, configs) -> None:
    print(f"\n== extract: prediction extraction on {args.extract_bytes:,} bytes of demo text")
    for preset in configs:
        config = ModelConfig.from_preset(preset, PRESETS, vocab_size=257)  # a byte-level model
        context = min(args.seq_len, config.max_position_embeddings)
        stride = max(context // 4, 1)
        bps = extraction_throughput(config, device, context, stride, 32, args.extract_bytes)
        print(f"  {preset:<10} (context {context}, stride {stride}): {bps:,.0f} bytes/s")


def section_loader(args, device, prefix: Path, model_throughput: Callable[[str], float]) -> None:
    print(
        f"\n== loader: the trainer's data path vs the model's training step "
        f"(batch {args.batch}, seq_len {args.seq_len})"
    )
    loader = median(
        [
            loader_throughput(
                prefix, args.eos_id, args.seq_len, args.batch, args.loader_batches, device
            )
            for _ in range(args.repeats)
        ]
    )
    nanogpt = median(
        [
            nanogpt_loader_throughput(prefix, args.seq_len, args.batch, args.loader_batches, device)
            for _ in range(args.repeats)
        ]
    )
    print(f"  WindowSampler.batch over PackedStream: {loader:>12,.0f} tokens/s")
    print(f"  (nanoGPT get_batch, for comparison):   {nanogpt:>12,.0f} tokens/s")
    for preset in args.preset:
        model = model_throughput(preset)
        print(
            f"  {preset:<10} model {model:>10,.0f} tokens/s: loader/model = {loader / model:,.0f}x "
            f"(the loader takes {100 * model / loader:.2f}% of a step's time)"
        )


def section_loop(args, device, prefix: Path, work: Path, precision: str) -> None:
    steps, warmup = args.loop_steps, args.warmup
    print(
        f"\n== loop: toklab train() vs a minimal nanoGPT-style loop (batch {args.batch}, seq_len "
        f"{args.seq_len}, {precision}, {torch.get_num_threads()} threads, the same model and "
        f"AdamW; {args.repeats} repeats, interleaved)"
    )
    print(
        f"  A: train() tokens/s from the wall-time difference of {steps}- and {2 * steps}-step "
        f"runs (log_interval and checkpoint_interval past max_steps), the minimal loop's over "
        f"{steps} steps after {warmup} warm-up steps: median (and best) of the repeats"
    )
    print(
        f"  B: median step time over all repeats: train() at log_interval=1 for {2 * steps} "
        f"steps (from its step log records, after {warmup} steps), the minimal loop's steps "
        f"(robust to bursts of load from other processes)"
    )
    tokens = steps * args.batch * args.seq_len
    step_tokens = args.batch * args.seq_len
    for preset in args.preset:
        short = trainer_config(preset, args.seq_len, args.batch, steps, 10**9)
        long = trainer_config(preset, args.seq_len, args.batch, 2 * steps, 10**9)
        logged = trainer_config(preset, args.seq_len, args.batch, 2 * steps, 1)
        trainer, minimal, walls, trainer_steps, minimal_steps = [], [], [], [], []
        # untimed warm-up: the first train() call of a process pays one-off costs (lazy imports,
        # the first save), which would otherwise land in the first short run only
        warm = trainer_config(preset, args.seq_len, args.batch, warmup, 10**9)
        run_trainer(warm, prefix, args.eos_id, args.vocab, work)
        for _ in range(args.repeats):  # interleaved, so drifts in machine load hit both sides
            t_short = run_trainer(short, prefix, args.eos_id, args.vocab, work)
            t_long = run_trainer(long, prefix, args.eos_id, args.vocab, work)
            trainer.append(tokens / (t_long - t_short))
            walls.append((t_short, t_long))
            times = minimal_loop(short, prefix, args.vocab, device, steps, warmup)
            minimal.append(tokens / sum(times))
            minimal_steps += times
            trainer_steps += trainer_step_times(
                logged, prefix, args.eos_id, args.vocab, work, warmup
            )
        print(f"  {preset}:")
        ratio = median(trainer) / median(minimal)
        # best: the fastest short and the fastest long run (the least disturbed by other load)
        best = tokens / (min(b for _, b in walls) - min(a for a, _ in walls))
        print(
            f"    A  train() {median(trainer):>8,.0f} tokens/s (best {best:,.0f}), minimal "
            f"{median(minimal):>8,.0f} tokens/s (best {max(minimal):,.0f}): ratio {ratio:.3f}x "
            f"(best/best {best / max(minimal):.3f}x)"
        )
        print(
            f"       per repeat: train() {', '.join(f'{t:,.0f}' for t in trainer)}; minimal "
            f"{', '.join(f'{t:,.0f}' for t in minimal)}; train() wall s {steps}/{2 * steps} "
            f"steps: {'; '.join(f'{a:.2f}/{b:.2f}' for a, b in walls)} (start-up + final "
            f"save about {median([2 * a - b for a, b in walls]):.2f} s)"
        )
        if trainer_steps:
            t_step, m_step = median(trainer_steps), median(minimal_steps)
            t_fast, m_fast = fastest(trainer_steps), fastest(minimal_steps)
            print(
                f"    B  train() {1e3 * t_step:.1f} ms/step = {step_tokens / t_step:>8,.0f} "
                f"tokens/s ({len(trainer_steps)} steps), minimal {1e3 * m_step:.1f} ms/step = "
                f"{step_tokens / m_step:>8,.0f} tokens/s ({len(minimal_steps)} steps): ratio "
                f"{m_step / t_step:.3f}x"
            )
            print(
                f"       fastest decile of steps: train() {1e3 * t_fast:.1f} ms, minimal "
                f"{1e3 * m_fast:.1f} ms: ratio {m_fast / t_fast:.3f}x"
            )
        else:
            print("    B  n/a: train() logged no per-step records")
        verdicts = [("A", ratio)]
        if trainer_steps:
            verdicts += [("B", m_step / t_step), ("B fastest", m_fast / t_fast)]
        print(
            "    target train()/minimal >= 0.95: "
            + "; ".join(f"{k} {v:.3f}x {'PASS' if v >= 0.95 else 'BELOW'}" for k, v in verdicts)
        )


def section_eval(args, device, configs, work: Path) -> None:
    prefix = write_token_array(
        work / "valid", args.eval_tokens, args.vocab, args.eos_id, args.doc_mean,
        args.bytes_per_token, seed=2,
    )  # fmt: skip
    array = TokenArray.open(prefix)
    print(
        f"\n== eval: score_array (bits per byte) on {array.num_tokens:,} tokens in "
        f"{len(array):,} documents, {array.num_bytes:,} bytes ({args.bytes_per_token:g} bytes/"
        f"token), batch {args.eval_batch}; median of {args.repeats}"
    )
    print(
        f"  {'preset':<10} {'context':>7} {'stride':>6} {'tokens/s':>10} {'bytes/s':>10} "
        f"{'forward tok/s':>14} {'seconds':>8}"
    )
    for preset, config in configs.items():
        context = min(args.eval_context, config.max_position_embeddings)
        for stride in dict.fromkeys([min(args.eval_stride, context), context]):
            seconds, scores = eval_throughput(
                config, prefix, args.eos_id, context, stride, args.eval_batch, args.repeats,
                device,
            )  # fmt: skip
            read = window_tokens(array, args.eos_id, context, stride)
            print(
                f"  {preset:<10} {context:>7} {stride:>6} {scores['tokens'] / seconds:>10,.0f} "
                f"{scores['bytes'] / seconds:>10,.0f} {read / seconds:>14,.0f} {seconds:>8.2f}"
            )
    print("  (tokens/s: scored tokens; forward tok/s: window tokens the model reads, overlaps too)")


def section_estimate(args, device, work: Path, precision: str) -> None:
    preset, vocab = args.estimate_preset, args.estimate_vocab
    batch, seq_len = args.estimate_batch, args.estimate_seq_len
    warmup, steps = args.estimate_warmup, args.estimate_steps
    config = ModelConfig.from_preset(preset, PRESETS, vocab_size=vocab)
    print(
        f"\n== estimate: CS336 low-resource run on this machine: {preset} "
        f"({config.num_parameters() / 1e6:.2f}M non-embedding, "
        f"{config.num_parameters(non_embedding=False) / 1e6:.2f}M in all parameters), vocab "
        f"{vocab:,} (a 10k BPE's vocabulary, <|endoftext|> included: no extra id), batch "
        f"{batch}, seq_len {seq_len}, {precision}, {torch.get_num_threads()} threads"
    )
    windows = batch * (warmup + steps) + 16
    prefix = write_token_array(
        work / "cs336", max(windows * (seq_len + 1), 500_000), vocab, 256, args.doc_mean, 4.0,
        seed=3,
    )  # fmt: skip
    total = warmup + steps
    run = trainer_config(preset, seq_len, batch, total, 1)
    times = trainer_step_times(run, prefix, 256, vocab, work, warmup)
    how = f"the real train() step ({warmup} warm-up + {steps} timed steps, from its step log)"
    if not times:
        times = minimal_loop(run, prefix, vocab, device, steps, warmup)
        how = f"the minimal loop's step (train() logged no per-step records; {warmup} warm-up)"
    per_step = median(times)
    tps = batch * seq_len / per_step
    print(
        f"  measured with {how}: {', '.join(f'{t:.2f}' for t in times)} s per step; median "
        f"{per_step:.2f} s/step = {tps:,.0f} tokens/s, "
        f"{config.flops_per_token(seq_len) * tps / 1e9:,.1f} GFLOP/s"
    )
    for name, tokens in CS336_RUNS.items():
        hours = tokens / tps / 3600
        print(
            f"  CS336 {name}: {tokens:,} tokens = {tokens // (batch * seq_len):,} steps -> "
            f"{hours:,.1f} hours ({hours / 24:.1f} days)"
        )


if __name__ == "__main__":
    main()
