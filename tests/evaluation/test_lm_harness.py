"""lm-evaluation-harness as a backend: toklab's benchmarks as lm-eval tasks, scored as toklab does.

A tiny randomly initialised Llama with a BPE trained on the benchmark files is scored on the
repository's local benchmark items (resources/benchmarks/) by lm-eval, through toklab's task
templates (resources/lm_eval_tasks/), and by toklab's own scorer: the same requests, the same
option on every item, log-likelihoods within float error. Then the refusals: an unknown task,
a T-Free or unloadable checkpoint, lm-eval missing. No network: the tasks read local files.
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.conftest import REPO
from tests.helpers import script_module
from toklab.errors import ConfigError, DataError
from toklab.evaluation import lm_harness as backend
from toklab.evaluation import tables
from toklab.evaluation.downstream import BENCHMARKS, load_items, option_scores, score_items
from toklab.io import write_json
from toklab.models.causal_lm import build_model, load_model, model_spec, save_model
from toklab.models.llama import TFREE_ARCHITECTURE, LlamaModel, ModelConfig
from toklab.tokenizers.bpe import train_bpe
from toklab.tokenizers.tokenizer_files import load_tokenizer, save_tokenizer_files

TEMPLATES = REPO / "resources" / "lm_eval_tasks"
DATA = REPO / "resources" / "benchmarks"
EOT = "<|endoftext|>"
#: lm-eval and toklab run different float32 code (transformers' Llama, toklab's Llama)
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def harness():
    """lm-eval with its HF model class (the lmeval extra), or a skip naming the extra."""
    return pytest.importorskip(
        "lm_eval.models.huggingface", reason="lm-eval is optional: pip install 'toklab[lmeval]'"
    )


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A datasets cache of the module's own (not the user's)."""
    return tmp_path_factory.mktemp("datasets-cache")


def write_lm(directory, model, vocab, merges, step=0):
    """A trained LM's directory as the trainer leaves it: model, tokenizer files, its step."""
    save_tokenizer_files(directory, vocab, merges, [EOT])
    save_model(model, directory)
    write_json(directory / "training_state.json", {"step": step})
    return directory


@pytest.fixture(scope="module")
def lm_dir(tmp_path_factory):
    """A tiny Llama (random weights) with a 400-token BPE trained on the benchmark files."""
    root = tmp_path_factory.mktemp("lm")
    text = root / "text.txt"
    text.write_text("\n".join(p.read_text() for p in sorted(DATA.glob("*.jsonl"))))
    vocab, merges = train_bpe(text, 400, [EOT])
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=256)  # fmt: skip
    return write_lm(root / "lm", LlamaModel(config).eval(), vocab, merges)


@pytest.fixture(scope="module")
def local_items():
    """Every item of the six local benchmark files, as toklab's scorer reads them."""
    return {
        name: load_items(name, limit=None, data_files=DATA / f"{name}.jsonl") for name in BENCHMARKS
    }


@pytest.fixture(scope="module")
def scored(harness, lm_dir, cache):
    """lm-eval's results of toklab's six tasks on the tiny LM, with every document's samples."""
    tasks = [backend.task_name(name) for name in BENCHMARKS]
    return backend.evaluate(
        lm_dir, tasks, templates=TEMPLATES, device="cpu", batch_size=4, log_samples=True,
        cache_dir=cache,
    )  # fmt: skip


def test_lm_eval_sends_toklab_contexts_and_continuations(scored, local_items):
    for name, items in local_items.items():
        docs = sorted(scored["samples"][backend.task_name(name)], key=lambda d: d["doc_id"])
        assert len(docs) == len(items) == 6
        for doc, item in zip(docs, items, strict=True):
            # WinoGrande: a context per option; BLiMP: whole sentences after an empty context
            expected = [list(pair) for pair in zip(item.contexts(), item.options, strict=True)]
            assert [list(pair) for pair in doc["arguments"]] == expected, name


def test_both_backends_pick_the_same_options_with_the_same_log_likelihoods(
    scored, local_items, lm_dir
):
    model = load_model(lm_dir).eval()
    tokenizer = load_tokenizer(lm_dir / "tokenizer.json")
    eos = tokenizer.token_to_id(EOT)
    worst, compared = 0.0, 0
    for name, items in local_items.items():
        theirs = backend.sample_scores(scored, backend.task_name(name))
        for item, lm_eval_scores in zip(items, theirs, strict=True):
            ours = option_scores(model, tokenizer, item, eos)
            assert int(np.argmax(ours)) == int(np.argmax(lm_eval_scores)), (name, item)
            worst = max(worst, float(np.max(np.abs(np.subtract(ours, lm_eval_scores)))))
            compared += 1
        own = score_items(model, tokenizer, items, eos)
        [row] = backend.benchmark_rows(scored, [name])
        assert row == {"benchmark": name, **own}
    assert compared == 36 and worst < TOLERANCE, worst


