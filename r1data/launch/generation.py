"""Sharded generation on many engines: one task per shard, as a Slurm array or as Ray tasks.

Each task generates shard i of N (`r1data.sharding`) into `OUTPUT/shard-<i>-of-<N>/`, either
against the servers given (`--base-url`, several balanced by the server pool) or against its own
server: with `serve`, the task starts that command (e.g. `vllm serve MODEL --port {port}`) on its
node, waits until it answers `GET /v1/models`, generates its shard and stops it. That is the
NeMo-Skills and open-r1 pattern: one vLLM replica per node, no server shared across nodes.

Files, all under `OUTPUT/.logs/generate/`:
    config.json        the GenerateConfig every task runs (its shard index set per task)
    generate.sbatch    the Slurm array script: read it, rerun it by hand with `sbatch`
    completions/<i>    written when shard i finished (a resubmission skips those shards)
    logs/task_<i>.log  what task i printed; slurm_logs/<job>_<i>.out Slurm's own log
A task is `python -m r1data.launch.generation CONFIG --shard-index I [--serve CMD]`, the same on
Slurm, Ray or a shell. Every shard folder is resumable, so a rerun continues where a task died.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import httpx

from r1data import config as cfg
from r1data import sharding
from r1data.generate import GenerateConfig, GenerateSummary, run
from r1data.launch import slurm
from r1data.launch.environment import python
from r1data.optional import require

STAGE = "generate"
SERVE_TIMEOUT = 1800.0  # seconds a task waits for its server: loading a large model takes minutes


def logs_dir(output: str | Path) -> Path:
    return Path(output) / ".logs" / STAGE


def write_config(config) -> Path:
    """The config every task runs, as JSON (a task sets only its shard index)."""
    path = logs_dir(config.output) / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = asdict(config)
    # Tasks may start in another folder (a Ray worker, a hand-run script): local paths absolute;
    # Hub ids and model names stay as they are.
    data["output"] = str(Path(config.output).absolute())
    for key in ("input", "model", "fewshot"):
        if data.get(key) and Path(data[key]).exists():
            data[key] = str(Path(data[key]).absolute())
    path.write_text(json.dumps(data, indent=1))
    return path


def load_config(path: str | Path):
    return cfg.from_dict(GenerateConfig, json.loads(Path(path).read_text()))


def pending_shards(output: str | Path, num_shards: int) -> list[int]:
    done = logs_dir(output) / "completions"
    return [i for i in range(num_shards) if not (done / f"{i:05d}").exists()]


# -- one task ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(command: str, log: Path, timeout: float = SERVE_TIMEOUT) -> Iterator[str]:
    """Start `command` (`{port}` filled with a free port), wait until it answers GET /v1/models,
    yield its URL, and stop it (its whole process group) at the end."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/v1"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        proc = subprocess.Popen(shlex.split(command.format(port=port)), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with code {proc.returncode} before "
                                   f"answering; see {log}")
            try:
                if httpx.get(f"{url}/models", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer {url}/models within {timeout:.0f} s")
            time.sleep(1.0)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_shard(config_path: str | Path, shard_index: int, serve: str | None = None) -> dict[str, Any]:
    """Generate one shard (starting its own server with `serve`); writes its completion marker
    and returns its summary."""
    config = dataclasses.replace(load_config(config_path), shard_index=shard_index)
    logs = logs_dir(config.output)
    with contextlib.ExitStack() as stack:
        if serve:
            url = stack.enter_context(served(serve, logs / "logs" / f"server_{shard_index:05d}.log"))
            config = dataclasses.replace(config, backend="openai",
                                         backend_options={**config.backend_options, "base_url": url})
        summary = run(config, progress=False)
    (logs / "completions").mkdir(parents=True, exist_ok=True)
    (logs / "completions" / f"{shard_index:05d}").touch()
    return summary.to_dict()


def merged_summary(output: str | Path, num_shards: int):
    """The summary of a sharded run: every shard's generate_summary.json added up."""
    total = GenerateSummary(output=str(output))
    counted = {f.name for f in fields(GenerateSummary) if f.name != "seconds"
               and isinstance(getattr(total, f.name), (int, float))}  # the counters
    for i in range(num_shards):
        path = sharding.shard_folder(output, num_shards, i) / "generate_summary.json"
        if not path.exists():
            continue
        shard = json.loads(path.read_text())
        for name in counted:
            setattr(total, name, getattr(total, name) + shard.get(name, 0))
        total.seconds = max(total.seconds, shard.get("seconds", 0.0))  # shards run side by side
        for kind, entry in (shard.get("failures") or {}).items():
            mine = total.failures.setdefault(kind, {"count": 0, "first": entry.get("first", "")})
            mine["count"] += entry.get("count", 0)
    return total


# -- Slurm ---------------------------------------------------------------------------------------


def sbatch_script(config_path: Path, output: str, num_shards: int, shards: list[int],
                  sbatch: dict[str, Any], serve: str | None) -> str:
    """A Slurm array script with one task per shard, readable and runnable by hand."""
    logs = config_path.parent
    directives = {"job-name": "r1data_generate", "cpus-per-task": 2, **sbatch,
                  "array": ",".join(map(str, shards)),
                  "output": f"{logs}/slurm_logs/%A_%a.out"}
    task = [python(), "-m", "r1data.launch.generation", str(config_path),
            "--shard-index", "$SLURM_ARRAY_TASK_ID"] + (["--serve", serve] if serve else [])
    log = f'{shlex.quote(str(logs))}/logs/task_$(printf %05d "$SLURM_ARRAY_TASK_ID").log'
    return slurm.sbatch_script(directives, [
        f"Task i generates shard i of {num_shards} into {output}/shard-<i>-of-{num_shards:05d}/.",
        "With --serve the task starts that server on its node, waits until it answers",
        "/v1/models, generates its shard against it and stops it.",
    ], [f"mkdir -p {shlex.quote(str(logs))}/logs", f"{slurm.command_line(task)} > {log} 2>&1"])


def submit_slurm(config, sbatch: dict[str, Any], serve: str | None = None):
    """Write the array script for the shards not finished yet and submit it; returns the
    `slurm.SubmittedStage` to wait on (job id "-1" when every shard is already done)."""
    config_path = write_config(config)
    shards = pending_shards(config.output, config.num_shards)
    logs = config_path.parent
    stage = slurm.SubmittedStage(STAGE, str(logs), config.num_shards, "-1")
    if shards:
        (logs / "slurm_logs").mkdir(exist_ok=True)
        stage.job_id = slurm.submit(
            logs / "generate.sbatch",
            sbatch_script(config_path, config.output, config.num_shards, shards, sbatch, serve),
            f"the job array of {config.num_shards} shards")
    slurm.save_jobs(logs.parent, [stage])
    return stage


# -- Ray -----------------------------------------------------------------------------------------


def run_ray(config, serve: str | None = None, *, num_cpus: float = 1, num_gpus: float = 0,
            on_done: Callable[[int, int], None] | None = None) -> dict[int, str]:
    """Each unfinished shard as a Ray task (on the cluster `ray.init()` connects to: RAY_ADDRESS,
    else a local one); returns {shard: error} for the shards that failed (logs under logs/)."""
    ray = require("ray", "--executor ray")

    config_path = write_config(config)
    shards = pending_shards(config.output, config.num_shards)
    if not ray.is_initialized():
        ray.init(log_to_driver=False, include_dashboard=False)
    # A worker that dies (Ray's memory monitor, a lost node) is retried by Ray: a shard resumes
    # where it stopped, so a rerun costs only its unwritten samples. Errors raised by the
    # generation itself are not retried.
    task = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=2)(_ray_shard)
    running = {task.remote(str(config_path), i, serve): i for i in shards}
    failed, finished = {}, config.num_shards - len(shards)
    while running:
        ready, _ = ray.wait(list(running), num_returns=1, timeout=10)
        for ref in ready:
            shard = running.pop(ref)
            try:
                ray.get(ref)
                finished += 1
            except Exception as exc:  # noqa: BLE001 - reported with its log; the others go on
                failed[shard] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
            if on_done:
                on_done(finished, config.num_shards)
    return failed


