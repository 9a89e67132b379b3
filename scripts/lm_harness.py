#!/usr/bin/env python
"""Evaluate a trained LM on lm-evaluation-harness tasks by name; write lm-eval's results JSON.

The LM directory (config.json, model.safetensors and its tokenizer's files) is loaded by
transformers; --task-templates adds toklab's own benchmark tasks (toklab_arc_easy, ...) to
lm-eval's. A task lm-eval does not know, or a checkpoint it cannot load (T-Free), fails in one
line before anything runs; the output appears only once every task has run. Needs the lmeval
extra: pip install 'toklab[lmeval]'.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from toklab.cli import one_line_errors, setup_logging

log = logging.getLogger("lm_harness")
path_option = click.Path(path_type=Path)


@click.command()
@click.option("--model-dir", required=True, type=path_option, help="A trained LM's directory.")
@click.option("--task", "tasks", required=True, multiple=True, help="An lm-eval task (repeat).")
@click.option(
    "--task-templates", type=path_option, help="A directory of toklab_*.yaml task templates."
)
@click.option("--limit", type=click.IntRange(min=1), help="Documents per task (default: all).")
@click.option("--num-fewshot", type=click.IntRange(min=0), help="Default: each task's own.")
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(min=1))
@click.option("--device", help="cpu, cuda, cuda:1 ... (default: cuda when there is one).")
@click.option("--seed", default=0, show_default=True, help="Python, numpy, torch, few-shot.")
@click.option("--output", required=True, type=path_option, help="lm-eval's results (JSON).")
@one_line_errors
def main(
    model_dir: Path,
    tasks: tuple[str, ...],
    task_templates: Path | None,
    limit: int | None,
    num_fewshot: int | None,
    batch_size: int,
    device: str | None,
    seed: int,
    output: Path,
) -> None:
    """MODEL_DIR on lm-eval tasks (--task, repeated): lm-eval's results as JSON."""
    setup_logging()
    from toklab.evaluation.lm_harness import evaluate, result_rows, write_results

    results = evaluate(
        model_dir,
        tasks,
        templates=task_templates,
        limit=limit,
        num_fewshot=num_fewshot,
        batch_size=batch_size,
        device=device,
        seed=seed,
    )
    for row in result_rows(results):
        log.info("%s %s (%s): %.4f", row["task"], row["metric"], row["filter"], row["value"])
    write_results(output, results)


if __name__ == "__main__":
    main()
