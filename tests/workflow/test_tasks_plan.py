"""The StochasTok stage's plan: LangGame and addition jobs of the demo, and their checks."""

from __future__ import annotations

import copy

import pytest

from tests.workflow.conftest import PRESETS, load_config, validated
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config
from toklab.workflow.plan import Plan


@pytest.fixture
def demo(demo_config) -> Plan:
    return Plan(demo_config)


def test_langgame_jobs_of_the_demo(demo):
    tasks = demo.tasks
    runs = [("demo", "bpe-1000", "tiny"), ("demo", "bpe-1000-stochastok0.1", "tiny")]
    assert tasks.langgame_runs("demo") == runs
    assert tasks.langgame_tokenizers("demo") == [("demo", "bpe-1000")]  # one set of examples
    assert tasks.langgame_question_inputs("demo") == {
        "words_bin": "results/data/demo/bytes/lm_train.bin",
        "words_idx": "results/data/demo/bytes/lm_train.idx",
        "words_pretok": "results/data/demo/bytes/lm_train.pretok",
        "words_meta_json": "results/data/demo/bytes/lm_train.meta.json",
    }
    params = tasks.langgame_question_params("demo")
    assert params == {
        "words": "--corpus-prefix results/data/demo/bytes/lm_train --size 1000",
        "train": 1500,
        "validation": 150,
        "seed": 0,
    }
    examples = tasks.langgame_example_inputs("demo", "demo", "bpe-1000", "validation")
    assert examples == {
        "questions": "results/tasks/demo/langgame/validation.jsonl",
        "tokenizer": "results/tokenizers/demo/bpe-1000/tokenizer.json",
    }
    inputs = tasks.finetune_inputs("demo", *runs[1])
    assert inputs["pretrained_model"] == (
        "results/models/lm/demo/demo/bpe-1000-stochastok0.1/tiny/model.safetensors"
    )
    assert (
        inputs["train_answers_bin"] == "results/tasks/demo/langgame/demo/bpe-1000/train.answers.bin"
    )
    assert inputs["tokenizer"] == "results/tokenizers/demo/bpe-1000/tokenizer.json"
    finetune = tasks.finetune_params("demo", *runs[1])
    assert finetune["train"] == "results/tasks/demo/langgame/demo/bpe-1000/train"
    assert finetune["gpus"] == 0  # the pretrained LM's (langgame.gpus is null)
    settings = finetune["settings"]
    for option in (
        "--set 'model_preset=\"tiny\"'",
        "--set seq_len=128",  # the pretrained run's
        "--set max_steps=90",
        "--set keep_checkpoints=true",
        "--set 'data=\"examples\"'",
        "--set 'init_from=\"results/models/lm/demo/demo/bpe-1000-stochastok0.1/tiny\"'",
    ):
        assert option in settings, (option, settings)
    evaluation = tasks.langgame_eval_inputs("demo", *runs[0])
    assert (
        evaluation["finetuned"]
        == "results/models/langgame/demo/demo/bpe-1000/tiny/model.safetensors"
    )
    assert evaluation["pretrained"] == "results/models/lm/demo/demo/bpe-1000/tiny/model.safetensors"
    assert {
        "results/tables/stochastok_langgame_demo.csv",
        "results/plots/stochastok_langgame_demo.png",
    } <= set(tasks.targets("demo"))
    assert "results/tables/stochastok_langgame_demo.csv" in demo.final_targets()
    with pytest.raises(ConfigError, match="fine-tunes no LM 'tiny' of 'demo/bytes' on LangGame"):
        tasks.finetune_inputs("demo", "demo", "bytes", "tiny")
    with pytest.raises(ConfigError, match="no LM fine-tuned on LangGame uses 'demo/bytes'"):
        tasks.langgame_example_inputs("demo", "demo", "bytes", "train")


