"""The plan: targets of the demo and of every experiment config, and the inputs of jobs."""

from __future__ import annotations

import copy
import re

import pytest

from tests.workflow.conftest import CONFIGS, load_config, validated
from toklab import names
from toklab.errors import ConfigError
from toklab.workflow.families import BPE, BYTESPAN, UNIGRAM
from toklab.workflow.plan import Plan
from toklab.workflow.tokenized import TOKENIZE_DEFAULTS

DEMO_TRAINED = [
    "bpe-500",
    "bpe-1000",
    "hfbpe-500",
    "hfbpe-1000",
    "unigram-1000",
    *(
        f"bytespan-{cue}-{setting}-{v}"
        for cue in ("surprisal", "ngram-surprisal")
        for setting in (
            "global-frequency",
            *(
                f"{c}-{variant}"
                for c in ("monotonic", "combined-p30")
                for variant in ("frequency", "seeding75", "balanced")
            ),
        )
        for v in (1000, 1500)
    ),
]
DEMO_TOKENIZERS = [*DEMO_TRAINED, "bytes", "tfree-1024-m4"]


@pytest.fixture
def demo(demo_config) -> Plan:
    return Plan(demo_config)


def test_demo_tokenizers_in_family_and_config_order(demo):
    assert demo.tokenizers.tokenizer_names("demo") == DEMO_TOKENIZERS


def test_demo_final_targets(demo):
    everything = demo.final_targets()
    # the demo corpus's, then the addition corpus's: the manifest and 8 byte-corpus files, its
    # BPE's 3 files, 3 x 2 x 3 token arrays, 3 LMs and their results, the LM table and its 2
    # figures, the logprobs of the 3 LMs (each keeps checkpoints) and their figure, 3 addition
    # results, their table and its figure, and the findings table
    split = everything.index("results/data/addition/manifest.json")
    targets, addition = everything[:split], everything[split:]
    assert len(addition) == 1 + 2 * 4 + 3 + 3 * 2 * 3 + 3 * 2 + 3 + 3 + 3 + 1 + 2 + 1
    assert "results/eval/logprobs/addition/addition/bpe-320-chars/tiny-short" in addition
    assert "results/plots/lm_logprobs_addition.png" in addition
    assert addition[-3:] == [
        "results/tables/stochastok_addition_addition.csv",
        "results/plots/stochastok_addition_addition.png",
        "results/tables/findings_addition.csv",
    ]
    # 96 before tokenized datasets (28 ByteSpan tokenizers of two files, on the byte LM's and
    # the n-gram model's cues, and both predictions); then the byte-level tokenizer's two files, 3 x 2 token
    # arrays of 3 files, delphi, nanogpt and cs336 (2 each), tfree (2 subsets x 6 files), three
    # LMs with their results, the LM table and its two figures; then bpe-1000's three variant
    # tokenizations (2 subsets x 3 files) and the LM on its StochasTok arrays; LangGame's two
    # results, table and figure; the benchmarks of the 4 LMs, their table and figure. T-Free
    # adds its hasher's two files, its 2 word arrays of 4 files, its LM and result, the word
    # counts and its two tables. The Unigram tokenizer adds its two files.
    expected = 96 + 2 + 2 + 3 * 2 * 3 + 2 + 2 + 2 + 2 * 6 + 3 * 2 + 3 + 3 * 2 * 3 + 2 + 4 + 6
    expected += 2 + 2 * 4 + 2 + 3 + 1  # and the findings table
    assert len(targets) == len(set(targets)) == expected
    assert targets[0] == "results/data/demo/manifest.json"
    assert "results/data/demo/bytes/validation.pretok" in targets
    assert "results/data/demo/morphology/fusional.csv" in targets
    assert "results/tokenizers/demo/hfbpe-1000/merges.txt" in targets
    assert "results/tokenizers/demo/bytespan-surprisal-global-frequency-1500/stats.csv" in targets
    assert "results/models/lm/demo/demo/bytes/bytelm/model.safetensors" in targets
    assert "results/predictions/demo/bytelm.zarr" in targets
    assert "results/predictions/demo/ngram/predictions.zarr" in targets
    assert "results/tokenizers/demo/bytespan-ngram-surprisal-global-frequency-1000/stats.csv" in (
        targets
    )
    assert targets[-7:] == [
        "results/tables/tokenizer_stats_demo.csv",
        "results/tables/compression_demo.csv",
        "results/tables/bpe_training_demo.csv",
        "results/plots/morphscore_fertility_demo.png",
        "results/plots/vocab_overlap_demo.png",
        "results/plots/surprisal_example_demo.png",
        "results/tables/findings_demo.csv",
    ]


