"""How a training job starts its processes: python, torchrun, or srun + torchrun per node."""

from __future__ import annotations

from toklab.errors import ConfigError


def train_launcher(
    gpus: int, nodes: int, threads: int, mpi: str | None = None, cpus_per_gpu: int = 0
) -> str:
    """The command that starts a training script, from the job's resources.

    One GPU or none: ``python``. Several GPUs on one node: ``torchrun`` with one process per
    GPU. Several nodes (SLURM, with ``mpi`` set so that the command runs on the job's first
    node): ``srun`` starts one ``torchrun`` per node with that node's GPUs and CPUs, and they
    meet at the first node. ``gpus`` counts the GPUs of the whole job, as SLURM's ``--gpus``.
    """
    if nodes > 1:
        if not mpi:
            raise ConfigError(
                f"{nodes}-node training needs the resources mpi='srun' and tasks_per_node "
                "(see profiles/slurm/profile.yaml)"
            )
        if gpus % nodes:
            raise ConfigError(f"{gpus} GPUs cannot be split evenly over {nodes} nodes")
        per_node = gpus // nodes
        cpus = cpus_per_gpu * per_node or threads
        return (
            f"srun --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1"
            f" --cpus-per-task {cpus} --gpus-per-node {per_node} --kill-on-bad-exit=1"
            f" torchrun --nnodes {nodes} --nproc-per-node {per_node}"
            ' --rdzv-backend c10d --rdzv-endpoint "$(hostname):29500" --rdzv-id "$SLURM_JOB_ID"'
        )
    if gpus > 1:
        return f"torchrun --standalone --nnodes 1 --nproc-per-node {gpus}"
    return "python"
