"""Figures for people: MorphScore vs fertility, surprisal with token boundaries, vocab overlap.

The surprisal figure shows one document coloured by the byte LM's cue with two tokenizers'
token starts; the overlap figure compares every pair of vocabularies.

Every figure is drawn with matplotlib's Agg backend and saved atomically as PNG with fixed
metadata, so reruns give identical files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from toklab.errors import DataError
from toklab.io import atomic_write
from toklab.pretokenization import utf8_char_offsets
from toklab.sorting import distinct
from toklab.tokenizers.tokenizer_files import vocabulary_pieces


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(figure, path: str | Path) -> None:
    """Save ``figure`` atomically as PNG without a timestamp (byte-identical on rerun)."""
    with atomic_write(path, "wb") as f:
        figure.savefig(f, format="png", dpi=120, metadata={"Software": None})
    _pyplot().close(figure)


# ---------------------------------------------------------------------------------------------
# MorphScore against fertility


def plot_morphscore_fertility(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """One panel per language with gold data: each tokenizer family a line over its sizes."""
    plt = _pyplot()
    scored = [r for r in rows if r["morph_score"] not in ("", None) and r["language"] != "all"]
    if not scored:
        raise DataError("no tokenizer has a MorphScore: the table has no gold-data language")
    languages = sorted({r["language"] for r in scored})
    families = sorted({r["family"] for r in scored})
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(families), 2)))
    figure, axes = plt.subplots(
        1, len(languages), figsize=(5.5 * len(languages) + 3, 4.5), squeeze=False
    )
    markers = "osD^vP*Xph<>"
    for ax, language in zip(axes[0], languages, strict=True):
        for k, (colour, family) in enumerate(zip(colours, families, strict=False)):
            points = sorted(
                (int(r["vocab_size"]), float(r["fertility"]), float(r["morph_score"]))
                for r in scored
                if r["language"] == language and r["family"] == family
            )
            if not points:
                continue
            _, x, y = zip(*points, strict=True)
            # distinct markers keep families with identical points (bpe, hfbpe) both visible
            ax.plot(
                x,
                y,
                "-",
                marker=markers[k % len(markers)],
                color=colour,
                label=family,
                markersize=7 - 3 * (k % 2),
                fillstyle="full" if k % 2 else "none",
            )
            for vocab, xi, yi in points:
                ax.annotate(
                    f"{vocab}", (xi, yi), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
        ax.set_title(language)
        ax.set_xlabel("fertility (tokens per word)")
        ax.set_ylabel("MorphScore")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="center right", fontsize=7, frameon=False)
    figure.suptitle("MorphScore against fertility (labels: vocabulary size)")
    figure.tight_layout(rect=(0, 0, 1 - 2.8 / figure.get_figwidth(), 1))
    save_png(figure, path)


# ---------------------------------------------------------------------------------------------
# Vocabulary overlap


def vocabulary_bytes(tokenizer_json: str | Path) -> set[bytes]:
    """The byte strings of a tokenizer's ordinary tokens (special tokens left out).

    BPE, Unigram and WordPiece models alike (:func:`vocabulary_pieces`); WordPiece continuation
    tokens lose their prefix, so ByteSpan's word-initial and continuation forms of the same
    bytes count once, as one BPE token would.
    """
    return {piece[0] for piece in vocabulary_pieces(tokenizer_json) if piece is not None}


def overlap_matrix(vocabularies: Sequence[set[bytes]]) -> np.ndarray:
    """Share of the smaller vocabulary's multi-byte tokens that the other one has too."""
    multi = [{t for t in v if len(t) > 1} for v in vocabularies]
    n = len(multi)
    matrix = np.ones((n, n))
    for i in range(n):
        for j in range(n):
            smaller = min(len(multi[i]), len(multi[j]))
            matrix[i, j] = len(multi[i] & multi[j]) / smaller if smaller else np.nan
    return matrix


