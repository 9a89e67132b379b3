"""Parse-time config checks: every bad cross-reference is one ConfigError before any job."""

from __future__ import annotations

import copy

import pytest

from tests.workflow.conftest import CONFIGS, PRESETS, load_config, validated
from tests.workflow.test_plan import chunks_config
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_repository_configs_pass(name):
    check_config(load_config(name), presets=PRESETS)


def demo_with(change) -> dict:
    config = copy.deepcopy(load_config("demo"))
    change(config["corpora"]["demo"])
    return config


def set_key(path: str, value):
    def change(corpus):
        *parents, last = path.split(".")
        block = corpus
        for key in parents:
            block = block[key]
        block[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            set_key("bpe.subset", "trian"),
            "corpus 'demo': bpe.subset 'trian' is not one of its subsets",
        ),
        (set_key("bytelm.train_subset", "x"), "bytelm.train_subset 'x' is not one of its subsets"),
        (set_key("bytelm.valid_subset", "x"), "bytelm.valid_subset 'x'"),
        (set_key("bytelm.predict_subset", "x"), "bytelm.predict_subset 'x'"),
        (set_key("evaluation.subset", "tok_evl"), "evaluation.subset 'tok_evl' is not one of"),
        (set_key("byte_subsets", ["lm_train", "nope"]), "byte_subsets 'nope'"),
        (
            set_key("evaluation.foreign_tokenizers", ["other/bpe-500"]),
            "foreign tokenizer 'other/bpe-500' names an unconfigured corpus",
        ),
        (
            set_key("evaluation.foreign_tokenizers", ["demo/bpe-123"]),
            "foreign tokenizer 'demo/bpe-123' is not configured",
        ),
        (set_key("bytespan.variants", ["seeding101"]), "bytespan: unknown variant 'seeding101'"),
        (set_key("bytelm.preset", "huge"), "bytelm.preset 'huge' is not a preset"),
        (
            set_key(
                "lm.models",
                {
                    "tiny": {
                        "preset": "tiny",
                        "training": {"batch_size": 48, "micro_batch_size": 2},
                        "gpus": 8,
                        "nodes": 3,
                    }
                },
            ),
            "lm.models.tiny: 8 GPUs cannot be split evenly over 3 nodes",
        ),
        (
            set_key(
                "lm.models",
                {
                    "tiny": {
                        "preset": "tiny",
                        "training": {"batch_size": 16, "micro_batch_size": 2},
                        "gpus": 4,
                        "nodes": 4,
                    }
                },
            ),
            "lm.models.tiny: 4 GPUs on 4 nodes is 1 per node",
        ),
        (
            set_key("lm.models", {"tiny": {"preset": "tiny", "tokenizers": ["bpe-500"]}}),
            "lm.models.tiny.tokenizers names 'bpe-500', which tokenized.tokenizers does not list",
        ),
        (set_key("bytelm.training", {"max_stepz": 3}), "bytelm.training: "),
        (set_key("bytelm.training", {"max_steps": "many"}), "bytelm.training: "),
        (
            lambda corpus: corpus.pop("bytelm"),
            "corpus 'demo': the 'bytespan' block needs a 'bytelm' block",
        ),
        (
            lambda corpus: corpus.pop("ngram"),
            "corpus 'demo': the 'bytespan' block needs a 'ngram' block",
        ),
        (
            set_key("ngram.predict_subset", "lm_train"),
            "ByteSpan trains on the subset its cues predict, one for both sources "
            "(bytelm.predict_subset 'tok_train', ngram.predict_subset 'lm_train')",
        ),
        (set_key("ngram.train_subset", "nowhere"), "ngram.train_subset 'nowhere' is not one of"),
        (
            lambda corpus: corpus.pop("byte_level"),
            "corpus 'demo': bytelm trains on the byte-level tokenizer 'bytes'; add a byte_level:",
        ),
        (
            set_key("byte_level.special_tokens", ["<|padding|>", "<|endoftext|>"]),
            "byte_level.special_tokens ['<|padding|>', '<|endoftext|>'] must start with the EOS",
        ),
        (set_key("byte_level.special_tokens", []), "byte_level.special_tokens [] must start"),
        (
            set_key("bytelm.name", "tiny"),
            "corpus 'demo': bytelm and lm.models.tiny both train results/models/lm/demo/demo/"
            "bytes/tiny/ with different settings",
        ),
        (
            set_key("lm.models.tiny.training.data", "chunks"),
            "corpus 'demo': lm.models.tiny.training.seq_len is 128, but chunks of the delphi "
            "export's 256 tokens give 255 predictions; set seq_len: 255 or leave it out",
        ),
        (
            set_key("bytelm.training.data", "chunks"),
            "bytelm.training.data is chunks, but the delphi export does not include 'demo/bytes'",
        ),
        (set_key("tokenized.subsets", ["lm_train", "tok"]), "tokenized.subsets[tok] 'tok'"),
        (
            set_key("tokenized.tokenizers", ["bpe-7"]),
            "tokenized.tokenizers 'bpe-7' is not configured",
        ),
        (
            set_key("tokenized.tokenizers", ["nowhere/bpe-1000"]),
            "tokenized.tokenizers 'nowhere/bpe-1000' names an unconfigured corpus",
        ),
        (
            set_key("tokenized.exports.cs336", {"tokenizers": ["hfbpe-500"]}),
            "tokenized.exports.cs336 names 'hfbpe-500', which tokenized.tokenizers does not list",
        ),
        (
            set_key("tokenized.exports.nanogpt", {"train": "tok_eval", "val": "validation"}),
            "tokenized.exports.nanogpt.train 'tok_eval' is not one of tokenized.subsets",
        ),
        (
            set_key("tokenized.exports.tfree", {"max_bytes": 100, "tolerance": 100}),
            "tolerance must be below max_bytes",
        ),
        (
            set_key("tokenized.tokenizers", ["bpe-7-stochastok0.1"]),
            "tokenized.tokenizers 'bpe-7' is not configured",
        ),
        (
            set_key(
                "tokenized.tokenizers", ["bytespan-surprisal-global-frequency-1000-bpedropout0.1"]
            ),
            "BPE-dropout needs merges, and 'bytespan-surprisal-global-frequency-1000' infers with "
            "WordPiece (use its -bpeinf variant)",
        ),
        (
            set_key("lm.tokenizers", ["bpe-1000-bpedropout0.2"]),
            "lm.tokenizers names 'bpe-1000-bpedropout0.2', which tokenized.tokenizers does not list",
        ),
        (set_key("lm.train_subset", "tok_train"), "lm.train_subset 'tok_train' is not one of"),
        (
            set_key("lm.tokenizers", ["hfbpe-500"]),
            "lm.tokenizers names 'hfbpe-500', which tokenized.tokenizers does not list",
        ),
        (
            set_key("lm.models", {"tiny": {"preset": "giant", "training": {}}}),
            "lm.models.tiny.preset 'giant' is not a preset",
        ),
        (
            set_key("lm.models", {"tiny": {"preset": "tiny", "training": {"max_stepz": 1}}}),
            "lm.models.tiny.training: ",
        ),
        (
            set_key("subsets", {"a": {}, "b": {"bytes": 10}}),
            "subset 'a' has no size but is not the last subset",
        ),
        # T-Free: no token variants, exports, statistics or StochasTok tasks; Llama only
        (
            set_key("tokenized.tokenizers", ["bpe-1000", "tfree-1024-m4-chars"]),
            "a T-Free hasher has words, not tokens to vary",
        ),
        (
            set_key("tokenized.exports.cs336", {"tokenizers": ["tfree-1024-m4"]}),
            "tokenized.exports.cs336 names the T-Free hasher 'tfree-1024-m4'",
        ),
        (
            set_key("tfree.fertility.tokenizers", ["tfree-1024-m4"]),
            "tfree.fertility.tokenizers names the hasher 'tfree-1024-m4'",
        ),
        (
            set_key("evaluation.foreign_tokenizers", ["demo/tfree-1024-m4"]),
            "is a T-Free hasher, which has no vocabulary",
        ),
        (
            set_key(
                "stochastok.benchmarks.runs", [{"tokenizer": "tfree-1024-m4", "model": "tiny"}]
            ),
            "names the T-Free LM 'tfree-1024-m4'",
        ),
        (
            set_key("lm.models", {"tiny": {"preset": "delphi-mamba-50k", "training": {}}}),
            "the T-Free LM on 'tfree-1024-m4' needs toklab's Llama",
        ),
        (
            set_key("tfree.hashers", [{"v": 4, "m": 8}]),
            "corpus 'demo': tfree.hashers[0].m: 8 is greater than its v 4 (allowed: an integer "
            "in [1, v])",
        ),
    ],
)
def test_bad_cross_references(change, message):
    with pytest.raises(ConfigError) as error:
        check_config(demo_with(change), presets=PRESETS)
    text = str(error.value)
    assert message in text and "\n" not in text