def test_results_json_is_deterministic_portable_and_tabulated(
    harness, lm_dir, cache, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the task files name their data absolutely: any directory works
    outputs = []
    for run in ("a", "b"):
        results = backend.evaluate(
            lm_dir, ["toklab_arc_easy", "toklab_winogrande"], templates=TEMPLATES, limit=2,
            device="cpu", cache_dir=cache,
        )  # fmt: skip
        backend.write_results(tmp_path / f"{run}.json", results)
        outputs.append((tmp_path / f"{run}.json").read_text())
    assert outputs[0] == outputs[1]  # same inputs and seed: byte-identical
    written = json.loads(outputs[0])
    assert not set(backend.VOLATILE_FIELDS) & set(written) and "samples" not in written
    assert "toklab-lm-eval-" not in outputs[0]  # the temporary task directory is named generically
    assert backend.TASKS_PLACEHOLDER in outputs[0]
    rows = backend.result_rows(written)
    assert [(r["task"], r["metric"], r["filter"], r["n"], r["num_fewshot"]) for r in rows] == [
        ("toklab_arc_easy", "acc", "none", 2, 0),
        ("toklab_winogrande", "acc", "none", 2, 0),
    ]
    assert all(0 <= r["value"] <= 1 and r["stderr"] >= 0 for r in rows)

    csv = tmp_path / "lm_eval_demo.csv"
    result = CliRunner().invoke(
        script_module("tables.py").cli,
        ["lm-harness", "--entry", "demo", "bpe-400", "tiny", str(tmp_path / "a.json"), "--output", str(csv)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = csv.read_text().splitlines()
    assert lines[0] == ",".join(tables.LM_HARNESS_COLUMNS)
    assert lines[1].startswith("demo,bpe-400,tiny,toklab_arc_easy,acc,none,") and len(lines) == 3


def test_result_rows_of_groups_filters_and_missing_errors():
    results = {
        "results": {
            "mmlu": {"acc,none": 0.3, "acc_stderr,none": 0.01, "alias": "mmlu"},
            "mmlu_anatomy": {"alias": " - anatomy", "acc,none": 0.25, "acc_stderr,none": 0.04,
                             "acc_norm,none": 0.5, "acc_norm_stderr,none": "N/A"},
            "gsm8k": {"exact_match,strict-match": 0.1, "exact_match_stderr,strict-match": 0.02,
                      "name": "gsm8k", "sample_len": 7},
        },
        "n-samples": {"mmlu_anatomy": {"original": 135, "effective": 100},
                      "gsm8k": {"original": 1319, "effective": 7}},
        "n-shot": {"mmlu_anatomy": 0, "gsm8k": 5},
    }  # fmt: skip
    rows = backend.result_rows(results)
    assert [(r["task"], r["metric"], r["filter"], r["n"], r["num_fewshot"]) for r in rows] == [
        ("mmlu", "acc", "none", 0, ""),
        ("mmlu_anatomy", "acc", "none", 100, 0),
        ("mmlu_anatomy", "acc_norm", "none", 100, 0),
        ("gsm8k", "exact_match", "strict-match", 7, 5),
    ]
    assert rows[1]["stderr"] == 0.04 and math.isnan(rows[2]["stderr"])


def test_task_files_include_their_templates_with_absolute_data(tmp_path):
    sample = tmp_path / "sample.jsonl"
    files = backend.write_task_files(TEMPLATES, tmp_path, {"mmlu": sample})
    assert set(files) == {backend.task_name(name) for name in BENCHMARKS}
    assert files["toklab_mmlu"] == sample.resolve()
    assert files["toklab_blimp"] == DATA.resolve() / "blimp.jsonl"  # the template's own file
    wrapper = json.loads((tmp_path / "toklab_arc_easy.yaml").read_text())  # JSON is YAML
    assert wrapper == {
        "include": str(TEMPLATES.resolve() / "toklab_arc_easy.yaml"),
        "dataset_kwargs": {"data_files": str(DATA.resolve() / "arc_easy.jsonl")},
    }
    with pytest.raises(ConfigError, match="no task template for benchmark"):
        backend.write_task_files(TEMPLATES, tmp_path, {"piqa": sample})
    with pytest.raises(DataError, match=r"no toklab_\*\.yaml task templates"):
        backend.write_task_files(tmp_path / "empty", tmp_path)


def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text, text
    return text


def test_unknown_task_is_refused_before_the_model_loads(harness, lm_dir, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(backend, "load_hflm", never)
    with pytest.raises(ConfigError) as error:
        backend.evaluate(lm_dir, ["toklab_arc_esay"], templates=TEMPLATES, include_defaults=False)
    assert one_line(error) == (
        "unknown lm-eval task(s) toklab_arc_esay (close: toklab_arc_challenge, toklab_arc_easy)"
    )


def test_checkpoints_lm_eval_cannot_load_are_refused(harness, lm_dir, tmp_path):
    tfree = tmp_path / "tfree"
    tfree.mkdir()
    (tfree / "config.json").write_text(json.dumps({"architectures": [TFREE_ARCHITECTURE]}))
    with pytest.raises(DataError) as error:
        backend.evaluate(tfree, ["toklab_arc_easy"], templates=TEMPLATES)
    assert "a T-Free checkpoint" in one_line(error)

    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((lm_dir / name).read_bytes())
    (broken / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"],
                                                    "model_type": "no-such-model"}))  # fmt: skip
    with pytest.raises(DataError) as error:
        backend.evaluate(broken, ["toklab_arc_easy"], templates=TEMPLATES, device="cpu")
    assert one_line(error).startswith(f"{broken}: lm-eval cannot load this checkpoint (")

    with pytest.raises(DataError) as error:
        backend.evaluate(tmp_path / "absent", ["toklab_arc_easy"], templates=TEMPLATES)
    assert one_line(error).endswith("config.json: checkpoint file not found")


def test_missing_lm_eval_names_the_extra(monkeypatch, lm_dir):
    monkeypatch.setitem(sys.modules, "lm_eval", None)  # import lm_eval raises ImportError
    with pytest.raises(ConfigError) as error:
        backend.evaluate(lm_dir, ["toklab_arc_easy"], templates=TEMPLATES)
    assert "install it with pip install 'toklab[lmeval]'" in one_line(error)


def test_mamba_checkpoint_scores_as_toklab_scores_it(harness, tmp_path, cache, local_items):
    vocab = {i: bytes([i]) for i in range(256)} | {256: EOT.encode()}
    torch.manual_seed(0)
    presets = REPO / "resources" / "model_presets.yaml"
    model = build_model(model_spec("delphi-mamba-50k", presets, 257)).eval()
    directory = write_lm(tmp_path / "mamba", model, vocab, [])
    results = backend.evaluate(
        directory, ["toklab_blimp", "toklab_winogrande"], templates=TEMPLATES, limit=3,
        device="cpu", log_samples=True, cache_dir=cache,
    )  # fmt: skip
    ours_model = load_model(directory).eval()
    tokenizer = load_tokenizer(directory / "tokenizer.json")
    for name in ("blimp", "winogrande"):
        theirs = backend.sample_scores(results, backend.task_name(name))
        for item, scores in zip(local_items[name][:3], theirs, strict=True):
            ours = option_scores(ours_model, tokenizer, item, 256)
            np.testing.assert_allclose(ours, scores, atol=TOLERANCE, rtol=0)


def test_benchmark_script_gives_the_same_rows_with_either_backend(harness, lm_dir, tmp_path):
    cli = script_module("stochastok.py").cli
    common = ["evaluate-benchmarks", "--model-dir", str(lm_dir),
              "--tokenizer", str(lm_dir / "tokenizer.json"), "--limit", "4", "--seed", "3"]  # fmt: skip
    for name in ("hellaswag", "winogrande", "blimp"):
        common += ["--benchmark", name, "--data-file", name, str(DATA / f"{name}.jsonl")]
    outputs = {}
    for choice in ("toklab", "lm_eval"):
        outputs[choice] = tmp_path / f"{choice}.json"
        extra = ["--task-templates", str(TEMPLATES)] if choice == "lm_eval" else []
        result = CliRunner().invoke(
            cli, [*common, "--backend", choice, *extra, "--output", str(outputs[choice])]
        )
        assert result.exit_code == 0, result.output
    toklab, lm_eval = (json.loads(outputs[c].read_text()) for c in ("toklab", "lm_eval"))
    assert (toklab["backend"], lm_eval["backend"]) == ("toklab", "lm_eval")
    assert [r["questions"] for r in toklab["rows"]] == [4, 4, 4]  # the same seeded sample
    assert lm_eval["rows"] == toklab["rows"]

    missing = tmp_path / "missing.json"
    result = CliRunner().invoke(cli, [*common, "--backend", "lm_eval", "--output", str(missing)])
    assert result.exit_code == 1 and "--backend lm_eval needs --task-templates" in result.output
    assert not missing.exists()


def test_lm_harness_script_writes_results_or_one_line_errors(harness, lm_dir, tmp_path):
    main = script_module("lm_harness.py").main
    output = tmp_path / "results.json"
    common = ["--model-dir", str(lm_dir), "--task-templates", str(TEMPLATES), "--device", "cpu"]
    result = CliRunner().invoke(
        main, [*common, "--task", "toklab_mmlu", "--limit", "2", "--output", str(output)]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["n-samples"]["toklab_mmlu"]["effective"] == 2

    bad = tmp_path / "bad.json"
    result = CliRunner().invoke(
        main, [*common, "--task", "toklab_mmlu", "--task", "no_such_task", "--output", str(bad)]
    )
    assert result.exit_code == 1 and not bad.exists()
    assert result.output.startswith("Error: unknown lm-eval task(s) no_such_task")
    assert len(result.output.strip().splitlines()) == 1