def test_findings_read_the_tables_and_curves_the_config_builds(demo):
    assert demo.findings.tables("addition") == [
        ("lm", "results/tables/lm_addition.csv"),
        ("stochastok_addition", "results/tables/stochastok_addition_addition.csv"),
    ]
    assert [name for name, _ in demo.findings.tables("demo")] == [
        "tokenizer_stats", "compression", "lm", "stochastok_langgame", "stochastok_benchmarks",
        "tfree_fertility", "tfree_params",
    ]  # fmt: skip
    curves = demo.findings.curves("addition")
    assert curves[0] == (
        "bpe-320 (tiny)",
        "results/models/lm/addition/addition/bpe-320/tiny/metrics.jsonl",
    )
    inputs = demo.findings.inputs("demo")
    assert inputs["claims"].endswith("resources/paper_findings.yaml")
    options = demo.findings.options("addition")
    assert options.startswith("--table lm results/tables/lm_addition.csv --table ")
    assert "--curve 'bpe-320 (tiny)' " in options and options.endswith("--scale demo")


#: Per experiment: {corpus: (tokenizers, byte subsets, plots)}, derived from the configs by hand.
EXPERIMENTS = {
    "bytespan_fineweb": {
        # 3 BPE; ByteSpan: 3 sizes x 2 inferences x (global + 2 constraints x 3 variants)
        "finewebedu": (
            3 + 3 * 2 * (1 + 2 * 3) + 1,  # and the byte-level tokenizer
            ["bytelm_train", "tok_train", "tok_eval", "validation", "lm_train"],
            3,
        )
    },
    "bytespan_commoncorpus": {
        # 1 BPE, 2 x 7 ByteSpan and the byte-level tokenizer (the byte LM's)
        "commoncorpus": (16, ["lm_train", "tok_train", "tok_eval", "validation"], 3)
    },
    "cs336_tinystories": {
        "tinystories": (1, ["validation", "train"], 1),
        "openwebtext": (1, ["validation", "train"], 1),
    },
    "delphi_stories": {"stories": (2, ["train", "validation"], 2)},
    "miniature": {
        # 1 BPE, 1 Unigram, 3 ByteSpan (global frequency, monotonic frequency and seeding75),
        # the byte-level tokenizer and one T-Free hasher
        "miniature": (7, ["lm_train", "tok_train", "tok_eval", "validation"], 3),
        "additionmini": (1, ["train", "validation"], 0),
    },
    "stochastok_openwebtext": {
        "openwebtext": (1, ["validation", "train"], 0),
        "addition": (0, ["train", "validation"], 0),
    },
    "tfree_fineweb": {
        # 1 BPE and 7 T-Free hashers (the v ablation, the 7B's); the MorphScore figure
        "finewebedu": (8, ["dictionary", "tok_train", "tok_eval", "validation", "lm_train"], 1),
        # Mistral, XLM-R and one hasher; five languages, each its own source
        "wikipedia5": (3, ["english", "german", "russian", "vietnamese", "arabic"], 0),
    },
}


def test_every_experiment_config_is_covered():
    assert set(EXPERIMENTS) == set(CONFIGS) - {"demo"}


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_experiment_targets(experiment):
    plan = Plan(load_config(experiment))
    assert list(plan.corpora) == list(EXPERIMENTS[experiment])
    for corpus, (tokenizers, byte_subsets, plots) in EXPERIMENTS[experiment].items():
        assert len(plan.tokenizers.tokenizer_names(corpus)) == tokenizers
        assert plan.data.byte_subsets(corpus) == byte_subsets
        assert len(plan.evaluation.plot_targets(corpus)) == plots
        has_evaluation = plan.config.corpus(corpus).get("evaluation") is not None
        assert len(plan.evaluation.table_targets(corpus)) == (3 if has_evaluation else 0)
    targets = plan.final_targets()
    assert len(targets) == len(set(targets))
    assert all(t.startswith("results/") for t in targets)
    scale = "miniature" if experiment == "miniature" else "paper"
    assert plan.config.run_scale == scale
    for corpus in plan.corpora:
        assert plan.findings.options(corpus).endswith(f"--scale {scale}")


def test_cs336_compression_table_applies_the_other_corpus_tokenizer():
    plan = Plan(load_config("cs336_tinystories"))
    assert plan.evaluation.evaluated_tokenizers("openwebtext") == [
        ("openwebtext", "bpe-32000"),
        ("tinystories", "bpe-10000"),
    ]
    assert plan.evaluation.stats_files("openwebtext")[1] == (
        "results/stats/openwebtext/tinystories/bpe-10000.json"
    )
    assert plan.evaluation.own_stats_files("openwebtext") == [
        "results/stats/openwebtext/openwebtext/bpe-32000.json"
    ]
    url = plan.config.corpus("tinystories")["source"]["url"]
    assert (
        plan.data.source_files("tinystories")[0]
        == "resources/downloads/TinyStoriesV2-GPT4-train.txt"
    )
    assert plan.data.download_url("TinyStoriesV2-GPT4-train.txt") == url
    assert plan.data.corpus_script_config("tinystories")["source"]["paths"] == [
        "resources/downloads/TinyStoriesV2-GPT4-train.txt"
    ]
    with pytest.raises(ConfigError, match="no configured source downloads"):
        plan.data.download_url("elsewhere.txt")


