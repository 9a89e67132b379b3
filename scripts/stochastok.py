#!/usr/bin/env python
"""StochasTok and its baselines: split tables, expanded arrays, BPE-dropout and characters."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("stochastok")

path_option = click.Path(path_type=Path)


@click.group()
def cli() -> None:
    """Stochastic and character-level tokenizations of token arrays."""
    setup_logging()


def stream_options(command):
    """--p, --seed and --stream: a stochastic tokenization's settings."""
    command = click.option("--p", "p", required=True, type=float, help="Probability in [0, 1].")(
        command
    )
    command = click.option("--seed", default=0, show_default=True, help="Base seed.")(command)
    return click.option(
        "--stream",
        required=True,
        help="Stream name (the subset): seeds are per (seed, stream, doc).",
    )(command)


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--output", required=True, type=path_option, help="The table (.npz).")
@one_line_errors
def splits(tokenizer_path: Path, output: Path) -> None:
    """Every binary split of every token of TOKENIZER into two tokens of its vocabulary."""
    from toklab.tokenizers.stochastok import build_split_table

    table = build_split_table(tokenizer_path)
    table.save(output)
    log.info(
        "%s: %d splits of %d splittable tokens (of %d)",
        output, len(table.left), table.splittable, table.vocab_size,
    )  # fmt: skip


@cli.command()
@click.option("--tokens", "tokens_prefix", required=True, type=path_option)
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--splits", "splits_path", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@stream_options
@one_line_errors
def expand(
    tokens_prefix: Path,
    tokenizer_path: Path,
    splits_path: Path,
    output_prefix: Path,
    p: float,
    seed: int,
    stream: str,
) -> None:
    """StochasTok-expand a token array: int(len * p) split attempts per document."""
    from toklab.datasets.token_variants import expand_token_array

    expand_token_array(
        tokens_prefix, tokenizer_path, splits_path, output_prefix, p=p, seed=seed, stream=stream
    )


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--corpus-prefix", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--batch-documents", default=2048, show_default=True)
@stream_options
@one_line_errors
def dropout(
    tokenizer_path: Path,
    corpus_prefix: Path,
    output_prefix: Path,
    batch_documents: int,
    p: float,
    seed: int,
    stream: str,
) -> None:
    """Encode a byte corpus with seeded BPE-dropout."""
    from toklab.datasets.token_variants import dropout_corpus

    dropout_corpus(
        tokenizer_path,
        corpus_prefix,
        output_prefix,
        p=p,
        seed=seed,
        stream=stream,
        batch_documents=batch_documents,
    )


@cli.command()
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--corpus-prefix", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@click.option("--batch-documents", default=2048, show_default=True)
@one_line_errors
def characters(
    tokenizer_path: Path, corpus_prefix: Path, output_prefix: Path, batch_documents: int
) -> None:
    """Encode every character of a byte corpus on its own."""
    from toklab.datasets.token_variants import character_corpus

    character_corpus(tokenizer_path, corpus_prefix, output_prefix, batch_documents=batch_documents)


def checkpoint_steps(model_dir: Path) -> list[tuple[int, Path]]:
    """``(step, directory)`` of a run's kept checkpoints and of its final model, by step."""
    from toklab.training.checkpoint import RunPaths

    found = RunPaths(model_dir).trained_models()
    if not found:
        raise click.ClickException(f"{model_dir}: no trained model or checkpoints")
    return found


@cli.command("evaluate-addition")
@click.option("--model-dir", required=True, type=path_option, help="A trained LM's directory.")
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option(
    "--split-table", "splits_path", type=path_option,
    help="The tokenizer's StochasTok split table (.npz, from `splits`; default: built here).",
)  # fmt: skip
@click.option(
    "--split", "splits", required=True, multiple=True, type=(str, path_option),
    help="NAME CORPUS_PREFIX: a byte corpus of problems (repeatable).",
)  # fmt: skip
@click.option("--samples", default=100, show_default=True, help="Problems per split.")
@click.option("--max-new-tokens", default=20, show_default=True)
@click.option("--stochastok-p", default=1.0, show_default=True)
@click.option("--dropout-p", default=0.1, show_default=True)
@click.option("--seed", default=0, show_default=True)
@click.option("--output", required=True, type=path_option)
@one_line_errors
def evaluate_addition(
    model_dir: Path,
    tokenizer_path: Path,
    splits_path: Path | None,
    splits: tuple[tuple[str, Path], ...],
    samples: int,
    max_new_tokens: int,
    stochastok_p: float,
    dropout_p: float,
    seed: int,
    output: Path,
) -> None:
    """Addition accuracy of every kept checkpoint of a run, per question tokenization and split.

    The StochasTok questions expand with the split table of --split-table, checked against the
    tokenizer (the workflow passes the one its stochastok_splits rule built); without it, the
    table is built from the tokenizer here (the same table, for direct use).
    """
    from tqdm import tqdm

    from toklab.data.byte_corpus import ByteCorpus
    from toklab.evaluation.addition import QuestionTokenizer, evaluate_checkpoint, sample_problems
    from toklab.io import write_json
    from toklab.models.causal_lm import check_vocabulary, load_model
    from toklab.tokenizers.tokenizer_files import special_token_ids

    questions = QuestionTokenizer(
        tokenizer_path, stochastok_p=stochastok_p, dropout_p=dropout_p, seed=seed,
        splits_path=splits_path,
    )  # fmt: skip
    problems = {}
    for name, prefix in splits:
        corpus = ByteCorpus(prefix)
        texts = [corpus.document_text(i) for i in range(len(corpus))]
        problems[name] = sample_problems(texts, samples, seed)
    eos = special_token_ids(tokenizer_path).get("eos")
    vocab_size = questions.tokenizer.get_vocab_size(with_added_tokens=True)
    rows = []
    for step, directory in tqdm(checkpoint_steps(model_dir), desc="checkpoints"):
        model = load_model(directory).eval()
        check_vocabulary(model, vocab_size, directory)
        for row in evaluate_checkpoint(
            model, questions, problems, questions.methods, max_new_tokens=max_new_tokens,
            eos_id=eos,
        ):  # fmt: skip
            rows.append({"step": step, **row})
            log.info("step %d %s %s: %.3f", step, row["split"], row["evaluation_tokenization"],
                     row["accuracy"])  # fmt: skip
    write_json(output, {"model_dir": str(model_dir), "rows": rows})


