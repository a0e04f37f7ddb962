"""datatrove's executors, built in one place for every datatrove pipeline r1data runs (the filter
chain's stages): the same workers, resources and Slurm environment whatever the pipeline does.
A step never knows whether it runs in this process, as Ray tasks or as a Slurm array.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from r1data.launch.environment import activation_command
from r1data.optional import require

EXECUTORS = ("local", "ray", "slurm")


def datatrove_executor(kind: str, pipeline: list, *, tasks: int, workers: int, logging_dir: Path,
                       depends: Any = None, name: str = "r1data", cpus_per_task: int = 1,
                       mem_per_cpu_gb: float = 2, slurm: dict[str, Any] | None = None) -> Any:
    """The executor of `kind` (local, ray or slurm) for `pipeline` in `tasks` tasks, `workers` at
    a time, logging into `logging_dir`, after `depends`. `slurm`: SlurmPipelineExecutor arguments
    (partition and time at least); the job gets the environment r1data runs from unless they
    name one."""
    workers = max(1, min(workers, tasks))
    if kind == "local":
        from datatrove.executor import LocalPipelineExecutor  # lazy: heavy import

        return LocalPipelineExecutor(pipeline, tasks=tasks, workers=workers,
                                     logging_dir=str(logging_dir), depends=depends)
    if kind == "ray":
        require("ray", "the ray executor")  # datatrove's own check would end in a traceback
        from datatrove.executor.ray import RayPipelineExecutor  # lazy: heavy import

        # One Ray actor per `workers` share of the tasks: starting an actor costs seconds, and
        # MinHash's bucket stage alone has 14 tasks.
        return RayPipelineExecutor(pipeline, tasks=tasks, workers=workers,
                                   tasks_per_job=-(-tasks // workers),
                                   logging_dir=str(logging_dir), depends=depends,
                                   cpus_per_task=cpus_per_task, mem_per_cpu_gb=mem_per_cpu_gb)
    if kind != "slurm":
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {kind!r}")
    from datatrove.executor.slurm import SlurmPipelineExecutor  # lazy: heavy import

    slurm = {"job_name": f"r1data_{name}", **(slurm or {})}
    if not {"env_command", "venv_path", "condaenv"} & set(slurm):
        slurm["env_command"] = activation_command(sep="; ")  # see r1data.launch.environment
    return SlurmPipelineExecutor(pipeline, tasks=tasks, workers=workers,
                                 logging_dir=str(logging_dir), depends=depends,
                                 cpus_per_task=cpus_per_task,
                                 mem_per_cpu_gb=int(max(1, mem_per_cpu_gb)), **slurm)