def test_morphscore_gold_files_follow_the_languages():
    plan = Plan(load_config("bytespan_commoncorpus"))
    gold = plan.evaluation.morphscore_gold_files("commoncorpus")
    assert gold["English"] == "resources/morphscore/english_morph_data.csv"
    assert "Basque" in gold and all(p.startswith("resources/morphscore/") for p in gold.values())
    assert plan.evaluation.morphscore_url("basque").endswith("/data/basque_morph_data.csv")


def test_job_params_of_the_demo(demo):
    assert demo.tokenizers.training_command("demo", "hfbpe-500") == (
        "bpe --corpus-prefix results/data/demo/bytes/tok_train --vocab-size 500"
        " --special-token '<|endoftext|>' --min-frequency 0 --backend hf"
    )
    command = demo.tokenizers.training_command(
        "demo", "bytespan-surprisal-combined-p30-seeding75-1500"
    )
    assert command.startswith(
        "bytespan --corpus-prefix results/data/demo/bytes/tok_train"
        " --predictions results/predictions/demo/bytelm.zarr --cue surprisal"
        " --constraint combined --percentile 30 --vocab-size 1500"
    )
    assert " --variant seeding75 --inference wordpiece " in command
    assert command.endswith(" --subset tok_train --special-token '<|endoftext|>'")
    lm = demo.lm.params("demo", "demo", "bytes", "bytelm")
    assert lm["gpus"] == lm["eval_gpus"] == 0
    assert lm["settings"].startswith("--set 'model_preset=\"tiny\"' --set seq_len=256")
    assert demo.cues.prediction_params("demo", "bytelm") == {
        "gpus": 0,
        "context": 256,
        "stride": 128,
        "batch_size": 32,
    }
    stats = demo.evaluation.stats_params("demo")
    assert stats["gold"] == (
        "--gold agglutinative=results/data/demo/morphology/agglutinative.csv"
        " --gold fusional=results/data/demo/morphology/fusional.csv"
    )


def test_job_inputs_of_the_demo(demo):
    bpe = demo.tokenizers.training_inputs("demo", "bpe-500")
    assert bpe["train_bin"] == "results/data/demo/bytes/tok_train.bin"
    bytespan = demo.tokenizers.training_inputs("demo", "bytespan-surprisal-global-frequency-1000")
    assert bytespan["predictions"] == "results/predictions/demo/bytelm.zarr"
    assert bytespan["corpus_idx"] == "results/data/demo/bytes/tok_train.idx"
    predictions = demo.cues.prediction_inputs("demo", "bytelm")
    assert predictions["model"] == "results/models/lm/demo/demo/bytes/bytelm/model.safetensors"
    assert predictions["corpus_bin"] == "results/data/demo/bytes/tok_train.bin"
    entries = demo.evaluation.training_table_entries("demo")
    assert [e["name"] for e in entries] == DEMO_TRAINED
    assert entries[0]["benchmark"] == "results/benchmarks/tokenizers/demo/bpe-500.tsv"
    assert demo.evaluation.example_tokenizers("demo") == [
        "bpe-1000",
        "bytespan-surprisal-monotonic-frequency-1000",
    ]
    assert demo.evaluation.overlap_tokenizers("demo") == DEMO_TRAINED


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: p.config.corpus("nope"), "unknown corpus 'nope'"),
        (
            lambda p: p.tokenizers.training_command("demo", "bpe-777"),
            "tokenizer 'bpe-777' is not configured",
        ),
        (
            lambda p: p.tokenizers.training_inputs("demo", "bpe-777"),
            "tokenizer 'bpe-777' is not configured",
        ),
        (
            lambda p: p.tokenizers.tokenizer("demo", "bpe-500", BYTESPAN),
            "ByteSpan tokenizer 'bpe-500' is not",
        ),
        (lambda p: p.cues.bytelm("demo", "other"), "no byte LM 'other'"),
        (
            lambda p: p.evaluation.stats_inputs("demo", "demo", "bpe-9"),
            "'demo/bpe-9' is not evaluated",
        ),
        (lambda p: p.data.demo_source("demo", "klingon"), "no demo language 'klingon'"),
    ],
)
def test_unconfigured_requests_are_config_errors(demo, call, message):
    with pytest.raises(ConfigError, match=message):
        call(demo)


def test_unigram_family_through_the_registry(demo):
    """The Unigram family: its block's names, its job, its range check, and its statistics."""
    assert demo.tokenizers.training_subset("demo", "unigram-1000") == "tok_train"
    inputs = demo.tokenizers.training_inputs("demo", "unigram-1000")
    assert inputs["train_bin"] == "results/data/demo/bytes/tok_train.bin"
    assert demo.tokenizers.training_command("demo", "unigram-1000") == (
        "unigram --corpus-prefix results/data/demo/bytes/tok_train --vocab-size 1000"
        " --special-token '<|endoftext|>'"
    )
    assert "results/tokenizers/demo/unigram-1000/tokenizer.json" in demo.tokenizers.targets("demo")
    stats = "results/stats/demo/demo/unigram-1000.json"
    assert stats in demo.evaluation.own_stats_files("demo")
    assert ("demo", "unigram-1000") in demo.tfree.fertility_tokenizers("demo")
    with pytest.raises(
        ConfigError, match=r"unigram.vocab_sizes\[0\]: 256 is less than the minimum"
    ):
        UNIGRAM.check("demo", {"unigram": {"vocab_sizes": [256], "special_tokens": ["<s>"]}})


