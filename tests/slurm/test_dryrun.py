"""Dry runs through profiles/slurm, offline and without a cluster: jobs, resources, graphs.

``snakemake -n --profile profiles/slurm --configfile config/experiments/<x>.yaml [target]``
prints every job with the resources it would be submitted with. These tests read that output:
job counts per rule, a GPU request on every GPU job (and on no other), the profile's
placeholders, the launcher of multi-GPU and multi-node training, and the rule and job graphs.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from tests.conftest import REPO, run_snakemake
from tests.slurm.helpers import PLACEHOLDER, REAL_PROFILE

pytestmark = pytest.mark.workflow

PROFILE = str(REPO / "profiles" / "slurm")
EXPERIMENTS = {p.stem: p for p in sorted((REPO / "config" / "experiments").glob("*.yaml"))}
FINEWEB = EXPERIMENTS["bytespan_fineweb"]
FINEWEB_TABLE = "results/tables/tokenizer_stats_finewebedu.csv"


def gpu_rules() -> set[str]:
    """Rules that run in the GPU env (torch-gpu.yaml), read from the rule files."""
    rules = set()
    for path in (REPO / "workflow" / "rules").glob("*.smk"):
        for name, body in re.findall(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", path.read_text(), re.M):
            if "envs/torch-gpu.yaml" in body:
                rules.add(name)
    return rules


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count} (without the total)."""
    table = output.split("Job stats:")[1].split("\n\n")[0]
    rows = [line.split() for line in table.splitlines()[3:]]
    return {rule: int(count) for rule, count in rows if rule != "total"}


def job_resources(output: str) -> list[tuple[str, dict[str, str]]]:
    """(rule, resources) of every job a dry run lists."""
    jobs = []
    for rule, body in re.findall(r"^rule (\w+):\n(.*?)(?=^\S|\Z)", output, re.M | re.S):
        line = re.search(r"^\s+resources: (.*)$", body, re.M)
        assert line, f"rule {rule} lists no resources:\n{body}"
        jobs.append((rule, dict(item.split("=", 1) for item in line.group(1).split(", "))))
    return jobs


def dry_run(tmp_path, *args: str, config=None) -> str:
    """The output of a dry run through the SLURM profile (targets before --configfile)."""
    extra = ["--configfile", str(config)] if config else []
    result = run_snakemake("-n", "-p", "--profile", PROFILE, *args, *extra, workdir=tmp_path)
    return result.stdout + result.stderr


def training_gpus(config: dict) -> list[int]:
    """GPUs of every train_lm job, derived from a config by hand: each model of an lm block
    on each of its tokenizers, and each byte LM (on the byte-level tokenizer)."""
    gpus = []
    for block in config["corpora"].values():
        lm = block.get("lm")
        for model in (lm or {}).get("models", {}).values():
            tokenizers = model.get("tokenizers", lm["tokenizers"])
            gpus += [model.get("gpus", lm.get("gpus", 0))] * len(tokenizers)
        if block.get("bytelm"):
            gpus.append(block["bytelm"]["gpus"])
    return gpus


def expected_counts(config: dict) -> dict[str, int]:
    """Jobs per rule of the data, byte-level tokenizer and LM stages, derived by hand."""
    corpora = config["corpora"]
    byte_lms = sum(1 for block in corpora.values() if block.get("bytelm"))
    return {
        "prepare_corpus": len(corpora),
        "byte_level_tokenizer": sum(1 for block in corpora.values() if "byte_level" in block),
        "train_lm": len(training_gpus(config)),
        "extract_predictions": byte_lms,
    }


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS), ids=str)
def test_experiment_dag_with_slurm_resources(tmp_path, experiment):
    config = yaml.safe_load(EXPERIMENTS[experiment].read_text())
    output = dry_run(tmp_path, config=EXPERIMENTS[experiment])
    counts = job_counts(output)
    jobs = job_resources(output)
    assert len(jobs) == sum(counts.values())
    for rule, count in expected_counts(config).items():
        assert counts.get(rule, 0) == count, (rule, counts)

    # the CPU miniature (run_scale miniature) asks no GPU anywhere, even on SLURM
    cpu_only = config.get("run_scale") == "miniature"
    for rule, resources in jobs:
        # every job is submitted with an account, a partition, a time limit and memory
        assert {"slurm_account", "slurm_partition", "runtime", "mem_mb"} <= resources.keys()
        assert resources["slurm_account"] == PLACEHOLDER
        if cpu_only:
            assert int(resources.get("gpu", 0)) == 0, (rule, resources)
        elif rule in gpu_rules():
            assert int(resources["gpu"]) >= 1, (rule, resources)
            assert resources["slurm_partition"] == f"{PLACEHOLDER}_GPU"
            assert int(resources["cpus_per_gpu"]) >= 1
        else:
            assert int(resources.get("gpu", 0)) == 0, (rule, resources)
            assert resources["slurm_partition"] == PLACEHOLDER
    trainings = [resources for rule, resources in jobs if rule == "train_lm"]
    assert sorted(int(r["gpu"]) for r in trainings) == sorted(training_gpus(config))
    assert all("--signal=TERM@" in r["slurm_extra"] for r in trainings)


