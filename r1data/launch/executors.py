"""datatrove's executors, built in one place for every datatrove pipeline r1data runs (the filter
chain's stages, select's one task): the same workers, resources and Slurm environment whatever
the pipeline does. A step never knows whether it runs in this process, as Ray tasks or as a
Slurm array.

Their console output follows `r1data --verbose` in every process that runs a task: forkserver
workers, Slurm array tasks and Ray tasks. datatrove sets its logging up again in each task
(`add_task_logger`: an INFO line sink on stderr and the task's log file), so a level set in
the process that builds the executor never reaches the tasks; the executor carries the choice
with it instead (it is pickled to every worker). Without --verbose a task's stderr is dropped
(loguru lines and tqdm bars; an error still ends the task and reaches the caller, and the task
log, `<logging_dir>/logs/task_<rank>.log`, is written in full either way) and the launching
process shows datatrove's warnings and errors only.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor, RayPipelineExecutor, SlurmPipelineExecutor
from datatrove.utils.logging import DATATROVE_COLORIZE_LOGS, logger, setup_default_logger

from r1data.launch.environment import activation_command
from r1data.optional import require

EXECUTORS = ("local", "ray", "slurm")
VERBOSE_VARIABLE = "R1DATA_VERBOSE"  # set by `r1data --verbose`; a Python caller may set it too


def verbose_logs() -> bool:
    """Whether datatrove's console output shows: `r1data --verbose`, or R1DATA_VERBOSE=1."""
    return os.environ.get(VERBOSE_VARIABLE, "").lower() in ("1", "true", "yes")


def _warnings_only() -> None:
    logger.remove()
    logger.add(sys.stderr, level="WARNING", colorize=DATATROVE_COLORIZE_LOGS)


class ConsoleFollowsVerbose:
    """Mixed into datatrove's executors (see the module docstring). `verbose` is read when the
    executor is built, in the process that runs r1data, and travels with it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.verbose = verbose_logs()

    def run(self):
        if self.verbose:
            return super().run()
        _warnings_only()
        try:
            return super().run()
        finally:
            setup_default_logger()  # datatrove's own default, as it was before

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1):
        if self.verbose:
            return super()._run_for_rank(rank, local_rank, node_rank)
        try:
            with open(os.devnull, "w") as devnull, contextlib.redirect_stderr(devnull):
                return super()._run_for_rank(rank, local_rank, node_rank)
        finally:
            # datatrove's task end re-adds its default sink on the stderr of that moment (devnull,
            # closed now); the rest of this worker's lines ("3/14 tasks completed.") are INFO
            _warnings_only()


class LocalExecutor(ConsoleFollowsVerbose, LocalPipelineExecutor):
    pass


class RayExecutor(ConsoleFollowsVerbose, RayPipelineExecutor):
    pass


class SlurmExecutor(ConsoleFollowsVerbose, SlurmPipelineExecutor):
    def launch_merge_stats(self):
        """Not launched: r1data sums the tasks' own stats files once they have all finished
        (filters.chain.collect_stats, after --wait or --collect). datatrove's merge into
        `<logging_dir>/stats.json` would be one more job per stage, a Python start each."""


def datatrove_executor(kind: str, pipeline: list, *, tasks: int, workers: int, logging_dir: Path,
                       depends: Any = None, name: str = "r1data", cpus_per_task: int = 1,
                       mem_per_cpu_gb: float = 2, slurm: dict[str, Any] | None = None) -> Any:
    """The executor of `kind` (local, ray or slurm) for `pipeline` in `tasks` tasks, `workers` at
    a time, logging into `logging_dir`, after `depends`. `slurm`: SlurmPipelineExecutor arguments
    (partition and time at least); the job gets the environment r1data runs from unless they
    name one."""
    workers = max(1, min(workers, tasks))
    if kind == "local":
        return LocalExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                             depends=depends)
    if kind == "ray":
        require("ray", "the ray executor")  # datatrove's own check would end in a traceback
        # One Ray actor per `workers` share of the tasks: starting an actor costs seconds, and
        # MinHash's bucket stage alone has 14 tasks.
        return RayExecutor(pipeline, tasks=tasks, workers=workers, tasks_per_job=-(-tasks // workers),
                           logging_dir=str(logging_dir), depends=depends,
                           cpus_per_task=cpus_per_task, mem_per_cpu_gb=mem_per_cpu_gb)
    if kind != "slurm":
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    slurm = {"job_name": f"r1data_{name}", **(slurm or {})}
    if not {"env_command", "venv_path", "condaenv"} & set(slurm):
        slurm["env_command"] = activation_command(sep="; ")  # see r1data.launch.environment
    return SlurmExecutor(pipeline, tasks=tasks, workers=workers, logging_dir=str(logging_dir),
                         depends=depends, cpus_per_task=cpus_per_task,
                         mem_per_cpu_gb=int(max(1, mem_per_cpu_gb)), **slurm)
