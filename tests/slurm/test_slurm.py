"""The workflow on a real (single-node, localhost) SLURM cluster through profiles/slurm.

Each test runs the slice of tests/slurm/config.yaml (prepare_corpus, byte_corpus,
byte_level_tokenizer and tokenize on the CPU, then the byte LM's train_lm with one GPU) with the
executor plugin and the real profile, its placeholders filled in, and compares the outputs with
a run without SLURM. The runs are interrupted the ways
a cluster interrupts them: SLURM's warning signal before the time limit (the profile's
``--signal``), a preemption's SIGTERM, a SIGKILL, and the user cancelling the workflow.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.slurm.helpers import (
    MODEL_DIR,
    REAL_PROFILE,
    TARGET,
    TRAINER_LOG,
    SnakemakeRun,
    checkpoint_step,
    copy_cpu_stages,
    differing_files,
    job_field,
    resumed_step,
    slice_args,
    slice_config,
    slice_training,
    wait_until,
    write_test_profile,
)

pytestmark = pytest.mark.workflow

PROFILE = yaml.safe_load(REAL_PROFILE.read_text())
TRAIN = PROFILE["set-resources"]["train_lm"]
#: The slice's CPU jobs per rule.
CPU_JOBS = {"prepare_corpus": 1, "byte_corpus": 2, "byte_level_tokenizer": 1, "tokenize": 2}
#: The trainer's exit status after its preemption checkpoint (toklab.training.trainer).
EXIT_PREEMPTED = 75
#: The states of a job that has ended (``scontrol show job``'s JobState). Anything else, base
#: states (PENDING, RUNNING, ...) and flags shown in their place (COMPLETING, SIGNALING while
#: the time limit's warning signal is delivered, ...), is a job that has not ended yet.
ENDED = {
    "BOOT_FAIL",
    "CANCELLED",
    "COMPLETED",
    "DEADLINE",
    "FAILED",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "TIMEOUT",
}


def scancel(*args: str) -> None:
    subprocess.run(["scancel", *args], check=True, capture_output=True, timeout=30)


def train_jobs(run: SnakemakeRun) -> list[str]:
    """SLURM job ids of the run's train_lm submissions, in order."""
    return [job for rule, job in run.submitted_jobs() if rule == "train_lm"]


def nth_train_job(run: SnakemakeRun, n: int, timeout: float = 180) -> str:
    """The id of the n-th (1-based) train_lm submission, once it is submitted."""
    jobs = wait_until(lambda: train_jobs(run)[n - 1 :], timeout, f"train_lm submission {n}", run)
    return jobs[0]


def ended_state(job: str) -> str | None:
    """The job's final state once it has ended, else None."""
    state = job_field(job, "JobState")
    return state if state in ENDED else None