def test_benchmark_jobs_of_the_demo(demo, demo_config):
    tasks = demo.tasks
    # every LM of the lm block but T-Free's (its head scores no texts)
    tfree = ("demo", "tfree-1024-m4", "tiny")
    assert tfree in demo.lm.runs("demo")
    assert tasks.benchmark_runs("demo") == [r for r in demo.lm.runs("demo") if r != tfree]
    inputs = tasks.benchmark_eval_inputs("demo", "demo", "bpe-1000-stochastok0.1", "tiny")
    assert inputs["tokenizer"] == "results/tokenizers/demo/bpe-1000/tokenizer.json"
    assert (
        inputs["model"]
        == "results/models/lm/demo/demo/bpe-1000-stochastok0.1/tiny/model.safetensors"
    )
    assert inputs["data_mmlu"] == "resources/benchmarks/mmlu.jsonl"  # no repository: as written
    params = tasks.benchmark_eval_params("demo")
    assert params["benchmarks"].startswith(
        "--benchmark hellaswag --data-file hellaswag resources/benchmarks/hellaswag.jsonl "
        "--benchmark arc_easy"
    )
    assert (params["limit"], params["seed"]) == (1000, 0)
    elsewhere = Plan(demo_config, repository="/repo").tasks
    files = elsewhere.benchmark_eval_inputs("demo", "demo", "bytes", "tiny")
    assert files["data_blimp"].endswith("repo/resources/benchmarks/blimp.jsonl")
    assert "results/tables/stochastok_benchmarks_demo.csv" in tasks.targets("demo")
    with pytest.raises(
        ConfigError, match="evaluates no LM 'big' of 'demo/bytes' on the benchmarks"
    ):
        tasks.benchmark_eval_inputs("demo", "demo", "bytes", "big")


def test_addition_jobs_of_the_demo(demo):
    tasks = demo.tasks
    runs = tasks.addition_runs("addition")
    assert runs == [
        ("addition", "bpe-320", "tiny"),
        ("addition", "bpe-320-stochastok1", "tiny-short"),
        ("addition", "bpe-320-chars", "tiny-short"),
    ]
    inputs = tasks.addition_eval_inputs("addition", *runs[2])
    assert (
        inputs["model"]
        == "results/models/lm/addition/addition/bpe-320-chars/tiny-short/model.safetensors"
    )
    assert inputs["tokenizer"] == "results/tokenizers/addition/bpe-320/tokenizer.json"
    assert inputs["split_validation_bin"] == "results/data/addition/bytes/validation.bin"
    params = tasks.addition_eval_params("addition")
    assert params["splits"] == (
        "--split train results/data/addition/bytes/train "
        "--split validation results/data/addition/bytes/validation"
    )
    assert (params["samples"], params["max_new_tokens"], params["stochastok_p"]) == (200, 6, 1.0)
    assert tasks.addition_table_options("addition").startswith(
        "--entry addition bpe-320 tiny results/eval/addition/addition/addition/bpe-320/tiny.json"
    )
    assert "results/tables/stochastok_addition_addition.csv" in demo.final_targets()
    assert tasks.addition_plot_split("addition") == "validation"
    with pytest.raises(
        ConfigError, match=r"corpus 'demo' configures no stochastok\.addition block"
    ):
        tasks.addition_runs("demo")


ADDITION = {
    "splits": ["validation"],
    "samples": 5,
    "max_new_tokens": 5,
    "stochastok_p": 1.0,
    "dropout_p": 0.1,
    "seed": 0,
}


def demo_with(change) -> dict:
    config = copy.deepcopy(load_config("demo"))
    change(config["corpora"])
    return config


def set_langgame(**values):
    def change(corpora):
        corpora["demo"]["stochastok"]["langgame"].update(values)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_langgame(words={"subset": "nope", "size": 10}),
            "stochastok.langgame.words.subset 'nope' is not one of its subsets",
        ),
        (
            set_langgame(runs=[{"tokenizer": "bpe-500", "model": "tiny"}]),
            "stochastok.langgame names 'demo/bpe-500' model 'tiny', which the lm block does "
            "not train",
        ),
        (
            set_langgame(training={"data": "windows"}),
            "stochastok.langgame.training sets ['data'], which the fine-tuning fixes",
        ),
        (set_langgame(training={"max_stepz": 3}), "stochastok.langgame.training: "),
        (
            set_langgame(gpus=3),
            "stochastok.langgame.training.batch_size 16 is not a multiple of micro_batch_size 16 "
            "x 3 GPUs",
        ),
        (
            lambda corpora: corpora["demo"]["stochastok"].update(addition=ADDITION),
            "stochastok.addition evaluates addition problems; the corpus's source is 'demo'",
        ),
        (
            lambda corpora: corpora["demo"]["stochastok"]["benchmarks"].update(
                data_files={"piqa": "x.jsonl"}
            ),
            "stochastok.benchmarks.data_files names ['piqa'], which stochastok.benchmarks.names",
        ),
        (
            lambda corpora: corpora["demo"]["stochastok"]["benchmarks"].update(
                runs=[{"tokenizer": "hfbpe-500", "model": "tiny"}]
            ),
            "stochastok.benchmarks names 'demo/hfbpe-500' model 'tiny', which the lm block",
        ),
        (
            lambda corpora: corpora["addition"]["stochastok"]["addition"].update(splits=["test"]),
            "stochastok.addition.splits 'test' is not one of its subsets",
        ),
        (
            lambda corpora: corpora["addition"].pop("lm"),
            "stochastok.addition evaluates the LMs of an lm block",
        ),
    ],
)
def test_bad_stochastok_blocks(change, message):
    with pytest.raises(ConfigError) as error:
        check_config(demo_with(change), presets=PRESETS)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_explicit_byte_subsets_gain_the_tasks_subsets():
    config = demo_with(lambda corpora: corpora["addition"].update(byte_subsets=[]))
    assert Plan(config).data.byte_subsets("addition") == ["train", "validation"]


