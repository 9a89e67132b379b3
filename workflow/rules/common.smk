# The adapter between Snakemake and toklab's planning layer (src/toklab/workflow/): config
# validation, the generated wildcard constraints, and input functions that turn wildcards into
# calls of the plan. Names, paths, targets and checks live in that package, unit-tested.

import functools
import inspect
import json
import os
from pathlib import Path

from snakemake.exceptions import WorkflowError

from toklab import names
from toklab.errors import ConfigError
from toklab.workflow import layout
from toklab.workflow.checks import check_config, validate_config
from toklab.workflow.launch import train_launcher

REPO = Path(workflow.basedir).parent
# the schema (types, ranges, defaults), then the checks across fields: a problem is one line
try:
    validate_config(config, REPO / "workflow" / "schemas" / "config.schema.yaml")
    plan = check_config(
        config, presets=REPO / "resources" / "model_presets.yaml", repository=REPO
    )
except ConfigError as err:
    raise WorkflowError(f"config error: {err}") from None


wildcard_constraints:
    **layout.WILDCARDS,


def script(name):
    """Path of a script in ``scripts/``, relative to the working directory where possible."""
    return os.path.relpath(REPO / "scripts" / name)


def from_plan(method, *fields):
    """An input function: ``method`` of the plan on these wildcards, errors as WorkflowError.

    ``fields`` default to the method's parameters without defaults: the plan names its
    parameters after the wildcards (``corpus``, ``tokenizer_corpus``, ``tokenizer``, ...).
    """
    fields = fields or [
        name
        for name, parameter in inspect.signature(method).parameters.items()
        if parameter.default is parameter.empty
    ]

    def input_function(wildcards):
        try:
            return method(*(getattr(wildcards, field) for field in fields))
        except ConfigError as err:
            raise WorkflowError(f"config error: {err}") from None

    return input_function


def get_final_targets():
    """The default targets: every stage landed so far, for every configured corpus."""
    return plan.final_targets()


# Data stage
get_download_url = from_plan(plan.data.download_url)
get_corpus_inputs = from_plan(plan.data.source_files)
get_corpus_spec = from_plan(plan.data.corpus_script_config)
get_demo_source = from_plan(plan.data.demo_source)

# Predictions of the byte LM (trained by train_lm as the LM of the byte-level tokenizer)
get_prediction_inputs = from_plan(plan.cues.prediction_inputs)
get_prediction_params = from_plan(plan.cues.prediction_params)


def get_extraction_gpus(wildcards):
    """Extraction runs on one GPU when the byte LM's training uses any."""
    return get_prediction_params(wildcards)["gpus"]


# Tokenizers
get_bpe_training_corpus = from_plan(plan.tokenizers.bpe_training_inputs, "corpus", "tokenizer")
get_bpe_params = from_plan(plan.tokenizers.bpe_params, "corpus", "tokenizer")
get_bytespan_inputs = from_plan(plan.tokenizers.bytespan_inputs, "corpus", "tokenizer")
get_bytespan_params = from_plan(plan.tokenizers.bytespan_params, "corpus", "tokenizer")
get_byte_level_params = from_plan(plan.tokenizers.byte_level_params, "corpus", "tokenizer")
get_pretrained_source = from_plan(plan.tokenizers.pretrained_source, "corpus", "tokenizer")

# Tokenized datasets
get_token_array_inputs = from_plan(plan.tokenized.token_array_inputs)
get_tokenize_settings = from_plan(plan.tokenized.tokenize_settings)
get_delphi_inputs = from_plan(functools.partial(plan.tokenized.export_inputs, "delphi"))
get_cs336_inputs = from_plan(functools.partial(plan.tokenized.export_inputs, "cs336"))
get_nanogpt_inputs = from_plan(plan.tokenized.nanogpt_inputs)
get_delphi_settings = from_plan(
    functools.partial(plan.tokenized.export_settings, export="delphi")
)
get_tfree_inputs = from_plan(plan.tokenized.tfree_inputs)

# Variant tokenizations: StochasTok, BPE-dropout, characters
get_split_table_inputs = from_plan(plan.tokenized.split_table_inputs)
get_stochastok_inputs = from_plan(
    plan.tokenized.stochastok_inputs, "corpus", "subset", "tokenizer_corpus", "tokenizer"
)
get_bpe_dropout_inputs = from_plan(
    functools.partial(plan.tokenized.reencoding_inputs, "bpedropout"),
    "corpus",
    "subset",
    "tokenizer_corpus",
    "tokenizer",
)
get_character_inputs = from_plan(
    functools.partial(plan.tokenized.reencoding_inputs, "chars"),
    "corpus",
    "subset",
    "tokenizer_corpus",
    "tokenizer",
)
get_variant_params = from_plan(plan.tokenized.variant_params)

