"""A real single-node Slurm (munged, slurmctld, slurmd) and a deadline for engine tests.

The `slurm` fixture writes a minimal slurm.conf into a private folder, starts the three daemons
in the foreground as children of the test process (private munge socket and key, free ports, no
accounting), waits until `sinfo` shows the node idle, and stops them by PID at the end. Clients
(sbatch, squeue, the jobs themselves) find the cluster through SLURM_CONF, set for the session.
It skips, saying why, where Slurm cannot start: not root, or slurm-wlm/munge not installed
(`.ci/run` installs them).

Tests run the engines through `engine_helpers.run_with_deadline`, so a hang fails, never waits.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

DAEMONS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "sinfo", "squeue", "scancel")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        total_kb = int(next(line for line in fh if line.startswith("MemTotal")).split()[1])
    return int(total_kb / 1024 * 0.8)  # slurmd drains a node that declares more than it has


@dataclass
class SlurmCluster:
    conf: Path
    partition: str
    folder: Path
    start_seconds: float  # how long the daemons took to come up


SLURM_CONF = """\
ClusterName=r1data-test
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={folder}/munge.sock
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName={host} CPUs={cpus} RealMemory={memory} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="session")
def slurm():
    if os.geteuid() != 0:
        pytest.skip("a private Slurm needs root (slurmd runs jobs as their user)")
    missing = [d for d in DAEMONS if not shutil.which(d)]
    if missing:
        pytest.skip(f"Slurm is not installed (missing {', '.join(missing)}): "
                    "apt-get install slurm-wlm munge, as .ci/run does")
    folder = Path(tempfile.mkdtemp(prefix="r1slurm-"))  # short: it holds a unix socket
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = folder / "slurm.conf"
    conf.write_text(SLURM_CONF.format(host=host, folder=folder, ctld_port=_free_port(),
                                      slurmd_port=_free_port(), cpus=os.cpu_count(),
                                      memory=_memory_mb()))
    saved = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(conf)
    started = time.monotonic()
    subprocess.run(["mungekey", "--create", f"--keyfile={folder}/munge.key"], check=True,
                   capture_output=True)
    commands = [
        ["munged", "--foreground", "--force", f"--socket={folder}/munge.sock",
         f"--key-file={folder}/munge.key", f"--pid-file={folder}/munged.pid",
         f"--log-file={folder}/munged.log", f"--seed-file={folder}/munged.seed"],
        ["slurmctld", "-D", "-i"],
        ["slurmd", "-D"],
    ]
    daemons = []
    try:
        for command in commands:
            log = open(folder / f"{command[0]}.out", "w")
            daemons.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))
            if command[0] == "munged":
                _wait_for(lambda: (folder / "munge.sock").exists(), 10)
        idle = _wait_for(lambda: subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True,
                                                text=True).stdout.strip() == "idle", 60)
        if not idle:
            logs = "".join((folder / f).read_text()[-800:] for f in ("slurmctld.out", "slurmd.out"))
            pytest.skip(f"Slurm did not come up within 60 s:\n{logs}")
        yield SlurmCluster(conf, "test", folder, time.monotonic() - started)
    finally:
        subprocess.run(["scancel", "--full", "-u", str(os.geteuid())], capture_output=True)
        for proc in reversed(daemons):  # slurmd, slurmctld, then munged, each by its own PID
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if saved is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = saved
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def bare_path(monkeypatch):
    """PATH without the running interpreter's folder, as for a user who runs `.venv/bin/r1data`
    without activating the venv."""
    here = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != here)
    monkeypatch.setenv("PATH", path)
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    return path


@pytest.fixture
def one_thread(monkeypatch):
    """torch on one thread in this process and its children: Slurm tasks with one CPU and Ray
    workers (which set OMP_NUM_THREADS=1) compute on one thread, and a local run to be compared
    with them sample for sample must sum its floats in the same order. With the tiny model's
    nearly flat logits, a last-bit difference is enough to pick another token."""
    import torch

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
