"""How a training job starts its processes: python, torchrun, or srun + torchrun per node."""

from __future__ import annotations

from shlex import quote

from toklab.errors import ConfigError

#: Seconds torchrun gives its workers between the SIGTERM it forwards and a SIGKILL (torch's
#: default is 30): the profile's ``--signal=TERM@600`` lead time, so that a trainer finishes its
#: step and writes its preemption checkpoint; SLURM's own kill comes at the time limit anyway.
#: Recent torch (2.13 here) reads the variable; versions without it keep their 30 s.
SHUTDOWN_TIMEOUT = 600
#: torchrun's rendezvous port on the first node: this plus the job id modulo
#: ``RENDEZVOUS_PORTS``, so two jobs that share a first node do not meet at each other's store;
#: the range lies below Linux's ephemeral ports (32768 and up).
RENDEZVOUS_PORT = 20000
RENDEZVOUS_PORTS = 10000
#: The first node of the step and the job's port, evaluated by each node's shell. The plugin's
#: job step removes SLURM_JOB_NODELIST from the command's environment, but srun sets
#: SLURM_STEP_NODELIST and SLURM_JOB_ID in every task's.
RENDEZVOUS_ENDPOINT = (
    '"$(scontrol show hostnames "$SLURM_STEP_NODELIST" | head -n 1)'
    f':$(({RENDEZVOUS_PORT} + SLURM_JOB_ID % {RENDEZVOUS_PORTS}))"'
)


def torchrun(options: str) -> str:
    """``torchrun`` with its shutdown timeout and ``options``."""
    return f"env TORCH_ELASTIC_SHUTDOWN_TIMEOUT={SHUTDOWN_TIMEOUT} torchrun {options}"


def train_launcher(
    gpus: int, nodes: int, threads: int, mpi: str | None = None, cpus_per_gpu: int = 0
) -> str:
    """The command that starts a training script, from the job's resources.

    One GPU or none: ``python``. Several GPUs on one node: ``torchrun`` with one process per
    GPU. Several nodes (SLURM, with ``mpi='srun'`` so that the command runs on the job's first
    node): ``srun`` starts one ``torchrun`` per node with that node's GPUs and CPUs, and they
    meet at the step's first node (c10d rendezvous, the job id as its id). The script and its
    arguments follow the command. ``gpus`` counts the GPUs of the whole job, as SLURM's
    ``--gpus``; impossible combinations are one-line ConfigErrors.
    """
    if nodes < 1:
        raise ConfigError(f"a training job needs at least 1 node, not {nodes}")
    if gpus < 0:
        raise ConfigError(f"a training job cannot use {gpus} GPUs")
    if nodes == 1:
        if gpus > 1:
            return torchrun(f"--standalone --nnodes 1 --nproc-per-node {gpus}")
        return "python"
    if mpi != "srun":
        raise ConfigError(
            f"{nodes}-node training needs the resources mpi='srun' and tasks_per_node"
            + (f", not mpi={mpi!r}" if mpi else "")
            + " (see profiles/slurm/profile.yaml)"
        )
    if gpus < nodes or gpus % nodes:
        raise ConfigError(
            f"{gpus} GPUs cannot be split evenly over {nodes} nodes (at least 1 per node)"
        )
    per_node = gpus // nodes
    cpus = cpus_per_gpu * per_node or threads
    # Each task's shell finds the rendezvous and then becomes torchrun, which SLURM's signals
    # reach directly; the script and its arguments arrive as "$@" ($0 names the shell).
    rendezvous = (
        f'--rdzv-backend c10d --rdzv-endpoint {RENDEZVOUS_ENDPOINT} --rdzv-id "$SLURM_JOB_ID"'
    )
    options = f"--nnodes {nodes} --nproc-per-node {per_node} {rendezvous}"
    per_node_command = f'exec {torchrun(options)} "$@"'
    return (
        f"srun --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1"
        f" --cpus-per-task {cpus} --gpus-per-node {per_node} --kill-on-bad-exit=1"
        f" sh -c {quote(per_node_command)} torchrun"
    )
