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
    rows = {row["stage"]: row for row in summary["stages"]}
    assert all(row["seconds"] > 0 and 0 <= row["kept"] <= row["in"] for row in rows.values()), rows
    assert (out / "report" / "README.md").exists()
    # every stage hands on what it kept: the mix reads the three data stages' kept samples (less
    # exact duplicates), publish and the student train on all of it (no test split in the demo)
    assert rows["SFT (cold start)"]["in"] == rows["cold start"]["kept"]
    mix_in = sum(rows[s]["kept"] for s in ("cold start", "rejection sampling", "non-reasoning"))
    assert rows["mix"]["in"] == mix_in and rows["mix"]["kept"] == mix_in - sum(rows["mix"]["dropped"].values())
    # the quick demo publishes a corpus and distils a student on it (the README's promise)
    assert summary["facts"]["mix_rows"] == rows["mix"]["kept"] > 0
    assert rows["publish --dry-run"]["kept"] == rows["distill (SFT)"]["in"] == rows["mix"]["kept"]
    assert (out / "hub" / "README.md").exists() and list((out / "hub" / "data").glob("*.parquet"))
    assert (out / "student" / "final" / "config.json").exists()
    for label in ("base", "student"):
        # pass@1 is the mean over questions of each question's share of correct samples
        results = json.loads((out / "eval" / label / "results.json").read_text())
        details = [q for q in map(json.loads, (out / "eval" / label / "details.jsonl").open())
                   if q["benchmark"] == "gsm8k"]
        shares = [sum(s["correct"] is True for s in q["samples"]) / len(q["samples"]) for q in details]
        gsm8k = results["benchmarks"]["gsm8k"]
        assert gsm8k["questions"] == len(details) == rows["evaluate (gsm8k)"]["in"]
        assert gsm8k["pass_at_1"] == pytest.approx(sum(shares) / len(shares))
    assert "Summary" in result.stdout and "evaluate (gsm8k)" in result.stdout
