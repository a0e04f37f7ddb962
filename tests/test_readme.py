"""The README's commands are real: every `r1data ...` line names an existing command and only
options that command has; the cheap ones run as written. (The expensive ones were run by hand and
their output pasted; the demo has its own test.)"""

import os
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
CHEAP = ("r1data stats ", "r1data run pipelines/recipes/r1_full.yaml --dry-run")
# What a cheap command's comment in the README promises, when it is not success.
EXIT_CODES = {"r1data run pipelines/recipes/r1_full.yaml --dry-run": 2}


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    lines = [line.strip() for block in blocks for line in block.splitlines()]
    return [line.split("  #")[0].strip() for line in lines if line.startswith("r1data ")]


@lru_cache(maxsize=None)
def help_text(*command: str) -> str:
    result = subprocess.run([sys.executable, "-m", "r1data", *command, "--help"],
                            capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_readme_opens_with_the_two_setup_commands():
    first_block = re.search(r"```bash\n(.*?)```", README, flags=re.S).group(1)
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci


@pytest.mark.parametrize("line", readme_commands())
def test_readme_command_exists_with_its_options(line):
    words = shlex.split(line)[1:]
    command = words[:2] if words[0] == "train" else words[:1]
    text = help_text(*command)
    for option in [w.split("=")[0] for w in words if w.startswith("--")]:
        assert option in text, f"{option} is not an option of r1data {' '.join(command)}"


@pytest.mark.parametrize("line", [line for line in readme_commands() if line.startswith(CHEAP)])
def test_cheap_readme_commands_run_as_written(line):
    result = subprocess.run([sys.executable, "-m", "r1data", *shlex.split(line)[1:]], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == EXIT_CODES.get(line, 0), result.stderr[-2000:]
    if line in EXIT_CODES:  # the R1-sized recipe is valid; only its user-provided prompts are missing
        assert "input(s) cannot be read: cold_start: data/reasoning_prompts.jsonl" in result.stderr
        assert "Traceback" not in result.stderr


def chain_line(command: str) -> list[str]:
    """The README's first `r1data COMMAND ...` example (the one in "The commands") as arguments,
    the input made absolute."""
    line = next(line for line in readme_commands() if line.startswith(f"r1data {command} "))
    return [str(REPO / w) if w.startswith("r1data/data/") else w for w in shlex.split(line)[1:]]


@pytest.mark.slow
def test_the_generate_verify_filter_chain_keeps_reasoning_samples(tmp_path):
    """The chain of "The commands" on the embedded model, as written (20 prompts x 4 samples: at
    the 135M model's pass rate on these problems, fewer samples could keep none): what `filter`
    keeps are correct samples in R1's form (a chain of thought and a summary)."""
    import json

    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    for command in ("generate", "verify", "filter"):
        args = chain_line(command)
        proc = subprocess.run([sys.executable, "-m", "r1data", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, f"{command}: {proc.stderr[-2000:]}"
    kept = [json.loads(line) for p in sorted((tmp_path / "out/filtered/kept").glob("*.jsonl"))
            for line in p.read_text().splitlines()]
    assert kept, "the README's chain kept no sample"
    assert all(r["reasoning"] and r["answer"] and r["verdicts"][-1]["correct"] for r in kept)


@pytest.mark.slow
def test_the_grpo_cpu_recipe_trains(tmp_path):
    """The README's `r1data train grpo --config trainers/recipes/grpo_smollm2_135m_cpu.yaml`,
    shortened to 2 steps: its groups hold both right and wrong answers, so the loss has a gradient
    (a recipe whose every group had zero reward variance once logged grad_norm 0 at every step)."""
    import json

    line = next(line for line in readme_commands() if line.startswith("r1data train grpo --config"))
    args = [str(REPO / w) if w.startswith("trainers/") else w for w in shlex.split(line)[1:]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "r1data", *args, "--max-steps", "2",
                           "--output", str(tmp_path / "grpo")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = [json.loads(line) for line in (tmp_path / "grpo" / "log.jsonl").read_text().splitlines()]
    steps = [s for s in steps if "grad_norm" in s]
    assert len(steps) == 2
    assert max(s["grad_norm"] for s in steps) > 0
    assert min(s["zero_variance_share"] for s in steps) < 1.0
