"""A single-node SLURM cluster on localhost for the tests: munged, slurmctld and slurmd.

Debian's packages (``apt-get install slurmctld slurmd slurm-client munge``) provide the
daemons. The cluster has no slurmdbd (so no ``sacct``), one partition, and a node with two fake
GPUs: GRES backed by /dev/null and /dev/zero, so ``--gpus=1`` is scheduled and sets
``CUDA_VISIBLE_DEVICES`` while the job itself runs on the CPU. ``SlurmdParameters=
config_overrides`` lets the node declare more CPUs and memory than the machine has, so the real
profile's requests (8 CPUs per GPU, 32 GB) can be scheduled on a 2-CPU CI machine.

The configuration must be at ``/etc/slurm/slurm.conf``, the path the client commands were
compiled with: the SLURM executor plugin removes ``SLURM_CONF`` from the environment of the
commands it runs inside a job. Everything else (munge key and socket, state, spool, logs) lives
in a private directory. Every daemon runs in the foreground as a child of the test process and
is stopped by its PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

#: The compiled-in configuration path of Debian's SLURM.
SLURM_CONF = Path("/etc/slurm/slurm.conf")
GRES_CONF = Path("/etc/slurm/gres.conf")
#: First line of the files this module writes; files without it are never touched.
MARKER = (
    "# Written by toklab's tests/slurm for a throwaway single-node cluster; removed afterwards."
)
PARTITION = "toklab"
ACCOUNT = "toklab"
#: Declared node resources (see config_overrides above); the fake GPUs are real GRES.
NODE_CPUS = 16
NODE_MEMORY_MB = 256_000
NODE_GPUS = 2
#: squeue can serve as the plugin's status command only if finished jobs stay this long.
MIN_JOB_AGE = 300
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "scontrol", "sinfo")


class ClusterError(RuntimeError):
    """The cluster did not come up; the message carries the daemons' log tails."""


def missing_requirements() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    missing = [name for name in (*DAEMONS, *CLIENTS, "mungekey") if shutil.which(name) is None]
    if missing:
        return (
            f"SLURM is not installed ({', '.join(missing)} not found): "
            "apt-get install slurmctld slurmd slurm-client munge"
        )
    if os.geteuid() != 0:
        return "the SLURM daemons of the tests run as root; run pytest as root"
    for path in (SLURM_CONF, GRES_CONF):
        if path.exists() and not path.read_text().startswith(MARKER):
            return f"{path} belongs to a real SLURM installation; the tests will not replace it"
    running = running_daemons()
    if running:
        return (
            f"SLURM daemons already run on this machine (PIDs {running}); the tests need their own"
        )
    return None


def running_daemons() -> list[int]:
    """PIDs of slurmctld and slurmd processes running now."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() in {
                "slurmctld",
                "slurmd",
            }:
                pids.append(int(entry.name))
        except OSError:
            continue  # the process ended meanwhile
    return sorted(pids)


def run(command: list[str], timeout: float = 30, check: bool = True) -> str:
    """Run a SLURM or munge client command; its stdout."""
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ClusterError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def _tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:])


def _wait_for(condition, timeout: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise ClusterError(f"{what} within {timeout:.0f} s\n" + "\n".join(map(_tail, logs)))


@dataclass
class LocalSlurm:
    """The cluster's files under ``root`` and its running daemons."""

    root: Path
    host: str = field(default_factory=lambda: socket.gethostname().split(".")[0])
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def munge_socket(self) -> Path:
        return self.root / "munge" / "munge.socket"

    @property
    def logs(self) -> list[Path]:
        return [self.root / "log" / f"{name}.log" for name in DAEMONS]

    def slurm_conf(self) -> str:
        """slurm.conf: no accounting, linuxproc tracking, one node with two fake GPUs."""
        return f"""{MARKER}
ClusterName=toklab
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/run/slurmctld.pid
SlurmdPidFile={self.root}/run/slurmd.pid
SlurmctldLogFile={self.root}/log/slurmctld.log
SlurmdLogFile={self.root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
MinJobAge={MIN_JOB_AGE}
KillWait=10
ReturnToService=2
MpiDefault=none
GresTypes=gpu
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{NODE_GPUS} State=UNKNOWN
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""

    def gres_conf(self) -> str:
        """gres.conf: the two fake GPU devices."""
        return (
            f"{MARKER}\nAutoDetect=off\n"
            f"NodeName={self.host} Name=gpu File=/dev/null\n"
            f"NodeName={self.host} Name=gpu File=/dev/zero\n"
        )

    def _start(self, name: str, command: list[str]) -> None:
        log = (self.root / "log" / f"{name}.out").open("w")
        self.processes[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        time.sleep(0.2)
        if self.processes[name].poll() is not None:
            raise ClusterError(f"{name} exited at once\n{_tail(self.root / 'log' / f'{name}.out')}")

    def start(self, timeout: float = 60) -> None:
        """Write the configuration, start the daemons and wait until the node is idle."""
        for sub in ("munge", "state", "spool", "log", "run"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        run(["mungekey", "--create", "--keyfile", str(key)])
        os.chmod(key, 0o600)
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SLURM_CONF.write_text(self.slurm_conf())
        GRES_CONF.write_text(self.gres_conf())
        try:
            self._start(
                "munged",
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={self.munge_socket}",
                    f"--key-file={key}",
                    f"--pid-file={self.root}/run/munged.pid",
                    f"--log-file={self.root}/log/munged.log",
                    f"--seed-file={self.root}/munge/munged.seed",
                ],
            )
            _wait_for(self._munge_works, 20, "munged did not answer", self.logs)
            # -c: start from an empty state (no jobs or node states from an earlier session)
            self._start("slurmctld", ["slurmctld", "-D", "-c"])
            _wait_for(self._controller_answers, 30, "slurmctld did not answer", self.logs)
            self._start("slurmd", ["slurmd", "-D", "-N", self.host])
            _wait_for(self.node_idle, timeout, "the node did not become idle", self.logs)
        except BaseException:
            self.stop()
            raise

    def _munge_works(self) -> bool:
        credential = subprocess.run(
            ["munge", "-n", "-S", str(self.munge_socket)], capture_output=True, timeout=10
        )
        if credential.returncode != 0:
            return False
        decoded = subprocess.run(
            ["unmunge", "-S", str(self.munge_socket)],
            input=credential.stdout,
            capture_output=True,
            timeout=10,
        )
        return decoded.returncode == 0

    def _controller_answers(self) -> bool:
        result = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10)
        return "is UP" in result.stdout

    def node_idle(self) -> bool:
        """True once the node accepts jobs."""
        state = run(["sinfo", "--noheader", "--format=%T"], check=False).strip()
        return state == "idle"

    def stop(self) -> None:
        """Cancel leftover jobs, stop the daemons by PID, remove the files in /etc/slurm."""
        if "slurmctld" in self.processes and self.processes["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user=root"], capture_output=True, timeout=30)
            deadline = time.monotonic() + 30
            while (
                time.monotonic() < deadline
                and run(
                    ["squeue", "--noheader", "--states=RUNNING,COMPLETING"], check=False
                ).strip()
            ):
                time.sleep(1)
        for name in reversed(DAEMONS):
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        for path in (SLURM_CONF, GRES_CONF):
            if path.exists() and path.read_text().startswith(MARKER):
                path.unlink()
