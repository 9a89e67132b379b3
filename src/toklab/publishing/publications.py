"""What is published: the files of each kind of target at their paths in the repo, and cards.

The builders read and check every input and render every card before anything is sent, so a
refusal (a missing file, an evaluation without bits per byte, a checkpoint without its
evaluation, an invalid repo id) sends nothing. Every problem is a one-line
:class:`~toklab.errors.DataError` naming the file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toklab.errors import DataError
from toklab.io import read_json
from toklab.publishing.cards import delphi_card, lm_card, nanogpt_card, tokenizer_card
from toklab.publishing.hub import CARD, MAIN, Publication, Upload, check_repo_id, one_line

#: The files of a tokenizer directory that are published, those present (ByteSpan's training
#: statistics and T-Free's hasher settings and dictionary included).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
    "stats.csv",
    "tfree.json",
    "dictionary.tsv",
)
#: A model directory's files that are not published: the optimizer's resumable state.
UNPUBLISHED_MODEL_FILES = ("state.pt",)
#: The LM's evaluation, as it is published beside the model.
EVALUATION_FILE = "evaluation.json"

# ---------------------------------------------------------------------------------------------
# Reading the inputs (every problem a one-line DataError naming the file)


def _require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DataError(f"{path}: {what} is missing")
    return path


def _read_json(path: Path, what: str) -> Any:
    _require_file(path, what)
    try:
        return read_json(path)
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: {what} is not readable JSON ({one_line(err)})") from None


def read_evaluation(path: str | os.PathLike[str]) -> dict[str, Any]:
    """An LM's evaluation JSON, which must hold a finite ``bits_per_byte``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"{path}: the LM's evaluation is missing; a model is published with its bits per "
            "byte (rule evaluate_lm writes it)"
        )
    evaluation = _read_json(path, "the LM's evaluation")
    bits = evaluation.get("bits_per_byte") if isinstance(evaluation, dict) else None
    if isinstance(bits, bool) or not isinstance(bits, int | float) or not math.isfinite(bits):
        raise DataError(f"{path}: no finite bits_per_byte ({bits!r}) to publish the model with")
    return evaluation


def read_checkpoint_evaluations(
    files: Mapping[str, str | os.PathLike[str]],
) -> dict[str, dict[int, list[dict[str, Any]]]]:
    """Per-checkpoint evaluations (``{"rows": [{"step": N, ...}, ...]}``) by name, then step."""
    evaluations = {}
    for name, file in files.items():
        path = Path(file)
        if not path.is_file():
            raise DataError(f"{path}: the {name} evaluation of the checkpoints is missing")
        evaluation = _read_json(path, f"the {name} evaluation")
        rows = evaluation.get("rows") if isinstance(evaluation, dict) else None
        if not isinstance(rows, list) or any(
            not isinstance(row, dict) or not isinstance(row.get("step"), int) for row in rows
        ):
            raise DataError(f"{path}: the {name} evaluation has no rows with a step each")
        by_step: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            by_step.setdefault(row["step"], []).append(
                {key: value for key, value in row.items() if key != "step"}
            )
        evaluations[name] = by_step
    return evaluations


def model_files(directory: Path) -> dict[str, Path]:
    """A model directory's published files: its top-level files, but not the optimizer state."""
    for name in ("config.json", "model.safetensors"):
        _require_file(directory / name, f"the model's {name}")
    return {
        path.name: path
        for path in sorted(directory.iterdir())
        if path.is_file()
        and not path.name.startswith(".")
        and path.name not in (*UNPUBLISHED_MODEL_FILES, CARD)
    }


def kept_checkpoints(model_dir: Path) -> list[tuple[int, Path]]:
    """``(step, directory)`` of a run's kept checkpoints (``checkpoints/step-{N}``), by step."""
    from toklab.training.checkpoint import TRAINING_STATE_FILE, RunPaths

    kept = []
    for directory in RunPaths(model_dir).kept_directories():
        state = _read_json(directory / TRAINING_STATE_FILE, "the checkpoint's training state")
        step = state.get("step") if isinstance(state, dict) else None
        if not isinstance(step, int) or directory.name != f"step-{step}":
            raise DataError(f"{directory}: its training state's step is {step!r}")
        kept.append((step, directory))
    if not kept:
        raise DataError(
            f"{RunPaths(model_dir).suite}: no kept checkpoints (checkpoints/step-N/) to publish "
            "as a suite"
        )
    return sorted(kept)


# ---------------------------------------------------------------------------------------------
# The publications


def tokenizer_publication(
    repo_id: str, private: bool, directory: str | os.PathLike[str], context: Mapping[str, Any]
) -> Publication:
    """A tokenizer directory's files (those of :data:`TOKENIZER_FILES` present) as a model repo."""
    directory = Path(directory)
    files = {name: directory / name for name in TOKENIZER_FILES if (directory / name).is_file()}
    if "tokenizer.json" not in files and "tfree.json" not in files:
        raise DataError(f"{directory}: no tokenizer.json (or T-Free's tfree.json) to publish")
    card = tokenizer_card(check_repo_id(repo_id), context, sorted(files))
    message = f"toklab: tokenizer {context['tokenizer']} of corpus {context['corpus']}"
    return Publication(repo_id, "model", private, (Upload(MAIN, files, {CARD: card}, message),))