def test_family_registry_lists_each_block(demo_config):
    corpus = demo_config["corpora"]["demo"]
    assert BPE.names(corpus) == DEMO_TOKENIZERS[:4]
    assert UNIGRAM.names(corpus) == ["unigram-1000"]
    assert BYTESPAN.names(corpus) == DEMO_TRAINED[5:]
    assert all(names.ByteSpanName.match(n) for n in BYTESPAN.names(corpus))
    assert BYTESPAN.training_subset(corpus) == "tok_train"
    without = {k: v for k, v in corpus.items() if k != "bytespan"}
    assert BYTESPAN.names(without) == []


def test_demo_tokenized_datasets(demo):
    targets = demo.tokenized.targets("demo")
    arrays = [t for t in targets if t.startswith("results/tokenized/")]
    # 3 tokenizers and bpe-1000's 3 variants x 2 subsets x (bin, idx, meta.json), and T-Free's
    # word arrays (also words.json)
    assert len(arrays) == 6 * 2 * 3 + 2 * 4
    assert "results/tokenized/demo/demo/bytes/validation.meta.json" in arrays
    assert "results/tokenized/demo/demo/tfree-1024-m4/lm_train.words.json" in arrays
    words = demo.tfree.word_array_inputs("demo", "lm_train", "demo", "tfree-1024-m4")
    assert words["settings"] == "results/tokenizers/demo/tfree-1024-m4/tfree.json"
    with pytest.raises(ConfigError, match="not a T-Free hasher"):
        demo.tfree.word_array_inputs("demo", "lm_train", "demo", "bpe-1000")
    # exports take token vocabularies only
    assert ("demo", "tfree-1024-m4") not in demo.tokenized.export_tokenizers("demo", "delphi")
    assert "results/exports/delphi/demo/demo/bpe-1000/lm_train" in targets
    assert "results/exports/nanogpt/demo/demo/bpe-1000/val.bin" in targets
    assert "results/exports/cs336/demo/demo/bpe-1000/validation.npy" in targets
    assert "results/exports/tfree/demo/lm_train.idx" in targets
    assert "results/exports/tfree/demo/validation.offsets.bin" in targets
    inputs = demo.tokenized.token_array_inputs("demo", "lm_train", "demo", "bytes")
    assert inputs["tokenizer"] == "results/tokenizers/demo/bytes/tokenizer.json"
    assert inputs["corpus_bin"] == "results/data/demo/bytes/lm_train.bin"
    nanogpt = demo.tokenized.nanogpt_inputs("demo", "val", "demo", "bpe-1000")
    assert nanogpt["tokens_bin"] == "results/tokenized/demo/demo/bpe-1000/validation.bin"
    with pytest.raises(ConfigError, match="does not tokenize subset 'tok_eval'"):
        demo.tokenized.token_array_inputs("demo", "tok_eval", "demo", "bytes")
    with pytest.raises(ConfigError, match="the delphi export does not include 'demo/bytes'"):
        demo.tokenized.export_inputs("delphi", "demo", "lm_train", "demo", "bytes")


def test_foreign_tokenizers_tokenize_another_corpus():
    plan = Plan(load_config("cs336_tinystories"))
    assert plan.tokenized.tokenized_tokenizers("openwebtext") == [("openwebtext", "bpe-32000")]
    assert plan.config.resolve_tokenizer("openwebtext", "tinystories/bpe-10000") == (
        "tinystories",
        "bpe-10000",
    )
    assert "results/exports/cs336/tinystories/tinystories/bpe-10000/train.npy" in (
        plan.tokenized.targets("tinystories")
    )


def test_pretrained_and_byte_level_params():
    plan = Plan(load_config("stochastok_openwebtext"))
    assert plan.tokenizers.tokenizer_names("openwebtext") == ["pretrained-gpt2"]
    assert plan.tokenizers.training_command("openwebtext", "pretrained-gpt2") == (
        "pretrained --source openai-community/gpt2 "
    )
    assert plan.tokenizers.trained_tokenizers("openwebtext") == []
    fineweb = Plan(load_config("bytespan_fineweb"))
    assert fineweb.tokenizers.training_command("finewebedu", "bytes") == (
        "byte-level --special-token '<|endoftext|>' --special-token '<|padding|>'"
    )


