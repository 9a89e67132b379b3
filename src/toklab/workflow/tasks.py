"""The tasks stage's plan: StochasTok's task data, fine-tuning and evaluations of a corpus's LMs.

A corpus's ``stochastok`` block asks for them (rules in ``workflow/rules/tasks.smk``).

- ``langgame``: questions about the spelling of the corpus's most frequent words; each chosen
  LM of the ``lm`` block (pretrained with or without StochasTok) is fine-tuned on them as
  instruction examples (loss on the answers) by the one trainer, and the LM and every kept
  fine-tuning checkpoint answer the validation questions by log-likelihood
  (:mod:`toklab.evaluation.multiple_choice`): ``results/tables/stochastok_langgame_{corpus}.csv``.
- ``benchmarks``: each chosen LM of the ``lm`` block (default: all), at each kept checkpoint
  and its final step, on HellaSwag, ARC, WinoGrande, MMLU and BLiMP by log-likelihood
  (:mod:`toklab.evaluation.downstream`): ``results/tables/stochastok_benchmarks_{corpus}.csv``.
  With ``backend: lm_eval`` lm-evaluation-harness scores the same items
  (:mod:`toklab.evaluation.lm_harness`, through toklab's task templates).
- ``addition``: every LM of the ``lm`` block (trained on the problems of an ``addition``
  source, with and without StochasTok) is evaluated at each kept checkpoint and its final step
  by generation, its questions tokenized four ways (:mod:`toklab.evaluation.addition`):
  ``results/tables/stochastok_addition_{corpus}.csv``.

A corpus's ``lm_eval`` block (beside ``stochastok``) runs lm-evaluation-harness tasks by name on
its LMs: lm-eval's results per LM and ``results/tables/lm_eval_{corpus}.csv``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.evaluation.downstream import BENCHMARKS
from toklab.evaluation.lm_harness import SHARED_TEMPLATE, TASK_PREFIX, task_name
from toklab.training.config import TrainConfig
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.cues import LmRun
from toklab.workflow.lm import LmPlan
from toklab.workflow.tokenized import TokenizedPlan


class TasksPlan:
    """Config → the StochasTok tasks' targets and the inputs of their jobs."""

    def __init__(self, config: WorkflowConfig, tokenized: TokenizedPlan, lm: LmPlan) -> None:
        self.config = config
        self.tokenized = tokenized
        self.lm = lm

    def block(self, corpus: str, task: str) -> Block:
        """A task block of the corpus's ``stochastok`` block."""
        block = (self.config.corpus(corpus).get("stochastok") or {}).get(task)
        if not block:
            raise ConfigError(f"corpus '{corpus}' configures no stochastok.{task} block")
        return block

    def has(self, corpus: str, task: str) -> bool:
        """Whether the corpus configures the task."""
        return bool((self.config.corpus(corpus).get("stochastok") or {}).get(task))

    # -----------------------------------------------------------------------------------------
    # Multi-digit addition

    def addition_runs(self, corpus: str) -> list[LmRun]:
        """The LMs evaluated on addition: every token LM of the corpus's ``lm`` block."""
        self.block(corpus, "addition")
        runs = self.lm.token_runs(corpus)
        if not runs:
            raise ConfigError(
                f"corpus '{corpus}': stochastok.addition evaluates the LMs of an lm block"
            )
        return runs

    def _addition_run(self, corpus: str, run: LmRun) -> LmRun:
        if run not in self.addition_runs(corpus):
            raise ConfigError(f"corpus '{corpus}' trains no LM '{run[2]}' on '{run[0]}/{run[1]}'")
        return run

    def addition_eval_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM, its tokenizer and split table, and the byte corpora of the problems."""
        run = self._addition_run(corpus, (tokenizer_corpus, tokenization, model))
        inputs = {
            "tokenizer": self.tokenized.tokenizer_json(tokenizer_corpus, tokenization),
            "splits": layout.path(
                layout.STOCHASTOK_SPLITS,
                corpus=tokenizer_corpus,
                tokenizer=names.tokenizer_of(tokenization),
            ),
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
        }
        for split in self.block(corpus, "addition")["splits"]:
            inputs.update(layout.byte_corpus_files(corpus, split, f"split_{split}"))
        return inputs

    def addition_eval_params(self, corpus: str) -> dict[str, Any]:
        """``--split NAME PREFIX`` options and the evaluation's settings."""
        block = self.block(corpus, "addition")
        splits = [
            (split, layout.path(layout.BYTE_CORPUS, corpus=corpus, subset=split))
            for split in block["splits"]
        ]
        return {**block, "splits": shell.entries(splits, option="--split")}

    def addition_results(self, corpus: str) -> list[tuple[LmRun, str]]:
        """Every run and its result JSON."""
        return [
            (run, layout.lm_path(layout.ADDITION_EVAL, corpus, *run))
            for run in self.addition_runs(corpus)
        ]

    def addition_table_inputs(self, corpus: str) -> list[str]:
        """Every result JSON of the addition table."""
        return [result for _, result in self.addition_results(corpus)]

    def addition_plot_split(self, corpus: str) -> str:
        """The split the addition figure shows: the last one (validation, held out)."""
        return self.block(corpus, "addition")["splits"][-1]

    def addition_table_options(self, corpus: str) -> str:
        """``--entry TOKENIZER_CORPUS TOKENIZATION MODEL RESULT`` options."""
        return shell.entries((*run, result) for run, result in self.addition_results(corpus))

    # -----------------------------------------------------------------------------------------
    # Standard benchmarks

    def benchmark_runs(self, corpus: str) -> list[LmRun]:
        """The LMs evaluated on the benchmarks: the block's ``runs``, or every LM of the corpus."""
        return self._chosen_runs(corpus, "benchmarks")

    def _chosen_runs(self, corpus: str, task: str) -> list[LmRun]:
        """The block's ``runs``, or every token LM of the lm block (T-Free's score no texts)."""
        return self._runs_of(corpus, self.block(corpus, task), f"stochastok.{task}")

    def _runs_of(self, corpus: str, block: Block, key: str) -> list[LmRun]:
        """The ``runs`` of the block at ``key``, or every token LM of the corpus's lm block."""
        trained = self.lm.runs(corpus)
        if block.get("runs") is None:
            runs = self.lm.token_runs(corpus)
        else:
            runs = [
                (*self.config.resolve_tokenizer(corpus, run["tokenizer"]), run["model"])
                for run in block["runs"]
            ]
        for run in runs:
            if run not in trained:
                raise ConfigError(
                    f"corpus '{corpus}': {key} names '{run[0]}/{run[1]}' model "
                    f"'{run[2]}', which the lm block does not train"
                )
            if names.is_tfree(run[1]):
                raise ConfigError(
                    f"corpus '{corpus}': {key} names the T-Free LM '{run[1]}' "
                    f"model '{run[2]}', which has no likelihood of a text to score options by"
                )
        if not runs:
            raise ConfigError(f"corpus '{corpus}': {key} has no LMs to evaluate")
        return runs

    def benchmark_eval_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM, its tokenizer and the local benchmark files, if any."""
        run = (tokenizer_corpus, tokenization, model)
        if run not in self.benchmark_runs(corpus):
            raise ConfigError(
                f"corpus '{corpus}' evaluates no LM '{model}' of '{tokenizer_corpus}/"
                f"{tokenization}' on the benchmarks"
            )
        block = self.block(corpus, "benchmarks")
        files = self._benchmark_files(corpus)
        inputs = {
            "tokenizer": self.tokenized.tokenizer_json(tokenizer_corpus, tokenization),
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
            **{f"data_{name}": path for name, path in files.items()},
        }
        if block["backend"] == "lm_eval":
            inputs.update(self._task_templates(block["names"]))
        return inputs

    def benchmark_eval_params(self, corpus: str) -> dict[str, Any]:
        """``--benchmark NAME [FILE]`` options, the sample size and seed, the backend's options."""
        block = self.block(corpus, "benchmarks")
        files = self._benchmark_files(corpus)
        options = " ".join(
            f"--benchmark {shell.quote(name)}"
            + (
                f" --data-file {shell.quote(name)} {shell.quote(files[name])}"
                if name in files
                else ""
            )
            for name in block["names"]
        )
        backend = f"--backend {block['backend']}"
        if block["backend"] == "lm_eval":
            templates = self.config.resource(layout.LMEVAL_TASKS)
            backend += (
                f" --task-templates {shell.quote(templates)} --batch-size {block['batch_size']}"
            )
        return {
            "benchmarks": options,
            "limit": block["limit"],
            "seed": block["seed"],
            "backend": backend,
        }

    def _task_templates(self, benchmarks: Sequence[str]) -> dict[str, str]:
        """The lm-eval task templates of toklab's ``benchmarks`` (and the file they share)."""
        directory = self.config.resource(layout.LMEVAL_TASKS)
        files = {"template_shared": f"{directory}/{SHARED_TEMPLATE}"}
        for benchmark in benchmarks:
            files[f"template_{benchmark}"] = f"{directory}/{task_name(benchmark)}.yaml"
        return files

    def _benchmark_files(self, corpus: str) -> dict[str, str]:
        """The local files that replace the hub's benchmarks (``resources/`` the repository's)."""
        files = self.block(corpus, "benchmarks").get("data_files") or {}
        return {name: self.config.resource(path) for name, path in files.items()}

    def benchmark_results(self, corpus: str) -> list[tuple[LmRun, str]]:
        """Every evaluated run and its result JSON."""
        return [
            (run, layout.lm_path(layout.BENCHMARKS_EVAL, corpus, *run))
            for run in self.benchmark_runs(corpus)
        ]

    def benchmark_table_inputs(self, corpus: str) -> list[str]:
        """Every result JSON of the benchmarks table."""
        return [result for _, result in self.benchmark_results(corpus)]

    def benchmark_table_options(self, corpus: str) -> str:
        """``--entry TOKENIZER_CORPUS TOKENIZATION MODEL RESULT`` options."""
        return shell.entries((*run, result) for run, result in self.benchmark_results(corpus))

    # -----------------------------------------------------------------------------------------
    # lm-evaluation-harness tasks by name (the corpus's lm_eval block)

    def has_lm_eval(self, corpus: str) -> bool:
        """Whether the corpus configures an ``lm_eval`` block."""
        return bool(self.config.corpus(corpus).get("lm_eval"))

    def lm_eval_runs(self, corpus: str) -> list[LmRun]:
        """The LMs lm-eval evaluates: the block's ``runs``, or every token LM of the corpus."""
        return self._runs_of(corpus, self.config.block(corpus, "lm_eval"), "lm_eval")

    def lm_eval_toklab_tasks(self, corpus: str) -> list[str]:
        """The block's tasks that are toklab's benchmarks (``toklab_{benchmark}``)."""
        tasks = self.config.block(corpus, "lm_eval")["tasks"]
        own = [task for task in tasks if task.startswith(TASK_PREFIX)]
        unknown = [t for t in own if t.removeprefix(TASK_PREFIX) not in BENCHMARKS]
        if unknown:
            known = ", ".join(task_name(name) for name in BENCHMARKS)
            raise ConfigError(
                f"corpus '{corpus}': lm_eval.tasks names {', '.join(unknown)}, which is not one "
                f"of toklab's benchmark tasks ({known})"
            )
        return own

    def lm_harness_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM (its directory holds the tokenizer) and toklab's task templates used."""
        run = (tokenizer_corpus, tokenization, model)
        if run not in self.lm_eval_runs(corpus):
            raise ConfigError(
                f"corpus '{corpus}' evaluates no LM '{model}' of '{tokenizer_corpus}/"
                f"{tokenization}' with lm-eval"
            )
        inputs = {
            name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES
        }
        own = self.lm_eval_toklab_tasks(corpus)
        if own:
            inputs.update(self._task_templates([t.removeprefix(TASK_PREFIX) for t in own]))
        return inputs

    def lm_harness_params(self, corpus: str) -> dict[str, Any]:
        """The script's options: ``--task`` per task, the templates, batch size, seed, limits."""
        block = self.config.block(corpus, "lm_eval")
        options = [
            shell.repeated("--task", block["tasks"]),
            f"--task-templates {shell.quote(self.config.resource(layout.LMEVAL_TASKS))}",
            f"--batch-size {block['batch_size']} --seed {block['seed']}",
        ]
        if block["limit"] is not None:
            options.append(f"--limit {block['limit']}")
        if block["num_fewshot"] is not None:
            options.append(f"--num-fewshot {block['num_fewshot']}")
        return {"options": " ".join(options)}

    def lm_eval_results(self, corpus: str) -> list[tuple[LmRun, str]]:
        """Every evaluated run and its results JSON."""
        return [
            (run, layout.lm_path(layout.LMEVAL_RESULTS, corpus, *run))
            for run in self.lm_eval_runs(corpus)
        ]

    def lm_harness_table_inputs(self, corpus: str) -> list[str]:
        """Every results JSON of the lm-evaluation-harness table."""
        return [result for _, result in self.lm_eval_results(corpus)]

    def lm_harness_table_options(self, corpus: str) -> str:
        """``--entry TOKENIZER_CORPUS TOKENIZATION MODEL RESULTS`` options."""
        return shell.entries((*run, result) for run, result in self.lm_eval_results(corpus))

    # -----------------------------------------------------------------------------------------
    # LangGame

    def langgame_runs(self, corpus: str) -> list[LmRun]:
        """The LMs fine-tuned on LangGame: the block's ``runs``, or every run of the lm block."""
        return self._chosen_runs(corpus, "langgame")

    def langgame_tokenizers(self, corpus: str) -> list[tuple[str, str]]:
        """``(tokenizer corpus, tokenizer)`` of the examples: each fine-tuned LM's tokenizer."""
        pairs = [(c, names.tokenizer_of(t)) for c, t, _ in self.langgame_runs(corpus)]
        return list(dict.fromkeys(pairs))

    def langgame_question_inputs(self, corpus: str) -> dict[str, str]:
        """The words' source: a byte corpus of the corpus's subset, or a word-list file."""
        words = self.block(corpus, "langgame")["words"]
        if "file" in words:
            return {"words": self.config.resource(words["file"])}
        return layout.byte_corpus_files(corpus, words["subset"], "words")

    def langgame_question_params(self, corpus: str) -> dict[str, Any]:
        """The generator's options (word source, sizes, seed) and the two outputs' names."""
        block = self.block(corpus, "langgame")
        words = block["words"]
        source = (
            f"--word-list {shell.quote(self.config.resource(words['file']))}"
            if "file" in words
            else "--corpus-prefix "
            + shell.quote(layout.path(layout.BYTE_CORPUS, corpus=corpus, subset=words["subset"]))
        )
        return {
            "words": f"{source} --size {words['size']}",
            "train": block["questions"]["train"],
            "validation": block["questions"]["validation"],
            "seed": block["seed"],
        }

    def langgame_example_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, task_split: str
    ) -> dict[str, str]:
        """The questions of a split and the tokenizer of a fine-tuned LM."""
        if (tokenizer_corpus, tokenization) not in self.langgame_tokenizers(corpus):
            raise ConfigError(
                f"corpus '{corpus}': no LM fine-tuned on LangGame uses '{tokenizer_corpus}/"
                f"{tokenization}'"
            )
        return {
            "questions": layout.path(
                layout.LANGGAME_QUESTIONS, corpus=corpus, task_split=task_split
            ),
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenization),
        }

    def _langgame_examples(self, corpus: str, tokenizer_corpus: str, tokenization: str, split: str):
        prefix = layout.path(
            layout.LANGGAME_EXAMPLES, corpus=corpus, tokenizer_corpus=tokenizer_corpus,
            tokenization=tokenization, task_split=split,
        )  # fmt: skip
        return prefix, layout.files_of(prefix, layout.LANGGAME_EXAMPLE_SUFFIXES, split)

    def _langgame_run(self, corpus: str, run: LmRun) -> LmRun:
        if run not in self.langgame_runs(corpus):
            raise ConfigError(
                f"corpus '{corpus}' fine-tunes no LM '{run[2]}' of '{run[0]}/{run[1]}' on LangGame"
            )
        return run

    def finetune_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The pretrained LM, its tokenizer, and the training and validation examples."""
        run = self._langgame_run(corpus, (tokenizer_corpus, tokenization, model))
        tokenizer = names.tokenizer_of(tokenization)
        inputs = {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, tokenizer),
            **{
                f"pretrained_{name.split('.')[0]}": layout.lm_file(corpus, *run, name)
                for name in layout.LM_FILES
            },
        }
        for split in ("train", "validation"):
            inputs.update(self._langgame_examples(corpus, tokenizer_corpus, tokenizer, split)[1])
        return inputs

    def finetune_params(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, Any]:
        """GPUs, the examples' prefixes and the trainer's ``--set`` options of a fine-tuning.

        The model is the pretrained LM's (its preset and ``model.*`` fields), started from its
        weights (``init_from``); the recipe is the langgame block's ``training``.
        """
        run = self._langgame_run(corpus, (tokenizer_corpus, tokenization, model))
        tokenizer = names.tokenizer_of(tokenization)
        pretrained = self.lm.training_settings(corpus, *run)
        settings = {
            "model_preset": pretrained["model_preset"],
            **{k: v for k, v in pretrained.items() if k.startswith("model.") or k == "model"},
            "seq_len": pretrained.get("seq_len", TrainConfig().seq_len),
            **self.block(corpus, "langgame")["training"],
            "data": "examples",
            "init_from": layout.lm_path(layout.LM_DIR, corpus, *run),
        }
        gpus = self.langgame_gpus(corpus, run)
        return {
            "gpus": gpus,
            "eval_gpus": min(gpus, 1),
            "train": self._langgame_examples(corpus, tokenizer_corpus, tokenizer, "train")[0],
            "valid": self._langgame_examples(corpus, tokenizer_corpus, tokenizer, "validation")[0],
            "settings": shell.settings(settings),
        }

    def langgame_gpus(self, corpus: str, run: LmRun) -> int:
        """GPUs of a fine-tuning: the langgame block's ``gpus``, or the pretrained LM's."""
        gpus = self.block(corpus, "langgame").get("gpus")
        return self.lm.job(corpus, *run).gpus if gpus is None else gpus

    def langgame_eval_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The pretrained and fine-tuned LMs, the validation questions, the tokenizer."""
        run = self._langgame_run(corpus, (tokenizer_corpus, tokenization, model))
        finetuned = layout.lm_path(layout.LANGGAME_MODEL, corpus, *run)
        return {
            "tokenizer": layout.tokenizer_file(tokenizer_corpus, names.tokenizer_of(tokenization)),
            "questions": layout.path(
                layout.LANGGAME_QUESTIONS, corpus=corpus, task_split="validation"
            ),
            "pretrained": layout.lm_file(corpus, *run, "model.safetensors"),
            "finetuned": f"{finetuned}/model.safetensors",
        }

    def langgame_results(self, corpus: str) -> list[tuple[LmRun, str]]:
        """Every fine-tuned run and its result JSON."""
        return [
            (run, layout.lm_path(layout.LANGGAME_EVAL, corpus, *run))
            for run in self.langgame_runs(corpus)
        ]

    def langgame_table_inputs(self, corpus: str) -> list[str]:
        """Every result JSON of the LangGame table."""
        return [result for _, result in self.langgame_results(corpus)]

    def langgame_table_options(self, corpus: str) -> str:
        """``--entry TOKENIZER_CORPUS TOKENIZATION MODEL RESULT`` options."""
        return shell.entries((*run, result) for run, result in self.langgame_results(corpus))

    # -----------------------------------------------------------------------------------------

    def targets(self, corpus: str) -> list[str]:
        """Every evaluation and table the corpus's ``stochastok`` and ``lm_eval`` blocks ask for."""
        targets = []
        if self.has(corpus, "langgame"):
            targets += self.langgame_table_inputs(corpus)
            targets += [
                layout.table("stochastok_langgame", corpus),
                layout.plot("stochastok_langgame", corpus),
            ]
        if self.has(corpus, "benchmarks"):
            targets += self.benchmark_table_inputs(corpus)
            targets += [
                layout.table("stochastok_benchmarks", corpus),
                layout.plot("stochastok_benchmarks", corpus),
            ]
        if self.has(corpus, "addition"):
            targets += self.addition_table_inputs(corpus)
            targets += [
                layout.table("stochastok_addition", corpus),
                layout.plot("stochastok_addition", corpus),
            ]
        if self.has_lm_eval(corpus):
            targets += self.lm_harness_table_inputs(corpus)
            targets.append(layout.table("lm_eval", corpus))
        return targets
