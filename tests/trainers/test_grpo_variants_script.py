"""benchmarks/grpo_variants.py splits its runs across processes by `--arms`, and a last run over
the whole log summarises every arm without training again (the tiny random model: the numbers
mean nothing, the bookkeeping is what is checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "grpo_variants.py"
TINY = ["--model", "tiny", "--token-budget", "100", "--heldout", "4", "--prompts-per-step", "2",
        "--g", "2", "--max-tokens", "8"]


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *TINY, "--out", str(out), *extra],
                          capture_output=True, text=True, timeout=600)


def test_arms_split_across_runs_and_the_last_run_summarises_the_log(tmp_path):
    out = tmp_path / "variants"
    for arms in ("grpo", "dapo+dynamic"):
        done = _run(out, "--seeds", "0", "--arms", arms)
        assert done.returncode == 0, done.stderr[-2000:]
    runs = [json.loads(line) for line in out.with_suffix(".runs.jsonl").read_text().splitlines()]
    assert [(r["loss_type"], r["dynamic_sampling"]) for r in runs] == [("grpo", False), ("dapo", True)]

    summary_only = _run(out, "--seeds", "0", "--arms", "grpo,dapo+dynamic")
    assert summary_only.returncode == 0, summary_only.stderr[-2000:]
    assert len(out.with_suffix(".runs.jsonl").read_text().splitlines()) == 2  # nothing ran again
    result = json.loads(out.with_suffix(".json").read_text())
    assert [s["arm"] for s in result["summary"]] == ["grpo", "dapo + dynamic"]
    assert out.with_suffix(".png").stat().st_size > 0


def test_an_unknown_arm_is_a_one_line_error(tmp_path):
    done = _run(tmp_path / "variants", "--arms", "ppo")
    assert done.returncode != 0
    assert "unknown arm" in done.stderr and "Traceback" not in done.stderr


def test_runs_are_summarised_per_rollout_engine():
    # --rollout vllm runs share a log with transformers runs (logged before --rollout existed,
    # so without the key): one summary row per engine, named by it
    import importlib.util

    spec = importlib.util.spec_from_file_location("grpo_variants", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    run = {"loss_type": "grpo", "dynamic_sampling": False, "steps": 5, "rollout_tokens": 6000.0,
           "accuracy_after": 0.5, "zero_variance_share_trained": 0.4, "zero_variance_share_drawn": 0.4}
    runs = ([{**run, "seed": s, "gain_per_1k_tokens": 0.07} for s in range(3)]
            + [{**run, "seed": s, "rollout": "vllm", "gain_per_1k_tokens": 0.05 + s / 100} for s in range(3)])
    summary = script.summarise(runs)
    assert [(s["arm"], s["seeds"]) for s in summary] == [("grpo (transformers)", 3), ("grpo (vllm)", 3)]
    assert abs(summary[1]["gain_per_1k_tokens"] - 0.06) < 1e-12 and summary[1]["gain_per_1k_tokens_se"] > 0
    assert [s["arm"] for s in script.summarise(runs[:3])] == ["grpo"]  # one engine: not named
