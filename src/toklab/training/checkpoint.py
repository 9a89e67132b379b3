"""The resumable training state: one module that saves it and loads it back.

A checkpoint is a directory (``OUT_DIR/checkpoint``) that is replaced as a whole, atomically:

* ``model.safetensors`` + ``config.json``: the model, as :func:`toklab.models.llama.save_checkpoint`
  writes it (so a checkpoint also loads in ``transformers``);
* ``state.pt``: the step, the optimizer's and the scheduler's state and every RNG state, as
  tensors and plain data only, read back with ``torch.load(weights_only=True)``;
* ``metrics.jsonl``: the metrics records of every step up to the checkpoint.

The directory is built in ``OUT_DIR/.checkpoint.tmp`` and swapped in by
:func:`toklab.io.replace_directory`, so a reader sees either the previous checkpoint or the new
one, never a mixture.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from toklab.errors import DataError
from toklab.io import atomic_directory
from toklab.models.llama import LlamaModel, load_checkpoint, save_checkpoint

STATE_FILE = "state.pt"
METRICS_FILE = "metrics.jsonl"


def rng_state() -> dict[str, Any]:
    """The state of every random generator training uses (Python, numpy, torch, CUDA).

    Only tensors, numbers, strings and containers of them, so that ``torch.load`` reads it back
    with ``weights_only=True`` (numpy's state array is stored as a tensor).
    """
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss = random.getstate()
    return {
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the generators from :func:`rng_state`'s result."""
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    numpy = state["numpy"]
    np.random.set_state(
        (
            numpy["kind"],
            numpy["keys"].numpy().astype(np.uint32),
            numpy["position"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if torch.cuda.is_available() and state["cuda"]:
        torch.cuda.set_rng_state_all(state["cuda"])


def has_state(directory: Path) -> bool:
    """Whether ``directory`` holds a checkpoint to resume from."""
    return (directory / STATE_FILE).exists()


def save_state(
    directory: Path,
    model: LlamaModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    step: int,
    logged: list[str],
) -> None:
    """Write the resumable checkpoint at ``directory``, atomically replacing the previous one.

    ``logged``, the metrics records of every step so far, goes into the checkpoint too: a
    workflow manager may delete a failed job's outputs (``metrics.jsonl`` among them), even
    while the trainer is still writing its preemption checkpoint.
    """
    staging = directory.with_name(f".{directory.name}.tmp")
    with atomic_directory(directory, staging=staging) as tmp:
        save_checkpoint(model, tmp)
        (tmp / METRICS_FILE).write_text("".join(line + "\n" for line in logged), encoding="utf-8")
        torch.save(
            {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
            },
            tmp / STATE_FILE,
        )


def load_state(
    directory: Path,
    model: LlamaModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    map_location: torch.device,
) -> int:
    """Restore the model, optimizer, scheduler and RNG states from ``directory``; return the step.

    The checkpoint's model must have been built from the same config as ``model``.
    """
    resumed = load_checkpoint(directory, map_location=map_location)
    if resumed.config != model.config:
        raise DataError(f"{directory}: checkpoint was trained with another model config")
    model.load_state_dict(resumed.state_dict())
    state = read_state(directory / STATE_FILE, map_location)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return state["step"]


def read_state(path: Path, map_location: torch.device | str = "cpu") -> dict[str, Any]:
    """The training state in ``state.pt``, read without running any code from the file.

    Checkpoints live on shared filesystems: ``torch.load(weights_only=True)`` accepts only
    tensors, numbers, strings and containers, so a file that smuggles in a pickled callable is
    refused instead of executed. A truncated or corrupt file is refused the same way.
    """
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # pickle.UnpicklingError, RuntimeError (truncated zip), EOFError
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{path}: not a safe toklab training state ({reason})") from None
    if not isinstance(state, dict) or not {"step", "optimizer", "scheduler", "rng"} <= set(state):
        raise DataError(f"{path}: not a toklab training state (missing step/optimizer/rng)")
    return state


def logged_metrics(directory: Path, run_metrics: Path, step: int) -> list[str]:
    """The metrics records up to ``step`` of a checkpoint, one JSON object per line.

    They are the checkpoint's own copy, else (older checkpoints) the run's ``run_metrics`` file
    without the records logged after the checkpoint; none if neither exists.
    """
    saved = directory / METRICS_FILE
    source = saved if saved.exists() else run_metrics
    if not source.exists():
        return []
    return [
        line
        for line in source.read_text(encoding="utf-8").splitlines()
        if line and json.loads(line)["step"] <= step
    ]
