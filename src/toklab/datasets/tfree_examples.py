"""T-Free word examples: fine-tuning examples as a word array with a loss weight per word.

T-Free's fine-tuning data is a JSON Lines file of examples, each a list of text segments that
say whether the model learns to predict them (``has_loss``; :func:`read_segments`).
:func:`tokenize_word_examples` writes them as a word array
(:func:`~toklab.datasets.tfree_words.write_word_array`), one document per example, plus
``PREFIX.weights.bin``: one uint8 per word, 1 where its segment has the loss
(:func:`read_word_weights`). :func:`word_example_paths` names the five files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from toklab.datasets.tfree_words import word_array_paths, write_word_array
from toklab.errors import DataError
from toklab.io import sha256_file
from toklab.tokenizers.tfree import split_words

__all__ = ["read_segments", "read_word_weights", "tokenize_word_examples", "word_example_paths"]

WEIGHTS_SUFFIX = "weights.bin"


def word_example_paths(prefix: str | Path) -> dict[str, Path]:
    """The five files of word examples: a word array's four and ``weights.bin``."""
    paths = word_array_paths(prefix)
    prefix = Path(prefix)
    paths[WEIGHTS_SUFFIX] = prefix.with_name(f"{prefix.name}.{WEIGHTS_SUFFIX}")
    return paths


def read_segments(path: str | Path) -> list[list[tuple[str, bool]]]:
    """T-Free's fine-tuning examples, as ``[(content, has_loss), ...]`` per example.

    Per line a JSON list of ``{"type": "text", "content": str, "has_loss": bool}`` segments
    (blank lines skipped, as the original's converter does); a
    :class:`~toklab.errors.DataError` naming the file and line for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: fine-tuning examples not found")
    examples = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path}: line {number}"
            try:
                segments = json.loads(line)
            except ValueError as err:
                raise DataError(f"{where}: not JSON ({err})") from None
            if not isinstance(segments, list) or not segments:
                raise DataError(f"{where}: not a non-empty JSON list of segments")
            example = []
            for segment in segments:
                if (
                    not isinstance(segment, dict)
                    or set(segment) != {"type", "content", "has_loss"}
                    or segment["type"] != "text"
                    or not isinstance(segment["content"], str)
                    or not isinstance(segment["has_loss"], bool)
                ):
                    raise DataError(
                        f'{where}: a segment must be {{"type": "text", "content": '
                        f'str, "has_loss": bool}}, got {json.dumps(segment)[:80]}'
                    )
                example.append((segment["content"], segment["has_loss"]))
            examples.append(example)
    if not examples:
        raise DataError(f"{path}: no fine-tuning examples")
    return examples


def tokenize_word_examples(
    settings_path: str | Path, examples_path: str | Path, out_prefix: str | Path
) -> dict[str, Any]:
    """T-Free's fine-tuning examples (:func:`read_segments`) as word examples; return the meta.

    A word array with one document per example (each segment split on its own, stripped, as
    the original encodes them; no ``<|endoftext|>`` added) and ``PREFIX.weights.bin``, one
    uint8 per word: 1 where the word's segment has ``has_loss``. A position's loss weight is
    its target word's (:class:`~toklab.training.data.WordExampleSampler`).
    """
    examples = read_segments(examples_path)
    texts_bytes = sum(len(content.encode()) for example in examples for content, _ in example)
    weights: list[bool] = []  # each word's has_loss, filled as the examples are split

    def segment_words(example: list[tuple[str, bool]]) -> list[str]:
        # each segment split on its own, stripped (the original's trigramify)
        words: list[str] = []
        for content, has_loss in example:
            segment = split_words(content.strip())
            words.extend(segment)
            weights.extend([has_loss] * len(segment))
        return words

    return write_word_array(
        settings_path,
        iter([(examples, texts_bytes)]),
        out_prefix,
        num_bytes=texts_bytes,
        where=f"{examples_path}: example",
        meta={"source_sha256": sha256_file(examples_path)},
        split=segment_words,
        sidecar=(
            word_example_paths(out_prefix)[WEIGHTS_SUFFIX],
            lambda: np.asarray(weights, dtype=np.uint8).tobytes(),
        ),
    )


def read_word_weights(prefix: str | Path, num_words: int) -> np.ndarray:
    """The per-word loss weights of word examples (uint8 0/1), checked against the array."""
    path = word_example_paths(prefix)[WEIGHTS_SUFFIX]
    if not path.is_file():
        raise DataError(f"{path}: word examples file not found")
    weights = np.fromfile(path, dtype=np.uint8)
    if len(weights) != num_words or (weights > 1).any():
        raise DataError(
            f"{path}: corrupt loss weights ({len(weights)} values, the array has {num_words} "
            "words; each must be 0 or 1)"
        )
    return weights