def test_table_target_pulls_in_the_gpu_jobs(tmp_path):
    output = dry_run(tmp_path, FINEWEB_TABLE, config=FINEWEB)
    counts = job_counts(output)
    assert counts["train_lm"] == counts["extract_predictions"] == 1  # the byte LM only
    assert counts["tokenizer_stats_table"] == 1
    resources = dict(job_resources(output))
    assert resources["train_lm"]["gpu"] == "4"  # bytelm.gpus of the config
    assert resources["extract_predictions"]["gpu"] == "1"
    # four GPUs on one node: torchrun with one process per GPU, exec'd so signals reach it
    torchrun = "exec env TORCH_ELASTIC_SHUTDOWN_TIMEOUT=600 torchrun"
    assert f"Shell command: {torchrun} --standalone --nnodes 1 --nproc-per-node 4 " in output


def test_seven_b_models_train_sharded_on_32_nodes(tmp_path):
    """T-Free's released 7B and its dense baseline: 32 nodes of 8 GPUs each, FSDP."""
    tfree = EXPERIMENTS["tfree_fineweb"]
    targets = [
        f"results/models/lm/finewebedu/finewebedu/{tokenizer}/{model}/model.safetensors"
        for tokenizer, model in (("tfree-32000-m10-k2", "tfree-7B"), ("bpe-64000", "dense-7B"))
    ]
    output = dry_run(tmp_path, *targets, config=tfree)
    trainings = [r for rule, r in job_resources(output) if rule == "train_lm"]
    assert len(trainings) == 2
    for resources in trainings:
        assert (resources["gpu"], resources["nodes"]) == ("256", "32")
        assert (resources["mpi"], resources["tasks_per_node"]) == ("srun", "8")
    commands = re.findall(r"^Shell command: (exec srun .*)$", output, re.M)
    assert len(commands) == 2
    for command in commands:
        assert command.startswith("exec srun --nodes 32 --ntasks 32 --ntasks-per-node 1")
        assert "torchrun --nnodes 32 --nproc-per-node 8" in command
        assert "--set 'parallelism=\"fsdp\"'" in command
        assert "--set activation_checkpointing=true" in command


def test_multi_node_training_starts_torchrun_on_each_node(tmp_path):
    target = "results/models/lm/finewebedu/finewebedu/bytes/fw57M-tied/model.safetensors"
    # --set-resources on the command line replaces the profile's list, so cpus_per_gpu again
    cpus_per_gpu = yaml.safe_load(REAL_PROFILE.read_text())["set-resources"]["train_lm"][
        "cpus_per_gpu"
    ]
    nodes = ["train_lm:nodes=2", "train_lm:mpi=srun", "train_lm:tasks_per_node=2"]
    cpus = f"train_lm:cpus_per_gpu={cpus_per_gpu}"
    output = dry_run(tmp_path, target, "--set-resources", cpus, *nodes, config=FINEWEB)
    command = re.search(r"^Shell command: (exec srun .*)$", output, re.M)
    assert command, output[-3000:]
    assert command.group(1).startswith(
        "exec srun --nodes 2 --ntasks 2 --ntasks-per-node 1"
        f" --cpus-per-task {2 * cpus_per_gpu} --gpus-per-node 2 --kill-on-bad-exit=1"
        " sh -c 'exec env TORCH_ELASTIC_SHUTDOWN_TIMEOUT=600 torchrun --nnodes 2"
        " --nproc-per-node 2 --rdzv-backend c10d --rdzv-endpoint"
    )
    # each node's shell runs torchrun with the script and its arguments ("$@")
    assert re.search(
        r"""--rdzv-id "\$SLURM_JOB_ID" "\$@"' torchrun \S*train_lm\.py --train """, command.group(1)
    )

    output = run_snakemake(
        "-n",
        target,
        "--set-resources",
        "train_lm:nodes=2",
        "--configfile",
        str(FINEWEB),
        workdir=tmp_path,
        check=False,
    )
    assert output.returncode != 0
    assert "2-node training needs the resources mpi='srun'" in output.stdout + output.stderr


@pytest.mark.parametrize("graph", ["--rulegraph", "--dag"])
def test_graphs_render(tmp_path, graph):
    result = run_snakemake(
        graph, "--profile", PROFILE, FINEWEB_TABLE, "--configfile", str(FINEWEB), workdir=tmp_path
    )
    dot = result.stdout
    assert dot.startswith("digraph snakemake_dag {") and dot.rstrip().endswith("}")
    nodes = dict(re.findall(r"^\s*(\d+)\[label = \"([^\"]+)\"", dot, re.M))
    edges = re.findall(r"^\s*(\d+) -> (\d+)$", dot, re.M)
    assert edges and all(a in nodes and b in nodes for a, b in edges)
    labels = {label.split("\\n")[0] for label in nodes.values()}
    assert {"train_lm", "extract_predictions", "train_bytespan", "tokenizer_stats"} <= labels
    if shutil.which("dot") is None:
        pytest.skip("graphviz's dot is not installed: the DOT text was checked, not rendered")
    svg = subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0, svg.stderr
    assert "<svg" in svg.stdout and "train_lm" in svg.stdout


def test_profile_names_only_existing_rules_and_comments_every_entry(tmp_path):
    profile = yaml.safe_load(REAL_PROFILE.read_text())
    rules = set(run_snakemake("--list-rules", workdir=tmp_path).stdout.split())
    assert set(profile["set-resources"]) <= rules
    assert gpu_rules() <= set(profile["set-resources"])
    lines = REAL_PROFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            commented = "#" in line or lines[number - 1].lstrip().startswith("#")
            assert commented, f"profile line {number + 1} has no comment: {line}"
    defaults = profile["default-resources"]
    assert defaults["slurm_partition"] == defaults["slurm_account"] == PLACEHOLDER
    assert profile["slurm-status-command"] == "squeue"