@cli.command("evaluate-benchmarks")
@click.option("--model-dir", required=True, type=path_option, help="A trained LM's directory.")
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--benchmark", "names", required=True, multiple=True, help="A benchmark (repeat).")
@click.option(
    "--data-file", "data_files", multiple=True, type=(str, path_option),
    help="NAME FILE: a local file in the benchmark's format instead of the hub (repeat).",
)  # fmt: skip
@click.option("--limit", default=1000, show_default=True, help="Items per benchmark.")
@click.option("--seed", default=0, show_default=True)
@click.option(
    "--backend", default="toklab", show_default=True, type=click.Choice(["toklab", "lm_eval"]),
    help="toklab's scorer, or lm-evaluation-harness on the same items (pip install 'toklab[lmeval]').",
)  # fmt: skip
@click.option(
    "--task-templates", type=path_option, help="lm_eval: the toklab_*.yaml task templates."
)
@click.option("--batch-size", default=8, show_default=True, help="lm_eval: requests per batch.")
@click.option("--output", required=True, type=path_option)
@one_line_errors
def evaluate_benchmarks(
    model_dir: Path,
    tokenizer_path: Path,
    names: tuple[str, ...],
    data_files: tuple[tuple[str, Path], ...],
    limit: int,
    seed: int,
    backend: str,
    task_templates: Path | None,
    batch_size: int,
    output: Path,
) -> None:
    """Multiple-choice accuracy of every kept checkpoint of a run on standard benchmarks."""
    from toklab.errors import ConfigError
    from toklab.io import write_json

    files = dict(data_files)
    checkpoints = checkpoint_steps(model_dir)
    if backend == "lm_eval":
        from toklab.evaluation.lm_harness import evaluate_benchmarks as by_lm_eval

        if task_templates is None:
            raise ConfigError("--backend lm_eval needs --task-templates")
        rows = by_lm_eval(
            checkpoints, names, templates=task_templates, limit=limit, seed=seed,
            data_files=files, batch_size=batch_size,
        )  # fmt: skip
    else:
        rows = toklab_benchmark_rows(checkpoints, tokenizer_path, names, files, limit, seed)
    write_json(output, {"model_dir": str(model_dir), "backend": backend, "rows": rows})


def toklab_benchmark_rows(checkpoints, tokenizer_path, names, files, limit, seed) -> list[dict]:
    """One row per (step, benchmark) of every checkpoint, by toklab's own scorer."""
    from tqdm import tqdm

    from toklab.evaluation.downstream import load_items, score_items
    from toklab.models.causal_lm import check_vocabulary, load_model
    from toklab.tokenizers.tokenizer_files import load_tokenizer, special_token_ids

    tokenizer = load_tokenizer(tokenizer_path)
    items = {
        name: load_items(name, limit=limit, seed=seed, data_files=files.get(name)) for name in names
    }
    eos = special_token_ids(tokenizer_path).get("eos")
    rows = []
    for step, directory in tqdm(checkpoints, desc="checkpoints"):
        model = load_model(directory).eval()
        check_vocabulary(model, tokenizer.get_vocab_size(with_added_tokens=True), directory)
        for name, chosen in items.items():
            result = score_items(model, tokenizer, chosen, eos)
            rows.append({"step": step, "benchmark": name, **result})
            log.info("step %d %s: accuracy %.3f", step, name, result["accuracy"])
    return rows


