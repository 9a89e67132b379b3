"""EleutherAI's lm-evaluation-harness as an evaluation backend for toklab's LMs.

Any lm-eval task, by name, on a toklab LM directory (``config.json``, ``model.safetensors`` and
the tokenizer's files, which ``transformers`` loads): :func:`evaluate` runs
``lm_eval.simple_evaluate`` with a fixed seed and returns lm-eval's results, which
:func:`write_results` writes (without the volatile fields: times, host, environment) and
:func:`result_rows` turns into one row per task and metric.

toklab's six benchmarks are lm-eval tasks too: ``resources/lm_eval_tasks/toklab_{name}.yaml``
read a local file with ``dataset_path: json`` and format each row as
:mod:`toklab.evaluation.downstream` does (their ``process_docs`` are the ``*_docs`` functions
below, so the formats live in one place). :func:`write_task_files` writes, into a temporary
``include_path``, one task file per template that includes it and names its data file by an
absolute path (the template's own file, relative to the template, or another one, such as
:func:`toklab.evaluation.downstream.load_rows`' seeded sample), so the tasks run from any
working directory. On the same items the two backends pick the same options; the
log-likelihoods differ only by the two implementations' float error (lm-eval encodes context
and continuation together and keeps the continuation's tokens, toklab encodes them apart: the
same tokens wherever pre-tokenization splits at the option's leading space, as byte-level
BPE's does). :func:`benchmark_rows` gives the StochasTok benchmark table's accuracies from
lm-eval's per-item samples.

lm-eval is an optional extra (``pip install 'toklab[lmeval]'``), imported only when a function
here needs it. A task name lm-eval does not know is refused before any model is loaded, and a
checkpoint lm-eval cannot load (a T-Free model, whose multi-label head has no likelihood of a
text: toklab's own scorers evaluate it) with a one-line error.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from toklab.errors import ConfigError, DataError
from toklab.io import write_json

log = logging.getLogger(__name__)

#: What installs lm-eval with the parts toklab uses (its HF model class).
INSTALL = "pip install 'toklab[lmeval]'"
#: toklab's benchmark tasks are named ``toklab_{benchmark}`` (their templates' file stems).
TASK_PREFIX = "toklab_"
#: The settings every template includes, beside them (not a task: no ``.yaml`` suffix).
SHARED_TEMPLATE = "_template_yaml"
#: The result fields that change from run to run of the same evaluation (times, host, software
#: environment, git state): left out of the written results.
VOLATILE_FIELDS = (
    "date",
    "start_time",
    "end_time",
    "total_evaluation_time_seconds",
    "pretty_env_info",
    "git_hash",
    "upper_git_hash",
)
#: Stands for the temporary directory of the generated task files in the written results.
TASKS_PLACEHOLDER = "<toklab lm-eval tasks>"


def require_lm_eval() -> ModuleType:
    """The ``lm_eval`` package with its HF model class, or a one-line error saying how to get it."""
    try:
        import lm_eval
        import lm_eval.models.huggingface  # needs accelerate: lm-eval's hf extra
    except ImportError as err:
        raise ConfigError(
            f"the lm_eval backend needs lm-evaluation-harness with its HF models ({err}); "
            f"install it with {INSTALL}"
        ) from None
    return lm_eval


def task_name(benchmark: str) -> str:
    """The lm-eval task of one of toklab's benchmarks (``arc_easy`` → ``toklab_arc_easy``)."""
    return f"{TASK_PREFIX}{benchmark}"


# ---------------------------------------------------------------------------------------------
# toklab's benchmarks as lm-eval tasks: each row as toklab.evaluation.downstream formats it


def _documents(dataset: Any, benchmark: str) -> Any:
    """``dataset`` with toklab's item of each row, in the fields the task templates read.

    ``toklab_context``, ``toklab_options`` (each with its leading space) and ``toklab_answer``
    for a context shared by the options; ``toklab_contexts`` (one per option) and
    ``toklab_continuation`` (the options' one text) for partial scoring (WinoGrande).
    """
    from toklab.evaluation.downstream import BENCHMARKS

    convert = BENCHMARKS[benchmark].convert

    def fields(row: Mapping[str, Any]) -> dict[str, Any]:
        item = convert(row)
        return {
            "toklab_context": item.prefix,
            "toklab_options": list(item.options),
            "toklab_answer": item.answer,
            "toklab_contexts": list(item.contexts()),
            "toklab_continuation": item.options[0],
        }

    return dataset.map(fields, load_from_cache_file=False, desc=f"toklab {benchmark}")