def test_per_model_tokenizers_gpus_and_nodes():
    """T-Free's 7B and the dense 7B: their own tokenizers, 256 GPUs on 32 nodes."""
    plan = Plan(load_config("tfree_fineweb"))
    runs = plan.lm.runs("finewebedu")
    assert runs == [
        ("finewebedu", "tfree-8000-m10", "tfree-1B"),
        ("finewebedu", "bpe-64000", "tfree-1B"),
        ("finewebedu", "bpe-64000", "dense-7B"),
        ("finewebedu", "tfree-32000-m10-k2", "tfree-7B"),
    ]
    params = plan.lm.params("finewebedu", "finewebedu", "tfree-32000-m10-k2", "tfree-7B")
    assert (params["gpus"], params["nodes"], params["mpi"], params["tasks_per_node"]) == (
        256, 32, "srun", 8,
    )  # fmt: skip
    one_node = plan.lm.params("finewebedu", "finewebedu", "bpe-64000", "tfree-1B")
    assert (one_node["nodes"], one_node["mpi"], one_node["tasks_per_node"]) == (1, None, None)


def test_demo_language_models(demo):
    runs = demo.lm.runs("demo")
    assert runs == [
        ("demo", "bpe-1000", "tiny"),
        ("demo", "bytespan-surprisal-monotonic-frequency-1500", "tiny"),
        ("demo", "bytes", "tiny"),
        ("demo", "bpe-1000-stochastok0.1", "tiny"),
        ("demo", "tfree-1024-m4", "tiny"),
    ]
    inputs = demo.lm.training_inputs("demo", "demo", "bytes", "tiny")
    assert inputs["train_bin"] == "results/tokenized/demo/demo/bytes/lm_train.bin"
    assert inputs["valid_meta_json"] == "results/tokenized/demo/demo/bytes/validation.meta.json"
    assert inputs["tokenizer"] == "results/tokenizers/demo/bytes/tokenizer.json"
    evaluation = demo.lm.eval_inputs("demo", "demo", "bytes", "tiny")
    assert evaluation["model"] == "results/models/lm/demo/demo/bytes/tiny/model.safetensors"
    params = demo.lm.params("demo", "demo", "bpe-1000", "tiny")
    assert params["gpus"] == 0 and "--set seq_len=128" in params["settings"]
    assert demo.lm.results("demo")[0] == (
        "results/eval/lm/demo/demo/bpe-1000/tiny.json",
        "results/benchmarks/lm/demo/demo/bpe-1000/tiny.tsv",
    )
    targets = demo.lm.targets("demo")
    assert targets[-3:] == [
        "results/tables/lm_demo.csv",
        "results/plots/lm_bits_per_byte_demo.png",
        "results/plots/lm_curves_demo.png",
    ]
    with pytest.raises(ConfigError, match="trains no LM 'big' on 'demo/bytes'"):
        demo.lm.params("demo", "demo", "bytes", "big")


def test_demo_tfree_language_model(demo, demo_config):
    """The T-Free LM: its settings instead of a tokenizer.json, aligned samples, its dictionary."""
    run = ("demo", "demo", "tfree-1024-m4", "tiny")
    inputs = demo.lm.training_inputs(*run)
    assert inputs["tokenizer"] == "results/tokenizers/demo/tfree-1024-m4/tfree.json"
    words = "results/tokenized/demo/demo/tfree-1024-m4"
    assert inputs["train_words_json"] == f"{words}/lm_train.aligned.words.json"
    assert inputs["valid_items_idx"] == f"{words}/validation.aligned.items.idx"
    params = demo.lm.params(*run)
    assert params["tokenizer_option"] == "--tfree"
    assert params["train"] == f"{words}/lm_train.aligned"
    assert "--set 'data=\"aligned\"'" in params["settings"]
    assert "aligned" not in demo.lm.params("demo", "demo", "bpe-1000", "tiny")["settings"]
    assert demo.tfree.aligned_word_array_inputs("demo", "lm_train", "demo", "tfree-1024-m4") == {
        "settings": "results/tokenizers/demo/tfree-1024-m4/tfree.json",
        **{f"memory_map_{s.replace('.', '_')}": f"results/exports/tfree/demo/lm_train.{s}"
           for s in ("bin", "idx", "meta.json")},
        **{f"aligned_{s.replace('.', '_')}": f"results/exports/tfree/demo/lm_train.{s}"
           for s in ("indices.bin", "lengths.bin", "offsets.bin")},
    }  # fmt: skip
    # windows of the word arrays instead
    windows = copy.deepcopy(demo_config)
    windows["corpora"]["demo"]["tfree"]["samples"] = "windows"
    inputs = Plan(windows).lm.training_inputs(*run)
    assert inputs["train_words_json"] == f"{words}/lm_train.words.json"
    assert "data=" not in Plan(windows).lm.params(*run)["settings"]
    # aligned samples need the corpus's T-Free export
    unexported = copy.deepcopy(demo_config)
    del unexported["corpora"]["demo"]["tokenized"]["exports"]["tfree"]
    with pytest.raises(ConfigError, match="configures no tfree export"):
        Plan(unexported).lm.training_inputs(*run)
    assert demo.lm.params("demo", "demo", "bpe-1000", "tiny")["tokenizer_option"] == "--tokenizer"
    evaluation = demo.lm.eval_inputs(*run)
    assert evaluation["dictionary"] == "results/tokenizers/demo/tfree-1024-m4/dictionary.tsv"
    assert evaluation["text_bin"] == "results/data/demo/bytes/validation.bin"
    options = demo.lm.eval_params(*run)["options"]
    assert "--tfree results/tokenizers/demo/tfree-1024-m4/tfree.json" in options
    assert "--dictionary" in options and "--next-word-items 300" in options
    assert "--next-word-choices 10" in options and "--next-word-seed" not in options
    # no bits-per-byte figure or learning curve for it; no StochasTok task either
    assert all("tfree" not in label for label, *_ in demo.lm.curve_runs("demo"))
    assert ("demo", "tfree-1024-m4", "tiny") not in demo.tasks.benchmark_runs("demo")
    assert demo.tfree.targets("demo") == [
        "results/tfree/demo/lm_train.word_counts.tsv",
        "results/tables/tfree_fertility_demo.csv",
        "results/tables/tfree_params_demo.csv",
    ]
    assert demo.tokenizers.training_command("demo", "tfree-1024-m4") == (
        "tokenizer --counts results/tfree/demo/lm_train.word_counts.tsv"
        " --v 1024 --m 4 --k 0 --no-entire-words --words 4000"
    )
    assert "--subset tok_eval" in demo.tfree.fertility_options("demo")
    assert "--hasher tfree-1024-m4 --preset tiny" in demo.tfree.params_options("demo")


