"""The publishing plan: repo ids, inputs and refusals of the publish targets (never default)."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.conftest import run_snakemake
from tests.workflow.conftest import PRESETS, REPO, load_config, validated
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config, check_publish
from toklab.workflow.plan import Plan


@pytest.fixture
def published() -> dict:
    """The demo config with a publish block, validated (defaults filled)."""
    config = load_config("demo")
    config["publish"] = {"organisation": "my-org"}
    return validated(config)


@pytest.fixture
def plan(published) -> Plan:
    return check_config(published, presets=PRESETS, repository=REPO)


def test_schema_fills_the_publish_defaults(published):
    assert published["publish"] == {
        "organisation": "my-org",
        "prefix": "toklab",
        "private": True,
        "license": None,
    }


def test_publish_targets_resolve_and_are_never_default(plan):
    targets = {corpus: plan.publishing.targets(corpus) for corpus in plan.corpora}
    demo, addition = targets["demo"], targets["addition"]
    assert "results/published/tokenizers/demo/bpe-1000.json" in demo
    assert "results/published/tokenizers/demo/tfree-1024-m4.json" in demo
    assert "results/published/delphi/demo/demo/bpe-1000.json" in demo
    assert "results/published/nanogpt/demo/demo/bpe-1000.json" in demo
    assert "results/published/lm/demo/demo/bpe-1000-stochastok0.1/tiny.json" in demo
    # the demo's tiny LMs keep no checkpoints; the addition LMs do: one suite each
    assert not [target for target in demo if "/suites/" in target]
    assert [target for target in addition if "/suites/" in target] == [
        "results/published/suites/addition/addition/bpe-320/tiny.json",
        "results/published/suites/addition/addition/bpe-320-stochastok1/tiny-short.json",
        "results/published/suites/addition/addition/bpe-320-chars/tiny-short.json",
    ]
    # T-Free's LM has no bits per byte: its hasher is published, not its LM
    assert not [t for t in demo if "/lm/" in t and "tfree" in t]
    default = set(plan.final_targets())
    assert not default & {t for corpus_targets in targets.values() for t in corpus_targets}
    assert not [t for t in default if t.startswith("results/published/")]


def test_without_a_publish_block_nothing_is_publishable(demo_config):
    plan = Plan(demo_config)
    assert plan.publishing.targets("demo") == []
    with pytest.raises(ConfigError, match=r"^the config has no 'publish' block"):
        plan.publishing.tokenizer_inputs("demo", "bpe-1000")


def test_repo_ids_derive_from_the_config(plan, published):
    publishing = plan.publishing
    assert publishing.tokenizer_repo("demo", "bpe-1000") == "my-org/toklab-demo-bpe-1000"
    assert (
        publishing.dataset_repo("delphi", "demo", "demo", "bpe-1000")
        == "my-org/toklab-demo-bpe-1000-delphi"
    )
    assert (
        publishing.lm_repo("addition", "addition", "bpe-320-stochastok1", "tiny-short")
        == "my-org/toklab-addition-bpe-320-stochastok1-tiny-short"
    )
    published["publish"]["prefix"] = ""
    assert Plan(published).publishing.tokenizer_repo("demo", "bpe-500") == "my-org/demo-bpe-500"


def test_job_inputs_and_params(plan):
    publishing = plan.publishing
    assert publishing.tokenizer_inputs("demo", "bpe-1000") == {
        "tokenizer": "results/tokenizers/demo/bpe-1000/tokenizer.json",
        "vocab": "results/tokenizers/demo/bpe-1000/vocab.json",
        "merges": "results/tokenizers/demo/bpe-1000/merges.txt",
    }
    params = publishing.tokenizer_params("demo", "bpe-1000")
    assert params["visibility"] == "--private"
    assert params["directory"] == "results/tokenizers/demo/bpe-1000"
    assert json.loads(params["card"]) == {
        "corpus": "demo",
        "datasets": [],
        "family": "bpe",
        "license": None,
        "source": "toklab's synthetic demo languages",
        "subset": "tok_train",
        "tokenizer": "bpe-1000",
    }
    delphi = publishing.dataset_params("delphi", "demo", "demo", "bpe-1000")
    assert delphi["splits"] == (
        "--split lm_train results/exports/delphi/demo/demo/bpe-1000/lm_train"
        " --split validation results/exports/delphi/demo/demo/bpe-1000/validation"
    )
    assert publishing.dataset_inputs("nanogpt", "demo", "demo", "bpe-1000") == {
        "tokenizer": "results/tokenizers/demo/bpe-1000/tokenizer.json",
        "split_train": "results/exports/nanogpt/demo/demo/bpe-1000/train.bin",
        "split_val": "results/exports/nanogpt/demo/demo/bpe-1000/val.bin",
    }
    run = ("addition", "addition", "bpe-320", "tiny")
    assert publishing.suite_inputs(*run) == {
        "model": "results/models/lm/addition/addition/bpe-320/tiny/model.safetensors",
        "config": "results/models/lm/addition/addition/bpe-320/tiny/config.json",
        "metrics": "results/models/lm/addition/addition/bpe-320/tiny/metrics.jsonl",
        "evaluation": "results/eval/lm/addition/addition/bpe-320/tiny.json",
        "published": "results/published/lm/addition/addition/bpe-320/tiny.json",
        "checkpoint_addition": "results/eval/addition/addition/addition/bpe-320/tiny.json",
    }
    suite = publishing.suite_params(*run)
    assert suite["evaluations"] == (
        "--checkpoint-evaluation addition results/eval/addition/addition/addition/bpe-320/tiny.json"
    )
    assert json.loads(suite["card"])["suite"] is True
    assert suite["repo_id"] == publishing.lm_params(*run)["repo_id"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            ("suite_inputs", "demo", "demo", "bpe-1000", "tiny"),
            "corpus 'demo': lm.models.tiny keeps no checkpoints",
        ),
        (
            ("lm_inputs", "demo", "demo", "tfree-1024-m4", "tiny"),
            "the T-Free LM 'tiny' on 'tfree-1024-m4' has no bits per byte",
        ),
        (("lm_inputs", "demo", "demo", "bpe-500", "tiny"), "trains no LM 'tiny' on 'demo/bpe-500'"),
        (
            ("dataset_inputs", "delphi", "demo", "demo", "bytes"),
            "the delphi export does not include 'demo/bytes'",
        ),
        (("dataset_inputs", "cs336", "demo", "demo", "bpe-1000"), "'cs336' exports are not"),
        (("tokenizer_inputs", "demo", "bpe-7"), "tokenizer 'bpe-7' is not configured"),
    ],
)
def test_what_cannot_be_published_is_a_config_error(plan, call, message):
    method, *args = call
    with pytest.raises(ConfigError, match=message):
        getattr(plan.publishing, method)(*args)


def test_invalid_or_shared_repo_ids_fail_at_parse_time(published, monkeypatch):
    published["publish"]["organisation"] = "my-org."
    with pytest.raises(ConfigError) as error:
        check_config(published, presets=PRESETS, repository=REPO)
    assert str(error.value).startswith(
        "publish: results/published/tokenizers/demo/bpe-500.json: repo id "
        "'my-org./toklab-demo-bpe-500' is not valid on the Hub"
    )
    plan = Plan({**published, "publish": {**published["publish"], "organisation": "o"}})
    repos = [("a.json", "model", "o/x"), ("b.json", "dataset", "o/x"), ("c.json", "model", "o/x")]
    monkeypatch.setattr(plan.publishing, "repos", lambda corpus: repos)
    with pytest.raises(
        ConfigError, match=r"^publish: a.json and c.json would both publish to the model repo o/x"
    ):
        check_publish(plan)


@pytest.mark.workflow
def test_dry_run_of_publish_targets(tmp_path, published):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(published))
    targets = [
        "results/published/tokenizers/demo/bpe-1000.json",
        "results/published/suites/addition/addition/bpe-320/tiny.json",
    ]
    result = run_snakemake("-n", "-p", *targets, "--configfile", str(config), workdir=tmp_path)
    stats = result.stdout.split("Job stats:")[1]
    for rule in ("publish_tokenizer", "publish_lm", "publish_suite", "evaluate_addition"):
        assert f"\n{rule} " in stats, rule
    assert (
        "publish.py suite --model-dir results/models/lm/addition/addition/bpe-320/tiny"
        " --evaluation results/eval/lm/addition/addition/bpe-320/tiny.json"
        " --checkpoint-evaluation addition results/eval/addition/addition/addition/bpe-320/tiny.json"
        " --repo-id my-org/toklab-addition-bpe-320-tiny --private" in result.stdout
    )
    assert "HF_TOKEN" not in result.stdout