@cli.command("langgame-questions")
@click.option("--corpus-prefix", type=path_option, help="Byte corpus whose words make the pool.")
@click.option("--word-list", type=path_option, help="Or a file of words, one per line.")
@click.option("--size", default=1000, show_default=True, help="Most frequent words kept.")
@click.option("--train", "train_count", required=True, type=int)
@click.option("--validation", "validation_count", required=True, type=int)
@click.option("--seed", default=0, show_default=True)
@click.option("--train-output", required=True, type=path_option)
@click.option("--validation-output", required=True, type=path_option)
@one_line_errors
def langgame_questions(
    corpus_prefix: Path | None,
    word_list: Path | None,
    size: int,
    train_count: int,
    validation_count: int,
    seed: int,
    train_output: Path,
    validation_output: Path,
) -> None:
    """LangGame questions from a word pool: a corpus's most frequent words, or a word list."""
    from toklab.data.byte_corpus import ByteCorpus
    from toklab.errors import ConfigError
    from toklab.tasks.langgame import generate_questions, read_word_list, word_pool, write_jsonl

    if (corpus_prefix is None) == (word_list is None):
        raise ConfigError("give --corpus-prefix or --word-list (one of them)")
    if word_list is not None:
        words = read_word_list(word_list)[:size]
    else:
        corpus = ByteCorpus(corpus_prefix)
        words = word_pool((corpus.document_text(i) for i in range(len(corpus))), size)
    questions = generate_questions(words, train_count + validation_count, seed)
    write_jsonl(train_output, questions[:train_count])
    write_jsonl(validation_output, questions[train_count:])
    log.info("%d words: %d train and %d validation questions", len(words), train_count,
             validation_count)  # fmt: skip


@cli.command("langgame-examples")
@click.option("--questions", required=True, type=path_option, help="LangGame questions (JSONL).")
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--output-prefix", required=True, type=path_option)
@one_line_errors
def langgame_examples(questions: Path, tokenizer_path: Path, output_prefix: Path) -> None:
    """Fine-tuning examples: prompt, then " answer" and EOS (the loss's part), as token arrays."""
    from toklab.datasets.examples import write_examples
    from toklab.io import sha256_file
    from toklab.tasks.langgame import encode_examples, read_jsonl
    from toklab.tokenizers.tokenizer_files import load_tokenizer, require_special_token

    tokenizer = load_tokenizer(tokenizer_path)
    items = read_jsonl(questions)
    eos = require_special_token(tokenizer_path, "eos")
    tokens, offsets, answers = encode_examples(tokenizer, items, eos)
    meta = {
        "num_bytes": sum(len((q.prompt + " " + q.answer).encode("utf-8")) for q in items),
        "tokenizer_sha256": sha256_file(tokenizer_path),
        "source_sha256": sha256_file(questions),
    }
    write_examples(
        output_prefix, tokens, offsets, answers,
        tokenizer.get_vocab_size(with_added_tokens=True), meta,
    )  # fmt: skip


@cli.command("evaluate-langgame")
@click.option("--pretrained", required=True, type=path_option, help="The LM before fine-tuning.")
@click.option("--finetuned", required=True, type=path_option, help="Its fine-tuning run.")
@click.option("--questions", required=True, type=path_option, help="Validation questions (JSONL).")
@click.option("--tokenizer", "tokenizer_path", required=True, type=path_option)
@click.option("--output", required=True, type=path_option)
@one_line_errors
def evaluate_langgame(
    pretrained: Path, finetuned: Path, questions: Path, tokenizer_path: Path, output: Path
) -> None:
    """LangGame accuracy of the pretrained LM (step 0) and of every kept fine-tuning checkpoint."""
    from tqdm import tqdm

    from toklab.evaluation.multiple_choice import encode_questions, evaluate_choices
    from toklab.io import write_json
    from toklab.models.causal_lm import check_vocabulary, context_limit, load_model
    from toklab.tasks.langgame import read_jsonl
    from toklab.tokenizers.tokenizer_files import load_tokenizer, require_special_token

    tokenizer = load_tokenizer(tokenizer_path)
    items = read_jsonl(questions)
    prompts, options, answers = encode_questions(
        tokenizer, items, require_special_token(tokenizer_path, "eos")
    )
    checkpoints = [(0, pretrained), *((s, d) for s, d in checkpoint_steps(finetuned) if s > 0)]
    rows = []
    for step, directory in tqdm(checkpoints, desc="checkpoints"):
        model = load_model(directory).eval()
        check_vocabulary(model, tokenizer.get_vocab_size(with_added_tokens=True), directory)
        result = evaluate_choices(
            model, prompts, options, answers, context_length=context_limit(model)
        )
        rows.append({"step": step, **result})
        log.info("step %d: accuracy %.3f", step, result["accuracy"])
    write_json(output, {"pretrained": str(pretrained), "finetuned": str(finetuned), "rows": rows})


if __name__ == "__main__":
    cli()