def delphi_publication(
    repo_id: str,
    private: bool,
    splits: Mapping[str, str | os.PathLike[str]],
    tokenizer: str | os.PathLike[str],
    context: Mapping[str, Any],
) -> Publication:
    """A Delphi export's split directories as one dataset repo: ``data/``, ``meta/``, tokenizer."""
    if not splits:
        raise DataError("a Delphi dataset needs at least one split")
    files = {"tokenizer.json": _require_file(Path(tokenizer), "the tokenizer")}
    metas = {}
    for split, directory in splits.items():
        directory = Path(directory)
        meta = _read_json(directory / "meta.json", f"the Delphi export's {split} meta.json")
        chunks = meta.get("files") if isinstance(meta, dict) else None
        if not isinstance(chunks, list) or not chunks:
            raise DataError(f"{directory / 'meta.json'}: lists no parquet files")
        for name in chunks:
            if not str(name).startswith(f"{split}-"):
                raise DataError(f"{directory / name}: not a file of split '{split}'")
            files[f"data/{name}"] = _require_file(directory / name, "a parquet file of the export")
        files[f"meta/{split}.json"] = directory / "meta.json"
        metas[split] = meta
    card = delphi_card(check_repo_id(repo_id), context, metas)
    message = f"toklab: Delphi dataset of {context['corpus']} by {context['tokenization']}"
    return Publication(repo_id, "dataset", private, (Upload(MAIN, files, {CARD: card}, message),))


def nanogpt_publication(
    repo_id: str,
    private: bool,
    splits: Mapping[str, str | os.PathLike[str]],
    tokenizer: str | os.PathLike[str],
    context: Mapping[str, Any],
) -> Publication:
    """The ``{split}.bin`` files of nanoGPT (flat uint16) and the tokenizer as one dataset repo."""
    files = {"tokenizer.json": _require_file(Path(tokenizer), "the tokenizer")}
    tokens = {}
    for split, file in splits.items():
        path = _require_file(Path(file), f"the nanoGPT {split}.bin")
        size = path.stat().st_size
        if size == 0 or size % 2:
            raise DataError(f"{path}: {size} bytes is not a non-empty array of uint16 ids")
        files[f"{split}.bin"] = path
        tokens[split] = size // 2
    card = nanogpt_card(check_repo_id(repo_id), context, tokens)
    message = f"toklab: nanoGPT dataset of {context['corpus']} by {context['tokenization']}"
    return Publication(repo_id, "dataset", private, (Upload(MAIN, files, {CARD: card}, message),))


def _training(directory: Path) -> dict[str, Any]:
    path = directory / "train_config.json"
    return _read_json(path, "the training settings") if path.is_file() else {}


def lm_publication(
    repo_id: str,
    private: bool,
    model_dir: str | os.PathLike[str],
    evaluation: str | os.PathLike[str],
    context: Mapping[str, Any],
) -> Publication:
    """An LM's directory (not its checkpoints) and evaluation on ``main``, with its model card."""
    model_dir = Path(model_dir)
    result = read_evaluation(evaluation)
    files = {**model_files(model_dir), EVALUATION_FILE: Path(evaluation)}
    card = lm_card(check_repo_id(repo_id), context, result, _training(model_dir))
    message = f"toklab: LM {context['model']} of {context['corpus']} on {context['tokenization']}"
    return Publication(repo_id, "model", private, (Upload(MAIN, files, {CARD: card}, message),))


def suite_publication(
    repo_id: str,
    private: bool,
    model_dir: str | os.PathLike[str],
    evaluation: str | os.PathLike[str],
    context: Mapping[str, Any],
    checkpoint_evaluations: Mapping[str, str | os.PathLike[str]] | None = None,
) -> Publication:
    """Every kept checkpoint of an LM as the branch ``step-{N}`` of its repo.

    Each checkpoint must be in every per-checkpoint evaluation given (benchmarks, addition), its
    rows are on its card and in its ``evaluation.json``; with none given, the cards report the
    final model's bits per byte, so that evaluation is required.
    """
    from toklab.training.checkpoint import TRAINING_STATE_FILE

    model_dir = Path(model_dir)
    result = read_evaluation(evaluation)
    evaluations = read_checkpoint_evaluations(checkpoint_evaluations or {})
    kept = kept_checkpoints(model_dir)
    for name, by_step in evaluations.items():
        missing = [step for step, _ in kept if step not in by_step]
        if missing:
            raise DataError(
                f"{checkpoint_evaluations[name]}: the {name} evaluation has no rows for "
                f"checkpoint{'s' if len(missing) > 1 else ''} "
                f"{', '.join(f'step-{step}' for step in missing)} of {model_dir}; every "
                "published checkpoint needs its evaluation"
            )
    check_repo_id(repo_id)
    uploads = []
    for step, directory in kept:
        rows = {name: by_step[step] for name, by_step in evaluations.items()}
        state = read_json(directory / TRAINING_STATE_FILE)
        card = lm_card(repo_id, context, result, _training(directory),
                       checkpoint=(step, state, rows))  # fmt: skip
        written = {CARD: card}
        if rows:
            written[EVALUATION_FILE] = json.dumps({"step": step, **rows}, indent=2, sort_keys=True)
        message = f"toklab: checkpoint step-{step} of LM {context['model']}"
        uploads.append(Upload(f"step-{step}", model_files(directory), written, message))
    return Publication(repo_id, "model", private, tuple(uploads))
