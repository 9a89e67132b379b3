"""Training launchers and the quoting of shell options."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from toklab.errors import ConfigError
from toklab.workflow import launch, shell
from toklab.workflow.launch import train_launcher

JOB_ID = 1234567
#: The rendezvous port of job JOB_ID: 20000 + the job id modulo 10000.
PORT = 24567
#: A stand-in for srun: checks its options, records them, then runs the command once per task
#: as SLURM would, with the variables srun sets in each task (the step's nodes, the job id).
FAKE_SRUN = """
import argparse, json, os, subprocess, sys
parser = argparse.ArgumentParser()
for option in ("--nodes", "--ntasks", "--ntasks-per-node", "--cpus-per-task", "--gpus-per-node"):
    parser.add_argument(option, type=int, required=True)
parser.add_argument("--kill-on-bad-exit", type=int, required=True)
parser.add_argument("command", nargs=argparse.REMAINDER)
args = parser.parse_args()
with open(os.environ["RECORD"], "a") as record:
    record.write(json.dumps({"srun": {k: v for k, v in vars(args).items() if k != "command"}}) + "\\n")
for task in range(args.ntasks):
    env = dict(os.environ, SLURM_STEP_NODELIST="gpu[07-08]", SLURM_JOB_ID=os.environ["JOB"])
    env["SLURM_PROCID"] = str(task)
    subprocess.run(args.command, env=env, check=True)
"""
#: scontrol show hostnames, for the one node list FAKE_SRUN sets.
FAKE_SCONTROL = """
import sys
assert sys.argv[1:] == ["show", "hostnames", "gpu[07-08]"], sys.argv
print("gpu07\\ngpu08")
"""
#: torchrun and python: record the arguments and the variables they were started with.
FAKE_PROGRAM = """
import json, os, sys
with open(os.environ["RECORD"], "a") as record:
    variables = ("TORCH_ELASTIC_SHUTDOWN_TIMEOUT", "SLURM_PROCID")
    entry = {"program": os.path.basename(sys.argv[0]), "argv": sys.argv[1:]}
    entry.update({name: os.environ[name] for name in variables if name in os.environ})
    record.write(json.dumps(entry) + "\\n")
"""
#: Arguments with characters the shells must pass through unchanged.
SCRIPT_ARGS = ["scripts/train lm.py", "--train", "it's $HOME/a b", "--set", 'optim.lr="3e-4"']


def run_launcher(tmp_path: Path, launcher: str, job_id: int = JOB_ID) -> list[dict]:
    """The rule's command (``exec {launcher} SCRIPT ARGS``, in bash as Snakemake runs it) with
    stand-ins for srun, scontrol, torchrun and python; the records they wrote, in order.

    The environment has no SLURM variables but the job id, as the plugin's job step leaves it.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    programs = {"srun": FAKE_SRUN, "scontrol": FAKE_SCONTROL}
    programs.update(torchrun=FAKE_PROGRAM, python=FAKE_PROGRAM)
    for name, code in programs.items():
        (bin_dir / name).write_text(f"#!{sys.executable}\n{code}")
        (bin_dir / name).chmod(0o755)
    record = tmp_path / "record.jsonl"
    record.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "TORCH"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env['PATH']}", RECORD=str(record), JOB=str(job_id))
    env["SLURM_JOB_ID"] = str(job_id)
    command = f"set -euo pipefail; exec {launcher} {shlex.join(SCRIPT_ARGS)}"
    subprocess.run(["bash", "-c", command], env=env, check=True, timeout=60)
    return [json.loads(line) for line in record.read_text().splitlines()]


def test_one_gpu_or_none_runs_python(tmp_path):
    assert train_launcher(0, 1, 4) == train_launcher(1, 1, 4) == "python"
    assert train_launcher(1, 1, 4, mpi="srun", cpus_per_gpu=8) == "python"
    assert run_launcher(tmp_path, "python") == [{"program": "python", "argv": SCRIPT_ARGS}]


def test_one_node_runs_torchrun_with_a_process_per_gpu(tmp_path):
    expected = (
        f"env TORCH_ELASTIC_SHUTDOWN_TIMEOUT={launch.SHUTDOWN_TIMEOUT}"
        " torchrun --standalone --nnodes 1 --nproc-per-node 4"
    )
    assert train_launcher(4, 1, 4) == expected
    # mpi changes nothing on one node: the command runs on the job's node either way
    assert train_launcher(4, 1, 4, mpi="srun", cpus_per_gpu=8) == expected
    (record,) = run_launcher(tmp_path, expected)
    assert record == {
        "program": "torchrun",
        "argv": ["--standalone", "--nnodes", "1", "--nproc-per-node", "4", *SCRIPT_ARGS],
        "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "600",
    }


def test_two_nodes_of_four_gpus():
    # the line of docs/slurm.md's worked example, in full
    assert train_launcher(8, 2, 4, mpi="srun", cpus_per_gpu=8) == (
        "srun --nodes 2 --ntasks 2 --ntasks-per-node 1 --cpus-per-task 32 --gpus-per-node 4"
        " --kill-on-bad-exit=1 sh -c 'exec env TORCH_ELASTIC_SHUTDOWN_TIMEOUT=600 torchrun"
        " --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint"
        ' "$(scontrol show hostnames "$SLURM_STEP_NODELIST" | head -n 1)'
        ':$((20000 + SLURM_JOB_ID % 10000))" --rdzv-id "$SLURM_JOB_ID" "$@"\' torchrun'
    )