def plot_overlap(names: Sequence[str], matrix: np.ndarray, path: str | Path) -> None:
    """The overlap matrix as an annotated heat map."""
    plt = _pyplot()
    n = len(names)
    size = 2.5 + 0.45 * n
    figure, ax = plt.subplots(figsize=(size + 1.5, size))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    ax.set_xticks(range(n), names, rotation=90, fontsize=6)
    ax.set_yticks(range(n), names, fontsize=6)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.2f}",
                ha="center",
                va="center",
                fontsize=5,
                color="white" if matrix[i, j] < 0.6 else "black",
            )
    figure.colorbar(image, ax=ax, fraction=0.04, label="shared multi-byte tokens / smaller vocab")
    ax.set_title("Vocabulary overlap")
    figure.tight_layout()
    save_png(figure, path)


# ---------------------------------------------------------------------------------------------
# A document coloured by surprisal


def token_boundaries(tokenizer, text: str) -> np.ndarray:
    """Byte positions where the tokenizer starts a new token in ``text`` (0 excluded)."""
    encoding = tokenizer.encode(text, add_special_tokens=False)
    char_to_byte = utf8_char_offsets(text)
    starts = [start for start, _ in encoding.offsets]
    return distinct(char_to_byte[np.asarray(starts, dtype=np.int64)])[1:]


def _glyph(data: bytes, position: int) -> str:
    """The character drawn on the first byte of each character; blanks for the other bytes."""
    byte = data[position]
    if byte & 0xC0 == 0x80:
        return ""
    width = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
    char = data[position : position + width].decode("utf-8", errors="replace")
    return {" ": "␣", "\n": "↵", "\t": "⇥"}.get(char, char)


def plot_surprisal_example(
    data: bytes,
    cue: np.ndarray,
    boundaries: Mapping[str, np.ndarray],
    path: str | Path,
    cue_name: str = "surprisal",
    width: int = 48,
) -> None:
    """Bytes as cells coloured by the cue; each tokenizer's token starts as coloured bars."""
    plt = _pyplot()
    if len(data) != len(cue):
        raise DataError(f"{len(data)} bytes but {len(cue)} cue values")
    lines = (len(data) + width - 1) // width
    figure, ax = plt.subplots(figsize=(width * 0.24 + 1.5, lines * 0.62 + 1.2))
    cmap = plt.get_cmap("magma_r")
    vmax = float(np.quantile(cue, 0.98)) or 1.0
    line_colours = plt.get_cmap("tab10")(np.arange(len(boundaries)))
    for position, value in enumerate(cue):
        row, col = divmod(position, width)
        ax.add_patch(
            plt.Rectangle((col, -row - 0.8), 1, 0.8, color=cmap(min(float(value) / vmax, 1.0)))
        )
        ax.text(
            col + 0.5,
            -row - 0.4,
            _glyph(data, position),
            ha="center",
            va="center",
            fontsize=7,
            color="black" if value < 0.6 * vmax else "white",
        )
    for k, (colour, (name, starts)) in enumerate(
        zip(line_colours, boundaries.items(), strict=True)
    ):
        for position in starts:
            row, col = divmod(int(position), width)
            top = -row - (0.0 if k == 0 else 0.4)
            ax.plot(
                [col, col], [top, top - 0.4], color=colour, linewidth=2.2, solid_capstyle="butt"
            )
        ax.plot([], [], color=colour, linewidth=2.2, label=f"{name} (token starts)")
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-lines - 0.1, 0.1)
    ax.set_axis_off()
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, vmax))
    figure.colorbar(mappable, ax=ax, fraction=0.02, pad=0.01, label=f"{cue_name} (nats)")
    ax.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.01),
        ncol=len(boundaries),
        fontsize=7,
        frameon=False,
    )
    ax.set_title(f"Byte-level LM {cue_name}, with each tokenizer's token boundaries")
    figure.tight_layout()
    save_png(figure, path)


# ---------------------------------------------------------------------------------------------
# Language models per tokenizer


