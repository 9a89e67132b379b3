"""The per-rule conda envs (workflow/envs): pinned, in step with the package, installable.

conda-forge cannot be reached from CI, so the envs are never built here; these checks cover
what can be checked offline. `snakemake --lint` (test_workflow.py) checks every rule has one.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO

ENVS = REPO / "workflow" / "envs"
ENV_FILES = sorted(ENVS.glob("*.yaml"))
#: conda-forge names of PyPI packages, where they differ.
PYPI_NAMES = {
    "pytorch-cpu": "torch",
    "pytorch-gpu": "torch",
    "matplotlib-base": "matplotlib",
    "huggingface_hub": "huggingface-hub",
}
#: Packages of the envs that the package does not require.
TOOLING = {"python", "pip", "setuptools", "cuda-version"}
#: What the package needs that the envs never provide (the workflow runs in its own env).
#: jsonschema: the config's schema, checked when Snakemake parses the workflow.
WORKFLOW_ONLY = {"snakemake", "snakemake-executor-plugin-slurm", "jsonschema"}
PIN = re.compile(r"^(?P<name>[a-z0-9][a-z0-9._-]*) =(?P<version>\d+(\.\d+)+)$")


def pins(path) -> dict[str, str]:
    """{PyPI-style name: pinned version} of an env file."""
    env = yaml.safe_load(path.read_text())
    found = {}
    for spec in env["dependencies"]:
        match = PIN.match(spec) if isinstance(spec, str) else None
        assert match, f"{path.name}: '{spec}' is not pinned as 'name =version'"
        found[PYPI_NAMES.get(match["name"], match["name"])] = match["version"]
    return found


def requirements(extra: str | None = None) -> dict[str, Requirement]:
    """The package's requirements (or those of one extra) by name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["optional-dependencies"][extra] if extra else project["dependencies"]
    return {Requirement(spec).name: Requirement(spec) for spec in specs}


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_is_pinned_to_conda_forge(path):
    env = yaml.safe_load(path.read_text())
    assert env["channels"] == ["conda-forge", "nodefaults"]
    assert set(env) == {"channels", "dependencies"}  # no pip section, no name or prefix
    assert pins(path)["python"] == "3.11"


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_versions_satisfy_the_package(path):
    wanted = requirements() | requirements("gpu") | requirements("wandb")
    for name, version in pins(path).items():
        if name in TOOLING:
            continue
        assert name in wanted, f"{path.name}: {name} is not a requirement of toklab"
        assert wanted[name].specifier.contains(Version(version), prereleases=True), (
            f"{path.name}: {name} ={version} does not satisfy {wanted[name]}"
        )


def test_cpu_env_has_every_requirement():
    missing = set(requirements()) - WORKFLOW_ONLY - set(pins(ENVS / "cpu.yaml"))
    assert missing == set()


def test_gpu_env_has_cuda_torch_and_flash_attn():
    gpu = yaml.safe_load((ENVS / "torch-gpu.yaml").read_text())["dependencies"]
    names = {spec.split()[0] for spec in gpu}
    assert {"pytorch-gpu", "flash-attn", "cuda-version", "safetensors"} <= names
    assert "pytorch-cpu" not in names


@pytest.mark.parametrize("env", ["cpu", "torch-gpu"])
def test_post_deploy_installs_the_checkout_without_dependencies(tmp_path, env):
    script = ENVS / f"{env}.post-deploy.sh"
    assert script.with_suffix("").with_suffix(".yaml").exists()
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    calls = tmp_path / "pip-calls"
    (fake_bin / "pip").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    (fake_bin / "pip").chmod(0o755)
    path = f"{fake_bin}{os.pathsep}{os.environ['PATH']}"

    # from the repository root, as Snakemake runs it there
    subprocess.run(
        ["bash", str(script)], cwd=REPO, env={**os.environ, "PATH": path}, check=True, timeout=30
    )
    assert calls.read_text().split() == [
        "install",
        "--no-deps",
        "--no-build-isolation",
        "--editable",
        str(REPO),
    ]

    # anywhere else, a clear error and no install
    calls.unlink()
    elsewhere = subprocess.run(
        ["bash", str(script)],
        cwd=tmp_path,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert elsewhere.returncode == 1
    assert f"{tmp_path} is not a toklab checkout" in elsewhere.stderr
    assert not calls.exists()
