"""datatrove's log lines reach the terminal only with `r1data --verbose`, from every process:
the CLI itself and its forkserver workers (r1data.launch.executors). Run in a pseudo-terminal,
as a user runs it: piped output hides what a terminal shows (loguru and rich both look at
isatty). Slurm task logs are checked in tests/engines/test_slurm.py."""

import json
import os
import pty
import re
import select
import signal
import sys
import time
from pathlib import Path

import pytest

from r1data import benchmark_sets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "filters"))
from filtercase_helpers import chain_corpus  # noqa: E402

RECIPE = {"decontamination": {"benchmarks": ["gsm8k"]}, "correctness": {"max_per_prompt": 2}}
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LOG_LINE = re.compile(r"\| (TRACE|DEBUG|INFO|SUCCESS|WARNING|ERROR|CRITICAL)\s*\| datatrove")


def in_terminal(args: list[str], cwd: Path, timeout: float = 240) -> tuple[int, str]:
    """Run `args` with a pseudo-terminal as its stdin, stdout and stderr; (exit code, output
    with colours removed)."""
    env = {k: v for k, v in os.environ.items() if k != "R1DATA_VERBOSE"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: exec at once, nothing else
        os.chdir(cwd)
        os.execve(args[0], args, {**env, "COLUMNS": "120"})
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([fd], [], [], 1.0)[0]:
                try:
                    data = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
        else:
            os.kill(pid, signal.SIGKILL)
            pytest.fail(f"{' '.join(args[:4])} ... still running after {timeout:.0f} s")
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), ANSI.sub("", b"".join(chunks).decode(errors="replace"))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    chain_corpus(folder / "samples.jsonl", benchmark_sets.load("gsm8k")[7]["prompt"])
    (folder / "recipe.yaml").write_text(json.dumps(RECIPE))  # JSON is YAML
    return folder


@pytest.mark.parametrize("verbose", [False, True])
def test_worker_logs_reach_the_terminal_only_with_verbose(inputs, tmp_path, verbose):
    out = tmp_path / "out"
    r1data = str(Path(sys.executable).parent / "r1data")
    code, shown = in_terminal([r1data, *(["--verbose"] if verbose else []), "filter", "-i",
                               str(inputs / "samples.jsonl"), "-o", str(out), "-c",
                               str(inputs / "recipe.yaml"), "--tasks", "2", "--workers", "2"],
                              cwd=tmp_path)
    assert code == 0, shown[-3000:]
    assert f"-> {out / 'kept'}" in shown.replace("\n", "")  # the summary (rich may wrap it)
    log_lines = [line for line in shown.replace("\r", "\n").splitlines() if LOG_LINE.search(line)]
    if verbose:  # the workers' own lines, and those of the one-task stages run in-process
        assert "Launching pipeline for rank=" in shown and "tasks completed." in shown
        assert len(log_lines) > 20
    else:
        assert log_lines == [], "\n".join(log_lines[:10])
    # datatrove's task logs are written in full either way: each filter task ran in a worker
    for rank in (0, 1):
        log = (out / ".logs" / "filter" / "logs" / f"task_{rank:05d}.log").read_text()
        assert f"Launching pipeline for rank={rank}" in log and "Processing done" in log
    assert "Processing done" in (out / ".logs" / "final" / "logs" / "task_00000.log").read_text()
