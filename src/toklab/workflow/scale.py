"""How much data each LM plans to see: its training tokens against what its subset holds.

A config sets each LM's steps, batch and sequence length, and sizes its training subset in
documents or bytes; how many *epochs* that makes needs two more numbers, which a corpus
declares in its ``scale`` block (planning only; the data stage never reads it):

- ``documents`` and ``bytes``: what the corpus's main ``source`` holds, as published (a
  dataset card, a file size). A subset of documents then holds ``documents x bytes/documents``
  bytes, and a subset of "everything left" ({}) the source's bytes less those of the subsets
  before it. A subset sized in bytes needs neither (per language when the corpus lists
  languages).
- ``bytes_per_token``: UTF-8 bytes per token of each tokenization an LM trains on (per word
  for T-Free). The byte-level tokenizer needs none (1); a StochasTok or BPE-dropout variant
  without its own value takes its tokenizer's, which over-states bytes per token (the
  variants only split tokens), so its epochs are an upper bound.

:func:`planned_epochs` gives one :class:`PlannedEpochs` row per LM training job (the ``lm``
block's and the byte LM); :func:`epochs_table` formats them for the docs
(``scripts/planned_epochs.py`` prints it for config files). An LM planned to see its data more
than :data:`MAX_UNSTATED_EPOCHS` times must say why in its ``repeat_data`` key, so that
repeating data is a visible choice (``tests/workflow/test_scale.py`` checks every experiment
config). The data stage's manifest (``results/data/{corpus}/manifest.json``: documents and bytes
per subset) and the token arrays' ``meta.json`` replace these estimates once they exist.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow.config import Block
from toklab.workflow.plan import Plan
from toklab.workflow.tokenizers import BYTE_TOKENIZER

if TYPE_CHECKING:
    from toklab.training.config import TrainConfig

#: Planned epochs above which an LM must state ``repeat_data``: one pass, with room for the
#: estimates (bytes per document and per token are good to about 20%).
MAX_UNSTATED_EPOCHS = 1.5


@dataclass(frozen=True)
class PlannedEpochs:
    """One LM training job's planned data against its training subset."""

    corpus: str
    #: The model's name (``lm.models`` key, or the byte LM's name).
    model: str
    #: The tokenization as the config names it (``<corpus>/<name>`` for another corpus's).
    tokenization: str
    #: The config key that sets the job: ``lm.models.<model>`` or ``bytelm``.
    key: str
    train_subset: str
    #: Sequences per optimizer step and positions per sequence.
    batch_size: int
    seq_len: int
    #: Optimizer steps (None: set by ``max_epochs`` over a subset of unknown size).
    steps: int | None
    #: Positions trained on, ``steps x batch_size x seq_len`` (tokens, or words for T-Free).
    planned_tokens: float | None
    #: The training subset's UTF-8 bytes and tokens (words for T-Free), estimated.
    subset_bytes: float | None
    subset_tokens: float | None
    #: Passes over the subset: over its tokens, over T-Free's aligned items (each starts one
    #: sample per pass), or the configured ``max_epochs``.
    epochs: float | None
    #: How ``epochs`` was found: ``tokens``, ``aligned items`` or ``max_epochs``.
    basis: str
    #: The config's reason for seeing the data more than once (``repeat_data``), if any.
    repeat_data: str | None

    @property
    def unstated_repeats(self) -> bool:
        """Whether it plans more than :data:`MAX_UNSTATED_EPOCHS` without saying why."""
        return (
            self.epochs is not None and self.epochs > MAX_UNSTATED_EPOCHS and not self.repeat_data
        )


def _source_bytes(corpus: Block) -> float | None:
    """The main source's bytes as declared, capped by its ``limit`` (None if undeclared)."""
    scale = corpus.get("scale") or {}
    total = scale.get("bytes")
    limit = corpus["source"].get("limit") or {}
    if limit.get("bytes") is not None:
        total = limit["bytes"] if total is None else min(total, limit["bytes"])
    mean = _document_bytes(corpus)
    if limit.get("rows") is not None and mean is not None:
        total = limit["rows"] * mean if total is None else min(total, limit["rows"] * mean)
    return total


def _document_bytes(corpus: Block) -> float | None:
    """The main source's mean bytes per document, from its declared documents and bytes."""
    scale = corpus.get("scale") or {}
    if scale.get("documents") and scale.get("bytes"):
        return scale["bytes"] / scale["documents"]
    return None


def subset_bytes(corpus: Block, subset: str) -> float | None:
    """A subset's UTF-8 bytes as the corpus's sizes and ``scale`` block give them.

    Subsets are consecutive slices of the main source (one with its own source is its own
    stream): a byte quota is its size (times the languages, if listed), a document quota
    ``documents x`` the source's mean document, and ``{}`` what the source holds after the
    subsets before it. None when a number it needs is not declared.
    """
    if subset not in corpus["subsets"]:
        raise ConfigError(f"no subset '{subset}' (has {', '.join(corpus['subsets'])})")
    languages = len(corpus["languages"]) if corpus.get("languages") else 1
    mean = _document_bytes(corpus)
    used: float | None = 0.0
    for name, spec in corpus["subsets"].items():
        own = bool(spec.get("source"))
        if spec.get("bytes") is not None:
            size = spec["bytes"] * languages
        elif spec.get("documents") is not None:
            size = spec["documents"] * languages * mean if mean is not None and not own else None
        else:
            total = None if own else _source_bytes(corpus)
            size = total - used if total is not None and used is not None else None
        if name == subset:
            return size
        if not own:
            used = used + size if used is not None and size is not None else None
    return None  # not reached: the subset is one of them


