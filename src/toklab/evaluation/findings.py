"""The reproduction scorecard: each paper claim against what a corpus's tables measured.

The claims, with the papers' values and sources, are stored once in
``resources/paper_findings.yaml``; here each has a function that reads the corpus's other tables
(``tokenizer_stats``, ``lm``, ``stochastok_addition``, ...) and returns toklab's value, its
uncertainty and whether the paper's direction holds:

* ``yes`` / ``no``: the direction holds (or fails) by more than twice the standard error of the
  difference (for proportions: the binomial standard error from the counts behind them);
* ``within noise``: the difference is inside that margin;
* ``not testable here``: the corpus's config builds nothing the claim needs (the detail column
  says what is missing).

Values without a sampling error of their own (bits per byte, parameter counts, bytes per token
of a whole corpus) compare point values; the uncertainty column says so. Every row carries the
scale of the run that measured it (``demo``, ``miniature``, ``paper``: the config's
``run_scale``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import yaml

from toklab.errors import DataError
from toklab.names import TokenizationName

#: results/tables/findings_{corpus}.csv: one row per claim of resources/paper_findings.yaml.
FINDINGS_COLUMNS: dict[str, str] = {
    "claim_id": "the claim's key in resources/paper_findings.yaml",
    "paper": "the paper that makes the claim (full citation in resources/paper_findings.yaml)",
    "claim": "the claim, in short",
    "metric": "what is compared",
    "paper_value": "the paper's value(s), or the direction it states where no number was available",
    "paper_source": "where the paper states it (table, figure, section)",
    "toklab_value": "what this run measured, as compared (e.g. 'BPE 0.62; ByteSpan 0.70')",
    "uncertainty": "standard errors, or the counts behind proportions; 'point values' where a number has no sampling error here",
    "holds": "yes / no: the paper's direction holds or fails beyond twice the standard error of the difference; within noise; not testable here",
    "scale": "the run's scale (the config's run_scale): demo, miniature or paper",
    "detail": "which rows were compared, or what the config would need to test the claim",
}

YES, NO, NOISE, UNTESTABLE = "yes", "no", "within noise", "not testable here"

Table = list[dict[str, str]]


@dataclass(frozen=True)
class Outcome:
    """toklab's side of one claim."""

    value: str = ""
    uncertainty: str = ""
    holds: str = UNTESTABLE
    detail: str = ""


def untestable(why: str) -> Outcome:
    """The outcome of a claim the corpus's outputs cannot test, and why."""
    return Outcome(holds=UNTESTABLE, detail=why)


@dataclass(frozen=True)
class Evidence:
    """What a corpus's run produced: its tables by name and its LMs' learning curves."""

    tables: Mapping[str, Table]
    curves: Mapping[str, list[dict[str, Any]]]

    def table(self, name: str) -> Table:
        """The rows of table ``name`` (none when the config does not build it)."""
        return list(self.tables.get(name, []))


# ---------------------------------------------------------------------------------------------
# Small statistics


def number(text: str | float | None) -> float | None:
    """A CSV cell as a float; None when empty."""
    if text is None or text == "":
        return None
    return float(text)


