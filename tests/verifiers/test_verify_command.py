"""`r1data verify` end to end: routing of a mixed file, the summary, unreadable rows, resume,
bad input as one line with exit code 2."""

import json
import os
import subprocess
import sys

from r1data import benchmark_sets
from r1data.io import read_records
from r1data.record import Record
from r1data.verifiers.sandbox import detect_isolation

THINK = "<think>\nthinking\n</think>\n\n"


def _write_input(path):
    rows = []
    for item in benchmark_sets.load("math500")[:6]:
        base = Record.from_prompt(item["prompt"], id=item["id"], gold=item["gold"], domain="math",
                                  source="math500")
        rows.append(base.with_completion(THINK + f"\\boxed{{{item['gold']}}}", sample_index=0))
        rows.append(base.with_completion(THINK + "\\boxed{-123456}", sample_index=1))
    for item in benchmark_sets.load("mbpp")[:3]:
        base = Record.from_prompt(item["prompt"], id=item["id"], gold=item["gold"], domain="code",
                                  source="mbpp", metadata={"setup": item["setup"]})
        rows.append(base.with_completion(THINK + f"```python\n{item['canonical_solution']}\n```"))
    for item in benchmark_sets.load("mmlu_stem")[:3]:
        base = Record.from_prompt(item["prompt"], id=item["id"], gold=item["gold"],
                                  domain="science", source="mmlu_stem",
                                  metadata={"choices": item["choices"]})
        rows.append(base.with_completion(THINK + f"The answer is ({item['gold']})."))
    rows.append(Record.from_prompt("Say hi", id="chat/1", source="chat").with_completion("hi"))
    with open(path, "w", encoding="utf-8") as fh:
        for record in rows:
            fh.write(json.dumps(record.to_dict()) + "\n")
        fh.write("{broken json\n")
    return len(rows)


def _run(*args):
    env = {**os.environ, "COLUMNS": "200"}  # the summary table on one line per row
    return subprocess.run([sys.executable, "-m", "r1data", "verify", *args],
                          capture_output=True, text=True, timeout=300, env=env)


def test_verify_command_end_to_end_and_resume(tmp_path):
    n = _write_input(tmp_path / "in.jsonl")
    out = tmp_path / "out"
    result = _run("-i", str(tmp_path / "in.jsonl"), "-o", str(out), "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "math500 / math" in result.stdout and "total" in result.stdout
    records = list(read_records(out))
    assert len(records) == n and all(len(r.verdicts) == 1 for r in records)
    by_id = {r.id: r.verdicts[-1] for r in records}
    assert by_id["chat/1/0"]["reason"] == "no_gold" and by_id["chat/1/0"]["correct"] is None
    summary = json.loads((out / "verify_summary.json").read_text())
    assert summary["groups"]["math500 / math"]["correct"] == 6
    assert summary["groups"]["math500 / math"]["wrong"] == 6
    assert summary["groups"]["mbpp / code"]["correct"] == 3
    code = [r.verdicts[-1] for r in records if r.domain == "code"]
    assert {v["details"]["isolation"] for v in code} == {detect_isolation()}
    assert f"code isolation: {detect_isolation()}" in " ".join(result.stderr.split())
    assert summary["groups"]["mmlu_stem / science"]["correct"] == 3
    assert summary["unreadable"] == 1
    assert "bad_json" in (out / "rejected" / "unreadable.jsonl").read_text()
    assert {v["verifier"] for v in by_id.values()} == {"math", "code", "choice", "none"}

    again = _run("-i", str(tmp_path / "in.jsonl"), "-o", str(out))
    assert again.returncode == 0
    summary = json.loads((out / "verify_summary.json").read_text())
    assert summary["written"] == 0 and summary["resumed"] == n
    assert all(len(r.verdicts) == 1 for r in read_records(out))


def test_verify_command_bad_input_is_one_line(tmp_path):
    result = _run("-i", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "missing.jsonl" in result.stderr
    result = _run("-i", str(tmp_path / "missing.jsonl"), "-o", str(tmp_path / "o"), "--workers", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
