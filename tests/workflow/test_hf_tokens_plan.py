"""A corpus of token ids (source hf_tokens): its plan routes the imported arrays to the LMs."""

from __future__ import annotations

import copy
import re

import pytest

from tests.workflow.conftest import PRESETS, validated
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config
from toklab.workflow.plan import Plan

TRAINING = {"seq_len": 64, "batch_size": 8, "micro_batch_size": 8, "max_steps": 200}

#: StochasTok's published OpenWebText ids, a text corpus beside it, and an LM on each tokenization.
CONFIG = {
    "corpora": {
        "owt": {
            "source": {
                "type": "hf_tokens",
                "dataset": "anyasims/openwebtext-tokenized",
                "revision": "0123abc",
                "tokenizer": "pretrained-gpt2",
                "column": "ids",
                "trailing_eos": True,
            },
            "subsets": {"train": {}, "validation": {"split": "val", "documents": 1000}},
            "pretrained": {"gpt2": {"source": "openai-community/gpt2"}},
            "tokenized": {
                "tokenizers": ["pretrained-gpt2-stochastok0.1"],
                "subsets": ["train", "validation"],
                "exports": {"nanogpt": {"train": "train", "val": "validation"}},
            },
            "lm": {
                "tokenizers": ["pretrained-gpt2", "pretrained-gpt2-stochastok0.1"],
                "train_subset": "train",
                "valid_subset": "validation",
                "models": {"tiny": {"preset": "tiny", "training": TRAINING}},
                "evaluation": {"context": 64, "stride": 32, "next_word": {"items": 0}},
            },
        },
        "text": {
            "source": {"type": "demo"},
            "subsets": {"train": {"bytes": 10000}},
            "tokenized": {"tokenizers": ["owt/pretrained-gpt2"], "subsets": ["train"]},
        },
    }
}

ARRAYS = "results/tokenized/owt/owt"


@pytest.fixture
def plan() -> Plan:
    return check_config(validated(CONFIG), presets=PRESETS)


def test_no_data_stage_and_imported_arrays_are_targets(plan):
    targets = plan.final_targets()
    assert not [t for t in targets if t.startswith("results/data/owt/")]
    assert plan.data.byte_subsets("owt") == []
    for subset in ("train", "validation"):
        for suffix in ("bin", "idx", "meta.json"):
            assert f"{ARRAYS}/pretrained-gpt2/{subset}.{suffix}" in targets
    assert f"{ARRAYS}/pretrained-gpt2-stochastok0.1/train.bin" in targets
    assert "results/exports/nanogpt/owt/owt/pretrained-gpt2/val.bin" in targets
    assert "results/tokenized/text/owt/pretrained-gpt2/train.bin" in targets  # text is tokenized
    assert len(targets) == len(set(targets))


def test_lm_inputs_are_the_imported_arrays(plan):
    inputs = plan.lm.training_inputs("owt", "owt", "pretrained-gpt2", "tiny")
    assert inputs["tokenizer"] == "results/tokenizers/owt/pretrained-gpt2/tokenizer.json"
    assert inputs["train_bin"] == f"{ARRAYS}/pretrained-gpt2/train.bin"
    assert inputs["valid_bin"] == f"{ARRAYS}/pretrained-gpt2/validation.bin"
    # StochasTok's expansion of the imported ids, validated on the imported ids
    inputs = plan.lm.training_inputs("owt", "owt", "pretrained-gpt2-stochastok0.1", "tiny")
    assert inputs["train_bin"] == f"{ARRAYS}/pretrained-gpt2-stochastok0.1/train.bin"
    assert inputs["valid_bin"] == f"{ARRAYS}/pretrained-gpt2/validation.bin"
    expand = plan.tokenized.stochastok_inputs(
        "owt", "train", "owt", "pretrained-gpt2-stochastok0.1"
    )
    assert expand["tokens_bin"] == f"{ARRAYS}/pretrained-gpt2/train.bin"
    eval_inputs = plan.lm.eval_inputs("owt", "owt", "pretrained-gpt2", "tiny")
    assert not [key for key in eval_inputs if key.startswith("text_")]


