"""`r1data select`: questions by pass rate and mean answer length, answers per question and
length outliers, each a datatrove filter with its drop reason; the card and selection.json
record every choice with histograms."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from r1data.filters.selection import length_bounds
from r1data.pipelines.select import SelectConfig, histogram, run
from r1data.record import Record


def _answers(pid: str, correct: list[bool], words: list[int], domain: str = "math") -> list[Record]:
    base = Record.from_prompt(f"Question {pid}: what is {len(pid)} + 1?", id=pid, gold="1", domain=domain)
    rows = []
    for i, (ok, n) in enumerate(zip(correct, words)):
        record = base.with_completion(f"<think>\n{' '.join(['step'] * n)}\n</think>\n\nThe answer is 1.",
                                      sample_index=i)
        record.verdicts = [{"verifier": "math", "correct": ok, "score": float(ok)}]
        rows.append(record)
    return rows


@pytest.fixture()
def corpus(tmp_path):
    records = (_answers("easy", [True] * 4, [100, 110, 120, 105])           # pass rate 1.0
               + _answers("hard", [False] * 4, [300, 310, 320, 330])        # 0.0
               + _answers("mid", [True, False, False, True], [200, 210, 5000, 190])  # 0.5, one outlier
               + _answers("pair", [True, False], [150, 160]))               # 0.5, two answers
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    return path


def kept(out):
    rows = [json.loads(line) for f in sorted((out / "kept").glob("*.jsonl")) for line in open(f)]
    return sorted(r["id"] for r in rows)


def reasons(out, name):
    rows = [json.loads(line) for f in sorted((out / "dropped" / name).glob("*.jsonl")) for line in open(f)]
    return sorted((r["id"], r["metadata"]["drop_reason"]) for r in rows)


def test_pass_rate_band_outliers_and_answer_counts(corpus, tmp_path):
    out = tmp_path / "sel"
    config = SelectConfig(pass_rate=(0.1, 0.6), outliers="question", min_answers=3, max_answers=2)
    summary = run(config, corpus, out)
    assert kept(out) == ["mid/0", "mid/1"]
    assert reasons(out, "pass_rate") == sorted(
        [(f"easy/{i}", "pass_rate_out_of_range") for i in range(4)]
        + [(f"hard/{i}", "pass_rate_out_of_range") for i in range(4)])
    assert reasons(out, "length_outlier") == [("mid/2", "length_outlier")]
    assert reasons(out, "answers_per_question") == [
        ("mid/3", "over_answer_cap"), ("pair/0", "too_few_answers"), ("pair/1", "too_few_answers")]
    assert summary["questions"] == {"input": 4, "kept": 1, "without_pass_rate": 0}
    assert summary["histograms"]["pass_rate"]["input"][5] == 2  # mid and pair, 0.5
    card = (out / "README.md").read_text()
    assert "`pass_rate`: (0.1, 0.6)" in card and "length_outlier" in card and "## Answer length" in card
    assert json.loads((out / "selection.json").read_text())["config"]["max_answers"] == 2


def test_train_grpo_reads_the_selected_prompts(corpus, tmp_path):
    from r1data.trainers.grpo_rollout import load_prompts

    out = tmp_path / "sel"
    run(SelectConfig(pass_rate=(0.1, 0.6)), corpus, out)
    prompts = load_prompts(str(out / "prompts.jsonl"), tmp_path / "rejected.jsonl")
    assert sorted(p.id for p in prompts) == ["mid", "pair"]  # one per question, not per answer
    assert all(p.gold == "1" and not p.completion and p.metadata["pass_rate"] == 0.5 for p in prompts)


def test_mean_length_and_a_reused_pass_rates_file(corpus, tmp_path):
    rates = tmp_path / "pass_rates.jsonl"
    rates.write_text("".join(json.dumps({"prompt_id": p, "samples": 4, "pass_rate": r}) + "\n"
                             for p, r in (("easy", 0.25), ("hard", 0.25), ("mid", 0.9), ("pair", None))))
    out = tmp_path / "sel"
    run(SelectConfig(pass_rate=(0.1, 0.6), pass_rates=str(rates), mean_length=(200, 1e9)), corpus, out)
    assert kept(out) == [f"hard/{i}" for i in range(4)]  # the file's rates win over the verdicts
    assert ("easy/0", "mean_length_out_of_range") in reasons(out, "mean_length")
    # no rate in the file: the verdicts' 0.5 is in the band, the 155-word mean is not
    assert ("pair/0", "mean_length_out_of_range") in reasons(out, "mean_length")


def test_length_bounds_ignore_one_runaway_answer():
    low, high = length_bounds({"q": [200, 210, 190, 205, 5000]}, 3.5)["q"]
    assert low < 190 and 210 < high < 5000
    assert length_bounds({"q": [100, 100]}, 3.5)["q"] == (0.0, float("inf"))
    assert histogram([0.05, 0.55, 1.0], [0, 0.5, 1]) == [1, 2]


def test_bad_configs_are_rejected():
    for bad in ({"pass_rate": (0.6, 0.1)}, {"outliers": "corpus"}, {"max_answers": 0}):
        with pytest.raises(ValueError):
            SelectConfig(**bad)


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "r1data", "select", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_select_command_verl_output_and_manifest(corpus, tmp_path):
    out = tmp_path / "sel"
    proc = _cli("-i", corpus, "-o", out, "--pass-rate", "0.1:0.6", "--format", "verl")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "kept 2 of 4 questions, 6 of 14 answers" in proc.stderr
    assert "pass_rate_out_of_range" in proc.stdout
    assert list((out / "kept").glob("*.parquet"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["command"] == "select" and manifest["settings"]["pass_rate"] == "0.1:0.6"
    broken = tmp_path / "broken.jsonl"
    broken.write_text(corpus.read_text() + "not json\n")
    proc = _cli("-i", broken, "-o", tmp_path / "broken", "--max-answers", "1")
    assert proc.returncode == 0 and "1 unreadable row(s) set aside" in proc.stderr
    rejected = [json.loads(line) for f in (tmp_path / "broken" / "rejected").glob("*.jsonl") for line in open(f)]
    assert [r["reason"].split(":")[0] for r in rejected] == ["bad_json"]
    bad = _cli("-i", corpus, "-o", tmp_path / "bad", "--pass-rate", "0.6")
    assert bad.returncode == 2 and "LOW:HIGH" in bad.stderr and "Traceback" not in bad.stderr


def test_questions_without_verdicts_are_sampled_with_a_backend(tmp_path, tiny_dir):
    # no verdicts and no pass_rates file: k answers of a (random tiny) model, verified by the
    # math verifier, give each question its pass rate; a random model solves none
    prompts = [Record.from_prompt(f"What is {i} + {i}?", id=f"q{i}", gold=str(2 * i)) for i in range(2)]
    records = [p.with_completion("<think>\nadd\n</think>\n\nIt is 0.") for p in prompts]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in records))
    records_no_gold_verdicts = [json.loads(line) for line in path.open()]
    assert all(not r["verdicts"] for r in records_no_gold_verdicts)
    config = SelectConfig(pass_rate=(0.0, 0.0), k=2,
                          sampler={"backend": "transformers", "model": tiny_dir, "max_tokens": 8})
    summary = run(config, path, tmp_path / "sel")
    assert summary["questions"]["without_pass_rate"] == 0
    assert summary["histograms"]["pass_rate"]["input"][0] == 2


def _readme_line(prefix: str) -> str:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.S)
    return next(line.strip() for b in blocks for line in b.splitlines() if line.strip().startswith(prefix))


def test_the_readme_select_example_runs_as_written(tmp_path):
    import shlex
    import shutil
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    line = _readme_line("r1data select ")
    out = repo / shlex.split(line)[shlex.split(line).index("--output") + 1]
    shutil.rmtree(out, ignore_errors=True)
    try:
        proc = subprocess.run([sys.executable, "-m", "r1data", *shlex.split(line)[1:]], cwd=repo,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "kept 2 of 4 questions, 2 of 14 answers" in proc.stderr  # mid and pair, one each
        assert "length_outlier" in (out / "README.md").read_text()
    finally:
        shutil.rmtree(out, ignore_errors=True)