def bytes_per_token(corpus: Block, tokenization: str) -> float | None:
    """UTF-8 bytes per token of a tokenization (a reference as the ``lm`` block writes it).

    The ``scale.bytes_per_token`` value; else 1 for the byte-level tokenizer, and the
    tokenizer's own value for a StochasTok or BPE-dropout variant (an upper bound). None when
    undeclared.
    """
    declared = (corpus.get("scale") or {}).get("bytes_per_token") or {}
    if tokenization in declared:
        return float(declared[tokenization])
    other, _, name = tokenization.rpartition("/")
    if name == BYTE_TOKENIZER:
        return 1.0
    parsed = names.TokenizationName.parse(name)
    if parsed.stochastic:
        base = f"{other}/{parsed.tokenizer}" if other else parsed.tokenizer
        if base in declared:
            return float(declared[base])
    return None


def _train_config(settings: Block) -> TrainConfig:
    """The trainer's config of one job's settings (its defaults filled)."""
    from toklab.training.config import load_train_config

    return load_train_config(overrides=[f"{k}={json.dumps(v)}" for k, v in settings.items()])


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or None when either is unknown (or the denominator 0)."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _planned(plan: Plan, corpus: str, run: tuple[str, str, str]) -> PlannedEpochs:
    """The planned-epochs row of one LM training job."""
    tokenizer_corpus, tokenization, model = run
    job = plan.lm.job(corpus, *run)
    train = _train_config(plan.lm.training_settings(corpus, *run))
    block = plan.config.corpus(corpus)
    reference = tokenization if tokenizer_corpus == corpus else f"{tokenizer_corpus}/{tokenization}"
    size = subset_bytes(block, job.train_subset)
    tokens = _ratio(size, bytes_per_token(block, reference))
    per_step = train.batch_size * train.seq_len
    if train.data == "aligned":
        # each sample starts at its own item of the T-Free export (AlignedSampler)
        max_bytes = block["tokenized"]["exports"]["tfree"]["max_bytes"]
        steps, planned, basis = train.max_steps, float(train.max_steps * per_step), "aligned items"
        epochs = _ratio(train.max_steps * train.batch_size, _ratio(size, max_bytes))
    elif train.max_epochs is not None:
        epochs, basis = float(train.max_epochs), "max_epochs"
        planned = tokens * train.max_epochs if tokens is not None else None
        steps = int(planned // per_step) if planned is not None else None
    else:
        steps, planned, basis = train.max_steps, float(train.max_steps * per_step), "tokens"
        epochs = _ratio(planned, tokens)
    config_block = block["bytelm"] if job.key == "bytelm" else block["lm"]["models"][model]
    return PlannedEpochs(
        corpus=corpus,
        model=model,
        tokenization=reference,
        key=job.key,
        train_subset=job.train_subset,
        batch_size=train.batch_size,
        seq_len=train.seq_len,
        steps=steps,
        planned_tokens=planned,
        subset_bytes=size,
        subset_tokens=tokens,
        epochs=epochs,
        basis=basis,
        repeat_data=config_block.get("repeat_data"),
    )


def planned_epochs(config: dict[str, Any] | Plan) -> list[PlannedEpochs]:
    """One row per LM training job of a validated config (defaults filled), in plan order."""
    plan = config if isinstance(config, Plan) else Plan(config)
    return [
        _planned(plan, corpus, run)
        for corpus in plan.corpora
        for run in plan.lm.trained_runs(corpus)
    ]


def _amount(value: float | None) -> str:
    """A count in words a table can hold: 6.55B, 470M, 12k (— when unknown)."""
    if value is None:
        return "—"
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.3g}"


def _epochs(value: float | None) -> str:
    """Epochs to two significant digits, whole numbers from 100 (1,130 rather than 1.13e+03)."""
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2g}"


def epochs_table(rows: list[PlannedEpochs]) -> str:
    """The rows as a Markdown table (the docs' planned-epochs table)."""
    lines = [
        "| corpus | model | tokenization | train subset | steps x batch x seq_len | "
        "planned tokens | subset bytes | subset tokens | epochs | repeat_data |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        steps = f"{row.steps:,}" if row.steps is not None else "—"
        epochs = _epochs(row.epochs)
        if row.basis != "tokens":
            epochs += f" ({row.basis})"
        lines.append(
            f"| {row.corpus} | {row.model} | {row.tokenization} | {row.train_subset} | "
            f"{steps} x {row.batch_size} x {row.seq_len} | {_amount(row.planned_tokens)} | "
            f"{_amount(row.subset_bytes)} | {_amount(row.subset_tokens)} | {epochs} | "
            f"{row.repeat_data or ''} |"
        )
    return "\n".join(lines)