def plot_lm_bits_per_byte(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Bits per byte against vocabulary size: one line per tokenizer family and model.

    Rows without bits per byte (T-Free's, an empty cell) are left out.
    """
    plt = _pyplot()
    rows = [r for r in rows if str(r["bits_per_byte"]) not in ("", "nan")]
    if not rows:
        raise DataError("the LM table has no rows with bits per byte")
    groups = sorted({(r["family"], r["model"]) for r in rows})
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    markers = "osD^vP*Xph<>"
    for k, (family, model) in enumerate(groups):
        points = sorted(
            (int(r["vocab_size"]), float(r["bits_per_byte"]))
            for r in rows
            if r["family"] == family and r["model"] == model
        )
        x, y = zip(*points, strict=True)
        ax.plot(x, y, "-", marker=markers[k % len(markers)], label=f"{family} ({model})")
    ax.set_xscale("log")
    _finish(figure, ax, path, "vocabulary size", "bits per byte (validation)",
            "Language models per tokenizer: bits per byte")  # fmt: skip


def plot_lm_curves(
    runs: Sequence[tuple[str, Sequence[Mapping[str, Any]], float]], path: str | Path
) -> None:
    """Validation loss against bytes seen, per run ``(label, metrics records, bytes/token)``.

    The loss is in bits per byte of the validation windows' tokens, ``val_loss / ln 2 /
    (bytes per token)``, so runs of different tokenizers share an axis.
    """
    plt = _pyplot()
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for label, records, bytes_per_token in runs:
        points = [
            (r["tokens"] * bytes_per_token, r["val_loss"] / np.log(2) / bytes_per_token)
            for r in records
            if "val_loss" in r and "tokens" in r
        ]
        if points:
            x, y = zip(*points, strict=True)
            ax.plot(x, y, "-o", markersize=3, label=label)
    _finish(figure, ax, path, "training bytes seen", "validation loss, bits per byte",
            "Validation curves (per-token loss over each tokenizer's bytes per token)")  # fmt: skip


def plot_logprobs(
    runs: Sequence[tuple[str, Mapping[int, Mapping[str, np.ndarray]]]],
    path: str | Path,
    documents: int = 3,
) -> None:
    """Per-token loss of a few documents along a run's checkpoints: a panel per run and document.

    ``runs``: ``(label, {step: logprobs columns})`` (:func:`toklab.evaluation.lm_logprobs.
    read_logprobs`). Each panel's rows are the checkpoints by step, its columns the document's
    predicted positions, the colour the loss ``-log p`` of the token there (nats), on one scale.
    """
    plt = _pyplot()
    if not runs:
        raise DataError("no logprobs to plot")
    panels = []
    for label, steps in runs:
        first = steps[min(steps)]
        for document in distinct(first["document"])[:documents]:
            rows = []
            for step in sorted(steps):
                mine = steps[step]["document"] == document
                rows.append(-steps[step]["logprob"][mine])
            panels.append((f"{label}, document {document}", sorted(steps), np.stack(rows)))
    top = max(float(np.percentile(grid, 99)) for _, _, grid in panels)
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(8, 1.0 + 1.3 * len(panels)), squeeze=False, layout="constrained"
    )
    for ax, (title, steps, grid) in zip(axes[:, 0], panels, strict=True):
        # columns at the predicted positions 1..n, rows at the checkpoints in step order
        extent = (0.5, grid.shape[1] + 0.5, len(steps) - 0.5, -0.5)
        image = ax.imshow(grid, aspect="auto", cmap="magma_r", vmin=0, vmax=top,
                          interpolation="nearest", extent=extent)  # fmt: skip
        ax.set_yticks(range(len(steps)), [str(step) for step in steps], fontsize=6)
        ax.tick_params(axis="x", labelsize=6)
        ax.set_title(title, fontsize=8)
        ax.set_ylabel("step", fontsize=7)
    axes[-1, 0].set_xlabel("position of the predicted token")
    figure.colorbar(image, ax=axes[:, 0], label="loss, nats (-log p)")
    figure.suptitle("Per-token loss along the kept checkpoints")
    save_png(figure, path)


def plot_langgame(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """LangGame normalized accuracy against fine-tuning step, per pretraining tokenization."""
    plt = _pyplot()
    if not rows:
        raise DataError("the LangGame table has no rows")
    figure, ax = plt.subplots(figsize=(7.5, 4.5))
    for tokenization, model in sorted({(r["pretraining_tokenization"], r["model"]) for r in rows}):
        points = sorted(
            (int(r["step"]), float(r["normalized_accuracy"]))
            for r in rows
            if r["pretraining_tokenization"] == tokenization and r["model"] == model
        )
        x, y = zip(*points, strict=True)
        ax.plot(x, y, "-o", markersize=3, label=f"pretrained on {tokenization} ({model})")
    ax.axhline(0.0, color="grey", linewidth=0.8, linestyle=":")
    _finish(figure, ax, path, "fine-tuning step", "normalized accuracy (0: chance)",
            "LangGame during fine-tuning")  # fmt: skip


def plot_addition(rows: Sequence[Mapping[str, Any]], path: str | Path, split: str) -> None:
    """Addition accuracy against training step: a panel per question tokenization."""
    plt = _pyplot()
    rows = [r for r in rows if r["split"] == split]
    if not rows:
        raise DataError(f"the addition table has no rows of split '{split}'")
    methods = list(dict.fromkeys(r["evaluation_tokenization"] for r in rows))
    figure, axes = plt.subplots(1, len(methods), figsize=(3.2 * len(methods), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    runs = sorted({(r["training_tokenization"], r["model"]) for r in rows})
    for ax, method in zip(axes, methods, strict=True):
        for tokenization, model in runs:
            points = sorted(
                (int(r["step"]), float(r["accuracy"]))
                for r in rows
                if r["evaluation_tokenization"] == method
                and (r["training_tokenization"], r["model"]) == (tokenization, model)
            )
            x, y = zip(*points, strict=True)
            ax.plot(x, y, "-o", markersize=3, label=f"{tokenization} ({model})")
        ax.set_title(f"questions: {method}", fontsize=9)
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"accuracy ({split})")
    axes[0].legend(fontsize=7, frameon=False)
    figure.suptitle("Multi-digit addition by training tokenization", fontsize=10)
    figure.tight_layout()
    save_png(figure, path)


def plot_benchmarks(rows: Sequence[Mapping[str, Any]], path: str | Path) -> None:
    """Benchmark accuracy against training step: a panel per benchmark, a line per LM."""
    plt = _pyplot()
    if not rows:
        raise DataError("the benchmarks table has no rows")
    names = list(dict.fromkeys(r["benchmark"] for r in rows))
    columns = min(3, len(names))
    lines = -(-len(names) // columns)
    figure, axes = plt.subplots(lines, columns, figsize=(3.4 * columns, 2.9 * lines), squeeze=False)
    runs = sorted({(r["training_tokenization"], r["model"]) for r in rows})
    for ax, name in zip(axes.flat, names, strict=False):
        for tokenization, model in runs:
            points = sorted(
                (int(r["step"]), float(r["accuracy"]))
                for r in rows
                if r["benchmark"] == name
                and (r["training_tokenization"], r["model"]) == (tokenization, model)
            )
            if points:
                x, y = zip(*points, strict=True)
                ax.plot(x, y, "-o", markersize=3, label=f"{tokenization} ({model})")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=6, frameon=False)
    figure.supxlabel("training step", fontsize=9)
    figure.supylabel("accuracy", fontsize=9)
    figure.tight_layout()
    save_png(figure, path)


def _finish(figure, ax, path: str | Path, xlabel: str, ylabel: str, title: str) -> None:
    """Labels, grid, legend and title of a one-panel figure, then save it."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)
    ax.set_title(title)
    figure.tight_layout()
    save_png(figure, path)
