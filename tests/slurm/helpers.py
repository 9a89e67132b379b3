"""Snakemake runs through the SLURM profile: the test profile, background runs, job records."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO, snakemake_command, tool_env
from tests.slurm.cluster import ACCOUNT, PARTITION

REAL_PROFILE = REPO / "profiles" / "slurm" / "profile.yaml"
SLICE_CONFIG = REPO / "tests" / "slurm" / "config.yaml"
CORPUS, MODEL = "slurmdemo", "tiny"
#: The byte LM: rule train_lm's run of the byte-level tokenizer ``bytes`` of the corpus.
MODEL_DIR = f"results/models/lm/{CORPUS}/{CORPUS}/bytes/{MODEL}"
#: The slice: prepare_corpus, two byte_corpus jobs, byte_level_tokenizer and two tokenize jobs
#: (CPU), then train_lm (one GPU).
TARGET = f"{MODEL_DIR}/model.safetensors"
TRAINER_LOG = f"logs/lm/{CORPUS}/{CORPUS}/bytes/{MODEL}.log"
#: The slice's CPU stages: byte corpora, the byte-level tokenizer and its token arrays.
CPU_STAGES = ("data", "tokenizers", "tokenized")
#: The profile's placeholders, which every user replaces with the cluster's names.
PLACEHOLDER = "CHANGE_ME"


def write_test_profile(
    directory: Path, settings: dict | None = None, set_resources: dict | None = None
) -> Path:
    """profiles/slurm/profile.yaml with its placeholders set to the test cluster's names.

    The first status query comes 2 s after a submission instead of 40 s (that setting only
    decides when the plugin starts polling). ``settings`` and ``set_resources`` (per rule,
    merged into the profile's) are a test's own changes.
    """
    profile = yaml.safe_load(REAL_PROFILE.read_text())
    names = {"slurm_partition": PARTITION, "slurm_account": ACCOUNT}
    for resources in [profile["default-resources"], *profile["set-resources"].values()]:
        for key, value in resources.items():
            if str(value).startswith(PLACEHOLDER):
                resources[key] = names[key]
    assert PLACEHOLDER not in yaml.safe_dump(profile), "a placeholder the tests cannot fill"
    profile["slurm-init-seconds-before-status-checks"] = 2
    profile.update(settings or {})
    for rule, resources in (set_resources or {}).items():
        profile["set-resources"].setdefault(rule, {}).update(resources)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "profile.yaml").write_text(yaml.safe_dump(profile, sort_keys=False))
    return directory


def slice_args(
    profile: Path, config: Path = SLICE_CONFIG, extra: tuple[str, ...] = ()
) -> list[str]:
    """Arguments for a run of the slice through a profile (targets before --configfile)."""
    return [TARGET, "--profile", str(profile), *extra, "--configfile", str(config)]


def slice_training() -> dict:
    """The byte LM's training settings in the slice's config."""
    return yaml.safe_load(SLICE_CONFIG.read_text())["corpora"][CORPUS]["bytelm"]["training"]


def slice_config(directory: Path, **training: object) -> Path:
    """The slice's config with some training settings changed."""
    config = yaml.safe_load(SLICE_CONFIG.read_text())
    config["corpora"][CORPUS]["bytelm"]["training"].update(training)
    path = directory / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _default_interrupt() -> None:
    """In the child, before it runs: SIGINT back to its default action."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@dataclass
class SnakemakeRun:
    """A Snakemake process in the background, its output in a file."""

    workdir: Path
    process: subprocess.Popen
    output: Path

    @classmethod
    def start(cls, workdir: Path, *args: str, label: str = "snakemake") -> SnakemakeRun:
        """Start snakemake in its own session (so it can be interrupted like a terminal's).

        Its output goes to ``<workdir>.<label>.out`` next to the working directory.
        """
        workdir.mkdir(parents=True, exist_ok=True)
        output = workdir.parent / f"{workdir.name}.{label}.out"
        with output.open("w") as handle:
            process = subprocess.Popen(
                snakemake_command(workdir, *args),
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=tool_env(),
                cwd=workdir,
                start_new_session=True,
                # Ctrl-C as in a terminal even when pytest runs where SIGINT is ignored (a
                # background job of a non-interactive shell): the child would inherit that
                preexec_fn=_default_interrupt,
            )
        return cls(workdir, process, output)

    @property
    def text(self) -> str:
        """Everything the run printed so far."""
        return self.output.read_text(errors="replace")

    def interrupt(self) -> None:
        """Ctrl-C: Snakemake cancels its SLURM jobs and exits."""
        self.process.send_signal(signal.SIGINT)

    def kill(self) -> None:
        """SIGKILL to the run's process group (when its SLURM jobs have ended)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """End the run if it still goes (a failed test): Ctrl-C, then SIGKILL to its group."""
        if self.process.poll() is not None:
            return
        self.interrupt()
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            self.kill()

    def wait(self, timeout: float) -> int:
        """The exit status; a run still going after ``timeout`` is stopped and fails the test."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(
                f"snakemake did not finish within {timeout:.0f} s:\n{self.text[-6000:]}"
            ) from None

    def finish(self, timeout: float) -> str:
        """Wait for a successful end; the output."""
        status = self.wait(timeout)
        assert status == 0, f"snakemake failed ({status}):\n{self.text[-8000:]}"
        return self.text

    def submitted_jobs(self) -> list[tuple[str, str]]:
        """(rule, SLURM job id) of every submission so far, in order."""
        pattern = r"submitted with SLURM jobid (\d+) \(log: [^)]*/rule_(\w+)/"
        return [(rule, job) for job, rule in re.findall(pattern, self.text)]

    def sbatch_calls(self) -> dict[str, list[str]]:
        """The sbatch command lines the plugin ran (needs --verbose), by rule."""
        calls: dict[str, list[str]] = {}
        for line in re.findall(r"^sbatch call: (.*)$", self.text, flags=re.MULTILINE):
            rule = re.search(r"--comment rule_(\w+?)_wildcards", line)
            calls.setdefault(rule.group(1) if rule else "?", []).append(line)
        return calls


def job_field(job_id: str, name: str) -> str | None:
    """One field of ``scontrol show job`` (jobs stay visible for MinJobAge), None if absent."""
    result = subprocess.run(
        ["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, f"scontrol show job {job_id}: {result.stderr}"
    match = re.search(rf"\b{name}=(\S*)", result.stdout)
    return match.group(1) if match else None


def wait_until(condition, timeout: float, what: str, run: SnakemakeRun | None = None):
    """Poll ``condition`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if run is not None and run.process.poll() is not None:
            raise AssertionError(f"snakemake ended while waiting for {what}:\n{run.text[-6000:]}")
        time.sleep(0.2)
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}"
        + (f":\n{run.text[-6000:]}" if run else "")
    )


def checkpoint_step(workdir: Path) -> int | None:
    """The step of the trainer's checkpoint, or None (none yet, or being replaced)."""
    import torch

    state = workdir / MODEL_DIR / "checkpoint" / "state.pt"
    try:
        return int(torch.load(state, map_location="cpu", weights_only=False)["step"])
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return None


def resumed_step(workdir: Path) -> int | None:
    """The step the current training attempt resumed from, per its log."""
    log = workdir / TRAINER_LOG
    text = log.read_text(errors="replace") if log.exists() else ""
    match = re.search(r"resumed from \S+ at step (\d+)", text)
    return int(match.group(1)) if match else None


def copy_cpu_stages(source: Path, workdir: Path) -> None:
    """The slice's CPU stages from another run (modification times kept), so only training runs."""
    for stage in CPU_STAGES:
        shutil.copytree(source / "results" / stage, workdir / "results" / stage)


def result_files(root: Path) -> dict[str, bytes]:
    """Every output under results/, except the benchmark TSVs (measured times)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "results").rglob("*"))
        if p.is_file() and "benchmarks" not in p.relative_to(root).parts
    }


def differing_files(first: Path, second: Path) -> list[str]:
    """Names of outputs that are missing from one run or differ between the two.

    A resumed run's ``state.pt`` is compared byte for byte too: the trainer writes training
    states without pickle's memo, so equal values give equal bytes.
    """
    a, b = result_files(first), result_files(second)
    return sorted(name for name in a.keys() | b.keys() if a.get(name) != b.get(name))
