"""Next-token log-probabilities of every kept checkpoint of a run: Delphi's training dynamics.

Delphi publishes, for each checkpoint of a suite, the log-probability of every next token of a
validation set (``get_next_logprobs``), so that how a model learns can be read token by token.
Here: the first ``documents`` documents of the validation token array, each cut to its first
``max_tokens`` ids, scored by the final model and by every kept checkpoint
(``checkpoints/step-{N}``), one parquet file per checkpoint::

    OUTPUT/step-{N}.parquet   document (int32), position (int32, of the predicted token, >= 1),
                              token (int32), logprob (float32, natural log)

Memory is bounded by one batch of documents (the rows of a batch are written as a row group),
and the scoring runs on CUDA when there is one (bf16 autocast there, float32 log-softmax).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from toklab.datasets.token_array import TokenArray
from toklab.errors import DataError
from toklab.io import replace_directory
from toklab.training.checkpoint import RunPaths

log = logging.getLogger(__name__)

COLUMNS = ("document", "position", "token", "logprob")


def validation_documents(valid_prefix: str | Path, documents: int, max_tokens: int) -> list:
    """The first ``documents`` documents of a token array, each its first ``max_tokens`` ids.

    Documents of one token predict nothing and are skipped (their ids are kept in order).
    """
    if documents < 1 or max_tokens < 2:
        raise DataError(
            f"logprobs need at least one document and two tokens each (got {documents} "
            f"documents of {max_tokens} tokens)"
        )
    array = TokenArray.open(valid_prefix)
    chosen = []
    for index in range(len(array)):
        ids = np.asarray(array.document(index)[:max_tokens], dtype=np.int64)
        if len(ids) >= 2:
            chosen.append((index, ids))
        if len(chosen) == documents:
            break
    if not chosen:
        raise DataError(f"{valid_prefix}: no document of two or more tokens to score")
    return chosen


def next_token_logprobs(model, documents: list, batch_size: int, device):
    """Per batch of documents, the rows of :data:`COLUMNS` (numpy arrays) of their tokens."""
    import torch

    for first in range(0, len(documents), batch_size):
        batch = documents[first : first + batch_size]
        longest = max(len(ids) for _, ids in batch)
        tokens = np.zeros((len(batch), longest), dtype=np.int64)
        for row, (_, ids) in enumerate(batch):
            tokens[row, : len(ids)] = ids
        inputs = torch.from_numpy(tokens).to(device)
        with torch.no_grad(), torch.autocast(device.type, torch.bfloat16, device.type == "cuda"):
            logits = model(inputs[:, :-1])
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        scores = log_probs.gather(2, inputs[:, 1:, None])[:, :, 0].cpu().numpy()
        rows = {column: [] for column in COLUMNS}
        for row, (index, ids) in enumerate(batch):
            count = len(ids) - 1
            rows["document"].append(np.full(count, index, dtype=np.int32))
            rows["position"].append(np.arange(1, count + 1, dtype=np.int32))
            rows["token"].append(ids[1:].astype(np.int32))
            rows["logprob"].append(scores[row, :count].astype(np.float32))
        yield {column: np.concatenate(parts) for column, parts in rows.items()}


def write_logprobs(
    model_dir: str | Path,
    valid_prefix: str | Path,
    output: str | Path,
    *,
    documents: int = 100,
    max_tokens: int = 512,
    batch_size: int = 8,
    device: str | None = None,
) -> Path:
    """One parquet file of next-token log-probabilities per trained model of a run.

    The final model and the kept checkpoints (:meth:`RunPaths.trained_models`); the directory
    is written beside ``output`` and renamed into place when complete.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq
    import torch

    from toklab.models.causal_lm import is_tfree_checkpoint, load_model

    models = RunPaths(model_dir).trained_models()
    if not models:
        raise DataError(f"{model_dir}: no trained model or kept checkpoint to score")
    if is_tfree_checkpoint(models[-1][1]):
        raise DataError(
            f"{model_dir}: a T-Free model has no next-token distribution (multi-label head)"
        )
    chosen = validation_documents(valid_prefix, documents, max_tokens)
    largest_id = int(np.max([ids.max() for _, ids in chosen]))
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    output = Path(output)
    partial = output.with_name(output.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("document", pa.int32()),
            ("position", pa.int32()),
            ("token", pa.int32()),
            ("logprob", pa.float32()),
        ]
    )
    for step, directory in tqdm(models, desc="checkpoints"):
        model = load_model(directory, map_location=torch_device).eval()
        if largest_id >= model.config.vocab_size:
            raise DataError(
                f"{valid_prefix}: token ids reach beyond {directory}'s vocabulary of "
                f"{model.config.vocab_size}: a mismatched tokenizer"
            )
        path = partial / f"step-{step}.parquet"
        with pq.ParquetWriter(path, schema) as writer:
            for rows in next_token_logprobs(model, chosen, batch_size, torch_device):
                writer.write_table(pa.table(rows, schema=schema))
        log.info("step %d: %s", step, path.name)
    (partial / "logprobs.json").write_text(
        json.dumps(
            {
                "steps": [step for step, _ in models],
                "documents": [index for index, _ in chosen],
                "max_tokens": max_tokens,
                "columns": list(COLUMNS),
                "units": "nats (natural log)",
            },
            indent=1,
        )
    )
    replace_directory(partial, output)
    return output


def read_logprobs(directory: str | Path) -> dict[int, dict[str, np.ndarray]]:
    """``{step: columns}`` of a :func:`write_logprobs` directory."""
    import pyarrow.parquet as pq

    directory = Path(directory)
    try:
        steps = json.loads((directory / "logprobs.json").read_text())["steps"]
    except (OSError, ValueError, KeyError):
        raise DataError(f"{directory}: not a logprobs directory (logprobs.json)") from None
    return {
        step: {
            column: values.to_numpy()
            for column, values in zip(
                COLUMNS, pq.read_table(directory / f"step-{step}.parquet").columns, strict=True
            )
        }
        for step in steps
    }