# ---------------------------------------------------------------------------------------------
# lm-evaluation-harness: the lm_eval block, and the benchmarks' lm_eval backend


def with_lm_eval(demo_config, **block) -> Plan:
    """The demo with an lm_eval block (validated: the schema fills its defaults)."""
    config = copy.deepcopy(demo_config)
    config["corpora"]["demo"]["lm_eval"] = block
    return check_config(validated(config), presets=PRESETS)


def test_the_demo_runs_no_lm_eval_by_default(demo):
    assert not demo.tasks.has_lm_eval("demo")
    assert not [t for t in demo.final_targets() if "lm_eval" in t]
    assert demo.tasks.benchmark_eval_params("demo")["backend"] == "--backend toklab"
    inputs = demo.tasks.benchmark_eval_inputs("demo", "demo", "bpe-1000", "tiny")
    assert not [key for key in inputs if key.startswith("template_")]
    with pytest.raises(ConfigError, match="corpus 'demo' has no 'lm_eval' block"):
        demo.tasks.lm_eval_runs("demo")


def test_lm_eval_jobs_of_the_demo(demo_config):
    plan = with_lm_eval(demo_config, tasks=["toklab_arc_easy", "hellaswag", "toklab_blimp"])
    tasks = plan.tasks
    tfree = ("demo", "tfree-1024-m4", "tiny")
    # every LM of the lm block but T-Free's: lm-eval ranks options by a text's likelihood
    assert tasks.lm_eval_runs("demo") == [r for r in plan.lm.runs("demo") if r != tfree]
    assert tasks.lm_eval_toklab_tasks("demo") == ["toklab_arc_easy", "toklab_blimp"]
    inputs = tasks.lm_harness_inputs("demo", "demo", "bpe-1000-stochastok0.1", "tiny")
    model_dir = "results/models/lm/demo/demo/bpe-1000-stochastok0.1/tiny"
    assert inputs == {
        "model": f"{model_dir}/model.safetensors",  # its directory holds the tokenizer's files
        "config": f"{model_dir}/config.json",
        "metrics": f"{model_dir}/metrics.jsonl",
        "template_shared": "resources/lm_eval_tasks/_template_yaml",
        "template_arc_easy": "resources/lm_eval_tasks/toklab_arc_easy.yaml",
        "template_blimp": "resources/lm_eval_tasks/toklab_blimp.yaml",
    }
    assert tasks.lm_harness_params("demo") == {
        "options": "--task toklab_arc_easy --task hellaswag --task toklab_blimp"
        " --task-templates resources/lm_eval_tasks --batch-size 8 --seed 0"
    }
    result = "results/eval/lm_eval/demo/demo/bytes/tiny.json"
    assert (("demo", "bytes", "tiny"), result) in tasks.lm_eval_results("demo")
    assert f"--entry demo bytes tiny {result}" in tasks.lm_harness_table_options("demo")
    assert tasks.lm_harness_table_inputs("demo") == [r for _, r in tasks.lm_eval_results("demo")]
    targets = [t for t in plan.final_targets() if "lm_eval" in t]
    assert targets == [*tasks.lm_harness_table_inputs("demo"), "results/tables/lm_eval_demo.csv"]
    with pytest.raises(ConfigError, match="evaluates no LM 'tiny' of 'demo/tfree-1024-m4' with"):
        tasks.lm_harness_inputs("demo", *tfree)

    chosen = with_lm_eval(
        demo_config, tasks=["arc_easy"], limit=20, num_fewshot=5, batch_size=2, seed=3,
        runs=[{"tokenizer": "bytes", "model": "tiny"}],
    )  # fmt: skip
    assert chosen.tasks.lm_eval_runs("demo") == [("demo", "bytes", "tiny")]
    assert chosen.tasks.lm_harness_params("demo")["options"] == (
        "--task arc_easy --task-templates resources/lm_eval_tasks --batch-size 2 --seed 3"
        " --limit 20 --num-fewshot 5"
    )
    assert "template_shared" not in chosen.tasks.lm_harness_inputs("demo", "demo", "bytes", "tiny")


