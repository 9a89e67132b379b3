"""The multi-node launch line (toklab.workflow.launch) on the real single-node test cluster.

The cluster has one node, so the job's "nodes" are two tasks on it: the launcher's line for two
nodes with ``--nodes 1 --ntasks-per-node 2`` instead of ``--nodes 2 --ntasks-per-node 1``, and
a trivial script instead of the trainer. The batch script leaves only the job id among the
SLURM variables, as the executor plugin's job step does before it runs an ``mpi`` job's
command. Both torchrun agents must find the rendezvous through scontrol and meet there.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.slurm.cluster import PARTITION
from toklab.workflow.launch import (
    RENDEZVOUS_PORT,
    RENDEZVOUS_PORTS,
    SHUTDOWN_TIMEOUT,
    train_launcher,
)

pytestmark = pytest.mark.workflow

#: Each worker prints what torchrun gave it and its arguments.
SCRIPT = """import os, sys
keys = ("RANK", "WORLD_SIZE", "GROUP_RANK", "TORCHELASTIC_RUN_ID", "TORCH_ELASTIC_SHUTDOWN_TIMEOUT")
print("worker", *(f"{key}={os.environ.get(key)}" for key in keys), "args=" + "|".join(sys.argv[1:]))
"""
#: The SLURM variables the plugin's job step keeps (the rest, SRUN_* and SBATCH_* go).
KEPT = ("SLURM_JOB_ID", "SLURM_JOBID")


def test_two_torchruns_meet_through_the_launch_line(slurm_cluster, tmp_path):
    launcher = train_launcher(2, 2, 4, mpi="srun", cpus_per_gpu=1)
    one_node = launcher.replace("--nodes 2 ", "--nodes 1 ", 1)
    one_node = one_node.replace("--ntasks-per-node 1 ", "--ntasks-per-node 2 ", 1)
    assert one_node.count("--nodes 1 ") == one_node.count("--ntasks-per-node 2 ") == 1
    (tmp_path / "rank.py").write_text(SCRIPT)
    batch = tmp_path / "job.sh"
    batch.write_text(
        "#!/bin/sh\n"
        "for name in $(env | sed -n 's/^\\(\\(SLURM\\|SRUN\\|SBATCH\\)_[A-Za-z0-9_]*\\)=.*/\\1/p')"
        f"; do case $name in {'|'.join(KEPT)}) ;; *) unset $name ;; esac; done\n"
        # this interpreter's torchrun; INFO logs name the rendezvous endpoint
        f'export PATH="{Path(sys.executable).parent}:$PATH" LOGLEVEL=INFO\n'
        f"exec {one_node} rank.py 'a b' \"it's\"\n"
    )
    # the allocation of an mpi job from the plugin, scaled down: tasks per node, GPUs, CPUs
    # per GPU, memory, a time limit
    submit = [
        *("sbatch", "--wait", "--parsable", "-p", PARTITION, "-t", "2", "--mem", "2000"),
        *("--nodes=1", "--ntasks-per-node=2", "--gpus=2", "--cpus-per-gpu=1"),
        *("-D", str(tmp_path), "-o", "job.out", str(batch)),
    ]
    result = subprocess.run(submit, capture_output=True, text=True, timeout=150)
    output = (tmp_path / "job.out").read_text() if (tmp_path / "job.out").exists() else ""
    assert result.returncode == 0, f"{result.stderr}\n{output[-3000:]}"
    job = result.stdout.strip().split(";")[0]
    workers = sorted(line for line in output.splitlines() if line.startswith("worker "))
    assert workers == [
        f"worker RANK={rank} WORLD_SIZE=2 GROUP_RANK={rank} TORCHELASTIC_RUN_ID={job}"
        f" TORCH_ELASTIC_SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT} args=a b|it's"
        for rank in (0, 1)
    ], output[-3000:]
    # both agents met at the node (the first of the step) on the job's port
    endpoints = re.findall(r"rdzv_endpoint\s*:\s*(\S+)", output)
    port = RENDEZVOUS_PORT + int(job) % RENDEZVOUS_PORTS
    assert endpoints == [f"{slurm_cluster.host}:{port}"] * 2, output[-3000:]
