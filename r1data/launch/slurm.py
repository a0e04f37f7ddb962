"""Submitted Slurm work: which tasks finished, which failed, and where their logs are.

Progress is read from completion markers, as datatrove writes them (`<logging_dir>/completions/
<rank:05d>`, one empty file per finished task); the generation array writes the same layout. The
queue (`squeue`) only says whether anything can still finish: when none of the jobs is queued or
running, or Slurm reports that a dependency can never be met (a stage before it failed), waiting
stops and the unfinished tasks are failures. Pending jobs whose dependency failed would otherwise
sit in the queue forever, so they are cancelled.

The job ids of a submission are kept in `<output>/.logs/slurm_jobs.json`, so a later
`--collect` can wait for the same jobs without submitting anything again.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from r1data.backends import BackendUnavailable
from r1data.launch.environment import activation_command

JOBS_FILE = "slurm_jobs.json"


def sbatch_script(directives: dict[str, Any], comments: list[str], commands: list[str]) -> str:
    """A Slurm script that a person can read and rerun by hand: `#SBATCH` lines (a value of
    None, "" or True writes a bare flag), comments, the shell lines that give the job the Python
    environment r1data runs from, then the commands under `set -euo pipefail`."""
    lines = ["#!/bin/bash"]
    lines += [f"#SBATCH --{k}={v}" if v not in ("", None, True) else f"#SBATCH --{k}"
              for k, v in directives.items()]
    lines += [f"# {c}" for c in comments]
    lines += ["# The Python environment r1data was started from (r1data.launch.environment):",
              activation_command(), "set -euo pipefail", *commands]
    return "\n".join(lines) + "\n"


def command_line(argv: list[str]) -> str:
    """`argv` quoted for the shell; arguments that start with `$` stay shell variables."""
    return " ".join(f'"{a}"' if a.startswith("$") else shlex.quote(a) for a in argv)


def submit(script: Path, text: str, what: str) -> str:
    """Write `text` to `script` and submit it with sbatch; the job id. A refusal is one line
    (exit code 3 at the CLI) with sbatch's own last line, e.g. "Could not establish a
    configuration source" where no Slurm is configured."""
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(text)
    out = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True)
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit code {out.returncode}"])[-1]
        raise BackendUnavailable(f"sbatch refused {what}: {why}")
    return out.stdout.strip().split(";")[0]


@dataclass
class SubmittedStage:
    """One submitted array: `tasks` ranks whose markers and logs live under `logging_dir`."""

    name: str
    logging_dir: str
    tasks: int
    job_id: str
    tasks_per_job: int = 1  # datatrove's: array task i runs ranks_to_run[i*k:(i+1)*k]

    def completed(self) -> set[int]:
        folder = Path(self.logging_dir) / "completions"
        return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() else set()


@dataclass
class FailedTask:
    stage: str
    rank: int
    log: str  # the task's own log if it started, else Slurm's log of the array task


def save_jobs(logs_dir: str | Path, stages: list[SubmittedStage]) -> Path:
    path = Path(logs_dir) / JOBS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(s) for s in stages], indent=1))
    return path


def load_jobs(logs_dir: str | Path) -> list[SubmittedStage]:
    path = Path(logs_dir) / JOBS_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing was submitted to Slurm into this folder")
    return [SubmittedStage(**s) for s in json.loads(path.read_text())]


def queue_state(job_ids: list[str]) -> dict[str, list[str]]:
    """{job id: [pending reasons or states of its array tasks]} for the jobs still in the queue."""
    ids = [j for j in job_ids if j and j != "-1"]
    if not ids:
        return {}
    proc = subprocess.run(["squeue", "-h", "-o", "%F|%T|%r", "-j", ",".join(ids)],
                          capture_output=True, text=True)
    state: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        job, status, reason = (line.split("|") + ["", ""])[:3]
        state.setdefault(job.strip(), []).append(reason if status == "PENDING" else status)
    return state


def wait(stages: list[SubmittedStage], *, poll: float = 2.0,
         on_progress: Callable[[dict[str, int]], None] | None = None) -> list[FailedTask]:
    """Block until every task has its marker or nothing left in the queue can finish; returns the
    tasks that did not finish (empty when all did)."""
    while True:
        done = {s.name: len(s.completed()) for s in stages}
        if on_progress:
            on_progress(done)
        if all(done[s.name] >= s.tasks for s in stages):
            return []
        queued = queue_state([s.job_id for s in stages])
        stuck = [j for j, reasons in queued.items() if "DependencyNeverSatisfied" in reasons]
        if stuck:  # a stage failed: what depends on it, directly or not, can never start
            subprocess.run(["scancel", *queued], capture_output=True)
        if not queued or stuck:
            time.sleep(min(poll, 1.0))  # a marker written just as the job left the queue
            if all(len(s.completed()) >= s.tasks for s in stages):
                return []
            return failed_tasks(stages)
        time.sleep(poll)


def failed_tasks(stages: list[SubmittedStage]) -> list[FailedTask]:
    failed = []
    for stage in stages:
        folder = Path(stage.logging_dir)
        done = stage.completed()
        order = _array_order(folder)
        for rank in range(stage.tasks):
            if rank in done:
                continue
            own = folder / "logs" / f"task_{rank:05d}.log"
            index = (order.index(rank) if rank in order else rank) // stage.tasks_per_job
            slurm_logs = sorted((folder / "slurm_logs").glob(f"*_{index}.out"))
            log = own if own.exists() else (slurm_logs[-1] if slurm_logs else folder / "slurm_logs")
            failed.append(FailedTask(stage.name, rank, str(log)))
    return failed


def _array_order(folder: Path) -> list[int]:
    """datatrove runs `ranks_to_run.json[i]` as array task i (only unfinished ranks are submitted)."""
    path = folder / "ranks_to_run.json"
    return json.loads(path.read_text()) if path.exists() else []


def describe_failures(failed: list[FailedTask]) -> str:
    lines = [f"{len(failed)} task(s) did not finish:"]
    lines += [f"  {f.stage} rank {f.rank}: {f.log}" for f in failed]
    return "\n".join(lines)
