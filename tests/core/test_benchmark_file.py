"""`r1data eval --benchmark-file`: a user's benchmark read through the reading layer and
evaluated with the bundled benchmarks' protocol and results.json."""

import json

from typer.testing import CliRunner

from r1data import benchmark_sets as bench

GPQA = [{"Record ID": f"rec{i}", "Question": f"Which particle has charge {q}?",
         "Correct Answer": right, "Incorrect Answer 1": "photon", "Incorrect Answer 2": "neutrino",
         "Incorrect Answer 3": "gluon", "Subdomain": "Physics"}
        for i, (q, right) in enumerate([("-1", "electron"), ("+1", "positron"), ("+2/3", "up quark")])]


def test_gpqa_layout_becomes_multiple_choice_items_with_a_letter_gold(tmp_path):
    import csv

    from r1data import schemas

    path = tmp_path / "gpqa_diamond.csv"  # GPQA is published as CSV
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(GPQA[0]))
        writer.writeheader()
        writer.writerows(GPQA)
    options = schemas.ReadOptions(columns=schemas.parse_columns("prompt=Question,id=Record ID"))
    name = bench.register_file(path, "choice", options)
    items = bench.load(name)
    assert name == "gpqa_diamond" and [i["id"] for i in items] == ["rec0", "rec1", "rec2"]
    for item, row in zip(items, GPQA):
        assert sorted(item["choices"]) == sorted(["photon", "neutrino", "gluon", row["Correct Answer"]])
        assert item["choices"][ord(item["gold"]) - 65] == row["Correct Answer"]
    assert bench.load(name) == items and bench.parse_names(name) == [name]


def test_livecodebench_layout_keeps_its_stdin_stdout_cases(tmp_path):
    from r1data import schemas

    cases = [{"input": "2 3\n", "output": "5\n", "testtype": "stdin"}]
    path = tmp_path / "lcb.jsonl"
    path.write_text(json.dumps({"question_id": "abc1", "question_content": "Add two numbers.",
                                "public_test_cases": json.dumps(cases), "difficulty": "easy"}) + "\n")
    options = schemas.ReadOptions(columns=schemas.parse_columns(
        "prompt=question_content,gold=public_test_cases,id=question_id"))
    [item] = bench.load(bench.register_file(path, "code", options))
    assert (item["id"], item["domain"], item["gold"]) == ("abc1", "code", cases)


def test_eval_runs_a_benchmark_file_with_the_same_protocol(tmp_path, tiny_dir):
    from r1data.cli import app

    path = tmp_path / "private_set.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {i} + {i}?", "final": 2 * i}) + "\n"
                            for i in range(3)))
    out = tmp_path / "eval"
    result = CliRunner().invoke(app, [
        "eval", "--benchmark-file", str(path), "--columns", "gold=final", "--verifier", "math",
        "--model", tiny_dir, "-k", "2", "--max-tokens", "4", "--output", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    metrics = results["benchmarks"]["private_set"]
    assert metrics["kind"] == "math" and metrics["questions"] == 3
    details = [json.loads(line) for line in (out / "details.jsonl").read_text().splitlines()]
    assert [d["gold"] for d in details] == ["0", "2", "4"]
    assert all(len(d["samples"]) == 2 for d in details)


def test_a_benchmark_file_without_gold_is_one_line_exit_2(tmp_path):
    from r1data.cli import app

    path = tmp_path / "nogold.jsonl"
    path.write_text(json.dumps({"question": "Q?"}) + "\n")
    result = CliRunner().invoke(app, ["eval", "--benchmark-file", str(path), "--output",
                                      str(tmp_path / "e")])
    assert result.exit_code != 0
    assert "no question with a gold answer" in str(result.exception)
