"""The Python environment travels with every Slurm job.

A job runs on a compute node in a fresh shell: whatever `r1data` was started from (an activated
venv, `.venv/bin/r1data` called by path, a conda env) is unknown there, and datatrove's script
calls `launch_pickled_pipeline` by name. Started from a venv that was never activated, every task
dies with `execve(): launch_pickled_pipeline: No such file or directory`. So each script puts the
running interpreter's bin folder first on PATH and names the environment, which is what activating
it does, without relying on an `activate` script (conda envs have none of their own).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path


def bin_dir() -> Path:
    """The folder of the running interpreter (not resolved: a venv's python is a symlink)."""
    return Path(sys.executable).absolute().parent


def activation_command(sep: str = "\n") -> str:
    """Shell lines that make a job see this process's environment (venv or conda env), joined by
    `sep` (datatrove's script template wants one line)."""
    prefix = shlex.quote(sys.prefix)
    lines = [f"export PATH={shlex.quote(str(bin_dir()))}:\"$PATH\""]
    if sys.prefix != sys.base_prefix:
        lines.append(f"export VIRTUAL_ENV={prefix}")
    elif os.environ.get("CONDA_PREFIX") == sys.prefix:
        lines.append(f"export CONDA_PREFIX={prefix}")
    return sep.join(lines)


def python() -> str:
    """The interpreter by absolute path, for scripts that call Python directly."""
    return str(Path(sys.executable).absolute())