def test_corpora_must_agree_on_the_morphscore_url():
    config = load_config("cs336_tinystories")
    evaluation = config["corpora"]["openwebtext"]["evaluation"]
    evaluation["morphscore"] = {**evaluation["morphscore"], "url": "https://x/{language}"}
    with pytest.raises(ConfigError, match="different MorphScore urls"):
        check_config(config)


def test_schema_leaves_variant_grammar_to_the_names():
    """The schema accepts any variant string; the grammar (one place) rejects a bad one."""
    config = demo_with(set_key("bytespan.variants", ["seeding7x"]))
    validated(config)
    with pytest.raises(ConfigError, match="unknown variant 'seeding7x'"):
        check_config(config)


def test_eos_rule_is_the_tokenizer_files_rule():
    """An EOS that special_token_roles names first passes: <eos> and </s> too, not <|pad|>."""
    for specials in (["<eos>", "<pad>"], ["</s>"], ["<|endoftext|>", "<|padding|>"]):
        check_config(demo_with(set_key("byte_level.special_tokens", specials)))
    with pytest.raises(ConfigError, match="must start with the EOS"):
        check_config(demo_with(set_key("byte_level.special_tokens", ["<|pad|>"])))


def test_chunk_runs_and_new_trainer_fields_pass():
    training = {
        "max_epochs": 2,
        "extra_checkpoint_steps": [1, 2, 4],
        "keep_checkpoints": True,
        "wandb": "",
    }
    plan = check_config(chunks_config(**training), presets=PRESETS)
    assert plan.lm.params("c", "c", "bpe-300", "chunked")["train"].startswith("results/exports/")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda c: c["tokenized"]["exports"].update(delphi={"tokenizers": ["hfbpe-300"]}),
            "corpus 'c': lm.models.chunked.training.data is chunks, but the delphi export does "
            "not include 'c/bpe-300'",
        ),
        (
            lambda c: c["tokenized"]["exports"].clear(),
            "corpus 'c': lm.models.chunked.training.data is chunks, but the corpus configures "
            "no delphi export",
        ),
        (
            lambda c: c["lm"]["models"]["chunked"]["training"].update(seq_len=128),
            "corpus 'c': lm.models.chunked.training.seq_len is 128, but chunks of the delphi "
            "export's 65 tokens give 64 predictions",
        ),
    ],
)
def test_chunk_run_errors(change, message):
    config = chunks_config()
    change(config["corpora"]["c"])
    with pytest.raises(ConfigError) as error:
        check_config(config, presets=PRESETS)
    assert message in str(error.value) and "\n" not in str(error.value)
