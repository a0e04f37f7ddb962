"""The reading layer never drops a column of text without a word (issue #27, point 5), on
layouts written for these tests (none is in the layout table): a long-text column no field read
is named, with its rows, mean length and the option that reads it, by `stats`, by the filter
chain's summary and, for every other command, on stderr; numbered solution columns are several
samples of one prompt; and whether a `solution` beside a gold answer is a reference or a sample
is stated and switched with `--solution`."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

from typer.testing import CliRunner

from r1data import io, schemas
from r1data.cli import app

MATH500 = ("Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter "
           "your answer in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$")
COT = ("First I read the question and write down what is given. Then I work through each step "
       "in plain words and check every intermediate result before moving on, so that the final "
       "line follows from what came before it.")


def explained(i: int) -> dict:
    """A quiz row whose worked text sits in a column no layout names."""
    return {"question": f"How many corners has a shape with {i + 3} sides?", "answer": str(i + 3),
            "explanation": f"{COT} A polygon has as many corners as sides: {i + 3}."}


def numbered(i: int, planted: bool) -> dict:
    """A row with three sampled responses in numbered columns; the second quotes a MATH-500
    problem when `planted`."""
    quote = f"This reminds me of: {MATH500} " if planted else ""
    return {"problem": f"What is {i} times 3?", "expected_answer": str(3 * i),
            **{f"response_{k}": f"<think>\n{quote if k == 2 else ''}{COT}\n</think>\n\n{3 * i}"
               for k in (1, 2, 3)}}


def worked(i: int) -> dict:
    """A row whose `solution` is the long answer to train on, a benchmark problem planted in it."""
    return {"problem": f"Name a multiple of {i + 2}.", "answer": str(2 * (i + 2)),
            "solution": f"<think>\nI recall an exam question: {MATH500} {COT}\n</think>\n\n"
                        f"{2 * (i + 2)}"}


def write(rows: list[dict], path):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def stats_of(path, *args) -> tuple[dict, str]:
    out = path.with_suffix(".stats.json")
    result = CliRunner().invoke(app, ["stats", str(path), "--tokenizer", "none", "--json", str(out),
                                      *args])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text()), result.output


def test_stats_names_an_unread_long_text_column_and_the_mapping_that_reads_it(tmp_path):
    path = write([explained(i) for i in range(4)], tmp_path / "quiz.jsonl")
    summary, output = stats_of(path)
    [line] = summary["unread_text"]
    assert line.startswith("explanation: 4 rows, mean ")
    assert line.endswith("(read it with --columns completion=explanation)")
    assert "unread text column" in output and "explanation" in output
    assert summary["with_reasoning"] == 0
    # the hint, followed, reads it; nothing is left unread
    summary, _ = stats_of(path, "--columns", "completion=explanation")
    assert summary["unread_text"] == []
    [record, *_] = io.read_records(path, None, schemas.ReadOptions(columns={"completion": "explanation"}))
    assert record.completion.startswith("First I read") and record.gold == "3"


def test_numbered_response_columns_are_samples_of_one_prompt_and_are_decontaminated(tmp_path):
    path = write([numbered(i, planted=i < 2) for i in range(4)], tmp_path / "sampled.jsonl")
    records = list(io.read_records(path))
    assert len(records) == 12
    assert len({r.prompt_id for r in records}) == 4 and len({r.id for r in records}) == 12
    assert all(r.reasoning and r.gold == r.answer for r in records)
    summary, _ = stats_of(path)
    assert summary["with_reasoning"] == 12 and summary["unread_text"] == []
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["decontaminate", "--input", str(path), "--output", str(out),
                                      "--benchmarks", "math500"])
    assert result.exit_code == 0, result.output
    dropped = list(io.read_records(out / "dropped"))
    assert sorted(r.metadata["sample_column"] for r in dropped) == ["response_2", "response_2"]
    assert len(list(io.read_records(out / "kept"))) == 10


def test_a_solution_beside_a_gold_is_a_reference_said_so_and_switchable(tmp_path):
    path = write([worked(i) for i in range(8)], tmp_path / "worked.jsonl")
    summary, output = stats_of(path)
    assert summary["solution_as"].startswith("reference 8")
    assert "solution beside a gold read as" in output
    [line] = summary["unread_text"]
    assert line.startswith("solution: 8 rows") and line.endswith("(read it with --solution sample)")
    # the filter chain's summary says the same, and the planted problems pass unseen ...
    out = tmp_path / "reference"
    result = CliRunner().invoke(app, ["decontaminate", "--input", str(path), "--output", str(out),
                                      "--benchmarks", "math500"])
    assert result.exit_code == 0, result.output
    assert "unread text column" in result.output and "--solution sample" in result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["solution_as"] == {"reference": 8} and stats["unread_text"]["solution"]["rows"] == 8
    assert stats["dropped"] == 0
    # ... until the solution is read as the sample it is: all 8 are caught
    out = tmp_path / "sample"
    result = CliRunner().invoke(app, ["decontaminate", "--input", str(path), "--output", str(out),
                                      "--benchmarks", "math500", "--solution", "sample"])
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "stats.json").read_text())
    assert stats["dropped"] == 8 and stats["solution_as"] == {"sample": 8}
    assert "unread_text" not in stats
    summary, _ = stats_of(path, "--solution", "sample")
    assert summary["solution_as"].startswith("sample 8") and summary["with_reasoning"] == 8


def test_every_other_reader_reports_unread_text_on_stderr(tmp_path, caplog):
    path = write([explained(i) for i in range(3)], tmp_path / "quiz.jsonl")
    with caplog.at_level(logging.WARNING, logger="r1data.io"):
        assert len(list(io.read_records(path))) == 3
    [message] = caplog.messages
    assert "input column explanation: 3 rows" in message and "--columns completion=explanation" in message
    # a command that reads through the library: mix
    samples = write([{"question": f"Q{i}?", "response": f"<think>\n{COT}\n</think>\n\n{i}",
                      "notes": COT} for i in range(3)], tmp_path / "samples.jsonl")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="r1data.io"):
        result = CliRunner().invoke(app, ["mix", str(samples), "--output", str(tmp_path / "mix"),
                                          "--reasoning-size", "-1", "--non-reasoning-size", "-1",
                                          "--tokenizer", "none"])
    assert result.exit_code == 0, result.output
    [message] = caplog.messages  # once, though the mix reads its input twice
    assert "input column notes: 3 rows" in message
    stats = json.loads((tmp_path / "mix" / "stats.json").read_text())
    assert stats["extra"]["unread_text"][0].startswith("notes: 3 rows")


def test_bad_solution_option_is_one_line_and_exit_2(tmp_path):
    path = write([worked(0)], tmp_path / "w.jsonl")
    done = subprocess.run([sys.executable, "-m", "r1data", "stats", str(path), "--solution", "gold"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --solution 'gold': use one of reference, sample"