def test_import_job(plan):
    assert plan.tokenized.import_inputs("owt", "validation", "owt", "pretrained-gpt2") == {
        "tokenizer": "results/tokenizers/owt/pretrained-gpt2/tokenizer.json"
    }
    assert plan.tokenized.import_options("owt", "validation") == (
        "--dataset anyasims/openwebtext-tokenized --split val --column ids --layout documents "
        "--revision 0123abc --max-documents 1000 --trailing-eos"
    )
    assert plan.tokenized.import_options("owt", "train").startswith(
        "--dataset anyasims/openwebtext-tokenized --split train "
    )
    assert plan.tokenized.imported_corpora() == ["owt"]
    assert plan.tokenized.imported_corpus_pattern() == "owt"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda p: p.tokenized.import_inputs("owt", "train", "owt", "pretrained-gpt2-x"),
            "corpus 'owt' holds ids of 'owt/pretrained-gpt2', not of 'owt/pretrained-gpt2-x'",
        ),
        (
            lambda p: p.tokenized.import_inputs("owt", "test", "owt", "pretrained-gpt2"),
            "corpus 'owt' has no subset 'test' (has train, validation)",
        ),
        (
            lambda p: p.tokenized.import_options("text", "train"),
            "corpus 'text' is not a corpus of token ids",
        ),
    ],
)
def test_unconfigured_imports(plan, call, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        call(plan)


def test_no_corpus_of_token_ids_matches_nothing():
    config = copy.deepcopy(CONFIG)
    del config["corpora"]["owt"]
    config["corpora"]["text"]["tokenized"]["tokenizers"] = ["byte-level"]
    config["corpora"]["text"]["byte_level"] = {}
    plan = Plan(validated(config))
    assert plan.tokenized.imported_corpus_pattern() == "(?!)"


def changed(path: str, value) -> dict:
    config = copy.deepcopy(CONFIG)
    *parents, last = path.split(".")
    block = config["corpora"]
    for part in parents:
        block = block[part]
    if value is None:
        del block[last]
    else:
        block[last] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            "owt.bpe",
            {"vocab_sizes": [1000], "subset": "train"},
            "corpus 'owt': its source is hf_tokens (token ids, no text), but it has a 'bpe' "
            "block, which needs text",
        ),
        ("owt.subsets.train", {"bytes": 100}, "subset 'train' sets bytes"),
        ("owt.subsets.validation", {"split": "train"}, "both read split 'train'"),
        (
            "text.subsets.train",
            {"bytes": 100, "split": "train"},
            "corpus 'text': subset 'train' sets split",
        ),
        (
            "owt.tokenized.tokenizers",
            ["pretrained-gpt2-bpedropout0.1"],
            "tokenized.tokenizers names 'pretrained-gpt2-bpedropout0.1', but its arrays are",
        ),
        ("owt.lm.evaluation.next_word", None, "set lm.evaluation.next_word.items: 0"),
        (
            "owt.source.tokenizer",
            "pretrained-gpt3",
            "source.tokenizer 'pretrained-gpt3' is not configured",
        ),
        ("owt.tokenized.exports.tfree", {}, "tokenized.exports has tfree"),
        (
            "owt.lm.tokenizers",
            ["pretrained-gpt2-stochastok0.2"],
            "which tokenized.tokenizers does not list",
        ),
    ],
)
def test_bad_corpora_of_token_ids(path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_config(validated(changed(path, value)), presets=PRESETS)


def test_schema_refuses_text_keys_on_the_source():
    from tests.workflow.conftest import SCHEMA
    from toklab.workflow.schema import validate_config

    config = changed("owt.source.text_column", "text")
    with pytest.raises(ConfigError, match="text_column"):
        validate_config(config, SCHEMA)
    config = changed("owt.source.layout", "chunks")
    with pytest.raises(ConfigError, match="layout"):
        validate_config(config, SCHEMA)
