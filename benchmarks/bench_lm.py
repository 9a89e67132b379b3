#!/usr/bin/env python
"""LM training throughput and MFU, attention kernels side by side, and extraction bytes/s.

Training: forward + backward + AdamW step on random byte batches, timed after warm-up steps,
with the trainer's own optimizer and autocast. MFU = model FLOPs per token (6 x parameters incl.
the head, plus attention) x tokens/s / the device's peak dense bf16 FLOP/s. On a GPU the
flash-attn kernel (when installed) and torch SDPA are measured in the same run; on a CPU only
tokens/s (and achieved GFLOP/s) are meaningful.

    python benchmarks/bench_lm.py                          # CPU: tiny preset
    python benchmarks/bench_lm.py --preset fw57M-tied --seq-len 2048 --batch 16   # on a GPU
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from toklab.models import llama
from toklab.models.llama import LlamaModel, ModelConfig, save_checkpoint
from toklab.training.config import load_train_config
from toklab.training.trainer import build_optimizer

REPO = Path(__file__).resolve().parents[1]
PRESETS = REPO / "resources" / "model_presets.yaml"

#: Peak dense bf16 tensor-core FLOP/s (vendor data sheets, SXM parts).
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}


def device_peak(device: torch.device) -> float | None:
    """Peak bf16 FLOP/s of a known GPU, else None."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16.items() if key in name), None)


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
    data = torch.randint(0, 256, (batch, seq_len + 1), device=device)

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
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch * seq_len / (time.perf_counter() - start)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--extract-bytes", type=int, default=200_000)
    args = parser.parse_args()

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = ModelConfig.from_preset(args.preset, PRESETS, vocab_size=257)
    flops = config.flops_per_token(args.seq_len)
    peak = device_peak(device)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU x{torch.get_num_threads()} threads"
    )
    print(
        f"device: {name}; preset {args.preset}: {config.num_parameters() / 1e6:.1f}M non-embedding "
        f"parameters, {flops / 1e6:.1f} MFLOP per token at context {args.seq_len}"
    )

    kernels = ["sdpa"]
    if device.type == "cuda" and llama.flash_attn_varlen_func is not None:
        kernels.insert(0, "flash-attn")
    elif device.type == "cuda":
        print("flash-attn is not installed: measuring torch SDPA (its own flash kernel on GPU)")
    flash = llama.flash_attn_varlen_func
    for kernel in kernels:
        llama.flash_attn_varlen_func = flash if kernel == "flash-attn" else None
        tps = train_throughput(
            config, device, args.seq_len, args.batch, args.steps, args.warmup, args.compile
        )
        achieved = flops * tps
        mfu = f"MFU {100 * achieved / peak:.1f}%" if peak else "MFU n/a (no known peak)"
        print(
            f"train [{kernel}, {'bf16' if device.type == 'cuda' else 'fp32'}]: "
            f"{tps:,.0f} tokens/s, {achieved / 1e9:,.1f} GFLOP/s, {mfu}"
        )
    llama.flash_attn_varlen_func = flash

    context = min(args.seq_len, config.max_position_embeddings)
    bps = extraction_throughput(
        config, device, context, max(context // 4, 1), 32, args.extract_bytes
    )
    print(f"extraction (context {context}, stride {max(context // 4, 1)}): {bps:,.0f} bytes/s")


if __name__ == "__main__":
    main()
