"""`r1data eval` end to end on the embedded model: results.json and details.jsonl agree with each
other and with the verifiers, the run records what reproduces it, a rerun resumes from the stored
samples (and regenerates a lost one identically), and --compare / bad input behave."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from r1data import evaluate
from r1data.backends.base import sample_seed
from r1data.config import ConfigError

# Generation with the real embedded model, twice (the run, then the resume): slow on 2 CPU cores.
pytestmark = pytest.mark.slow

ARGS = ["eval", "--benchmarks", "gsm8k,mbpp", "--limit", "3", "--samples", "2",
        "--max-tokens", "48", "--seed", "7", "--batch-size", "12", "--no-progress"]


def _cli(*args: str):
    from r1data.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("eval") / "run"
    result = _cli(*ARGS, "--output", str(out))
    assert "gsm8k" in result.output and "mbpp" in result.output  # the summary table
    return out


def _details(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "details.jsonl").read_text().splitlines()]


def test_results_and_details_agree(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    rows = _details(run_dir)
    assert [r["benchmark"] for r in rows] == ["gsm8k"] * 3 + ["mbpp"] * 3
    for name in ("gsm8k", "mbpp"):
        mine = [r for r in rows if r["benchmark"] == name]
        m = results["benchmarks"][name]
        samples = [s for r in mine for s in r["samples"]]
        assert m["questions"] == 3 and m["samples_per_question"] == 2
        assert all([s["index"] for s in r["samples"]] == [0, 1] for r in mine)
        per_question = [sum(s["correct"] is True for s in r["samples"]) / 2 for r in mine]
        assert m["pass_at_1"] == pytest.approx(sum(per_question) / 3)
        assert m["pass_at_k"]["1"] == pytest.approx(m["pass_at_1"])
        assert m["truncation_rate"] == pytest.approx(
            sum(s["finish_reason"] == "length" for s in samples) / 6)
        assert m["mean_tokens"] == pytest.approx(sum(s["completion_tokens"] for s in samples) / 6)
        assert all(0 < s["completion_tokens"] <= 49 for s in samples)  # 48 new tokens (+ EOS)
        if name == "gsm8k":
            assert m["cons_at_k"] == pytest.approx(sum(r["vote"]["correct"] for r in mine) / 3)
        else:
            assert m["cons_at_k"] is None and all(r["vote"] is None for r in mine)


def test_details_verdicts_are_the_verifiers(run_dir):
    from r1data import benchmark_sets
    from r1data.verifiers import verify_math
    from r1data.verifiers.code import verify_code

    items = {i["id"]: i for name in ("gsm8k", "mbpp") for i in benchmark_sets.scored_items(name)[:3]}
    for row in _details(run_dir):
        item = items[row["id"]]
        assert row["gold"] == item["gold"] and item["prompt"] in row["question"]
        for s in row["samples"]:
            if row["benchmark"] == "gsm8k":
                verdict = verify_math(s["completion"], item["gold"])
            else:
                verdict = verify_code(s["completion"], item["gold"], setup=item["setup"])
            assert (verdict.correct, verdict.extracted, verdict.reason) == (
                s["correct"], s["extracted"], s["reason"])


def test_details_match_the_stored_generations(run_dir):
    from r1data import io

    stored = {r.id: r for name in ("gsm8k", "mbpp")
              for r in io.read_records(run_dir / "generations" / name)}
    assert len(stored) == 12
    for row in _details(run_dir):
        for s in row["samples"]:
            record = stored[f"{row['id']}/{s['index']}"]
            assert record.completion == s["completion"]
            assert record.finish_reason == s["finish_reason"]
            assert record.provenance["seed"] == sample_seed(7, row["id"], s["index"])


def test_results_record_what_reproduces_them(run_dir):
    run = json.loads((run_dir / "results.json").read_text())["run"]
    assert run["model"] == "smollm2-135m"
    assert run["backend"]["backend"] == "transformers"
    assert run["backend"]["dtype"] == "float32" and run["backend"]["transformers"]
    assert run["sampling"] == {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 48,
                               "seed": 7, "stop": []}
    assert run["instructions"]["math"].endswith("within \\boxed{}.")
    assert run["r1data"] and run["started"] and run["finished"] and run["pass_k"] == [1, 2]


def test_rerun_resumes_and_regenerates_a_lost_sample_identically(run_dir, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    before = json.loads((out / "results.json").read_text())["benchmarks"]
    # lose the last gsm8k sample, as a crash before it was written would
    shard = sorted((out / "generations" / "gsm8k").glob("part-*.jsonl"))[-1]
    lines = shard.read_text().splitlines(keepends=True)
    lost = json.loads(lines[-1])
    shard.write_text("".join(lines[:-1]))
    _cli(*ARGS, "--output", str(out))
    after = json.loads((out / "results.json").read_text())["benchmarks"]
    assert after == before
    row = next(r for r in _details(out) if r["id"] == lost["prompt_id"])
    assert row["samples"][lost["metadata"]["sample_index"]]["completion"] == lost["messages"][-1]["content"]


def test_changed_settings_in_the_same_folder_are_refused(run_dir):
    config = evaluate.EvalConfig(benchmarks=["gsm8k"], output=str(run_dir), limit=3,
                                 sampling={"n": 2, "max_tokens": 48, "seed": 8})
    with pytest.raises(ConfigError, match="other settings"):
        evaluate.run(config, progress=False)


def test_compare_cli_prints_both_and_the_differences(run_dir, tmp_path):
    results = json.loads((run_dir / "results.json").read_text())
    results["benchmarks"]["gsm8k"]["pass_at_1"] += 0.5
    other = tmp_path / "other.json"
    other.write_text(json.dumps(results))
    out = _cli("eval", "--compare", str(run_dir / "results.json"), str(other)).output
    assert "pass@1" in out and "+50.0" in out and "beyond" in out


@pytest.mark.parametrize("args, message", [
    (["--benchmarks", "nope"], "unknown benchmark"),
    (["--compare", "missing_a.json", "missing_b.json"], "no results file"),
    (["--samples", "2", "--pass-k", "4"], "pass_k"),
])
def test_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "r1data", "eval", "--output", str(tmp_path), *args],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_an_instruction_replaces_r1s_line_and_is_part_of_the_settings():
    item = {"prompt": "What is 2 + 3?", "benchmark": "x"}
    assert evaluate.question_text(item, "math").endswith("within \\boxed{}.")
    line = 'End your reply with "The answer is N."'
    assert evaluate.question_text(item, "math", line) == f"What is 2 + 3?\n\n{line}"
    (record,) = evaluate.question_records("gsm8k", 1, line)
    assert record.prompt.endswith(line) and "boxed" not in record.prompt
    from r1data.evaluate.runner import _generation_settings

    plain, other = evaluate.EvalConfig(), evaluate.EvalConfig(instruction=line)
    assert _generation_settings(plain) != _generation_settings(other)  # a resume cannot mix the two
    with pytest.raises(ValueError, match="instruction"):
        evaluate.EvalConfig(instruction="  ")
