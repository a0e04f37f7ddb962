"""`r1data demo --quick` end to end on the embedded model: every stage runs for real and the
summary, the report and the Hub folder are written."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_demo_runs_every_stage(tmp_path):
    out = tmp_path / "demo"
    result = subprocess.run([sys.executable, "-m", "r1data", "demo", "--quick", "--output", str(out)],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "demo_summary.json").read_text())
    stages = [row["stage"] for row in summary["stages"]]
    assert stages == ["cold start", "SFT (cold start)", "GRPO", "rejection sampling", "non-reasoning",
                      "mix", "publish --dry-run", "distill (SFT)", "evaluate (gsm8k)"]
    for row in summary["stages"]:
        assert row["kept"] >= 0 and row["seconds"] > 0, row
    assert (out / "report" / "README.md").exists()
    notes = {row["stage"]: row["note"] for row in summary["stages"]}
    if summary["facts"].get("mix_rows"):  # the 135M teacher kept something: it was published
        assert (out / "hub" / "README.md").exists() and list((out / "hub" / "data").glob("*.parquet"))
        assert (out / "student" / "final" / "config.json").exists()
    else:  # an empty mix is reported, not hidden
        assert notes["publish --dry-run"].startswith("skipped") and notes["distill (SFT)"].startswith("skipped")
    for label in ("base", "student"):
        results = json.loads((out / "eval" / label / "results.json").read_text())
        assert 0.0 <= results["benchmarks"]["gsm8k"]["pass_at_1"] <= 1.0
    assert "Summary" in result.stdout and "evaluate (gsm8k)" in result.stdout