def test_benchmarks_with_the_lm_eval_backend(demo_config):
    config = copy.deepcopy(demo_config)
    config["corpora"]["demo"]["stochastok"]["benchmarks"].update(backend="lm_eval", batch_size=4)
    plan = Plan(config, repository="/repo")
    params = plan.tasks.benchmark_eval_params("demo")
    templates = params["backend"].split()[3]
    assert params["backend"] == f"--backend lm_eval --task-templates {templates} --batch-size 4"
    assert templates.endswith("repo/resources/lm_eval_tasks")  # the repository's, from anywhere
    inputs = plan.tasks.benchmark_eval_inputs("demo", "demo", "bpe-1000", "tiny")
    assert inputs["template_winogrande"] == f"{templates}/toklab_winogrande.yaml"
    assert inputs["template_shared"] == f"{templates}/_template_yaml"
    assert inputs["data_winogrande"].endswith("repo/resources/benchmarks/winogrande.jsonl")
    # the same runs, outputs and table as with toklab's scorer
    assert plan.tasks.benchmark_runs("demo") == Plan(demo_config).tasks.benchmark_runs("demo")


def set_lm_eval(**block):
    def change(corpora):
        corpora["demo"]["lm_eval"] = block

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_lm_eval(tasks=["toklab_arc_esay"]),
            "lm_eval.tasks names toklab_arc_esay, which is not one of toklab's benchmark tasks "
            "(toklab_hellaswag, toklab_arc_easy",
        ),
        (
            set_lm_eval(tasks=["arc_easy"], runs=[{"tokenizer": "tfree-1024-m4", "model": "tiny"}]),
            "lm_eval names the T-Free LM 'tfree-1024-m4' model 'tiny', which has no likelihood",
        ),
        (
            set_lm_eval(tasks=["arc_easy"], runs=[{"tokenizer": "hfbpe-500", "model": "tiny"}]),
            "lm_eval names 'demo/hfbpe-500' model 'tiny', which the lm block does not train",
        ),
        (
            set_lm_eval(
                tasks=["arc_easy"], runs=[{"tokenizer": "bpe-1000-stochastok2", "model": "tiny"}]
            ),
            "corpus 'demo': lm_eval.runs: ",
        ),
        (
            lambda corpora: corpora["addition"].update(lm_eval={"tasks": ["arc_easy"], "runs": []}),
            "corpus 'addition': lm_eval has no LMs to evaluate",
        ),
    ],
)
def test_bad_lm_eval_blocks(change, message):
    with pytest.raises(ConfigError) as error:
        check_config(demo_with(change), presets=PRESETS)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_lm_eval_keys_are_validated_by_the_schema(demo_config):
    config = copy.deepcopy(demo_config)
    config["corpora"]["demo"]["lm_eval"] = {"tasks": []}
    with pytest.raises(ConfigError, match=r"lm_eval\.tasks: \[\] should be non-empty"):
        validated(config)
    config["corpora"]["demo"]["lm_eval"] = {"tasks": ["arc_easy"], "backend": "x"}
    with pytest.raises(ConfigError, match="Additional properties are not allowed"):
        validated(config)
    config = copy.deepcopy(demo_config)
    config["corpora"]["demo"]["stochastok"]["benchmarks"]["backend"] = "harness"
    with pytest.raises(
        ConfigError, match=r"stochastok\.benchmarks\.backend: 'harness' is not one of"
    ):
        validated(config)