def test_ngram_cues_plan_and_bytespan_inputs(demo):
    assert demo.cues.ngram_inputs("demo") == {
        **{f"train_{s}": f"results/data/demo/bytes/lm_train.{s}" for s in ("bin", "idx", "pretok")},
        "train_meta_json": "results/data/demo/bytes/lm_train.meta.json",
        **{
            f"corpus_{s}": f"results/data/demo/bytes/tok_train.{s}"
            for s in ("bin", "idx", "pretok")
        },
        "corpus_meta_json": "results/data/demo/bytes/tok_train.meta.json",
    }
    assert demo.cues.ngram_params("demo") == {"order": 5, "discount": 0.75}
    inputs = demo.tokenizers.training_inputs(
        "demo", "bytespan-ngram-surprisal-monotonic-frequency-1000"
    )
    assert inputs["predictions"] == "results/predictions/demo/ngram/predictions.zarr"
    assert inputs["corpus_bin"] == "results/data/demo/bytes/tok_train.bin"
    command = demo.tokenizers.training_command(
        "demo", "bytespan-ngram-surprisal-monotonic-frequency-1000"
    )
    assert (
        "--predictions results/predictions/demo/ngram/predictions.zarr --cue surprisal" in command
    )


def test_byte_lm_is_a_run_of_the_one_lm_rule(demo):
    byte_lm = ("demo", "bytes", "bytelm")
    assert demo.cues.bytelm_run("demo") == byte_lm
    assert demo.lm.trained_runs("demo") == [*demo.lm.runs("demo"), byte_lm]
    assert byte_lm not in demo.lm.runs("demo")  # not a run of the LM table
    assert "bytelm" not in demo.lm.table_options("demo") + demo.lm.curve_options("demo")
    inputs = demo.lm.training_inputs("demo", *byte_lm)
    assert inputs["tokenizer"] == "results/tokenizers/demo/bytes/tokenizer.json"
    assert inputs["train_bin"] == "results/tokenized/demo/demo/bytes/lm_train.bin"
    assert inputs["valid_idx"] == "results/tokenized/demo/demo/bytes/validation.idx"
    params = demo.lm.params("demo", *byte_lm)
    assert params["train"] == "results/tokenized/demo/demo/bytes/lm_train"
    assert params["valid"] == "results/tokenized/demo/demo/bytes/validation"
    assert "--set max_steps=400" in params["settings"]
    assert demo.cues.targets("demo") == [
        "results/models/lm/demo/demo/bytes/bytelm/model.safetensors",
        "results/predictions/demo/bytelm.zarr",
        "results/predictions/demo/ngram/predictions.zarr",
    ]


def test_byte_lm_token_arrays_need_no_tokenized_entry(demo_config):
    # a tokenized block without the byte-level tokenizer: its arrays of the byte LM's subsets
    block = demo_config["corpora"]["demo"]
    block["tokenized"]["tokenizers"] = block["lm"]["tokenizers"] = ["bpe-1000"]
    plan = Plan(demo_config)
    for subset in ("lm_train", "validation"):
        inputs = plan.tokenized.token_array_inputs("demo", subset, "demo", "bytes")
        assert inputs["corpus_bin"] == f"results/data/demo/bytes/{subset}.bin"
    with pytest.raises(ConfigError, match="does not tokenize subset 'tok_eval' with 'demo/bytes'"):
        plan.tokenized.token_array_inputs("demo", "tok_eval", "demo", "bytes")
    assert plan.tokenized.tokenize_settings("demo") is block["tokenized"]
    # no tokenized block at all (Common Corpus): the byte LM's arrays, tokenized with defaults
    commoncorpus = Plan(load_config("bytespan_commoncorpus"))
    assert commoncorpus.tokenized.targets("commoncorpus") == []
    inputs = commoncorpus.lm.training_inputs("commoncorpus", "commoncorpus", "bytes", "fw57M-tied")
    assert inputs["train_bin"] == "results/tokenized/commoncorpus/commoncorpus/bytes/lm_train.bin"
    commoncorpus.tokenized.token_array_inputs("commoncorpus", "validation", "commoncorpus", "bytes")
    assert commoncorpus.tokenized.tokenize_settings("commoncorpus") == TOKENIZE_DEFAULTS
    assert commoncorpus.data.byte_subsets("commoncorpus")[:2] == ["lm_train", "tok_train"]


