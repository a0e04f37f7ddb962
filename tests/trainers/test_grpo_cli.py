"""`r1data train grpo --config <the CPU recipe>` end to end (on a tiny model, with the recipe's
real rewards: the math verifier, the format check and language consistency), then the trained
folder is loaded by `r1data generate`. Bad recipes end in one line and exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1data import models

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "trainers" / "recipes" / "grpo_smollm2_135m_cpu.yaml"


def _r1data(*args, cwd):
    return subprocess.run([sys.executable, "-m", "r1data", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_cpu_recipe_trains_and_the_result_generates(tmp_path):
    model, tokenizer = models.tiny_model(seed=0)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    out = tmp_path / "run"
    done = _r1data("train", "grpo", "--config", RECIPE, "--model", tmp_path / "tiny",
                   "--output", out, "--max-steps", 1, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "r1data train grpo" in done.stdout
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]
    for key in ("reward/accuracy", "reward/format", "reward/language_consistency", "kl", "entropy",
                "clip_fraction", "zero_variance_groups", "zero_variance_share", "time/rollout",
                "time/reward", "time/update"):
        assert key in rows[0], key
    assert (out / "final" / "model.safetensors").exists()

    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text(json.dumps({"id": "q1", "problem": "What is 2+2?", "answer": "4"}) + "\n")
    gen = _r1data("generate", "--input", prompts, "--output", tmp_path / "gen", "--model",
                  out / "final", "--template", "r1-zero", "--n", 1, "--max-tokens", 4, cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr[-3000:]
    written = [line for f in (tmp_path / "gen").rglob("*.jsonl") if "rejected" not in f.parts
               for line in f.read_text().splitlines()]
    assert len(written) == 1


@pytest.mark.slow  # a CLI run with the math verifier: ~55 s on 2 cores
def test_dapo_cpu_recipe_runs_dynamic_sampling_and_logs_it(tmp_path):
    """The DAPO recipe's first step on a tiny random model, its budget cut (8 tokens, 1 refill
    round) to keep the test short: the model answers nothing right, so every group has zero
    variance, the refill round runs out and the step trains on what it drew, and says so."""
    model, tokenizer = models.tiny_model(seed=0)
    model.save_pretrained(tmp_path / "tiny")
    tokenizer.save_pretrained(tmp_path / "tiny")
    text = (REPO / "trainers" / "recipes" / "grpo_dapo_smollm2_135m_cpu.yaml").read_text()
    recipe = tmp_path / "dapo.yaml"
    recipe.write_text(text.replace("max_tokens: 48", "max_tokens: 8")
                      .replace("max_refill_rounds: 3", "max_refill_rounds: 1"))
    out = tmp_path / "run"
    done = _r1data("train", "grpo", "--config", recipe, "--model", tmp_path / "tiny",
                   "--output", out, "--max-steps", 1, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert row["refill_rounds"] == 1 and row["groups_kept"] == 0 and row["zero_variance_share"] == 1.0
    assert row["groups_drawn"] == 4 + 4 and row["rollout_tokens"] > 0
    assert "dynamic sampling found 0 of 4 groups" in done.stderr


def test_bad_recipe_is_one_line_and_exit_2(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(RECIPE.read_text() + "\nlearning_rate: 1.0\n")
    done = _r1data("train", "grpo", "--config", recipe, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "learning_rate" in done.stderr