def _ray_shard(config_path: str, shard_index: int, serve: str | None) -> dict[str, Any]:
    log = logs_dir(load_config(config_path).output) / "logs" / f"task_{shard_index:05d}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            return run_shard(config_path, shard_index, serve)
        except BaseException:
            import traceback

            traceback.print_exc()
            raise


# -- what `r1data generate --executor slurm|ray` does ------------------------------------------


def launch(config, executor: str, *, serve: str | None = None, sbatch: dict[str, Any] | None = None,
           gpus_per_task: float = 0, wait: bool = False,
           on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Run every shard of `config` on Slurm or Ray. Returns {"summary": merged GenerateSummary,
    "failed": ["shard i: log path"]} once the shards ended (Ray; Slurm with `wait`), else
    {"submitted": job id} (Slurm without `wait`)."""
    if executor == "ray":
        failed = run_ray(config, serve, num_gpus=gpus_per_task,
                         on_done=on_progress)
        logs = logs_dir(config.output) / "logs"
        return {"summary": merged_summary(config.output, config.num_shards),
                "failed": [f"shard {i}: {logs / f'task_{i:05d}.log'} ({error})"
                           for i, error in failed.items()]}
    if executor != "slurm":
        raise ValueError(f"executor must be local, slurm or ray, got {executor!r}")
    sbatch = dict(sbatch or {})
    if gpus_per_task:
        sbatch.setdefault("gpus-per-task", int(gpus_per_task))
    stage = submit_slurm(config, sbatch, serve)
    if not wait:
        return {"submitted": stage.job_id}
    return collect(config.output, on_progress=on_progress)


def collect(output: str | Path, *, poll: float = 2.0,
            on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Wait for a sharded run submitted to Slurm into `output`; returns what `launch` does."""
    stages = slurm.load_jobs(Path(output) / ".logs")
    total = stages[0].tasks
    failed = slurm.wait(stages, poll=poll, on_progress=(
        (lambda done: on_progress(done[STAGE], total)) if on_progress else None))
    return {"summary": merged_summary(output, total),
            "failed": [f"shard {f.rank}: {f.log}" for f in failed]}


# -- a task from the command line (what the Slurm script runs) -----------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m r1data.launch.generation",
                                     description="Generate one shard of a sharded run.")
    parser.add_argument("config", help="OUTPUT/.logs/generate/config.json")
    parser.add_argument("--shard-index", type=int, required=True)
    parser.add_argument("--serve", help="start this server first ({port} is filled in)")
    args = parser.parse_args(argv)
    summary = run_shard(args.config, args.shard_index, args.serve)
    print(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