def hellaswag_docs(dataset: Any) -> Any:
    """``process_docs`` of ``toklab_hellaswag``."""
    return _documents(dataset, "hellaswag")


def arc_docs(dataset: Any) -> Any:
    """``process_docs`` of ``toklab_arc_easy`` and ``toklab_arc_challenge``."""
    return _documents(dataset, "arc_easy")


def winogrande_docs(dataset: Any) -> Any:
    """``process_docs`` of ``toklab_winogrande``."""
    return _documents(dataset, "winogrande")


def mmlu_docs(dataset: Any) -> Any:
    """``process_docs`` of ``toklab_mmlu``."""
    return _documents(dataset, "mmlu")


def blimp_docs(dataset: Any) -> Any:
    """``process_docs`` of ``toklab_blimp``."""
    return _documents(dataset, "blimp")


class _TemplateLoader(yaml.SafeLoader):
    """Reads a task template's plain keys; ``!function`` references stay strings."""


_TemplateLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def _template_data_file(template: Path) -> Path:
    try:
        config = yaml.load(template.read_text(encoding="utf-8"), Loader=_TemplateLoader)
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"{template}: not a readable task file ({_first_line(err)})") from None
    files = ((config or {}).get("dataset_kwargs") or {}).get("data_files")
    if not isinstance(files, str):
        raise DataError(f"{template}: dataset_kwargs.data_files must name one file")
    return (template.parent / files).resolve()


def write_task_files(
    templates: str | Path,
    directory: str | Path,
    data_files: Mapping[str, str | Path] | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, Path]:
    """One lm-eval task file in ``directory`` per ``toklab_*.yaml`` template; their data files.

    Each includes its template by absolute path and sets ``dataset_kwargs.data_files`` to an
    absolute path: ``data_files[benchmark]`` where given, else the template's own file (relative
    to the template). ``directory`` is then an ``include_path`` of lm-eval's TaskManager that
    works from any working directory. ``cache_dir`` is where ``datasets`` caches what it reads
    (default: its own cache). Returns ``{task name: data file}``.
    """
    templates, directory = Path(templates).resolve(), Path(directory)
    found = sorted(templates.glob(f"{TASK_PREFIX}*.yaml"))
    if not found:
        raise DataError(f"{templates}: no {TASK_PREFIX}*.yaml task templates")
    given = {name: Path(path).resolve() for name, path in (data_files or {}).items()}
    unknown = sorted(set(given) - {t.stem.removeprefix(TASK_PREFIX) for t in found})
    if unknown:
        raise ConfigError(f"{templates}: no task template for benchmark(s) {', '.join(unknown)}")
    tasks = {}
    for template in found:
        benchmark = template.stem.removeprefix(TASK_PREFIX)
        data = given.get(benchmark) or _template_data_file(template)
        kwargs = {"data_files": str(data)}
        if cache_dir is not None:
            kwargs["cache_dir"] = str(Path(cache_dir).resolve())
        task = {"include": str(template), "dataset_kwargs": kwargs}
        (directory / template.name).write_text(json.dumps(task, indent=2), encoding="utf-8")
        tasks[template.stem] = data
    return tasks


