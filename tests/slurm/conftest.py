"""Fixtures of the SLURM tests: the cluster (started once per session) and a local reference run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.slurm.cluster import LocalSlurm, missing_requirements
from tests.slurm.helpers import SLICE_CONFIG, TARGET, SnakemakeRun


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> Iterator[LocalSlurm]:
    """A running single-node cluster; a skip where SLURM is not installed or we are not root.

    With TOKLAB_REQUIRE_SLURM=1 (set by .ci/run, which installs SLURM) the tests fail instead.
    """
    reason = missing_requirements()
    if reason and os.environ.get("TOKLAB_REQUIRE_SLURM") == "1":
        pytest.fail(f"TOKLAB_REQUIRE_SLURM=1, but {reason}")
    if reason:
        pytest.skip(reason)
    cluster = LocalSlurm(tmp_path_factory.mktemp("slurm"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def local_slice(slurm_cluster, tmp_path_factory) -> Path:
    """The slice run locally (no SLURM): the outputs every SLURM run must reproduce."""
    workdir = tmp_path_factory.mktemp("local") / "run"
    run = SnakemakeRun.start(workdir, TARGET, "--cores", "all", "--configfile", str(SLICE_CONFIG))
    try:
        run.finish(timeout=300)
    finally:
        run.stop()
    return workdir


@pytest.fixture
def snakemake_runs() -> Iterator[Callable[..., SnakemakeRun]]:
    """Starts background Snakemake runs (SnakemakeRun.start) and stops those a test left."""
    runs: list[SnakemakeRun] = []

    def start(workdir: Path, *args: str, label: str = "snakemake") -> SnakemakeRun:
        runs.append(SnakemakeRun.start(workdir, *args, label=label))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()