def test_tokenize_defaults_are_the_schema_defaults(demo_config):
    tokenized = demo_config["corpora"]["demo"]["tokenized"]
    assert {key: tokenized[key] for key in TOKENIZE_DEFAULTS} == TOKENIZE_DEFAULTS


def shared_byte_lm(demo_config: dict, **changes) -> Plan:
    """The demo with its byte LM named as the lm block's model, with the same settings."""
    block = copy.deepcopy(demo_config)["corpora"]["demo"]
    model = block["lm"]["models"]["tiny"]
    same = {"name": "tiny", "preset": model["preset"], "training": model["training"]}
    block["bytelm"].update({**same, **changes})
    return Plan({"corpora": {"demo": block}})


def test_byte_lm_trained_by_the_lm_block_too_is_one_job(demo_config):
    plan = shared_byte_lm(demo_config)
    run = ("demo", "bytes", "tiny")
    assert plan.lm.trained_runs("demo") == plan.lm.runs("demo") and run in plan.lm.runs("demo")
    assert plan.lm.job("demo", *run).key == "lm.models.tiny"
    targets = plan.final_targets()
    assert len(targets) == len(set(targets))
    assert "results/models/lm/demo/demo/bytes/tiny/model.safetensors" in targets
    assert "results/predictions/demo/tiny.zarr" in targets


@pytest.mark.parametrize(
    "changes",
    [{"gpus": 2}, {"valid_subset": "tok_eval"}, {"preset": "small"}, {"training": {}}],
    ids=["gpus", "subset", "preset", "training"],
)
def test_byte_lm_with_other_settings_than_the_lm_block_is_an_error(demo_config, changes):
    plan = shared_byte_lm(demo_config, **changes)
    message = (
        "corpus 'demo': bytelm and lm.models.tiny both train results/models/lm/demo/demo/bytes/"
        "tiny/ with different settings"
    )
    with pytest.raises(ConfigError, match=message):
        plan.lm.params("demo", "demo", "bytes", "tiny")
    # the other LMs of the block are unaffected
    plan.lm.params("demo", "demo", "bpe-1000", "tiny")


def chunks_config(**training: object) -> dict:
    """A corpus with a Delphi export of 65-token samples and an LM that trains on its chunks."""
    return validated(
        {
            "corpora": {
                "c": {
                    "source": {"type": "demo", "languages": ["agglutinative"]},
                    "subsets": {
                        "train": {"bytes": 5000},
                        "valid": {"bytes": 1000},
                        "rest": {"bytes": 9},
                    },
                    "bpe": {"subset": "train", "vocab_sizes": [300], "backends": ["toklab", "hf"]},
                    "tokenized": {
                        "tokenizers": ["bpe-300", "hfbpe-300"],
                        "subsets": ["train", "valid"],
                        "exports": {"delphi": {"seq_len": 65}},
                    },
                    "lm": {
                        "tokenizers": ["bpe-300", "hfbpe-300"],
                        "train_subset": "train",
                        "valid_subset": "valid",
                        "models": {
                            "chunked": {"training": {"data": "chunks", **training}},
                            "windows": {"training": {"seq_len": 32}},
                        },
                    },
                }
            }
        }
    )


def test_chunk_runs_train_on_the_delphi_export():
    plan = Plan(chunks_config(max_epochs=2))
    run = ("c", "c", "bpe-300", "chunked")
    assert plan.lm.training_inputs(*run) == {
        "tokenizer": "results/tokenizers/c/bpe-300/tokenizer.json",
        "train": "results/exports/delphi/c/c/bpe-300/train",
        "valid": "results/exports/delphi/c/c/bpe-300/valid",
    }
    params = plan.lm.params(*run)
    assert params["train"] == "results/exports/delphi/c/c/bpe-300/train"
    assert params["valid"] == "results/exports/delphi/c/c/bpe-300/valid"
    # a sample of 65 ids gives 64 predictions
    assert plan.lm.training_settings(*run) == {
        "model_preset": "tiny",
        "data": "chunks",
        "max_epochs": 2,
        "seq_len": 64,
    }
    assert params["settings"].endswith(
        """--set 'data="chunks"' --set max_epochs=2 --set seq_len=64"""
    )
    # evaluation scores every document of the token arrays
    evaluation = plan.lm.eval_inputs(*run)
    assert evaluation["valid_bin"] == "results/tokenized/c/c/bpe-300/valid.bin"
    assert evaluation["model"] == "results/models/lm/c/c/bpe-300/chunked/model.safetensors"
    # the other model of the block trains on windows of the token arrays
    windows = plan.lm.params("c", "c", "bpe-300", "windows")
    assert windows["train"] == "results/tokenized/c/c/bpe-300/train"
    assert "data" not in plan.lm.training_settings("c", "c", "bpe-300", "windows")