def check_task_names(known: Sequence[str], tasks: Sequence[str]) -> None:
    """A one-line error naming every task lm-eval does not know (and close matches)."""
    if not tasks:
        raise ConfigError("no lm-eval tasks to run")
    names = set(known)
    unknown = [task for task in tasks if task not in names]
    if unknown:
        hints = sorted({m for t in unknown for m in difflib.get_close_matches(t, names, n=3)})
        hint = f" (close: {', '.join(hints)})" if hints else ""
        raise ConfigError(f"unknown lm-eval task(s) {', '.join(unknown)}{hint}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0]}" if text else type(err).__name__


# ---------------------------------------------------------------------------------------------
# The model


def check_checkpoint(model_dir: str | Path) -> Path:
    """``model_dir`` if it holds an LM that lm-eval can load, else a one-line error.

    It needs ``config.json``, ``model.safetensors`` and ``tokenizer.json`` (a trained toklab
    LM's directory and each kept checkpoint has them) and token likelihoods: a T-Free model is
    refused.
    """
    from toklab.models.causal_lm import is_tfree_checkpoint

    directory = Path(model_dir)
    if not (directory / "config.json").is_file():
        raise DataError(f"{directory / 'config.json'}: checkpoint file not found")
    if is_tfree_checkpoint(directory):
        raise DataError(
            f"{directory}: a T-Free checkpoint (multi-label head over trigram hashes) gives no "
            "likelihood of a text for lm-eval to rank options by; toklab's own scorers evaluate it"
        )
    for name in ("model.safetensors", "tokenizer.json"):
        if not (directory / name).is_file():
            raise DataError(f"{directory / name}: not found (lm-eval loads the whole LM directory)")
    return directory


def load_hflm(
    model_dir: str | Path,
    *,
    device: str = "cpu",
    batch_size: int = 8,
    max_length: int | None = None,
) -> Any:
    """lm-eval's ``HFLM`` of a toklab LM directory, in float32 on ``device``.

    The model loads with ``transformers.AutoModelForCausalLM`` (every weight of the checkpoint
    and no other: a mismatch is an error, not randomly initialised weights) and the tokenizer
    with ``AutoTokenizer``, both from ``model_dir``. An empty context is scored after the
    tokenizer's EOS, as toklab's scorer does (lm-eval's ``prefix_token_id``; its default, the
    BOS, differs for tokenizers with their own ``<bos>``). ``max_length`` defaults to the
    model's ``max_position_embeddings`` (2048 without one, e.g. Mamba).
    """
    require_lm_eval()
    from lm_eval.models.huggingface import HFLM

    from toklab.tokenizers.tokenizer_files import special_token_ids

    directory = check_checkpoint(model_dir)
    eos = special_token_ids(directory / "tokenizer.json").get("eos")
    try:
        model, tokenizer = _transformers_model(directory, device)
        return HFLM(
            pretrained=model,
            tokenizer=tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            prefix_token_id=eos,
        )
    except DataError:
        raise
    except Exception as err:
        raise DataError(
            f"{directory}: lm-eval cannot load this checkpoint ({_first_line(err)})"
        ) from None


def _transformers_model(directory: Path, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, info = AutoModelForCausalLM.from_pretrained(
        directory, use_safetensors=True, output_loading_info=True, dtype=torch.float32
    )
    problems = {kind: keys for kind, keys in info.items() if keys}
    if problems:
        raise DataError(f"{directory}: checkpoint does not match its config.json ({problems})")
    tokenizer = AutoTokenizer.from_pretrained(directory)
    return model.float().to(device).eval(), tokenizer


# ---------------------------------------------------------------------------------------------
# Running lm-eval


def evaluate(
    model_dir: str | Path,
    tasks: Sequence[str],
    *,
    templates: str | Path | None = None,
    data_files: Mapping[str, str | Path] | None = None,
    include_defaults: bool | None = None,
    limit: int | None = None,
    num_fewshot: int | None = None,
    batch_size: int = 8,
    device: str | None = None,
    seed: int = 0,
    log_samples: bool = False,
    cache_dir: str | Path | None = None,
) -> dict[str, Any]:
    """lm-eval's results of ``tasks`` on the LM in ``model_dir`` (``simple_evaluate``), as JSON data.

    ``templates`` is a directory of ``toklab_*.yaml`` task templates
    (``resources/lm_eval_tasks``), whose tasks join lm-eval's own under their names;
    ``data_files`` replaces their data files by benchmark. lm-eval's own tasks are indexed
    (``include_defaults``; by default only when a task is not a template's: indexing them takes
    seconds). ``limit`` caps the documents per task (lm-eval's first ones), ``num_fewshot``
    overrides the tasks' own (tasks fixed at zero keep it), ``seed`` seeds Python, numpy, torch
    and the few-shot sampler. ``device`` defaults to CUDA when there is one. The checkpoint and
    the task names are checked before the model is loaded. With ``log_samples``, ``samples``
    holds every document's requests and log-likelihoods. ``cache_dir`` is where ``datasets``
    caches toklab's tasks' files. Volatile fields (times, host, git and environment) are left
    out and the temporary task directory is named :data:`TASKS_PLACEHOLDER`.
    """
    lm_eval = require_lm_eval()
    from lm_eval.tasks import TaskManager

    check_checkpoint(model_dir)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive number of documents, got {limit!r}")
    if templates is None and data_files:
        raise ConfigError("data_files replace the files of task templates; give templates too")
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory(prefix="toklab-lm-eval-") as tmp:
        own = {}
        if templates is not None:
            own = write_task_files(templates, tmp, data_files, cache_dir)
        if include_defaults is None:
            include_defaults = not set(tasks) <= set(own)
        manager = TaskManager(include_path=tmp if own else None, include_defaults=include_defaults)
        check_task_names(manager.all_tasks, tasks)
        for task in tasks:
            if task in own and not own[task].is_file():
                raise DataError(f"lm-eval task {task}: data file {own[task]} not found")
        lm = load_hflm(model_dir, device=device, batch_size=batch_size)
        try:
            results = lm_eval.simple_evaluate(
                model=lm,
                tasks=list(tasks),
                task_manager=manager,
                num_fewshot=num_fewshot,
                batch_size=batch_size,
                device=device,
                limit=limit,
                log_samples=log_samples,
                random_seed=seed,
                numpy_random_seed=seed,
                torch_random_seed=seed,
                fewshot_random_seed=seed,
            )
        except (ConfigError, DataError):
            raise
        except Exception as err:  # a dataset lm-eval cannot fetch or read, a failing task
            raise DataError(
                f"{model_dir}: lm-eval failed on {', '.join(tasks)} ({_first_line(err)})"
            ) from None
        if results is None:
            raise DataError(f"{model_dir}: lm-eval returned no results (not its rank 0)")
        kept = {key: value for key, value in results.items() if key not in VOLATILE_FIELDS}
        return _json_data(
            kept, {str(Path(tmp).resolve()): TASKS_PLACEHOLDER, tmp: TASKS_PLACEHOLDER}
        )


def _json_data(value: Any, replace: Mapping[str, str]) -> Any:
    """``value`` as plain JSON data, each key of ``replace`` replaced in its strings."""
    text = json.dumps(value, default=_plain, ensure_ascii=False)
    for old, new in replace.items():
        text = text.replace(json.dumps(old, ensure_ascii=False)[1:-1], new)
    return json.loads(text)


def _plain(value: Any) -> Any:
    """What lm-eval leaves in its results besides JSON data: numpy scalars, sets, objects."""
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def write_results(path: str | Path, results: Mapping[str, Any]) -> None:
    """lm-eval's results as key-sorted JSON, atomically, without the per-document samples."""
    write_json(path, {key: value for key, value in results.items() if key != "samples"})


# ---------------------------------------------------------------------------------------------
# Rows of the tables


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan  # lm-eval writes "N/A" where a metric has no standard error


def result_rows(results: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per task (or group) and metric of lm-eval's results, in their order.

    ``task``, ``metric`` (``acc``, ``acc_norm``, ...), ``filter`` (lm-eval's filter: ``none``
    unless the task post-processes answers), ``value``, ``stderr`` (NaN where lm-eval gives
    none), ``n`` (documents evaluated; 0 for a group, which aggregates its tasks) and
    ``num_fewshot`` (empty for a group).
    """
    rows = []
    for task, metrics in (results.get("results") or {}).items():
        samples = (results.get("n-samples") or {}).get(task) or {}
        for key, value in metrics.items():
            metric, _, chosen = key.partition(",")
            if not chosen or metric.endswith("_stderr"):
                continue  # alias, name, sample_len ...; standard errors go with their metric
            rows.append(
                {
                    "task": task,
                    "metric": metric,
                    "filter": chosen,
                    "value": _number(value),
                    "stderr": _number(metrics.get(f"{metric}_stderr,{chosen}")),
                    "n": int(samples.get("effective", 0)),
                    "num_fewshot": (results.get("n-shot") or {}).get(task, ""),
                }
            )
    return rows


def sample_scores(results: Mapping[str, Any], task: str) -> list[list[float]]:
    """Each document's log-likelihood of every option (nats), in document order."""
    docs = sorted((results.get("samples") or {}).get(task) or [], key=lambda doc: doc["doc_id"])
    return [[float(response[0]) for response in doc["filtered_resps"]] for doc in docs]


def benchmark_rows(results: Mapping[str, Any], benchmarks: Sequence[str]) -> list[dict[str, Any]]:
    """The StochasTok benchmark table's columns of toklab's benchmark tasks, from the samples.

    ``benchmark``, ``questions``, ``accuracy`` and ``normalized_accuracy`` (the mean over items
    of ``(k * right - 1) / (k - 1)``, ``k`` the item's options), as
    :func:`toklab.evaluation.downstream.score_items` computes them (ties: lm-eval's ``acc``
    takes the first highest option too).
    """
    samples = results.get("samples")
    if samples is None:
        raise DataError("lm-eval results without samples: evaluate with log_samples=True")
    rows = []
    for benchmark in benchmarks:
        docs = samples.get(task_name(benchmark)) or []
        if not docs:
            raise DataError(f"lm-eval results have no samples of {task_name(benchmark)}")
        right = [float(doc["acc"]) for doc in docs]
        options = [len(doc["filtered_resps"]) for doc in docs]
        normalized = [(k * r - 1) / (k - 1) for k, r in zip(options, right, strict=True)]
        rows.append(
            {
                "benchmark": benchmark,
                "questions": len(docs),
                "accuracy": sum(right) / len(right),
                "normalized_accuracy": sum(normalized) / len(normalized),
            }
        )
    return rows


def evaluate_benchmarks(
    checkpoints: Sequence[tuple[int, str | Path]],
    benchmarks: Sequence[str],
    *,
    templates: str | Path,
    limit: int | None = 1000,
    seed: int = 0,
    data_files: Mapping[str, str | Path] | None = None,
    batch_size: int = 8,
    device: str | None = None,
    cache_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """The StochasTok benchmark rows of every ``(step, directory)`` checkpoint, by lm-eval.

    toklab's seeded sample of each benchmark (:func:`toklab.evaluation.downstream.load_rows`:
    the hub's rows, or ``data_files``') is written to a temporary JSON-lines file that its
    ``toklab_{benchmark}`` task reads whole, so lm-eval scores the items toklab's own scorer
    would. One row per (step, benchmark), as ``scripts/stochastok.py evaluate-benchmarks``
    writes them with either backend.
    """
    from toklab.evaluation.downstream import load_rows

    files = dict(data_files or {})
    tasks = [task_name(benchmark) for benchmark in benchmarks]
    rows = []
    with tempfile.TemporaryDirectory(prefix="toklab-benchmarks-") as tmp:
        sample = {}
        for benchmark in benchmarks:
            chosen = load_rows(
                benchmark, limit=limit, seed=seed, data_files=files.get(benchmark),
                cache_dir=cache_dir,
            )  # fmt: skip
            sample[benchmark] = Path(tmp) / f"{benchmark}.jsonl"
            with sample[benchmark].open("w", encoding="utf-8") as handle:
                for row in chosen:
                    handle.write(json.dumps(row, ensure_ascii=False, default=_plain) + "\n")
        for step, directory in checkpoints:
            results = evaluate(
                directory, tasks, templates=templates, data_files=sample, include_defaults=False,
                batch_size=batch_size, device=device, seed=seed, log_samples=True,
                cache_dir=cache_dir,
            )  # fmt: skip
            for row in benchmark_rows(results, benchmarks):
                rows.append({"step": step, **row})
                log.info("step %d %s: accuracy %.3f", step, row["benchmark"], row["accuracy"])
    return rows
