"""The paper tables as CSV: column definitions, row assembly and deterministic writing.

Each table's columns are declared once here with their meaning and unit; docs/tables.md's table
documentation is generated from the same dictionaries (``column_docs``), so the two agree.
The tables built from ``scripts/tokenizer_stats.py`` results are registered in ``STATS_TABLES``;
the training table is assembled from the training jobs' benchmark files (``training_rows``);
the StochasTok task tables, built from their evaluations' results, in ``TASK_TABLES``.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from toklab.errors import DataError
from toklab.evaluation.lm_harness import result_rows
from toklab.io import atomic_write, read_json
from toklab.tokenizers.tokenizer_files import load_tokenizer

#: results/tables/tokenizer_stats_{corpus}.csv: one row per tokenizer and language.
TOKENIZER_STATS_COLUMNS: dict[str, str] = {
    "tokenizer": "tokenizer name (its directory under results/tokenizers/{corpus}/)",
    "family": "the name without its vocabulary size, e.g. bpe or bytespan-surprisal-monotonic-frequency",
    "vocab_size": "V: tokens in tokenizer.json, special tokens included",
    "language": "language of the evaluation documents; 'all' pools every language",
    "fertility": "tokens per word (word = GPT-2-regex pre-token)",
    "proportion_continued": "share of words split into more than one token",
    "total_split_words": "words split into more than one token",
    "total_words": "words in the evaluation text",
    "total_tokens": "tokens in the evaluation text (ByteSpan's script wrote the byte count here)",
    "total_bytes": "UTF-8 bytes of the evaluation text",
    "bytes_per_token": "total_bytes / total_tokens",
    "unique_tokens": "distinct token ids in the tokenized text",
    "vocab_utilisation": "unique_tokens / vocab_size",
    "duplicate_tokens": "share of the vocabulary's ordinary tokens (special tokens excluded) whose surface, one leading space stripped and lowercased, another token shares (T-Free Tab. 1; the same on every row of a tokenizer)",
    "duplicate_tokens_count": "those duplicate tokens",
    "duplicate_tokens_redundant": "share of the ordinary tokens that keeping one token per shared surface would remove (duplicates minus their distinct surfaces)",
    "renyi_efficiency_vocab": "Rényi entropy (alpha 2.5) of token frequencies / log(vocab_size)",
    "renyi_efficiency_observed": "the same entropy / log(unique_tokens), as ByteSpan reported it",
    "num_unk": "words that contain the unk token",
    "reversibility": "share of evaluation documents with decode(encode(doc)) == doc",
    "morph_score": "MorphScore: share of multi-token gold words cut at the gold boundary (empty: no gold data)",
    "morph_scored_words": "gold words that were scored (more than one token)",
}

#: results/tables/compression_{corpus}.csv: one row per tokenizer (own or another corpus's).
COMPRESSION_COLUMNS: dict[str, str] = {
    "tokenizer": "tokenizer name",
    "tokenizer_corpus": "the corpus the tokenizer was trained on",
    "vocab_size": "V, special tokens included",
    "corpus": "the corpus whose evaluation subset was tokenized",
    "subset": "that subset",
    "language": "language of the documents; 'all' pools every language",
    "documents": "documents tokenized",
    "total_bytes": "UTF-8 bytes",
    "total_tokens": "tokens",
    "bytes_per_token": "compression ratio, total_bytes / total_tokens (CS336)",
}

#: results/tables/bpe_training_{corpus}.csv: one row per trained tokenizer.
TRAINING_COLUMNS: dict[str, str] = {
    "tokenizer": "tokenizer name",
    "family": "bpe (toklab, exact CS336 semantics), hfbpe (tokenizers' BpeTrainer), unigram "
    "(tokenizers' UnigramTrainer) or a ByteSpan family",
    "vocab_size": "V, special tokens included",
    "training_bytes": "UTF-8 bytes of the training subset",
    "wall_s": "wall-clock seconds of the training job (Snakemake benchmark)",
    "cpu_s": "CPU seconds of the job",
    "max_rss_mb": "peak resident memory of the job, MB",
    "mb_per_s": "training_bytes / wall_s, in MB (1e6 bytes) per second",
}

#: results/tables/lm_{corpus}.csv: one row per (tokenizer, model) trained on the corpus.
LM_COLUMNS: dict[str, str] = {
    "tokenizer": "tokenizer name",
    "tokenizer_corpus": "the corpus the tokenizer was trained on",
    "family": "the tokenizer's family (its name without the vocabulary size)",
    "vocab_size": "V, special tokens included",
    "model": "model name of the lm block (a size preset and a training recipe)",
    "bits_per_byte": "NLL of every validation token in bits / UTF-8 bytes of the documents; every document scored in full from EOS with sliding windows (the comparison across tokenizers); empty for T-Free, whose head gives no distribution over texts",
    "val_loss": "the same NLL in nats per token (not comparable across tokenizers); T-Free: its scaled multi-label loss per word",
    "tokens_per_byte": "validation tokens (T-Free: words) / UTF-8 bytes",
    "parameters": "all parameters",
    "embedding_parameters": "input embedding and output head (counted once when tied)",
    "non_embedding_parameters": "parameters - embedding_parameters",
    "train_steps": "optimizer steps",
    "train_tokens_seen": "training tokens seen (steps x batch x sequence length)",
    "train_bytes_seen": "the UTF-8 bytes those tokens stand for, at the training stream's bytes per token",
    "train_loss": "last logged training loss, nats per token (T-Free: its scaled BCE per word)",
    "wall_s": "wall-clock seconds of the training job (Snakemake benchmark)",
    "tokens_per_s": "train_tokens_seen / wall_s",
    "next_word_accuracy": "share of the validation text's letter words (with lm.evaluation.next_word.frequent_words N: of those among its N most frequent) the model names exactly (greedy) from the words before them: comparable across every model, T-Free's included",
    "next_word_stderr": "its binomial standard error, sqrt(a (1 - a) / items)",
    "next_word_items": "words scored for next_word_accuracy (the same for every row)",
    "next_word_oov": "T-Free: share of those words in neither its dictionary nor their context (no guess can be right); empty for token models",
    "next_word_choice_accuracy": "share of the same words the model ranks first among next_word_choices candidates as the next word (the word and distractors drawn by frequency from the same text; a tie at the top earns 1 / tied): token models by the candidate's log-probability followed by a word boundary, T-Free by its decoding score",
    "next_word_choice_stderr": "its binomial standard error",
    "next_word_choices": "candidates per word, the right one among them (0: the choice measure is off)",
    "next_word_choice_control": "the same model on the same candidates, each after another item's context: what it scores without the right context (exactly next_word_choice_accuracy for a model that ignores its context)",
    "objective": "cross_entropy (next token, nats) or multi_label (T-Free's scaled BCE): the unit of val_loss and train_loss",
    "context": "window length of the bits-per-byte evaluation",
    "stride": "stride of its sliding windows",
    "reference_bits_per_byte": "the published bits per byte this run reproduces (lm.reference of the config; empty when none)",
    "bits_per_byte_vs_reference": "bits_per_byte - reference_bits_per_byte",
}

_NAME = re.compile(r"^(?P<family>.+)-(?P<vocab>[0-9]+)$")


def family_of(tokenizer: str) -> str:
    """``bpe-32000`` -> ``bpe``; a name without a size suffix is its own family.

    A variant tokenization keeps its suffix: ``bpe-32000-stochastok0.1`` -> ``bpe-stochastok0.1``.
    """
    from toklab.names import TokenizationName, is_tfree

    if is_tfree(tokenizer.rsplit("/", 1)[-1]):
        return "tfree"
    parsed = TokenizationName.parse(tokenizer.rsplit("/", 1)[-1])
    match = _NAME.match(parsed.tokenizer)
    family = match["family"] if match else parsed.tokenizer
    suffix = parsed.format().removeprefix(parsed.tokenizer)
    return family + suffix


def _cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return value


def write_csv(path: str | Path, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` (only ``columns``, in order) atomically; floats with 6 significant digits."""
    rows = list(rows)
    for row in rows:
        missing = [c for c in columns if c not in row]
        if missing:
            raise DataError(f"{path}: row {dict(row)} lacks columns {missing}")
    with atomic_write(path, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[c]) for c in columns])
    return len(rows)