def proportion_stderr(p: float, n: float) -> float:
    """Binomial standard error of a proportion ``p`` over ``n`` items."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n > 0 else math.inf


def every(
    parts: Sequence[str], holds: Sequence[bool], uncertainty: str, detail: str, *, missing: str
) -> Outcome:
    """``yes`` when every comparison holds, else ``no``; untestable (``missing``) without any."""
    if not holds:
        return untestable(missing)
    return Outcome("; ".join(parts), uncertainty, YES if all(holds) else NO, detail)


def verdict(difference: float, stderr: float) -> str:
    """``yes`` / ``no`` when ``difference`` (positive: the paper's direction) exceeds 2 stderr."""
    if difference > 2 * stderr:
        return YES
    if difference < -2 * stderr:
        return NO
    return NOISE


def fmt(x: float, digits: int = 3) -> str:
    """A number for a table cell."""
    return f"{x:.{digits}g}"


def last_step(rows: Table, key: str) -> Table:
    """The rows of each ``key`` value's last ``step``."""
    last: dict[str, float] = {}
    for row in rows:
        last[row[key]] = max(last.get(row[key], -math.inf), float(row["step"]))
    return [row for row in rows if float(row["step"]) == last[row[key]]]


def method_of(tokenization: str) -> str | None:
    """A tokenization's variant method (stochastok, bpedropout, chars), or None for its own."""
    try:
        return TokenizationName.parse(tokenization).method
    except Exception:  # a name outside the grammar (e.g. T-Free's): no variant
        return None


# ---------------------------------------------------------------------------------------------
# The claims


def bytespan_morphscore(evidence: Evidence) -> Outcome:
    """Every ByteSpan tokenizer against BPE at the same V and language (MorphScore rows)."""
    rows = [r for r in evidence.table("tokenizer_stats") if r.get("morph_score", "") != ""]
    by_size: dict[tuple[str, str], dict[str, dict[str, str]]] = defaultdict(dict)
    for row in rows:
        by_size[(row["vocab_size"], row["language"])][row["family"]] = row
    above = total = 0
    parts, errors, margins = [], [], []
    for (size, language), families in sorted(by_size.items()):
        bpe = families.get("bpe")
        spans = {f: r for f, r in families.items() if f.startswith("bytespan")}
        if bpe is None or not spans:
            continue
        b, n_b = float(bpe["morph_score"]), float(bpe["morph_scored_words"])
        scores = {f: float(r["morph_score"]) for f, r in spans.items()}
        above += sum(s > b for s in scores.values())
        total += len(scores)
        mean = sum(scores.values()) / len(scores)
        n_s = min(float(r["morph_scored_words"]) for r in spans.values())
        stderr = math.hypot(proportion_stderr(b, n_b), proportion_stderr(mean, n_s))
        margins.append((mean - b, stderr))
        best = max(scores, key=scores.__getitem__)
        parts.append(
            f"V={size} {language}: BPE {fmt(b)}; ByteSpan mean {fmt(mean)}, best {fmt(scores[best])} "
            f"({best.removeprefix('bytespan-')})"
        )
        errors.append(
            f"V={size} {language}: BPE ±{fmt(proportion_stderr(b, n_b), 2)} (n={n_b:.0f})"
        )
    if not total:
        return untestable("no BPE and ByteSpan tokenizers of equal V with MorphScore gold data")
    difference = sum(d for d, _ in margins) / len(margins)
    stderr = math.sqrt(sum(s * s for _, s in margins)) / len(margins)
    return Outcome(
        "; ".join(parts),
        "; ".join(errors),
        verdict(difference, stderr),
        f"{above} of {total} ByteSpan tokenizers score above BPE at their V and language; the "
        f"verdict compares the mean ByteSpan score with BPE's",
    )


def bytespan_lm_parity(evidence: Evidence, tolerance: float = 0.05) -> Outcome:
    """The spread of bits per byte across the subword tokenizers of each model.

    The byte LM, T-Free and variant tokenizations (StochasTok, BPE-dropout, characters) of a
    tokenizer are left out: the claim compares tokenizers.
    """
    rows = [
        r
        for r in evidence.table("lm")
        if r.get("bits_per_byte", "") != ""
        and r["family"] not in ("bytes", "tfree")
        and method_of(r["tokenizer"]) is None
    ]
    by_model: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_model[row["model"]][row["tokenizer"]] = float(row["bits_per_byte"])
    parts, holds = [], []
    for model, values in sorted(by_model.items()):
        if len(values) < 2:
            continue
        low, high = min(values.values()), max(values.values())
        spread = (high - low) / low
        holds.append(spread <= tolerance)
        listed = ", ".join(f"{t} {fmt(v)}" for t, v in sorted(values.items()))
        parts.append(f"{model}: {listed} (spread {spread:.1%})")
    return every(
        parts,
        holds,
        "point values (one seed per tokenizer; no spread across seeds measured)",
        f"holds when every model's spread is at most {tolerance:.0%}",
        missing="fewer than two subword tokenizers' LMs of one model with bits per byte",
    )


def _addition_rows(evidence: Evidence) -> Table:
    rows = last_step(evidence.table("stochastok_addition"), "training_tokenization")
    splits = {r["split"] for r in rows}
    held_out = [s for s in ("validation", "val", "test") if s in splits]
    return [r for r in rows if not held_out or r["split"] == held_out[0]]


def _accuracy(row: Mapping[str, str]) -> tuple[float, float]:
    return float(row["accuracy"]), float(row["samples"])


def stochastok_addition_base(evidence: Evidence) -> Outcome:
    """A deterministic model's own question tokenization against the others' mean."""
    rows = _addition_rows(evidence)
    base = [r for r in rows if method_of(r["training_tokenization"]) is None]
    if not base:
        return untestable("no addition model trained on a deterministic tokenization")
    parts, margins = [], []
    for tokenization in sorted({r["training_tokenization"] for r in base}):
        own = [r for r in base if r["training_tokenization"] == tokenization]
        mine = [r for r in own if r["evaluation_tokenization"] == "deterministic"]
        others = [r for r in own if r["evaluation_tokenization"] != "deterministic"]
        if not mine or not others:
            continue
        a, n = _accuracy(mine[0])
        b = sum(float(r["accuracy"]) for r in others) / len(others)
        m = sum(float(r["samples"]) for r in others)
        margins.append((a - b, math.hypot(proportion_stderr(a, n), proportion_stderr(b, m))))
        listed = ", ".join(
            f"{r['evaluation_tokenization']} {fmt(float(r['accuracy']))}" for r in others
        )
        parts.append(
            f"{tokenization} at step {mine[0]['step']}: own {fmt(a)} (n={n:.0f}); {listed} "
            f"(mean {fmt(b)})"
        )
    if not margins:
        return untestable("the addition table lacks deterministic or other question tokenizations")
    if all(float(r["accuracy"]) == 0 for r in base):
        return Outcome("; ".join(parts), "", NO, "the model answered nothing: it did not learn")
    worst_margin = min(margins, key=lambda m: m[0] - 2 * m[1])
    return Outcome(
        "; ".join(parts),
        f"stderr of the difference {fmt(worst_margin[1], 2)}",
        verdict(*worst_margin),
        "own question tokenization against the mean of the others, held-out split, last step",
    )


def stochastok_addition_robust(evidence: Evidence) -> Outcome:
    """The lowest accuracy over question tokenizations: StochasTok-trained against base."""
    rows = _addition_rows(evidence)
    lowest: dict[str, tuple[float, float, str]] = {}
    for row in rows:
        a, n = _accuracy(row)
        key = row["training_tokenization"]
        if key not in lowest or a < lowest[key][0]:
            lowest[key] = (a, n, row["evaluation_tokenization"])
    stochastic = {t: v for t, v in lowest.items() if method_of(t) == "stochastok"}
    base = {t: v for t, v in lowest.items() if method_of(t) is None}
    if not stochastic or not base:
        return untestable("needs addition models trained on StochasTok and on deterministic ids")
    s_name = max(stochastic, key=lambda t: stochastic[t][0])
    b_name = max(base, key=lambda t: base[t][0])
    (s, n_s, s_eval), (b, n_b, b_eval) = stochastic[s_name], base[b_name]
    stderr = math.hypot(proportion_stderr(s, n_s), proportion_stderr(b, n_b))
    return Outcome(
        f"{s_name}: lowest {fmt(s)} ({s_eval}); {b_name}: lowest {fmt(b)} ({b_eval})",
        f"n={n_s:.0f} and {n_b:.0f} problems; stderr of the difference {fmt(stderr, 2)}",
        verdict(s - b, stderr),
        "each model's lowest accuracy over the question tokenizations, held-out split, last step",
    )


def _by_variant(rows: Table, key: str) -> tuple[dict[str, Table], dict[str, Table]]:
    stochastic: dict[str, Table] = defaultdict(list)
    base: dict[str, Table] = defaultdict(list)
    for row in rows:
        method = method_of(row[key])
        if method == "stochastok":
            stochastic[row[key]].append(row)
        elif method is None:
            base[row[key]].append(row)
    return stochastic, base


def stochastok_langgame(evidence: Evidence) -> Outcome:
    """LangGame's normalized accuracy at the last fine-tuning step, StochasTok against base."""
    rows = last_step(evidence.table("stochastok_langgame"), "pretraining_tokenization")
    stochastic, base = _by_variant(rows, "pretraining_tokenization")
    if not stochastic or not base:
        return untestable("needs LangGame fine-tuning of StochasTok and deterministic LMs")

    def score(group: Table) -> tuple[float, float, float]:
        row = group[0]
        a, n = float(row["accuracy"]), float(row["questions"])
        # normalized = (4a - 1) / 3: its standard error is 4/3 of the accuracy's
        return float(row["normalized_accuracy"]), 4 / 3 * proportion_stderr(a, n), n

    s_name = max(stochastic, key=lambda t: score(stochastic[t])[0])
    b_name = max(base, key=lambda t: score(base[t])[0])
    (s, se_s, n), (b, se_b, m) = score(stochastic[s_name]), score(base[b_name])
    return Outcome(
        f"{s_name} {fmt(s)}; {b_name} {fmt(b)} (normalized accuracy, step {stochastic[s_name][0]['step']})",
        f"±{fmt(se_s, 2)} and ±{fmt(se_b, 2)} (n={n:.0f}, {m:.0f} questions)",
        verdict(s - b, math.hypot(se_s, se_b)),
        "the best fine-tuned LM of each kind at its last step",
    )


def stochastok_benchmarks(evidence: Evidence) -> Outcome:
    """Mean benchmark accuracy at the last checkpoint: StochasTok no worse than base."""
    rows = last_step(evidence.table("stochastok_benchmarks"), "training_tokenization")
    stochastic, base = _by_variant(rows, "training_tokenization")
    if not stochastic or not base:
        return untestable("needs benchmark scores of StochasTok and deterministic LMs")

    def mean(group: Table) -> tuple[float, float, int]:
        accuracies = [(float(r["accuracy"]), float(r["questions"])) for r in group]
        value = sum(a for a, _ in accuracies) / len(accuracies)
        variance = sum(proportion_stderr(a, n) ** 2 for a, n in accuracies) / len(accuracies) ** 2
        return value, math.sqrt(variance), int(sum(n for _, n in accuracies))

    s_name, b_name = min(stochastic), min(base)
    (s, se_s, n), (b, se_b, m) = mean(stochastic[s_name]), mean(base[b_name])
    stderr = math.hypot(se_s, se_b)
    # "no cost": holds unless StochasTok is worse beyond the noise
    holds = NO if s - b < -2 * stderr else YES
    return Outcome(
        f"{s_name} {fmt(s)}; {b_name} {fmt(b)} (mean accuracy over "
        f"{len(stochastic[s_name])} benchmarks)",
        f"±{fmt(se_s, 2)} and ±{fmt(se_b, 2)} ({n} and {m} items)",
        holds,
        "no cost unless the StochasTok LM is worse by more than twice the stderr",
    )


def _subword(name: str) -> bool:
    """Whether a tokenizer (or family) name, another corpus's included, is a subword one."""
    name = name.rsplit("/", 1)[-1]
    return name.split("-")[0] in ("bpe", "hfbpe", "unigram", "pretrained")


def _size(name: str) -> int:
    """A tokenizer name's vocabulary size (0 without one)."""
    found = re.search(r"-([0-9]+)$", name)
    return int(found.group(1)) if found else 0


def tfree_fertility(evidence: Evidence) -> Outcome:
    """T-Free's fertility against the lowest subword tokenizer's, language by language."""
    rows = evidence.table("tfree_fertility")
    by_language: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        by_language[row["language"]][row["tokenizer"]] = float(row["fertility"])
    parts, holds = [], []
    for language, values in sorted(by_language.items()):
        tfree = {t: v for t, v in values.items() if t.rsplit("/", 1)[-1].startswith("tfree")}
        subword = {t: v for t, v in values.items() if _subword(t) and method_of(t) is None}
        if not tfree or not subword:
            continue
        best = min(subword, key=subword.__getitem__)
        t_value = min(tfree.values())
        holds.append(t_value < subword[best])
        parts.append(f"{language}: T-Free {fmt(t_value)}; {best} {fmt(subword[best])}")
    return every(
        parts,
        holds,
        "point values over the whole evaluation text",
        "T-Free against the subword tokenizer of lowest fertility, in every language",
        missing="no T-Free fertility next to a subword tokenizer's",
    )


def tfree_parameters(evidence: Evidence) -> Outcome:
    """Embedding + head reduction against the largest dense vocabulary of the params table."""
    rows = evidence.table("tfree_params")
    if not rows:
        return untestable("the config builds no T-Free parameter table")
    largest = max(int(r["dense_vocab_size"]) for r in rows)
    chosen = [r for r in rows if int(r["dense_vocab_size"]) == largest]
    parts = [
        f"{r['preset']} v={r['v']}: {-float(r['embedding_head_reduction']):+.1%} against {largest:,}"
        for r in chosen
    ]
    return Outcome(
        "; ".join(parts),
        "exact counts",
        YES if all(float(r["embedding_head_reduction"]) > 0 for r in chosen) else NO,
        "embedding + head parameters of T-Free against a dense vocabulary of the same blocks",
    )


def tfree_duplicates(evidence: Evidence) -> Outcome:
    """Duplicate-token shares of the subword tokenizers, and T-Free's (none by construction)."""
    rows = [r for r in evidence.table("tokenizer_stats") if r["language"] == "all"]
    rows = rows or evidence.table("tokenizer_stats")
    shares = {
        r["tokenizer"]: float(r["duplicate_tokens"])
        for r in rows
        if _subword(r["family"]) and r.get("duplicate_tokens", "") != ""
    }
    tfree = [
        float(r["duplicate_tokens"])
        for r in evidence.table("tfree_fertility")
        if r["tokenizer"].startswith("tfree") and r.get("duplicate_tokens", "") != ""
    ]
    if not shares:
        return untestable("no subword tokenizer statistics with duplicate tokens")
    largest = max(shares, key=_size)
    value = f"{largest} {shares[largest]:.1%}" + (f"; T-Free {max(tfree):.1%}" if tfree else "")
    holds = shares[largest] > 0 and (not tfree or max(tfree) == 0)
    return Outcome(
        value,
        "exact counts over the vocabulary",
        YES if holds else NO,
        "the largest subword vocabulary's share; T-Free's from its fertility table where built",
    )


def tfree_next_word(evidence: Evidence) -> Outcome:
    """Next-word accuracy of the T-Free LM against the token LMs of the same model.

    The choice measure (``next_word_choice_accuracy``; each model against its own score after
    other items' contexts) where the LM table has it for both kinds, otherwise exact next words.
    """
    lm = evidence.table("lm")
    choice = "next_word_choice_accuracy"
    metric = choice if _next_word_pair(lm, choice) else "next_word_accuracy"
    pair = _next_word_pair(lm, metric)
    if pair is None:
        return untestable("needs next-word accuracy of a T-Free LM and of a token LM")
    t, k = pair
    stderr_column = metric.replace("accuracy", "stderr")
    a, b = float(t[metric]), float(k[metric])
    se_a, se_b = float(t[stderr_column] or 0), float(k[stderr_column] or 0)
    value = f"T-Free {fmt(a)}; {k['tokenizer']} {fmt(b)}"
    bar_a = bar_b = 0.0
    if metric == choice:
        bar_a, bar_b = float(t["next_word_choice_control"]), float(k["next_word_choice_control"])
        value += (
            f" (of {t['next_word_choices']} candidates; after other contexts {fmt(bar_a)} and "
            f"{fmt(bar_b)})"
        )
    uncertainty = f"±{fmt(se_a, 2)} and ±{fmt(se_b, 2)} ({t['next_word_items']} words)"
    if a - bar_a <= 2 * se_a and b - bar_b <= 2 * se_b:  # neither is told apart from its bar
        reason = (
            "neither model does better with the right context than with another beyond the noise"
            if metric == choice
            else "neither model names words beyond the noise"
        )
        return Outcome(value, uncertainty, NOISE, f"{reason}: no signal at this scale")
    holds = NO if a - b < -2 * math.hypot(se_a, se_b) else YES  # not worse beyond the noise
    measure = "choice among candidates" if metric == choice else "exact next words"
    return Outcome(
        value,
        uncertainty,
        holds,
        f"{measure}; comparable unless T-Free is worse by more than twice the stderr; the "
        "token LM with the same non-embedding parameters when there is one",
    )


def _next_word_pair(lm: Table, metric: str) -> tuple[dict[str, str], dict[str, str]] | None:
    """The best T-Free row and the best token row of the same blocks on ``metric``, or None."""
    rows = [r for r in lm if r.get(metric, "") not in ("", "nan")]
    tfree = [r for r in rows if r["family"] == "tfree"]
    tokens = [r for r in rows if r["family"] not in ("tfree", "bytes")]
    if not tfree or not tokens:
        return None
    t = max(tfree, key=lambda r: float(r[metric]))
    same = [r for r in tokens if r["non_embedding_parameters"] == t["non_embedding_parameters"]]
    return t, max(same or tokens, key=lambda r: float(r[metric]))


def cs336_bytes_per_token(evidence: Evidence, tolerance: float = 0.05) -> Outcome:
    """Bytes per token of the 10K and 32K BPEs on TinyStories against the quoted values."""
    quoted = {10000: 4.058, 32000: 4.072}
    rows = [
        r
        for r in evidence.table("compression")
        if r["language"] == "all"
        and r["tokenizer_corpus"] == r["corpus"]
        and r["tokenizer"] in (f"bpe-{v}" for v in quoted)
        and "tinystories" in r["corpus"]
    ]
    if not rows:
        return untestable("needs the 10K or 32K BPE of a TinyStories corpus (cs336 config)")
    parts, holds = [], []
    for row in rows:
        size = int(row["tokenizer"].split("-")[1])
        value = float(row["bytes_per_token"])
        holds.append(abs(value - quoted[size]) / quoted[size] <= tolerance)
        parts.append(f"{row['tokenizer']} {value:.3f} (quoted {quoted[size]})")
    return every(
        parts,
        holds,
        f"point values over {rows[0]['total_bytes']} bytes",
        f"holds within {tolerance:.0%} of the quoted values",
        missing="no 10K or 32K BPE row",
    )


def delphi_loss_size(evidence: Evidence) -> Outcome:
    """Validation loss against parameter count among the models of one tokenizer."""
    rows = [r for r in evidence.table("lm") if r.get("val_loss", "") != ""]
    by_tokenizer: dict[str, list[tuple[int, float, str]]] = defaultdict(list)
    for row in rows:
        by_tokenizer[row["tokenizer"]].append(
            (int(float(row["parameters"])), float(row["val_loss"]), row["model"])
        )
    parts, holds = [], []
    for tokenizer, models in sorted(by_tokenizer.items()):
        if len({p for p, _, _ in models}) < 2:
            continue
        models.sort()
        losses = [loss for _, loss, _ in models]
        holds.append(all(b < a for a, b in pairwise(losses)))
        parts.append(
            f"{tokenizer}: " + ", ".join(f"{m} ({p:,}) {fmt(loss)}" for p, loss, m in models)
        )
    return every(
        parts,
        holds,
        "point values (one seed per size)",
        "holds when the loss falls at every larger size",
        missing="no tokenizer with LMs of two or more sizes (a suite)",
    )


def delphi_loss_checkpoints(evidence: Evidence) -> Outcome:
    """The first and last validation losses of every run's learning curve."""
    parts, holds = [], []
    for label, records in sorted(evidence.curves.items()):
        losses = [(r["step"], r["val_loss"]) for r in records if "val_loss" in r]
        if len(losses) < 2:
            continue
        (first_step, first), (last_step_, last) = losses[0], losses[-1]
        holds.append(last < first)
        falling = sum(b < a for (_, a), (_, b) in pairwise(losses))
        parts.append(
            f"{label}: {fmt(first)} at step {first_step} -> {fmt(last)} at {last_step_} "
            f"({falling} of {len(losses) - 1} evaluations lower than the one before)"
        )
    return every(
        parts,
        holds,
        "point values (each on the fixed validation batches)",
        "holds when every run ends below its first evaluation",
        missing="no learning curve with two or more validation losses",
    )


#: Each claim's computation, by its key in resources/paper_findings.yaml.
CLAIMS: dict[str, Callable[[Evidence], Outcome]] = {
    "bytespan_morphscore": bytespan_morphscore,
    "bytespan_lm_parity": bytespan_lm_parity,
    "stochastok_addition_base": stochastok_addition_base,
    "stochastok_addition_robust": stochastok_addition_robust,
    "stochastok_langgame": stochastok_langgame,
    "stochastok_benchmarks": stochastok_benchmarks,
    "tfree_fertility": tfree_fertility,
    "tfree_parameters": tfree_parameters,
    "tfree_duplicates": tfree_duplicates,
    "tfree_next_word": tfree_next_word,
    "cs336_bytes_per_token": cs336_bytes_per_token,
    "delphi_loss_size": delphi_loss_size,
    "delphi_loss_checkpoints": delphi_loss_checkpoints,
}


# ---------------------------------------------------------------------------------------------
# Reading and writing


def read_claims(path: str | Path) -> dict[str, dict[str, str]]:
    """The claims of ``resources/paper_findings.yaml``, each checked to have a computation."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    try:
        papers, claims = document["papers"], document["claims"]
    except (TypeError, KeyError) as err:
        raise DataError(f"{path}: needs 'papers' and 'claims' ({err})") from None
    for key, claim in claims.items():
        if key not in CLAIMS:
            raise DataError(f"{path}: claim '{key}' has no computation in {__name__}")
        if claim.get("paper") not in papers:
            raise DataError(f"{path}: claim '{key}' names unknown paper '{claim.get('paper')}'")
    missing = sorted(set(CLAIMS) - set(claims))
    if missing:
        raise DataError(f"{path}: no entry for claim(s) {', '.join(missing)}")
    return claims


def read_table(path: str | Path) -> Table:
    """A CSV table as rows of strings."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def read_curve(path: str | Path) -> list[dict[str, Any]]:
    """A run's ``metrics.jsonl`` records."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def findings_rows(
    claims: Mapping[str, Mapping[str, str]], evidence: Evidence, scale: str
) -> list[dict[str, str]]:
    """One row per claim, in the resource file's order."""
    rows = []
    for key, claim in claims.items():
        outcome = CLAIMS[key](evidence)
        rows.append(
            {
                "claim_id": key,
                "paper": claim["paper"],
                "claim": " ".join(claim["claim"].split()),
                "metric": claim["metric"],
                "paper_value": claim["paper_value"],
                "paper_source": " ".join(claim["paper_source"].split()),
                "toklab_value": outcome.value,
                "uncertainty": outcome.uncertainty,
                "holds": outcome.holds,
                "scale": scale,
                "detail": outcome.detail,
            }
        )
    return rows


def evidence_from_files(
    tables: Sequence[tuple[str, str | Path]], curves: Sequence[tuple[str, str | Path]]
) -> Evidence:
    """The evidence of ``(table name, CSV)`` and ``(run label, metrics.jsonl)`` pairs."""
    return Evidence(
        {name: read_table(path) for name, path in tables},
        {label: read_curve(path) for label, path in curves},
    )