def trainer_pid(job: str) -> int:
    """The PID of the trainer running in a job (this machine is the cluster's node)."""
    listing = subprocess.run(
        ["scontrol", "listpids", job], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    for pid in re.findall(r"^(\d+)\s", listing, flags=re.MULTILINE):
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists() and b"train_lm.py" in cmdline.read_bytes():
            return int(pid)
    raise AssertionError(f"no trainer among the processes of job {job}:\n{listing}")


def checkpoint_after(workdir, step: int) -> int | None:
    """The checkpoint's step once it is past ``step``."""
    current = checkpoint_step(workdir)
    return current if current is not None and current > step else None


def trainer_log(workdir: Path) -> str:
    """The start and the end of the trainer's log (a failed test's evidence)."""
    path = workdir / TRAINER_LOG
    if not path.exists():
        return "(no trainer log)"
    text = path.read_text(errors="replace")
    return text if len(text) < 5000 else f"{text[:2500]}\n[...]\n{text[-2500:]}"


def slurm_log(run: SnakemakeRun, job: str) -> str:
    """The sbatch output of a job (the plugin keeps it for failed jobs)."""
    paths = list((run.workdir / "logs" / "slurm").rglob(f"{job}.log"))
    assert paths, f"no SLURM log for job {job}"
    return paths[0].read_text(errors="replace")


def test_slice_runs_through_sbatch_and_matches_local_run(
    slurm_cluster, local_slice, snakemake_runs, tmp_path
):
    profile = write_test_profile(tmp_path / "profile")
    run = snakemake_runs(tmp_path / "run", *slice_args(profile, extra=("--verbose",)))
    run.finish(timeout=420)

    calls = run.sbatch_calls()
    assert sorted(calls) == sorted([*CPU_JOBS, "train_lm"])
    assert {rule: len(calls[rule]) for rule in CPU_JOBS} == CPU_JOBS
    assert len(calls["train_lm"]) == 1
    for rule in CPU_JOBS:
        for call in calls[rule]:
            assert "-A toklab" in call and "-p toklab" in call
            assert "--gpus" not in call and "--signal" not in call
            assert re.search(r"--cpus-per-task=\d+", call)
    byte_threads = 8  # byte_corpus's threads: the CPUs its job asks for
    assert all(f"--cpus-per-task={byte_threads}" in c for c in calls["byte_corpus"])
    (gpu_call,) = calls["train_lm"]
    assert "--gpus=1" in gpu_call
    assert f"--cpus-per-gpu={TRAIN['cpus_per_gpu']}" in gpu_call
    assert "--cpus-per-task" not in gpu_call
    assert str(TRAIN["slurm_extra"]).strip("'") in gpu_call
    print("\n".join(f"{rule}: {c[0]}" for rule, c in sorted(calls.items())))

    jobs = run.submitted_jobs()
    expected_jobs = [rule for rule, count in CPU_JOBS.items() for _ in range(count)]
    assert sorted(rule for rule, _ in jobs) == sorted([*expected_jobs, "train_lm"])
    for rule, job in jobs:
        assert job_field(job, "JobState") == "COMPLETED"
        expected = "gres:gpu:1" if rule == "train_lm" else None
        assert job_field(job, "TresPerJob") == expected
    assert differing_files(local_slice, run.workdir) == []


def test_preempted_then_killed_training_resumes(
    slurm_cluster, local_slice, snakemake_runs, tmp_path
):
    workdir = tmp_path / "run"
    copy_cpu_stages(local_slice, workdir)
    run = snakemake_runs(workdir, *slice_args(write_test_profile(tmp_path / "profile")))

    # Preemption: SIGTERM to the job's steps, as SLURM sends it before a time limit
    # (--signal) or a preemption. The trainer checkpoints, exits 75, and the retry resumes.
    first = nth_train_job(run, 1)
    before_signal = wait_until(lambda: checkpoint_step(workdir), 180, "a checkpoint", run)
    scancel("--signal=TERM", first)
    second = nth_train_job(run, 2)
    assert job_field(first, "JobState") == "FAILED"
    assert f"exit status {EXIT_PREEMPTED}" in slurm_log(run, first)
    resumed = wait_until(lambda: resumed_step(workdir), 180, "the resumed attempt", run)
    assert resumed > before_signal

    # A kill: no chance to checkpoint, so the next attempt resumes from the last interval.
    last = wait_until(
        lambda: checkpoint_after(workdir, resumed), 180, "a checkpoint after the resume", run
    )
    # scancel's SIGKILL is a cancellation (SIGTERM first), so kill the process as the kernel's
    # OOM killer would: the job fails and its retry resumes from the last interval checkpoint.
    os.kill(trainer_pid(second), signal.SIGKILL)
    nth_train_job(run, 3)
    assert job_field(second, "JobState") == "FAILED"
    run.finish(timeout=300)
    final_resume = resumed_step(workdir)
    assert final_resume is not None and final_resume >= last
    assert final_resume % slice_training()["checkpoint_interval"] == 0
    assert differing_files(local_slice, workdir) == []


def test_cancelled_workflow_resumes_on_rerun(slurm_cluster, local_slice, snakemake_runs, tmp_path):
    workdir = tmp_path / "run"
    copy_cpu_stages(local_slice, workdir)
    profile = write_test_profile(tmp_path / "profile")
    run = snakemake_runs(workdir, *slice_args(profile))
    job = nth_train_job(run, 1)
    reached = wait_until(lambda: checkpoint_step(workdir), 180, "a checkpoint", run)
    run.interrupt()  # Ctrl-C: Snakemake cancels its SLURM jobs
    assert run.wait(timeout=180) != 0
    # the trainer may still be writing its checkpoint (SIGTERM) while the job is COMPLETING
    assert wait_until(lambda: ended_state(job), 60, "the end of the job") == "CANCELLED"
    assert not (workdir / TARGET).exists()

    rerun = snakemake_runs(workdir, *slice_args(profile), label="rerun")
    rerun.finish(timeout=300)
    assert train_jobs(rerun) and resumed_step(workdir) >= reached
    # the resumed trainer's log says where it resumed (and whether it waited for the old one)
    assert differing_files(local_slice, workdir) == [], trainer_log(workdir)


def test_time_limit_signal_checkpoints_before_the_limit(
    slurm_cluster, local_slice, snakemake_runs, tmp_path
):
    # The profile's --signal option with a lead time that fits a two-minute limit. slurmctld
    # checks every 30 s and signals once at most lead + 30 s remain: here 45-75 s after the
    # start, when the trainer runs (even on a loaded machine) and well before the limit.
    lead_time = 45
    extra = re.sub(r"@\d+", f"@{lead_time}", str(TRAIN["slurm_extra"]))
    profile = write_test_profile(
        tmp_path / "profile",
        settings={"retries": 0},
        set_resources={"train_lm": {"runtime": 2, "slurm_extra": extra}},
    )
    workdir = tmp_path / "run"
    copy_cpu_stages(local_slice, workdir)
    endless = slice_config(tmp_path, max_steps=1_000_000)
    run = snakemake_runs(workdir, *slice_args(profile, endless))
    job = nth_train_job(run, 1)
    # SLURM's view of the job; Snakemake (no retries) fails the run at its next status query
    state = wait_until(lambda: ended_state(job), 240, "the end of the job", run)
    logs = f"{trainer_log(workdir)}\n{slurm_log(run, job)[-3000:]}"
    assert state == "FAILED", logs  # not TIMEOUT: it ended before the limit
    assert job_field(job, "TimeLimit") == "00:02:00"
    assert f"exit status {EXIT_PREEMPTED}" in slurm_log(run, job), logs
    match = re.search(r"signal received: checkpointed at step (\d+)", logs)
    assert match, logs
    assert checkpoint_step(workdir) == int(match.group(1)) > 0
    assert not (workdir / MODEL_DIR / "model.safetensors").exists()
    # Snakemake would notice the failure only at its next status query and then sleep out its
    # polling interval before exiting; its job has ended, so nothing is left to cancel.
    run.kill()
