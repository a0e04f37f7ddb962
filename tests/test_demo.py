"""`r1data demo --quick` end to end on the embedded model: every stage runs for real and the
summary, the report and the Hub folder are written."""

import json
import subprocess
import sys

import pytest

STAGES = ["cold start", "SFT (cold start)", "GRPO", "rejection sampling", "non-reasoning", "mix",
          "publish --dry-run", "distill (SFT)", "evaluate (heldout)", "evaluate (gsm8k)"]


def test_heldout_problems_are_fixed_and_never_drawn_for_training():
    from r1data.demo import arithmetic_problems, heldout_problems

    heldout = heldout_problems(64)
    assert heldout == heldout_problems(64)  # independent of --seed
    texts = {p["problem"] for p in heldout}
    for seed in range(4):
        training = arithmetic_problems(200, seed, exclude=texts)
        assert len(training) == 200 and not texts & {p["problem"] for p in training}
    # without the exclusion the small problem space does repeat held-out texts
    assert texts & {p["problem"] for p in arithmetic_problems(400, 3)}


def test_the_bundled_arithmetic_prompts_are_the_generator_output(package_data):
    """One home for the demo's task: the bundled prompt file (read by the GRPO CPU recipe and
    r1_small.yaml) is `bundled_arithmetic()`, instruction line included, row for row."""
    from r1data.demo import INSTRUCTION, bundled_arithmetic

    rows = [json.loads(line) for line in (package_data / "prompts" / "arithmetic.jsonl").open()]
    assert rows == bundled_arithmetic()
    assert all(r["problem"].endswith("\n\n" + INSTRUCTION) for r in rows)


@pytest.mark.slow
def test_quick_demo_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "r1data", "demo", "--quick", "--output", str(out)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    stages = [row["stage"] for row in summary["stages"]]
    assert stages == STAGES
    for row in summary["stages"]:
        assert row["kept"] >= 0 and row["seconds"] > 0, row
    assert (out / "report" / "README.md").exists()
    notes = {row["stage"]: row["note"] for row in summary["stages"]}
    if summary["facts"].get("mix_rows"):  # the 135M teacher kept something: it was published
        assert (out / "hub" / "README.md").exists() and list((out / "hub" / "data").glob("*.parquet"))
        assert (out / "student" / "final" / "config.json").exists()
    else:  # an empty mix is reported, not hidden
        assert notes["publish --dry-run"].startswith("skipped") and notes["distill (SFT)"].startswith("skipped")

    # summary.json: exactly the documented figures, fractions in [0, 1]
    figures = json.loads((out / "summary.json").read_text())
    assert set(figures) == {"stages", "grpo", "base", "student", "wall_s"}
    assert figures["stages"] == STAGES
    assert figures["grpo"]["steps"] == 2 and figures["wall_s"] > 0
    values = [figures["grpo"]["heldout_before"], figures["grpo"]["heldout_after"],
              figures["base"]["heldout"], figures["student"]["heldout"]]
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values), values
    # the GRPO log has the in-loop held-out evaluation, and the report plots it
    log = [json.loads(line) for line in (out / "grpo" / "log.jsonl").read_text().splitlines() if line]
    assert [row["step"] for row in log if "eval/accuracy" in row] == [1, 2]
    assert (out / "report" / "learning_curves.png").stat().st_size > 1000
    # the closing table prints the same numbers
    assert "Summary" in result.stdout and "evaluate (gsm8k)" in result.stdout
    assert f"{figures['base']['heldout']:.3f}" in result.stdout
    assert f"{figures['grpo']['heldout_after']:.3f}" in result.stdout