@pytest.mark.parametrize(
    ("gpus", "nodes", "cpus_per_gpu", "cpus"),
    [(8, 2, 8, 32), (2, 2, 6, 6), (12, 3, 0, 5), (16, 4, 2, 8)],
)
def test_several_nodes_start_one_torchrun_per_node(tmp_path, gpus, nodes, cpus_per_gpu, cpus):
    launcher = train_launcher(gpus, nodes, 5, mpi="srun", cpus_per_gpu=cpus_per_gpu)
    srun, *tasks = run_launcher(tmp_path, launcher)
    per_node = gpus // nodes
    assert srun == {
        "srun": {
            "nodes": nodes,
            "ntasks": nodes,
            "ntasks_per_node": 1,
            "cpus_per_task": cpus,  # cpus_per_gpu for each of the node's GPUs, else threads
            "gpus_per_node": per_node,
            "kill_on_bad_exit": 1,
        }
    }
    # every node's torchrun: the same rendezvous on the first node of the step, the job's id
    # as its id and its port, torch's shutdown timeout raised, the script's arguments intact
    rendezvous = ["--rdzv-backend", "c10d", "--rdzv-endpoint", f"gpu07:{PORT}"]
    assert tasks == [
        {
            "program": "torchrun",
            "argv": [
                *["--nnodes", str(nodes), "--nproc-per-node", str(per_node)],
                *[*rendezvous, "--rdzv-id", str(JOB_ID)],
                *SCRIPT_ARGS,
            ],
            "TORCH_ELASTIC_SHUTDOWN_TIMEOUT": "600",
            "SLURM_PROCID": str(task),
        }
        for task in range(nodes)
    ]


def test_each_job_has_its_own_rendezvous_port(tmp_path):
    launcher = train_launcher(4, 2, 8, mpi="srun")
    ports = set()
    for job_id in (1, 9999, 10000, 10001, 123456789):
        _, first, second = run_launcher(tmp_path, launcher, job_id=job_id)
        endpoint = first["argv"][first["argv"].index("--rdzv-endpoint") + 1]
        assert second["argv"] == first["argv"]
        host, port = endpoint.split(":")
        assert host == "gpu07" and int(port) == 20000 + job_id % 10000
        ports.add(int(port))
    assert len(ports) == 4  # only 1 and 10001 share a port
    assert all(20000 <= port < 32768 for port in ports)  # below Linux's ephemeral ports


def test_multi_node_line_is_one_srun_call_with_a_quoted_torchrun():
    srun, *options, sh, c, inner, zero = shlex.split(
        train_launcher(8, 2, 8, mpi="srun", cpus_per_gpu=8)
    )
    assert (srun, sh, c) == ("srun", "sh", "-c")
    assert all(option.startswith("--") or option.isdigit() for option in options)
    assert zero == "torchrun"  # $0 of each node's shell; the script follows as "$@"
    assert inner.startswith("exec env TORCH_ELASTIC_SHUTDOWN_TIMEOUT=600 torchrun --nnodes 2 ")
    assert inner.endswith(' --rdzv-id "$SLURM_JOB_ID" "$@"') and "\n" not in inner


@pytest.mark.parametrize(
    ("gpus", "nodes", "mpi", "message"),
    [
        (4, 2, None, "2-node training needs the resources mpi='srun' and tasks_per_node (see"),
        (4, 2, "", "2-node training needs the resources mpi='srun'"),
        (4, 2, "mpirun", "2-node training needs the resources mpi='srun' and tasks_per_node, "
         "not mpi='mpirun'"),
        (3, 2, "srun", "3 GPUs cannot be split evenly over 2 nodes (at least 1 per node)"),
        (0, 2, "srun", "0 GPUs cannot be split evenly over 2 nodes"),
        (1, 2, "srun", "1 GPUs cannot be split evenly over 2 nodes"),
        (2, 4, "srun", "2 GPUs cannot be split evenly over 4 nodes"),
        (4, 0, "srun", "a training job needs at least 1 node, not 0"),
        (4, -1, None, "a training job needs at least 1 node, not -1"),
        (-1, 1, None, "a training job cannot use -1 GPUs"),
    ],
)  # fmt: skip
def test_impossible_combinations_are_one_line_errors(gpus, nodes, mpi, message):
    with pytest.raises(ConfigError) as error:
        train_launcher(gpus, nodes, 8, mpi=mpi, cpus_per_gpu=8)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_options_survive_the_shell():
    rendered = " ".join(
        [
            shell.special_tokens(["<|endoftext|>", "it's"]),
            shell.settings({"model_preset": "tiny", "optim.lr": 0.003}),
            shell.gold_files({"en": "dir with space/en.csv"}),
            shell.tokenizers([("bpe-500", "a b/tokenizer.json")]),
            shell.entries([("bpe-500", "tok_train", "t.json", "b c.tsv")]),
            shell.entries([("bpe (tiny)", "m.jsonl", "r.json")], option="--run"),
        ]
    )
    echoed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; print('\\n'.join(sys.argv[1:]))",
            *shlex.split(rendered),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert echoed == [
        "--special-token", "<|endoftext|>", "--special-token", "it's",
        "--set", 'model_preset="tiny"', "--set", "optim.lr=0.003",
        "--gold", "en=dir with space/en.csv",
        "--tokenizer", "bpe-500", "a b/tokenizer.json",
        "--entry", "bpe-500", "tok_train", "t.json", "b c.tsv",
        "--run", "bpe (tiny)", "m.jsonl", "r.json",
    ]  # fmt: skip


def test_planning_layer_does_not_import_snakemake():
    code = (
        "import sys, toklab.workflow.checks, toklab.workflow.plan, toklab.workflow.launch;"
        "print(any(m.split('.')[0] == 'snakemake' for m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