def tokenizer_stats_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the tokenizer-statistics table from ``scripts/tokenizer_stats.py`` results."""
    rows = []
    for result in results:
        for row in result["rows"]:
            rows.append(
                {
                    **row,
                    "tokenizer": result["tokenizer"],
                    "family": family_of(result["tokenizer"]),
                    "vocab_size": result["vocab_size"],
                }
            )
    return rows


def compression_rows(results: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the compression table: every tokenizer and language, own corpus or foreign."""
    return [
        {
            **row,
            "tokenizer": result["tokenizer"],
            "tokenizer_corpus": result["tokenizer_corpus"],
            "vocab_size": result["vocab_size"],
            "corpus": result["corpus"],
            "subset": result["subset"],
        }
        for result in results
        for row in result["rows"]
    ]


#: Builds a table's rows from tokenizer-statistics results.
RowBuilder = Callable[[Iterable[Mapping[str, Any]]], list[dict[str, Any]]]

#: The tables of tokenizer-statistics results, by name: their columns and row builder.
STATS_TABLES: dict[str, tuple[dict[str, str], RowBuilder]] = {
    "tokenizer_stats": (TOKENIZER_STATS_COLUMNS, tokenizer_stats_rows),
    "compression": (COMPRESSION_COLUMNS, compression_rows),
}