def test_chunk_runs_keep_a_matching_seq_len():
    plan = Plan(chunks_config(seq_len=64))
    assert plan.lm.training_settings("c", "c", "hfbpe-300", "chunked")["seq_len"] == 64
    plan = Plan(chunks_config(seq_len=65))
    with pytest.raises(ConfigError, match=r"lm.models.chunked.training.seq_len is 65, .* 64"):
        plan.lm.params("c", "c", "hfbpe-300", "chunked")


def test_chunk_runs_need_their_delphi_export():
    config = chunks_config()
    exports = config["corpora"]["c"]["tokenized"]["exports"]
    exports["delphi"]["tokenizers"] = ["hfbpe-300"]
    plan = Plan(config)
    plan.lm.params("c", "c", "hfbpe-300", "chunked")
    with pytest.raises(ConfigError, match="the delphi export does not include 'c/bpe-300'"):
        plan.lm.training_inputs("c", "c", "bpe-300", "chunked")
    del exports["delphi"]
    with pytest.raises(ConfigError, match="chunks, but the corpus configures no delphi export"):
        plan.lm.params("c", "c", "hfbpe-300", "chunked")
    config = chunks_config()
    config["corpora"]["c"]["lm"]["valid_subset"] = "rest"
    with pytest.raises(ConfigError, match=r"its subset 'rest' is not one of tokenized\.subsets"):
        Plan(config).lm.params("c", "c", "bpe-300", "chunked")


def test_lm_tables_compare_with_a_published_reference(demo):
    fineweb = Plan(load_config("bytespan_fineweb"))
    assert fineweb.lm.table_options("finewebedu").endswith(" --reference-bits-per-byte 0.82")
    assert "--reference-bits-per-byte" not in demo.lm.table_options("demo")
    delphi = Plan(load_config("delphi_stories"))
    models = [model for _, _, model in delphi.lm.runs("stories")]
    assert {
        f"stories-{kind}-{size}"
        for kind in ("llama2", "mamba")
        for size in ("50k", "1m", "10m", "50m")
    } <= set(models)


def test_variant_tokenizations_of_the_demo(demo):
    stochastok = demo.tokenized.stochastok_inputs(
        "demo", "lm_train", "demo", "bpe-1000-stochastok0.1"
    )
    assert stochastok == {
        "tokenizer": "results/tokenizers/demo/bpe-1000/tokenizer.json",
        "splits": "results/tokenizers/demo/bpe-1000/stochastok_splits.npz",
        "tokens_bin": "results/tokenized/demo/demo/bpe-1000/lm_train.bin",
        "tokens_idx": "results/tokenized/demo/demo/bpe-1000/lm_train.idx",
        "tokens_meta_json": "results/tokenized/demo/demo/bpe-1000/lm_train.meta.json",
    }
    dropout = demo.tokenized.reencoding_inputs(
        "bpedropout", "demo", "validation", "demo", "bpe-1000-bpedropout0.1"
    )
    assert dropout["tokenizer"] == "results/tokenizers/demo/bpe-1000/tokenizer.json"
    assert dropout["corpus_bin"] == "results/data/demo/bytes/validation.bin"
    assert demo.tokenized.variant_params("demo") == {"seed": 0}
    assert demo.tokenized.split_table_inputs("demo", "bpe-1000") == {
        "tokenizer": "results/tokenizers/demo/bpe-1000/tokenizer.json"
    }
    with pytest.raises(ConfigError, match="is not a stochastok tokenization"):
        demo.tokenized.stochastok_inputs("demo", "lm_train", "demo", "bpe-1000-chars")
    with pytest.raises(ConfigError, match="is a variant tokenization, not a tokenizer"):
        demo.tokenized.token_array_inputs("demo", "lm_train", "demo", "bpe-1000-chars")
    with pytest.raises(
        ConfigError,
        match=re.escape("does not tokenize subset 'lm_train' with 'demo/bpe-1000-stochastok0.2'"),
    ):
        demo.tokenized.stochastok_inputs("demo", "lm_train", "demo", "bpe-1000-stochastok0.2")
    # the LM on StochasTok arrays trains on them and is validated on bpe-1000's own ids
    run = ("demo", "bpe-1000-stochastok0.1", "tiny")
    inputs = demo.lm.training_inputs("demo", *run)
    assert inputs["tokenizer"] == "results/tokenizers/demo/bpe-1000/tokenizer.json"
    assert inputs["train_bin"] == "results/tokenized/demo/demo/bpe-1000-stochastok0.1/lm_train.bin"
    assert inputs["valid_bin"] == "results/tokenized/demo/demo/bpe-1000/validation.bin"
    assert demo.lm.eval_inputs("demo", *run)["valid_bin"] == inputs["valid_bin"]
