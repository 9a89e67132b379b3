"""The LM stage's plan: an LM per tokenization, the byte LM, their evaluation and LM table.

Each run trains on token arrays (or a Delphi export's chunks, or T-Free's aligned word arrays)
and is evaluated in bits per byte; the LM table and its two figures collect the results.
Rules: ``workflow/rules/lm.smk``; scripts: ``train_lm.py``, ``evaluate_lm.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout, shell
from toklab.workflow.config import Block, WorkflowConfig
from toklab.workflow.cues import CuesPlan, LmRun
from toklab.workflow.tfree import TfreePlan
from toklab.workflow.tokenized import TokenizedPlan


@dataclass(frozen=True)
class LmJob:
    """What the config sets for one LM training job (an ``lm`` block's model, or the byte LM)."""

    #: The config key that sets it: ``lm.models.<model>`` or ``bytelm``.
    key: str
    #: The model's size preset (resources/model_presets.yaml).
    preset: str
    #: TrainConfig fields, dotted for nested ones, as the config gives them.
    training: Block
    train_subset: str
    valid_subset: str
    #: GPUs of the whole job, over its nodes
    gpus: int
    nodes: int = 1

    @property
    def chunks(self) -> bool:
        """Whether it trains on the samples of a Delphi export (``training.data: chunks``)."""
        return self.training.get("data") == "chunks"

    def same_settings(self, other: LmJob) -> bool:
        """Whether both train the same model on the same data (everything but the key agrees)."""
        return replace(other, key=self.key) == self


class LmPlan:
    """Config → every LM training job of a corpus, its evaluation and the LM table."""

    def __init__(
        self,
        config: WorkflowConfig,
        cues: CuesPlan,
        tokenized: TokenizedPlan,
        tfree: TfreePlan,
    ) -> None:
        self.config = config
        self.cues = cues
        self.tokenized = tokenized
        self.tfree = tfree

    def runs(self, corpus: str) -> list[LmRun]:
        """The runs of the LM table: every LM the ``lm`` block trains, evaluated in bits per byte."""
        block = self.config.corpus(corpus).get("lm")
        if not block:
            return []
        return [
            (*self.config.resolve_tokenizer(corpus, reference), model)
            for reference in self.tokenizer_references(corpus)
            for model, spec in block["models"].items()
            if reference in spec.get("tokenizers", block["tokenizers"])
        ]

    def tokenizer_references(self, corpus: str) -> list[str]:
        """Every tokenization the ``lm`` block trains on: ``lm.tokenizers``, then the models'."""
        block = self.config.corpus(corpus).get("lm") or {}
        references = [*block.get("tokenizers", [])]
        for spec in block.get("models", {}).values():
            references += spec.get("tokenizers", [])
        return list(dict.fromkeys(references))

    def token_runs(self, corpus: str) -> list[LmRun]:
        """The runs of :meth:`runs` whose LMs read token ids: every one but T-Free's."""
        return [run for run in self.runs(corpus) if not names.is_tfree(run[1])]

    def trained_runs(self, corpus: str) -> list[LmRun]:
        """Every LM training job of the corpus: the ``lm`` block's runs, then the byte LM's."""
        runs = self.runs(corpus)
        byte_lm = self.cues.bytelm_run(corpus)
        return [*runs, byte_lm] if byte_lm and byte_lm not in runs else runs

    def _jobs(self, corpus: str, run: LmRun) -> list[LmJob]:
        """What the ``lm`` block and the ``bytelm`` block each set for one run (none, one, both)."""
        jobs = []
        block = self.config.corpus(corpus)
        if run in self.runs(corpus):
            lm, spec = block["lm"], block["lm"]["models"][run[2]]
            jobs.append(
                LmJob(
                    key=f"lm.models.{run[2]}",
                    preset=spec["preset"],
                    training=spec["training"],
                    train_subset=lm["train_subset"],
                    valid_subset=lm["valid_subset"],
                    gpus=spec.get("gpus", lm["gpus"]),
                    nodes=spec.get("nodes", lm["nodes"]),
                )
            )
        if run == self.cues.bytelm_run(corpus):
            lm = block["bytelm"]
            jobs.append(
                LmJob(
                    key="bytelm",
                    preset=lm["preset"],
                    training=lm["training"],
                    train_subset=lm["train_subset"],
                    valid_subset=lm["valid_subset"],
                    gpus=lm["gpus"],
                )
            )
        return jobs

    def job(self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str) -> LmJob:
        """The settings of one LM training job (the lm block's model or the byte LM).

        A byte LM that the ``lm`` block also trains (its name, on ``bytes`` of its corpus) has
        one output directory, so both blocks must set the same model, data and GPUs.
        """
        run = (tokenizer_corpus, tokenization, model)
        jobs = self._jobs(corpus, run)
        if not jobs:
            raise ConfigError(
                f"corpus '{corpus}' trains no LM '{model}' on '{tokenizer_corpus}/{tokenization}'"
            )
        if any(not job.same_settings(jobs[0]) for job in jobs[1:]):
            directory = layout.lm_path(layout.LM_DIR, corpus, *run)
            raise ConfigError(
                f"corpus '{corpus}': bytelm and lm.models.{model} both train {directory}/ with "
                "different settings (preset, training, subsets, gpus, nodes: a byte LM runs on "
                "one node); rename the byte LM or make them identical"
            )
        return jobs[0]

    def _chunk_export(self, corpus: str, run: LmRun, job: LmJob) -> Block:
        """The settings of the Delphi export that a ``data: chunks`` job trains on.

        The export must include the run's tokenizer, and its subsets must be tokenized ones.
        """
        where = f"corpus '{corpus}': {job.key}.training.data is chunks"
        tokenized = self.config.corpus(corpus).get("tokenized") or {}
        if "delphi" not in tokenized.get("exports", {}):
            raise ConfigError(f"{where}, but the corpus configures no delphi export")
        tokenizer_corpus, tokenization, _ = run
        if (tokenizer_corpus, tokenization) not in self.tokenized.export_tokenizers(
            corpus, "delphi"
        ):
            raise ConfigError(
                f"{where}, but the delphi export does not include '{tokenizer_corpus}/{tokenization}'"
            )
        for subset in (job.train_subset, job.valid_subset):
            if subset not in tokenized["subsets"]:
                raise ConfigError(
                    f"{where}, but its subset '{subset}' is not one of tokenized.subsets"
                )
        return self.tokenized.export_settings(corpus, "delphi")

    def training_settings(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> Block:
        """The trainer's fields of one LM: its preset and training fields.

        A ``data: chunks`` job predicts the export's seq_len - 1 next tokens of each sample, so
        its ``seq_len`` is that (added when the config leaves it out); a T-Free LM of a corpus
        with ``tfree.samples: aligned`` gets ``data: aligned``.
        """
        run = (tokenizer_corpus, tokenization, model)
        job = self.job(corpus, *run)
        settings = {"model_preset": job.preset, **job.training}
        if self._aligned(corpus, tokenization):
            settings["data"] = "aligned"
        if job.chunks:
            sample = self._chunk_export(corpus, run, job)["seq_len"]
            seq_len = settings.setdefault("seq_len", sample - 1)
            if seq_len != sample - 1:
                raise ConfigError(
                    f"corpus '{corpus}': {job.key}.training.seq_len is {seq_len}, but chunks of "
                    f"the delphi export's {sample} tokens give {sample - 1} predictions; set "
                    f"seq_len: {sample - 1} or leave it out"
                )
        return settings

    def _aligned(self, corpus: str, tokenization: str) -> bool:
        """Whether an LM on ``tokenizer`` is a T-Free LM trained on aligned samples."""
        return names.is_tfree(tokenization) and self.tfree.samples(corpus) == "aligned"

    def _token_arrays(self, corpus: str, run: LmRun, job: LmJob) -> dict[str, str]:
        """The training and validation token arrays of one LM (``train_bin``, ``valid_bin``, ...).

        An LM trained on a stochastic tokenization (StochasTok, BPE-dropout) is validated on the
        tokenizer's own ids, the text as it is tokenized at test time.
        """
        tokenizer_corpus, tokenization, _ = run
        parsed = names.TokenizationName.parse(tokenization)
        valid = parsed.tokenizer if parsed.stochastic else tokenization
        return {
            **layout.token_array_files(
                corpus, job.train_subset, tokenizer_corpus, tokenization, "train"
            ),
            **layout.token_array_files(corpus, job.valid_subset, tokenizer_corpus, valid, "valid"),
        }

    def training_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The tokenizer and the training and validation data of one LM.

        The data are token arrays, the Delphi export directories (``train``, ``valid``) of a
        ``data: chunks`` job, or a T-Free LM's aligned word arrays (``tfree.samples: aligned``).
        """
        run = (tokenizer_corpus, tokenization, model)
        job = self.job(corpus, *run)
        inputs = {"tokenizer": self.tokenized.tokenizer_json(tokenizer_corpus, tokenization)}
        if self._aligned(corpus, tokenization):
            for subset in (job.train_subset, job.valid_subset):
                self.tfree.aligned_inputs(corpus, subset)
            return {
                **inputs,
                **layout.aligned_word_array_files(
                    corpus, job.train_subset, tokenizer_corpus, tokenization, "train"
                ),
                **layout.aligned_word_array_files(
                    corpus, job.valid_subset, tokenizer_corpus, tokenization, "valid"
                ),
            }
        if not job.chunks:
            return {**inputs, **self._token_arrays(corpus, run, job)}
        self._chunk_export(corpus, run, job)
        fields = {
            "corpus": corpus,
            "tokenizer_corpus": tokenizer_corpus,
            "tokenization": tokenization,
        }
        return {
            **inputs,
            "train": layout.path(layout.DELPHI_EXPORT, **fields, subset=job.train_subset),
            "valid": layout.path(layout.DELPHI_EXPORT, **fields, subset=job.valid_subset),
        }

    def params(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, Any]:
        """GPUs of training and evaluation, ``--train``/``--valid`` and the ``--set`` options.

        ``train`` and ``valid`` are array prefixes, or Delphi export directories for chunks.
        """
        run = (tokenizer_corpus, tokenization, model)
        job = self.job(corpus, *run)
        data = self.training_inputs(corpus, *run)
        if not job.chunks:
            data = {key: layout.prefix(data[f"{key}_bin"]) for key in ("train", "valid")}
        several = job.nodes > 1
        return {
            "gpus": job.gpus,
            "nodes": job.nodes,
            # a job of several nodes runs its command on the first, which calls srun itself;
            # SLURM's executor plugin wants its tasks per node (> 1) then (docs/slurm.md)
            "mpi": "srun" if several else None,
            "tasks_per_node": job.gpus // job.nodes if several else None,
            "eval_gpus": min(job.gpus, 1),
            # T-Free's word arrays come with its hasher's settings instead of a tokenizer.json
            "tokenizer_option": "--tfree" if names.is_tfree(tokenization) else "--tokenizer",
            "train": data["train"],
            "valid": data["valid"],
            "settings": shell.settings(self.training_settings(corpus, *run)),
        }

    def eval_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM, its tokenizer and token arrays (every document is scored in full).

        With next-word accuracy on, the validation subset's byte corpus (``text_*``); a T-Free
        LM also needs its hasher's decoding dictionary.
        """
        run = (tokenizer_corpus, tokenization, model)
        job = self.job(corpus, *run)
        inputs = {
            "tokenizer": self.tokenized.tokenizer_json(tokenizer_corpus, tokenization),
            **self._token_arrays(corpus, run, job),
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
        }
        if self.config.block(corpus, "lm")["evaluation"]["next_word"]["items"]:
            inputs.update(layout.byte_corpus_files(corpus, job.valid_subset, "text"))
        if names.is_tfree(tokenization):
            inputs["dictionary"] = layout.tokenizer_file(
                tokenizer_corpus, tokenization, "dictionary.tsv"
            )
        return inputs

    def eval_params(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> Block:
        """The evaluation's context, stride, batch size and ``options``.

        The options: ``--tokenizer``, or ``--tfree`` with ``--dictionary``, and next-word
        accuracy's (``--text`` and its settings).
        """
        inputs = self.eval_inputs(corpus, tokenizer_corpus, tokenization, model)
        block = self.config.block(corpus, "lm")["evaluation"]
        next_word = block["next_word"]
        if names.is_tfree(tokenization):
            files = {"--tfree": inputs["tokenizer"], "--dictionary": inputs["dictionary"]}
        else:
            files = {"--tokenizer": inputs["tokenizer"]}
        if next_word["items"]:
            files["--text"] = layout.prefix(inputs["text_bin"])
        options = [shell.repeated(option, [path]) for option, path in files.items()]
        if next_word["items"]:
            options += [
                f"--next-word-{option} {next_word[key]}"
                for option, key in (
                    ("context", "context_words"),
                    ("items", "items"),
                    ("per-document", "per_document"),
                    ("new-tokens", "max_new_tokens"),
                    ("frequent", "frequent_words"),
                    ("choices", "choices"),
                    ("seed", "seed"),
                )
                if key not in ("frequent_words", "seed") or next_word[key]
            ]
        return {key: value for key, value in block.items() if key != "next_word"} | {
            "options": " ".join(options)
        }

    def results(self, corpus: str) -> list[tuple[str, str]]:
        """``(result JSON, training benchmark TSV)`` of every run of the LM table."""
        return [
            (
                layout.lm_path(layout.LM_EVAL, corpus, *run),
                layout.lm_path(layout.LM_BENCHMARK, corpus, *run),
            )
            for run in self.runs(corpus)
        ]

    def table_inputs(self, corpus: str) -> list[str]:
        """Every result JSON and training benchmark of the LM table."""
        return [path for pair in self.results(corpus) for path in pair]

    def table_options(self, corpus: str) -> str:
        """``--entry RESULT_JSON BENCHMARK_TSV`` options of the LM table (and its reference)."""
        if not self.runs(corpus):
            raise ConfigError(f"corpus '{corpus}' trains no LMs")
        reference = self.config.block(corpus, "lm").get("reference")
        option = f" --reference-bits-per-byte {reference['bits_per_byte']}" if reference else ""
        return shell.entries(self.results(corpus)) + option

    def curve_runs(self, corpus: str) -> list[tuple[str, str, str]]:
        """``(label, metrics.jsonl, result JSON)`` of every token LM of the LM table.

        T-Free's validation loss is its multi-label loss, not a likelihood: not on this axis.
        """
        return [
            (
                f"{name} ({model})" if c == corpus else f"{c}/{name} ({model})",
                layout.lm_file(corpus, c, name, model, "metrics.jsonl"),
                layout.lm_path(layout.LM_EVAL, corpus, c, name, model),
            )
            for c, name, model in self.token_runs(corpus)
        ]

    def curve_inputs(self, corpus: str) -> list[str]:
        """Every metrics.jsonl and result JSON of the learning curves."""
        return [path for _, *paths in self.curve_runs(corpus) for path in paths]

    def curve_options(self, corpus: str) -> str:
        """``--run LABEL METRICS RESULT`` options of the learning curves."""
        if not self.runs(corpus):
            raise ConfigError(f"corpus '{corpus}' trains no LMs")
        return shell.entries(self.curve_runs(corpus), option="--run")

    def logprobs_runs(self, corpus: str) -> list[LmRun]:
        """The token LMs of the LM table that keep checkpoints, when logprobs are on.

        Delphi's training dynamics (``lm.evaluation.logprobs``): T-Free's multi-label head has
        no next-token distribution.
        """
        lm = self.config.corpus(corpus).get("lm")
        if not lm or not lm["evaluation"]["logprobs"]["documents"]:
            return []
        return [
            run
            for run in self.token_runs(corpus)
            if any(
                self.job(corpus, *run).training.get(key)
                for key in ("keep_checkpoints", "extra_checkpoint_steps")
            )
        ]

    def logprobs_inputs(
        self, corpus: str, tokenizer_corpus: str, tokenization: str, model: str
    ) -> dict[str, str]:
        """The trained LM (its kept checkpoints are in its directory) and the validation ids."""
        run = (tokenizer_corpus, tokenization, model)
        if run not in self.logprobs_runs(corpus):
            raise ConfigError(
                f"corpus '{corpus}': no logprobs for {tokenizer_corpus}/{tokenization}/{model} "
                "(a token LM of lm.models that keeps checkpoints, with "
                "lm.evaluation.logprobs.documents > 0)"
            )
        arrays = self._token_arrays(corpus, run, self.job(corpus, *run))
        return {
            **{name.split(".")[0]: layout.lm_file(corpus, *run, name) for name in layout.LM_FILES},
            **{key: path for key, path in arrays.items() if key.startswith("valid_")},
        }

    def logprobs_params(self, corpus: str) -> Block:
        """Documents, tokens per document and batch size of the logprobs."""
        return self.config.block(corpus, "lm")["evaluation"]["logprobs"]

    def logprobs_plot_inputs(self, corpus: str) -> list[str]:
        """The logprobs directory of every run that has one."""
        return [
            layout.lm_path(layout.LM_LOGPROBS, corpus, *run) for run in self.logprobs_runs(corpus)
        ]

    def logprobs_plot_options(self, corpus: str) -> str:
        """``--run LABEL DIRECTORY`` options of the per-token loss view."""
        runs = self.logprobs_runs(corpus)
        if not runs:
            raise ConfigError(f"corpus '{corpus}' has no logprobs (lm.evaluation.logprobs)")
        return shell.entries(
            [
                (
                    f"{name} ({model})" if c == corpus else f"{c}/{name} ({model})",
                    layout.lm_path(layout.LM_LOGPROBS, corpus, c, name, model),
                )
                for c, name, model in runs
            ],
            option="--run",
        )

    def targets(self, corpus: str) -> list[str]:
        """Every run's weights and result, the LM table and its two figures, and the logprobs."""
        runs = self.runs(corpus)
        if not runs:
            return []
        # the figures need a token LM (T-Free's LMs have no bits per byte)
        figures = ("lm_bits_per_byte", "lm_curves") if self.curve_runs(corpus) else ()
        logprobs = self.logprobs_plot_inputs(corpus)
        return [
            *(layout.lm_file(corpus, *run, "model.safetensors") for run in runs),
            *(result for result, _ in self.results(corpus)),
            layout.table("lm", corpus),
            *(layout.plot(name, corpus) for name in figures),
            *logprobs,
            *([layout.plot("lm_logprobs", corpus)] if logprobs else []),
        ]