def read_stats_results(paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """The JSON results of ``scripts/tokenizer_stats.py``, in the order given."""
    return [read_json(path) for path in paths]


def write_stats_table(table: str, results: Iterable[Mapping[str, Any]], path: str | Path) -> int:
    """Write the table named ``table`` (a key of ``STATS_TABLES``) atomically; its row count."""
    columns, rows = STATS_TABLES[table]
    return write_csv(path, list(columns), rows(results))


def read_benchmark(path: str | Path) -> dict[str, float]:
    """The single measurement of a Snakemake ``benchmark:`` TSV (s, max_rss, cpu_time, ...)."""
    path = Path(path)
    with path.open(newline="") as f:
        records = list(csv.DictReader(f, delimiter="\t"))
    if len(records) != 1:
        raise DataError(f"{path}: expected one benchmark record, found {len(records)}")
    record = records[0]

    def number(key: str) -> float:
        value = record.get(key, "NA")
        return float("nan") if value in ("", "NA", "-") else float(value)

    return {"s": number("s"), "max_rss": number("max_rss"), "cpu_time": number("cpu_time")}


def training_row(tokenizer: str, vocab_size: int, training_bytes: int, benchmark: Mapping) -> dict:
    """One row of the training table from a job's benchmark measurement."""
    wall = benchmark["s"]
    return {
        "tokenizer": tokenizer,
        "family": family_of(tokenizer),
        "vocab_size": vocab_size,
        "training_bytes": training_bytes,
        "wall_s": wall,
        "cpu_s": benchmark["cpu_time"],
        "max_rss_mb": benchmark["max_rss"],
        "mb_per_s": training_bytes / 1e6 / wall if wall > 0 else math.nan,
    }


def training_rows(
    entries: Iterable[tuple[str, str, str | Path, str | Path]], manifest: str | Path
) -> list[dict[str, Any]]:
    """Rows of the training table, one per ``(name, subset, tokenizer.json, benchmark TSV)``.

    ``subset`` is the subset of the corpus ``manifest`` that the tokenizer was trained on.
    """
    subsets = read_json(manifest)["subsets"]
    rows = []
    for name, subset, tokenizer, benchmark in entries:
        if subset not in subsets:
            raise DataError(f"{manifest}: no subset '{subset}' (tokenizer {name})")
        vocab_size = load_tokenizer(tokenizer).get_vocab_size(with_added_tokens=True)
        training_bytes = int(subsets[subset]["bytes"])
        rows.append(training_row(name, vocab_size, training_bytes, read_benchmark(benchmark)))
    return rows


def lm_rows(
    entries: Iterable[tuple[str | Path, str | Path]], reference: float | None = None
) -> list[dict[str, Any]]:
    """Rows of the LM table, one per ``(evaluate_lm.py result JSON, training benchmark TSV)``.

    ``reference``: a published bits per byte every row is compared with (e.g. the ByteSpan
    authors' mean of about 0.82 at 64k); NaN (an empty cell) when there is none.
    """
    reference = math.nan if reference is None else float(reference)
    rows = []
    for result_path, benchmark in entries:
        result = read_json(result_path)
        wall = read_benchmark(benchmark)["s"]
        rows.append(
            {
                **result,
                "family": family_of(result["tokenizer"]),
                "wall_s": wall,
                "tokens_per_s": result["train_tokens_seen"] / wall if wall else math.nan,
                "reference_bits_per_byte": reference,
                "bits_per_byte_vs_reference": result["bits_per_byte"] - reference,
                # evaluations without next-word accuracy (items: 0) leave the cells empty
                "next_word_accuracy": result.get("next_word_accuracy", math.nan),
                "next_word_stderr": result.get("next_word_stderr", math.nan),
                "next_word_items": result.get("next_word_items", 0),
                "next_word_oov": result.get("next_word_oov", math.nan),
                "next_word_choice_accuracy": result.get("next_word_choice_accuracy", math.nan),
                "next_word_choice_stderr": result.get("next_word_choice_stderr", math.nan),
                "next_word_choices": result.get("next_word_choices", 0),
                "next_word_choice_control": result.get("next_word_choice_control", math.nan),
                "objective": result.get("objective", "cross_entropy"),
            }
        )
    return rows


#: The multi-digit addition table (StochasTok's Fig. 8), one row per (run, step, question
#: tokenization, split).
ADDITION_COLUMNS: dict[str, str] = {
    "tokenizer_corpus": "the corpus of the LM's tokenizer",
    "training_tokenization": "what the LM was trained on: the tokenizer's ids or a variant (-stochastok{p}, -chars, ...)",
    "model": "the LM (a model of the corpus's lm block)",
    "step": "training step of the checkpoint (the last is the final model)",
    "evaluation_tokenization": "how the questions were tokenized: deterministic, stochastok, bpedropout or chars",
    "split": "the subset the problems were drawn from",
    "samples": "problems evaluated",
    "accuracy": "share whose answer (the sum's digits reversed) is in the greedily generated text",
    "prompt_credit": "share whose answer already appears in the question: what searching the prompt too (the original's evaluation) would have added",
}


#: The LangGame table (StochasTok's Fig. 1), one row per (fine-tuned LM, step).
LANGGAME_COLUMNS: dict[str, str] = {
    "tokenizer_corpus": "the corpus of the LM's tokenizer",
    "pretraining_tokenization": "what the LM was pretrained on: the tokenizer's ids or a variant (-stochastok{p}, ...)",
    "model": "the LM (a model of the corpus's lm block)",
    "step": "fine-tuning step (0: the pretrained LM before fine-tuning)",
    "questions": "validation questions",
    "accuracy": "share answered right (the option of highest log-likelihood)",
    "normalized_accuracy": "(4 * accuracy - 1) / 3: 0 at chance, 1 when all are right",
}


#: The standard-benchmark table (StochasTok's Fig. 3), one row per (LM, step, benchmark).
BENCHMARK_COLUMNS: dict[str, str] = {
    "tokenizer_corpus": "the corpus of the LM's tokenizer",
    "training_tokenization": "what the LM was trained on: the tokenizer's ids or a variant",
    "model": "the LM (a model of the corpus's lm block)",
    "step": "training step of the checkpoint (the last is the final model)",
    "benchmark": "hellaswag, arc_easy, arc_challenge, winogrande, mmlu or blimp",
    "questions": "items evaluated (a seeded sample)",
    "accuracy": "share where the right option has the highest log-likelihood",
    "normalized_accuracy": "mean over items of (k * right - 1) / (k - 1), k its options: 0 at chance",
}


#: The lm-evaluation-harness table, one row per (LM, task, metric) of a corpus's lm_eval block.
LM_HARNESS_COLUMNS: dict[str, str] = {
    "tokenizer_corpus": "the corpus of the LM's tokenizer",
    "tokenization": "what the LM was trained on: the tokenizer's ids or a variant",
    "model": "the LM (a model of the corpus's lm block)",
    "task": "the lm-eval task or group (toklab_{benchmark}: toklab's benchmarks in toklab's formats)",
    "metric": "lm-eval's metric: acc, acc_norm, exact_match, ...",
    "filter": "lm-eval's answer filter (none unless the task post-processes answers)",
    "value": "the metric's value",
    "stderr": "lm-eval's standard error of the value (empty where it gives none)",
    "n": "documents evaluated (after lm_eval.limit; 0 for a group, which aggregates its tasks)",
    "num_fewshot": "few-shot examples in each prompt (empty for a group)",
}


def lm_harness_rows(entries: Iterable[tuple[str, str, str, str | Path]]) -> list[dict[str, Any]]:
    """Rows of the harness table from ``(tokenizer corpus, tokenization, model, results JSON)``."""
    return [
        {"tokenizer_corpus": tokenizer_corpus, "tokenization": tokenization, "model": model, **row}
        for tokenizer_corpus, tokenization, model, results in entries
        for row in result_rows(read_json(results))
    ]


def task_rows(
    entries: Iterable[tuple[str, str, str, str | Path]], tokenization_column: str
) -> list[dict[str, Any]]:
    """Rows of a task table from ``(tokenizer corpus, tokenization, model, result JSON)``."""
    return [
        {
            "tokenizer_corpus": tokenizer_corpus,
            tokenization_column: tokenization,
            "model": model,
            **row,
        }
        for tokenizer_corpus, tokenization, model, result in entries
        for row in read_json(result)["rows"]
    ]


class TaskTable(NamedTuple):
    """A StochasTok task table: what its ``scripts/tables.py`` command differs in."""

    columns: dict[str, str]
    #: The column that holds an entry's tokenization (what the LM was trained on).
    tokenization_column: str
    #: The command's help: what the table holds.
    summary: str
    #: The ``--entry`` option's help: whose results one entry is.
    entry_help: str


#: The task tables, by their ``scripts/tables.py`` command: each entry is ``(tokenizer corpus,
#: tokenization, model, result JSON)`` and each row of a result JSON one row of the table.
TASK_TABLES: dict[str, TaskTable] = {
    "stochastok-addition": TaskTable(
        ADDITION_COLUMNS,
        "training_tokenization",
        "Multi-digit addition accuracy per LM, checkpoint, question tokenization and split.",
        "One LM's addition results (repeat).",
    ),
    "stochastok-langgame": TaskTable(
        LANGGAME_COLUMNS,
        "pretraining_tokenization",
        "LangGame accuracy per pretraining tokenization and fine-tuning step.",
        "One fine-tuned LM's LangGame results (repeat).",
    ),
    "stochastok-benchmarks": TaskTable(
        BENCHMARK_COLUMNS,
        "training_tokenization",
        "Standard multiple-choice benchmarks per LM, checkpoint and benchmark.",
        "One LM's benchmark results (repeat).",
    ),
}


def write_task_table(
    table: str, entries: Iterable[tuple[str, str, str, str | Path]], path: str | Path
) -> int:
    """Write the task table named ``table`` (a key of ``TASK_TABLES``) atomically; its rows."""
    spec = TASK_TABLES[table]
    return write_csv(path, list(spec.columns), task_rows(entries, spec.tokenization_column))


def column_docs(columns: Mapping[str, str]) -> str:
    """A Markdown table documenting ``columns`` (used for docs/tables.md)."""
    lines = ["| column | meaning |", "|---|---|"]
    lines += [f"| `{name}` | {meaning} |" for name, meaning in columns.items()]
    return "\n".join(lines)
