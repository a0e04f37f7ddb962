"""Helpers for the engine tests.

`run_with_deadline` runs a command in its own process group and kills the whole group when the
deadline passes, so an engine that hangs (a Ray task that is never scheduled, a job that never
leaves the queue) fails the test with its output instead of hanging the suite.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_with_deadline(args: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run with a deadline that kills the command's whole process group (Ray's
    raylet and GCS, srun steps) and fails the test with the end of its output."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(map(str, args[:4]))} ... still running after {timeout:.0f} s "
                    f"(killed):\n{out[-3000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, "")