# StochasTok's task evaluations
get_addition_eval_inputs = from_plan(
    plan.tasks.addition_eval_inputs,
    "corpus",
    "tokenizer_corpus",
    "tokenizer",
    "model",
)
get_addition_eval_params = from_plan(plan.tasks.addition_eval_params)
get_addition_table_inputs = from_plan(plan.tasks.addition_table_inputs)
get_addition_table_options = from_plan(plan.tasks.addition_table_options)
get_langgame_question_inputs = from_plan(plan.tasks.langgame_question_inputs)
get_langgame_question_params = from_plan(plan.tasks.langgame_question_params)
get_langgame_example_inputs = from_plan(plan.tasks.langgame_example_inputs)
get_finetune_inputs = from_plan(
    plan.tasks.finetune_inputs, "corpus", "tokenizer_corpus", "tokenizer", "model"
)
get_finetune_params = from_plan(
    plan.tasks.finetune_params, "corpus", "tokenizer_corpus", "tokenizer", "model"
)
get_langgame_eval_inputs = from_plan(
    plan.tasks.langgame_eval_inputs,
    "corpus",
    "tokenizer_corpus",
    "tokenizer",
    "model",
)
get_langgame_table_inputs = from_plan(plan.tasks.langgame_table_inputs)
get_langgame_table_options = from_plan(plan.tasks.langgame_table_options)
get_addition_plot_split = from_plan(plan.tasks.addition_plot_split)
get_benchmark_eval_inputs = from_plan(
    plan.tasks.benchmark_eval_inputs,
    "corpus",
    "tokenizer_corpus",
    "tokenizer",
    "model",
)
get_benchmark_eval_params = from_plan(plan.tasks.benchmark_eval_params)
get_benchmark_table_inputs = from_plan(plan.tasks.benchmark_table_inputs)
get_benchmark_table_options = from_plan(plan.tasks.benchmark_table_options)


def get_finetune_gpus(wildcards):
    """GPUs of a LangGame fine-tuning (its pretrained LM's)."""
    return get_finetune_params(wildcards)["gpus"]


def get_finetune_eval_gpus(wildcards):
    """The LangGame evaluation runs on one GPU when training uses any."""
    return get_finetune_params(wildcards)["eval_gpus"]


get_tfree_settings = from_plan(functools.partial(plan.tokenized.export_settings, export="tfree"))

# T-Free: word counts, hashers with their dictionaries, word arrays, tables
get_tfree_word_count_inputs = from_plan(plan.tfree.word_count_inputs)
get_tfree_tokenizer_inputs = from_plan(plan.tfree.tokenizer_inputs)
get_tfree_tokenizer_params = from_plan(plan.tfree.tokenizer_params)
get_word_array_inputs = from_plan(plan.tfree.word_array_inputs)
get_aligned_word_array_inputs = from_plan(plan.tfree.aligned_word_array_inputs)
get_tfree_fertility_inputs = from_plan(plan.tfree.fertility_inputs)
get_tfree_fertility_options = from_plan(plan.tfree.fertility_options)
get_tfree_params_options = from_plan(plan.tfree.params_options)

# Language models: an LM per tokenizer, and the byte LM (tokenizer "bytes")
get_lm_training_inputs = from_plan(plan.lm.training_inputs)
get_lm_params = from_plan(plan.lm.params)
get_lm_eval_inputs = from_plan(plan.lm.eval_inputs)
get_lm_eval_params = from_plan(plan.lm.eval_params)
get_lm_table_inputs = from_plan(plan.lm.table_inputs)
get_lm_table_options = from_plan(plan.lm.table_options)
get_lm_curve_inputs = from_plan(plan.lm.curve_inputs)
get_lm_curve_options = from_plan(plan.lm.curve_options)


def get_lm_gpus(wildcards):
    """GPUs of an LM's training job (0 on the CPU demo)."""
    return get_lm_params(wildcards)["gpus"]


def get_lm_eval_gpus(wildcards):
    """The evaluation runs on one GPU when training uses any."""
    return get_lm_params(wildcards)["eval_gpus"]


# Evaluation, tables and plots
get_morphscore_url = from_plan(plan.evaluation.morphscore_url, "morphscore_language")
get_stats_inputs = from_plan(plan.evaluation.stats_inputs)
get_stats_params = from_plan(plan.evaluation.stats_params)
get_own_stats = from_plan(plan.evaluation.own_stats_files)
get_all_stats = from_plan(plan.evaluation.stats_files)
get_training_table_inputs = from_plan(plan.evaluation.training_table_inputs)
get_training_table_options = from_plan(plan.evaluation.training_table_options)
get_overlap_inputs = from_plan(plan.evaluation.overlap_inputs)
get_overlap_tokenizer_options = from_plan(plan.evaluation.overlap_tokenizer_options)
get_example_inputs = from_plan(plan.evaluation.example_inputs)
get_example_settings = from_plan(plan.evaluation.example_settings)
get_example_tokenizer_options = from_plan(plan.evaluation.example_tokenizer_options)


def get_corpus_spec_json(wildcards):
    """The corpus's data config as JSON for ``prepare_corpus.py shards`` (subset order kept)."""
    return json.dumps(get_corpus_spec(wildcards))


def launcher(wildcards, threads, resources):
    """python, torchrun, or srun + torchrun, from the job's gpu and nodes resources."""
    try:
        return train_launcher(
            resources.gpu,
            resources.nodes,
            threads,
            mpi=resources.get("mpi"),
            cpus_per_gpu=resources.get("cpus_per_gpu", 0),
        )
    except ConfigError as err:
        raise WorkflowError(str(err)) from None


def prefix_of(key):
    """A params function: the array prefix of the named ``.bin`` input or output."""

    def params_function(wildcards, input, output):
        files = input if key in input.keys() else output
        return layout.prefix(files[key])

    return params_function


def directory_of(key):
    """A params function: the directory of the named output (or input)."""

    def params_function(wildcards, input, output):
        files = output if key in output.keys() else input
        return os.path.dirname(files[key])

    return params_function
