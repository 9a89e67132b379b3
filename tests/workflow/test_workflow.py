"""The workflow through Snakemake: lint, dry runs of every config, the demo data stage, errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_snakemake, snakemake_command, tool_env

pytestmark = pytest.mark.workflow

EXPERIMENTS = sorted((REPO / "config" / "experiments").glob("*.yaml"))


def test_lint_is_clean(tmp_path):
    result = run_snakemake("--lint", workdir=tmp_path)
    assert "Congratulations, your workflow is in a good condition" in result.stdout + result.stderr


def test_snakefmt_is_clean():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", str(REPO / "workflow")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_default_dry_run_lists_demo_jobs(tmp_path):
    result = run_snakemake("-n", "-p", workdir=tmp_path)
    out = result.stdout
    for job in ("prepare_corpus", "byte_corpus", "demo_morphology"):
        assert job in out
    assert "results/data/demo/bytes/tok_train.pretok" in out
    assert "results/data/demo/morphology/agglutinative.csv" in out
    # the repository's files are named relative to the working directory, so that moving or
    # cloning the checkout does not change any job's inputs or command (and rerun it)
    absolute = re.compile(rf"(^|[\s'\"=,]){re.escape(str(REPO))}/")
    jobs = [line for line in out.splitlines() if line.strip().startswith(("input:", "Shell"))]
    assert jobs and [line for line in jobs if absolute.search(line)] == []


@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_dry_runs_offline(tmp_path, experiment):
    result = run_snakemake("-n", "--configfile", str(experiment), workdir=tmp_path)
    corpora = yaml.safe_load(experiment.read_text())["corpora"]
    for corpus in corpora:
        assert f"results/data/{corpus}/manifest.json" in result.stdout
    assert "results/data/demo/" not in result.stdout  # experiments replace the demo config


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    counts = {}
    for line in table.splitlines()[3:]:
        rule, count = line.split()
        counts[rule] = int(count)
    return counts


@pytest.mark.parametrize(
    ("experiment", "target", "expected"),
    [
        (  # StochasTok: GPT-2 fetched once, both splits tokenized, train.bin and val.bin
            "stochastok_openwebtext",
            "results/exports/nanogpt/openwebtext/openwebtext/pretrained-gpt2/train.bin",
            {"fetch_pretrained_tokenizer": 1, "tokenize": 1, "export_nanogpt": 1},
        ),
        (  # Delphi: the 4096 BpeTrainer tokenizer, validation split as 512-token samples
            "delphi_stories",
            "results/exports/delphi/stories/stories/hfbpe-4096/validation",
            {"train_bpe": 1, "tokenize": 1, "export_delphi": 1, "byte_corpus": 2},
        ),
        (  # CS336: both corpora's own tokenizers and the other corpus's on each eval subset
            "cs336_tinystories",
            "results/tables/compression_openwebtext.csv",
            {"tokenizer_stats": 2, "train_bpe": 2, "download_morphscore": 1},
        ),
        (  # the byte LM: train_lm on the byte-level tokenizer's arrays of lm_train and
            # validation (Common Corpus has no tokenized block), then its cues on tok_train
            "bytespan_commoncorpus",
            "results/predictions/commoncorpus/fw57M-tied.zarr",
            {
                "byte_level_tokenizer": 1,
                "tokenize": 2,
                "train_lm": 1,
                "extract_predictions": 1,
                "byte_corpus": 3,
            },
        ),
        (  # ByteSpan FineWeb: 3 BPE + 3 sizes x (global, 2 x 3 variants) x 2 inference
            # ByteSpan + the byte-level tokenizer
            "bytespan_fineweb",
            "results/tables/tokenizer_stats_finewebedu.csv",
            {
                "tokenizer_stats": 46,
                "train_bytespan": 42,
                "byte_level_tokenizer": 1,
                "download_morphscore": 1,
            },
        ),
    ],
)
def test_table_targets_build_everything_upstream(tmp_path, experiment, target, expected):
    config = REPO / "config" / "experiments" / f"{experiment}.yaml"
    result = run_snakemake("-n", target, "--configfile", str(config), workdir=tmp_path)
    counts = job_counts(result.stdout)
    for rule, count in expected.items():
        assert counts.get(rule) == count, (rule, counts)


def result_files(root: Path) -> dict[str, bytes]:
    """Every output file, except measurements (benchmark TSVs and the tables with wall times)."""
    from tests.workflow.result_manifest import is_measurement

    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "results").rglob("*"))
        if p.is_file() and not is_measurement(p.relative_to(root))
    }


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """A working directory where the demo has run with this code.

    ``TOKLAB_DEMO_REFERENCE`` names one (CI: the clean clone, right after the README's first
    command), which must be up to date; otherwise the demo runs here.
    """
    reference = os.environ.get("TOKLAB_DEMO_REFERENCE")
    if reference:
        workdir = Path(reference)
        up_to_date = run_snakemake("-n", workdir=workdir)
        assert "Nothing to be done" in up_to_date.stdout + up_to_date.stderr, (
            f"TOKLAB_DEMO_REFERENCE={reference}: its demo results are not those of this code"
        )
        return workdir
    workdir = tmp_path_factory.mktemp("demo")
    run_snakemake("--cores", "2", workdir=workdir)
    return workdir


def test_demo_data_stage_writes_everything(demo_run):
    data = demo_run / "results" / "data" / "demo"
    assert (data / "manifest.json").is_file()
    for subset in ("lm_train", "tok_train", "tok_eval", "validation"):
        assert list((data / "shards" / subset).glob("part-*.parquet"))
        for suffix in ("bin", "idx", "pretok", "meta.json"):
            assert (data / "bytes" / f"{subset}.{suffix}").stat().st_size > 0
    for language in ("agglutinative", "fusional"):
        lines = (data / "morphology" / f"{language}.csv").read_text().splitlines()
        assert lines[0] == ",full_word,pt1,rest" and len(lines) == 1001
    assert (demo_run / "logs" / "data" / "prepare_corpus" / "demo.log").is_file()


def test_demo_tokenizers(demo_run):
    from tokenizers import Tokenizer

    from toklab.data.byte_corpus import ByteCorpus

    corpus = ByteCorpus(demo_run / "results/data/demo/bytes/tok_eval")
    text = corpus.document_text(0)
    for name, size in (("bpe-500", 500), ("bpe-1000", 1000), ("hfbpe-1000", 1000)):
        directory = demo_run / "results/tokenizers/demo" / name
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        assert tokenizer.get_vocab_size() == size
        ids = tokenizer.encode(text).ids
        assert tokenizer.decode(ids) == text
        assert len(ids) < len(text.encode()) / 2  # merges learned on tok_train compress tok_eval
        assert (demo_run / "results/benchmarks/tokenizers/demo" / f"{name}.tsv").is_file()


def test_demo_byte_lm_and_predictions(demo_run):
    import json

    from toklab.cues import Predictions
    from toklab.data.byte_corpus import ByteCorpus
    from toklab.models.llama import load_checkpoint

    model_dir = demo_run / "results/models/lm/demo/demo/bytes/bytelm"  # rule train_lm's
    records = [json.loads(line) for line in (model_dir / "metrics.jsonl").read_text().splitlines()]
    validation = [r["val_loss"] for r in records if "val_loss" in r]
    assert len(validation) >= 2 and validation[-1] < validation[0]
    assert validation[-1] < 2.0  # nats per byte: well below uniform (5.5) after ~2 min of CPU
    assert load_checkpoint(model_dir).config.vocab_size == 257
    prefix = demo_run / "results/data/demo/bytes/tok_train"
    cues = Predictions(demo_run / "results/predictions/demo/bytelm.zarr", prefix)
    surprisal = cues.cue("surprisal")
    assert surprisal.shape == (ByteCorpus(prefix).num_bytes,)
    assert 0.5 < surprisal.mean() < 2.5


def test_demo_bytespan_tokenizers(demo_run):
    import csv

    from tokenizers import Tokenizer

    from toklab.data.byte_corpus import ByteCorpus

    text = ByteCorpus(demo_run / "results/data/demo/bytes/tok_eval").document_text(1)
    names = [f"{c}-frequency" for c in ("global", "monotonic", "combined-p30")]
    names += [f"{c}-{v}" for c in ("monotonic", "combined-p30") for v in ("seeding75", "balanced")]
    for name in [f"{cue}-{name}" for cue in ("surprisal", "ngram-surprisal") for name in names]:
        for size in (1000, 1500):
            directory = demo_run / f"results/tokenizers/demo/bytespan-{name}-{size}"
            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            assert tokenizer.get_vocab_size() == size
            encoding = tokenizer.encode(text)
            assert "<|unk|>" not in encoding.tokens
            assert tokenizer.decode(encoding.ids) == text
            rows = list(csv.DictReader((directory / "stats.csv").open()))
            assert rows and set(rows[0]) == {"threshold", "vocab_size", "unique_segments"}
    small = Tokenizer.from_file(
        str(
            demo_run
            / "results/tokenizers/demo/bytespan-surprisal-global-frequency-1000/tokenizer.json"
        )
    )
    large = Tokenizer.from_file(
        str(
            demo_run
            / "results/tokenizers/demo/bytespan-surprisal-global-frequency-1500/tokenizer.json"
        )
    )
    assert set(small.get_vocab()) <= set(large.get_vocab())  # nested global vocabularies


def test_demo_tables(demo_run):
    import csv
    import math

    from toklab.evaluation import tables

    def read(name):
        with (demo_run / "results/tables" / name).open(encoding="utf-8") as f:
            reader = csv.DictReader(f)
            return reader.fieldnames, list(reader)

    columns, rows = read("tokenizer_stats_demo.csv")
    assert columns == list(tables.TOKENIZER_STATS_COLUMNS)
    families = {r["family"] for r in rows}
    assert {"bpe", "hfbpe", "unigram", "bytespan-surprisal-monotonic-frequency"} <= families
    assert len(rows) == 34 * 3  # 33 trained tokenizers and bytes x (2 languages + all)
    assert all(float(r["reversibility"]) == 1.0 for r in rows)  # every tokenizer gives text back
    for row in rows:
        assert float(row["fertility"]) >= 1
        assert int(row["total_tokens"]) > int(row["total_words"]) // 2
        if row["language"] == "all":
            assert row["morph_score"] == ""
        else:  # every language has gold data: a finite score
            assert 0 <= float(row["morph_score"]) <= 1 and not math.isnan(float(row["morph_score"]))
    columns, rows = read("compression_demo.csv")
    assert columns == list(tables.COMPRESSION_COLUMNS)
    assert all(float(r["bytes_per_token"]) > 1 for r in rows if r["tokenizer"] != "bytes")
    assert {float(r["bytes_per_token"]) for r in rows if r["tokenizer"] == "bytes"} == {1.0}
    columns, rows = read("bpe_training_demo.csv")
    assert columns == list(tables.TRAINING_COLUMNS) and len(rows) == 33  # trained ones only
    assert all(float(r["wall_s"]) > 0 and float(r["max_rss_mb"]) > 0 for r in rows)


def test_demo_tokenized_datasets_load_in_their_readers(demo_run):
    """Each format in the library its users read it with, decoding back to the documents."""
    import json
    from itertools import pairwise

    import datasets
    import numpy as np
    from tokenizers import Tokenizer

    from toklab.data.byte_corpus import ByteCorpus
    from toklab.datasets.token_array import TokenArray

    results = demo_run / "results"
    corpus = ByteCorpus(results / "data/demo/bytes/validation")
    documents = [corpus.document_text(i) for i in range(len(corpus))]
    for name in ("bpe-1000", "bytespan-surprisal-monotonic-frequency-1500", "bytes"):
        tokenizer = Tokenizer.from_file(str(results / f"tokenizers/demo/{name}/tokenizer.json"))
        array = TokenArray.open(results / f"tokenized/demo/demo/{name}/validation")
        assert array.num_bytes == corpus.num_bytes and len(array) == len(documents)
        for i in (0, len(documents) // 2, len(documents) - 1):
            assert tokenizer.decode(array.document(i).tolist()) == documents[i]
    bpe = Tokenizer.from_file(str(results / "tokenizers/demo/bpe-1000/tokenizer.json"))
    eos = bpe.token_to_id("<|endoftext|>")
    exports = results / "exports"
    # nanoGPT / StochasTok: flat uint16, EOS after every document
    val = np.memmap(exports / "nanogpt/demo/demo/bpe-1000/val.bin", dtype=np.uint16, mode="r")
    assert bpe.decode(val.tolist(), skip_special_tokens=False) == "".join(
        doc + "<|endoftext|>" for doc in documents
    )
    # CS336: np.load of the same ids
    ids = np.load(exports / "cs336/demo/demo/bpe-1000/validation.npy", mmap_mode="r")
    assert ids.dtype == np.uint16 and np.array_equal(ids, val)
    # Delphi: parquet rows of seq_len tokens, <bos> first, loadable by datasets
    delphi = exports / "delphi/demo/demo/bpe-1000/validation"
    files = sorted(str(p) for p in delphi.glob("validation-*.parquet"))
    rows = datasets.load_dataset("parquet", data_files=files, split="train")["tokens"]
    meta = json.loads((delphi / "meta.json").read_text())
    assert len(rows) == meta["samples"] > 0 and {len(r) for r in rows} == {256}
    assert all(r[0] == eos for r in rows) and all(b[1] == a[-1] for a, b in pairwise(rows))
    # T-Free MemoryMap: UTF-8 bytes with [start, length] pairs
    tfree = exports / "tfree/demo/validation"
    pairs = np.fromfile(f"{tfree}.idx", dtype=np.uint64).reshape(-1, 2)
    data = np.fromfile(f"{tfree}.bin", dtype=np.uint8)
    assert [data[a : a + n].tobytes().decode() for a, n in pairs[:3]] == documents[:3]


def test_demo_language_models(demo_run):
    import csv
    import math

    from toklab.evaluation import tables

    with (demo_run / "results/tables/lm_demo.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = {r["tokenizer"]: r for r in reader}
    assert reader.fieldnames == list(tables.LM_COLUMNS)
    assert set(rows) == {
        "bpe-1000",
        "bytespan-surprisal-monotonic-frequency-1500",
        "bytes",
        "bpe-1000-stochastok0.1",
        "tfree-1024-m4",
    }
    for name, row in rows.items():
        assert int(row["train_steps"]) == 150 and float(row["tokens_per_s"]) > 0
        assert int(row["next_word_items"]) == 300
        assert 0.0 <= float(row["next_word_accuracy"]) <= 1.0
        assert int(row["next_word_choices"]) == 10
        assert 0.0 <= float(row["next_word_choice_accuracy"]) <= 1.0
        if name == "tfree-1024-m4":  # T-Free: no bits per byte, its own loss
            assert row["bits_per_byte"] == "" and row["objective"] == "multi_label"
            assert 0.0 <= float(row["next_word_oov"]) <= 1.0
            assert int(row["vocab_size"]) == 1024
            continue
        bpb = float(row["bits_per_byte"])
        assert math.isfinite(bpb) and 0 < bpb < 8  # below a uniform distribution over bytes
        assert row["objective"] == "cross_entropy" and row["next_word_oov"] == ""
    # the tiny LMs choose next words better after their own context than after another's
    gains = [float(r["next_word_choice_accuracy"]) - float(r["next_word_choice_control"])
             for r in rows.values()]  # fmt: skip
    assert max(gains) > 0.05
    assert float(rows["bytes"]["tokens_per_byte"]) == 1.0
    assert float(rows["bpe-1000"]["tokens_per_byte"]) < 0.5
    # T-Free's model and tables
    model = demo_run / "results/models/lm/demo/demo/tfree-1024-m4/tiny"
    assert (model / "tfree.json").is_file() and (model / "dictionary.tsv").is_file()
    with (demo_run / "results/tables/tfree_fertility_demo.csv").open(encoding="utf-8") as f:
        fertility = {(r["language"], r["tokenizer"]): r for r in csv.DictReader(f)}
    assert 1.0 < float(fertility["all", "tfree"]["fertility"]) < 1.6
    assert float(fertility["all", "tfree"]["fertility"]) < float(
        fertility["all", "bpe-1000"]["fertility"]
    )
    assert float(fertility["all", "tfree"]["duplicate_tokens"]) == 0.0
    with (demo_run / "results/tables/tfree_params_demo.csv").open(encoding="utf-8") as f:
        params = {r["dense_vocab_size"]: r for r in csv.DictReader(f)}
    assert float(params["64000"]["embedding_head_reduction"]) == 0.984  # 1 - 1024 / 64000
    for name in ("lm_bits_per_byte", "lm_curves"):
        assert (demo_run / f"results/plots/{name}_demo.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_findings(demo_run):
    import csv

    from toklab.evaluation import findings

    testable = {}
    for corpus in ("demo", "addition"):
        path = demo_run / f"results/tables/findings_{corpus}.csv"
        with path.open(encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        assert reader.fieldnames == list(findings.FINDINGS_COLUMNS)
        assert [r["claim_id"] for r in rows] == list(findings.CLAIMS)
        assert {r["scale"] for r in rows} == {"demo"}
        testable[corpus] = {r["claim_id"] for r in rows if r["holds"] != findings.UNTESTABLE}
    assert testable["addition"] == {
        "stochastok_addition_base", "stochastok_addition_robust", "delphi_loss_checkpoints"
    }  # fmt: skip
    assert {
        "bytespan_morphscore", "bytespan_lm_parity", "stochastok_langgame",
        "stochastok_benchmarks", "tfree_fertility", "tfree_parameters", "tfree_duplicates",
        "tfree_next_word", "delphi_loss_checkpoints",
    } == testable["demo"]  # fmt: skip


def test_demo_stochastok(demo_run):
    import csv

    from tokenizers import Tokenizer

    from toklab.datasets.token_array import TokenArray
    from toklab.evaluation import tables

    tokenizer = Tokenizer.from_file(
        str(demo_run / "results/tokenizers/demo/bpe-1000/tokenizer.json")
    )
    arrays = demo_run / "results/tokenized/demo/demo"
    own = TokenArray.open(arrays / "bpe-1000/validation")
    texts = [tokenizer.decode(own.document(d).tolist()) for d in range(5)]
    for variant in ("stochastok0.1", "bpedropout0.1", "chars"):
        array = TokenArray.open(arrays / f"bpe-1000-{variant}/validation")
        assert array.meta["tokenizer_sha256"] == own.meta["tokenizer_sha256"]
        assert [tokenizer.decode(array.document(d).tolist()) for d in range(5)] == texts
        assert array.num_tokens > own.num_tokens
    with (demo_run / "results/tables/stochastok_langgame_demo.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == list(tables.LANGGAME_COLUMNS)
    assert {(r["pretraining_tokenization"], int(r["step"])) for r in rows} == {
        (t, s) for t in ("bpe-1000", "bpe-1000-stochastok0.1") for s in (0, 30, 60, 90)
    }
    assert all(0 <= float(r["accuracy"]) <= 1 and r["questions"] == "150" for r in rows)
    with (demo_run / "results/tables/stochastok_addition_addition.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == list(tables.ADDITION_COLUMNS)
    # (the base LM's 4 checkpoints + 3 of each short run) x question tokenizations x splits
    assert len(rows) == (4 + 3 + 3) * 4 * 2
    final = {
        r["evaluation_tokenization"]: float(r["accuracy"])
        for r in rows
        if r["training_tokenization"] == "bpe-320" and r["step"] == "2000"
        and r["split"] == "validation"
    }  # fmt: skip
    # the base LM learned addition in its own tokenization (0.72 here, masked to each problem),
    # and fails on StochasTok questions (0.055)
    assert final["deterministic"] >= 0.3
    assert final["stochastok"] < final["deterministic"] / 4
    with (demo_run / "results/tables/stochastok_benchmarks_demo.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        benchmarks = list(reader)
    assert reader.fieldnames == list(tables.BENCHMARK_COLUMNS)
    assert len(benchmarks) == 4 * 6  # the lm block's LMs (final models) x benchmarks
    assert all(r["questions"] == "6" and 0 <= float(r["accuracy"]) <= 1 for r in benchmarks)
    for name in (
        "stochastok_langgame_demo",
        "stochastok_addition_addition",
        "stochastok_benchmarks_demo",
    ):
        assert (demo_run / f"results/plots/{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert {r["training_tokenization"] for r in rows} == {
        "bpe-320", "bpe-320-stochastok1", "bpe-320-chars"
    }  # fmt: skip


def test_demo_plots_and_report(demo_run):
    for name in ("morphscore_fertility", "surprisal_example", "vocab_overlap"):
        png = demo_run / f"results/plots/{name}_demo.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_snakemake("--report", "report.html", workdir=demo_run)
    report = (demo_run / "report.html").read_text(encoding="utf-8", errors="replace")
    for name in ("tokenizer_stats_demo.csv", "surprisal_example_demo.png"):
        assert name in report


#: The rules that run the demo's LMs (beyond training them), left out of the rerun test with
#: the rules downstream of them and the LMs' training but the byte LM's (ByteSpan's cues):
#: three quarters of the demo's time, most of it training. The trainer's own tests show that
#: a run is reproducible (a resumed run equals an uninterrupted one).
LM_RULES = {
    "evaluate_lm",
    "evaluate_addition",
    "evaluate_benchmarks",
    "evaluate_langgame",
    "finetune_langgame",
    "lm_logprobs",
}
BYTE_LM = "results/models/lm/demo/demo/bytes/bytelm/"


def job_outputs(workdir: Path) -> list[tuple[str, str]]:
    """``(output file, rule)`` of every job of the default target (``snakemake --summary``)."""
    lines = run_snakemake("--summary", workdir=workdir).stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("output_file\t"))
    rows = [line.split("\t") for line in lines[header + 1 :]]
    return [(row[0], row[2]) for row in rows if len(row) > 2]


def downstream_rules(workdir: Path, rules: set[str]) -> set[str]:
    """``rules`` and every rule that uses their outputs, directly or not (``--rulegraph``)."""
    dot = run_snakemake("--rulegraph", workdir=workdir).stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', dot, re.MULTILINE))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", dot, re.MULTILINE)
    found = set(rules)
    while new := {names[b] for a, b in edges if names[a] in found} - found:
        found |= new
    return found


def test_demo_rerun_is_byte_identical(demo_run, tmp_path):
    """A second run of the demo's jobs writes the same files.

    In a copy of the demo's working directory (times kept, so that nothing is out of date),
    the outputs of every job but the LMs' (see :data:`LM_RULES`) are deleted and made again:
    every data, tokenizer (the byte LM and its cues included), statistics, export and table
    stage runs twice, without running the demo twice. No job made again depends on one left
    out, whose inputs are now newer, so no other job runs.
    """
    other = tmp_path / "rerun"
    shutil.copytree(demo_run, other, symlinks=True)
    left_out = downstream_rules(other, LM_RULES) | {"all"}
    rerun = [
        path
        for path, rule in job_outputs(other)
        if rule not in left_out and (rule != "train_lm" or path.startswith(BYTE_LM))
    ]
    assert "train_bytespan" not in left_out and any(p.startswith(BYTE_LM) for p in rerun)
    for path in rerun:
        target = other / path
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    result = run_snakemake("--cores", "2", *rerun, workdir=other)
    ran = set(re.findall(r"^(?:local)?rule (\w+):$", result.stdout + result.stderr, re.MULTILINE))
    assert ran and not ran & left_out, ran & left_out
    first, second = result_files(demo_run), result_files(other)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_demo_is_up_to_date_after_run(demo_run):
    result = run_snakemake("-n", workdir=demo_run)
    assert "Nothing to be done" in result.stdout + result.stderr


def write_config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_schema_violation_is_reported(tmp_path):
    config = write_config(
        tmp_path, {"corpora": {"c": {"source": {"type": "ftp"}, "subsets": {"a": {}}}}}
    )
    result = run_snakemake("-n", "--configfile", str(config), workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert (
        "'ftp' is not one of ['hf', 'local', 'demo', 'addition', 'hf_tokens']"
        in result.stdout + result.stderr
    )


def test_bad_subset_layout_fails_at_parse_time(tmp_path):
    config = write_config(
        tmp_path,
        {
            "corpora": {
                "c": {"source": {"type": "demo"}, "subsets": {"a": {}, "b": {"documents": 3}}}
            }
        },
    )
    result = run_snakemake("-n", "--configfile", str(config), workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "subset 'a' has no size but is not the last subset" in result.stdout + result.stderr


def test_dangling_subset_reference_fails_at_parse_time(tmp_path):
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["corpora"]["demo"]["bpe"]["subset"] = "trian"
    result = run_snakemake(
        "-n", "--configfile", str(write_config(tmp_path, config)), workdir=tmp_path, check=False
    )
    assert result.returncode != 0
    assert (
        "config error: corpus 'demo': bpe.subset 'trian' is not one of its subsets"
        " (lm_train, tok_train, tok_eval, validation)"
    ) in result.stdout + result.stderr
    assert not (tmp_path / "results").exists()


def test_workflow_profile_reruns_incomplete_jobs(tmp_path):
    """From the repository root Snakemake reads profiles/default/ by itself."""
    profile = yaml.safe_load((REPO / "profiles" / "default" / "profile.yaml").read_text())
    assert profile == {"rerun-incomplete": True}
    command = snakemake_command(tmp_path, "-n")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env=tool_env(), cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert "workflow specific profile profiles/default" in result.stdout + result.stderr


def test_missing_local_file_is_reported(tmp_path):
    config = write_config(
        tmp_path,
        {
            "corpora": {
                "c": {
                    "source": {"type": "local", "paths": ["nowhere/corpus.txt"]},
                    "subsets": {"a": {}},
                }
            }
        },
    )
    result = run_snakemake("-n", "--configfile", str(config), workdir=tmp_path, check=False)
    assert result.returncode != 0
    assert "nowhere/corpus.txt" in result.stdout + result.stderr


def test_failing_job_leaves_no_partial_output(tmp_path):
    corpus = tmp_path / "small.txt"
    corpus.write_text("one\n\ntwo\n\nthree")
    config = write_config(
        tmp_path,
        {
            "corpora": {
                "c": {
                    "source": {"type": "local", "paths": [str(corpus)]},
                    "subsets": {"a": {"documents": 2}, "b": {"documents": 5}},
                }
            }
        },
    )
    result = run_snakemake(
        "--cores", "1", "--configfile", str(config), workdir=tmp_path, check=False
    )
    assert result.returncode != 0
    log = (tmp_path / "logs" / "data" / "prepare_corpus" / "c.log").read_text()
    assert log.strip().splitlines()[-1] == (
        "Error: corpus 'c': subset 'b' asks for 5 documents but the source had only 1 left for it"
    )
    assert not (tmp_path / "results" / "data" / "c" / "manifest.json").exists()
    assert not (tmp_path / "results" / "data" / "c" / "shards").exists()
    leftovers = list((tmp_path / "results").rglob("*")) if (tmp_path / "results").exists() else []
    assert [p for p in leftovers if p.is_file()] == []


def test_local_corpus_end_to_end_with_shared_data(tmp_path, shared_data):
    source = tmp_path / "shakespeare.txt"
    shutil.copy(shared_data / "tinyshakespeare" / "input.txt", source)
    config = write_config(
        tmp_path,
        {
            "corpora": {
                "shakespeare": {
                    "source": {"type": "local", "paths": [str(source)], "language": "english"},
                    "subsets": {"validation": {"documents": 100}, "train": {}},
                }
            }
        },
    )
    run_snakemake("--cores", "2", "--configfile", str(config), workdir=tmp_path)
    meta = yaml.safe_load((tmp_path / "results/data/shakespeare/bytes/train.meta.json").read_text())
    total = len(source.read_bytes())
    # blank-line separated speeches; the separators and surrounding whitespace are not kept
    assert meta["num_documents"] > 7000 and 0.9 * total < meta["num_bytes"] < total


@pytest.mark.parametrize("profile", ["local", "slurm"])
def test_profiles_are_valid(tmp_path, profile):
    result = run_snakemake("-n", "--profile", str(REPO / "profiles" / profile), workdir=tmp_path)
    assert "prepare_corpus" in result.stdout
