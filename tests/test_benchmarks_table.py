"""benchmarks/run_all.py rebuilds the README's performance table from the rows benchmarks print."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture()
def run_all(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    module = importlib.import_module("run_all")
    readme = tmp_path / "README.md"
    monkeypatch.setattr(module, "README", readme)
    yield module, readme
    sys.modules.pop("run_all", None)


def test_emitted_rows_parse_back(capsys):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from table_row import emit, parse
    finally:
        sys.path.remove(str(BENCHMARKS))
    emit("speed | of x", "2 it/s", "1 it/s", "**2.0x**", ">= 1")
    print("other output")
    rows = parse(capsys.readouterr().out)
    assert rows == [{"what": "speed | of x", "r1data": "2 it/s", "baseline": "1 it/s", "ratio": "**2.0x**", "goal": ">= 1"}]


def test_partial_rerun_replaces_only_its_rows(run_all):
    module, readme = run_all
    old = [{"what": "sft old", "r1data": "1", "baseline": "2", "ratio": "0.5x", "goal": "-", "command": "`a`", "benchmark": "sft"},
           {"what": "grpo old", "r1data": "3", "baseline": "4", "ratio": "0.75x", "goal": "-", "command": "`b`", "benchmark": "grpo"}]
    body = module.table(old, "old machine") + "\n" + "\n".join(f"<!-- row {json.dumps(r)} -->" for r in old)
    readme.write_text(f"# r1data\n\nintro\n\n{module.START}\n{body}\n{module.END}\n\n## Known limits\n", encoding="utf-8")

    new = [{"what": "sft new", "r1data": "9", "baseline": "3", "ratio": "3.0x", "goal": "-", "command": "`c`", "benchmark": "sft"}]
    module.update_readme(new, "new machine", ["sft"])

    text = readme.read_text(encoding="utf-8")
    assert text.startswith("# r1data\n\nintro\n\n") and text.endswith("\n\n## Known limits\n")
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [r.split(" | ")[0] for r in table_rows] == ["| sft new", "| grpo old"]
    assert "Measured on: new machine (rows not rerun this time: old machine)." in text
    assert "sft old" not in text


def test_readme_without_markers_is_an_error(run_all):
    module, readme = run_all
    readme.write_text("# r1data\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="performance-table"):
        module.update_readme([], "m", [])


def test_project_readme_table_rows_name_known_benchmarks():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import run_all as module
    finally:
        sys.path.remove(str(BENCHMARKS))
        sys.modules.pop("run_all", None)
    text = (BENCHMARKS.parent / "README.md").read_text(encoding="utf-8")
    rows = [json.loads(m) for m in __import__("re").findall(r"<!-- row (\{.*?\}) -->", text)]
    assert rows and {row["benchmark"] for row in rows} == set(module.BENCHMARKS)
    for row in rows:
        assert row["command"].startswith(f"`python benchmarks/{row['benchmark']}.py")


def test_partial_rerun_keeps_the_other_sections_of_results_md(run_all, monkeypatch, tmp_path):
    module, _ = run_all
    monkeypatch.setattr(module, "HERE", tmp_path)
    (tmp_path / "RESULTS.md").write_text("# Benchmark results\n\nMachine: old\n\n## generate\n\nold generate\n\n"
                                         "## sft\n\nold sft\n\n## grpo\n\nold grpo\n")
    module.write_results(["# Benchmark results\n\nMachine: new\n", "## sft\n\nnew sft\n"], ["sft"])
    text = (tmp_path / "RESULTS.md").read_text()
    assert "Machine: new" in text and "Machine: old" not in text
    assert "old generate" in text and "old grpo" in text and "new sft" in text and "old sft" not in text
    assert text.index("## generate") < text.index("## sft") < text.index("## grpo")  # the benchmarks' order
