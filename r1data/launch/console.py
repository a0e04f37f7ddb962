"""What `r1data generate --executor slurm|ray` prints: progress from the completion markers, the
summary a local run prints (all shards added up), failed shards with their logs, and, when it
does not wait, the exact command that collects the results later."""

from __future__ import annotations

import shlex
import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from r1data.config import ConfigError
from r1data.generate import render_summary
from r1data.launch import generation


def parse_sbatch(items: list[str] | None) -> dict[str, str]:
    """`["partition=gpu", "time=04:00:00"]` as sbatch options; a bad item is a ConfigError."""
    options = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--slurm {item!r}: expected KEY=VALUE, e.g. partition=gpu")
        options[key.strip().lstrip("-")] = value.strip()
    return options


def collect_command() -> str:
    """The running command line with `--collect` in place of `--wait`: what a user runs later to
    wait for submitted jobs and print their summary (generate and filter say the same)."""
    program = ([sys.executable, "-m", "r1data"] if sys.argv[0].endswith("__main__.py")
               else [sys.argv[0]])
    return shlex.join([*program, *(a for a in sys.argv[1:] if a != "--wait"), "--collect"])


def run_sharded(config, executor: str, *, serve: str | None = None, sbatch: list[str] | None = None,
                gpus_per_task: float = 0, wait: bool = False, collect: bool = False) -> None:
    if config.num_shards < 2 and not collect:
        raise ConfigError(f"--executor {executor} runs one task per shard: give --num-shards N (N >= 2)")
    err = Console(stderr=True)
    with Progress(TextColumn(f"[bold]{executor} shards"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err) as progress:
        bar = progress.add_task("shards", total=config.num_shards)

        def on_progress(done: int, total: int) -> None:
            progress.update(bar, completed=done, total=total)

        if collect:
            result = generation.collect(config.output, on_progress=on_progress)
        else:
            result = generation.launch(config, executor, serve=serve, sbatch=parse_sbatch(sbatch),
                                       gpus_per_task=gpus_per_task, wait=wait,
                                       on_progress=on_progress)
    if "submitted" in result:
        err.print(f"submitted to Slurm: job {result['submitted']} "
                  f"({config.num_shards} shards, script {generation.logs_dir(config.output)}/generate.sbatch)\n"
                  f"collect the results (waits for the jobs, then prints the summary):\n  "
                  f"{collect_command()}", soft_wrap=True, highlight=False, markup=False)
        return
    Console().print(render_summary(result["summary"]))
    if result["failed"]:
        err.print(f"{len(result['failed'])} shard(s) did not finish (rerun the same command to "
                  "retry them):\n  " + "\n  ".join(result["failed"]), style="red", soft_wrap=True,
                  markup=False, highlight=False)
        raise SystemExit(1)
