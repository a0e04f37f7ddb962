"""RL prompt sets in the layouts the RL frameworks publish (verl, OpenRLHF) read with their gold
answers, nested `--columns` paths, and prompt sets written back in verl's layout by the commands
that write them (decontaminate, filter, mix), reading back equal. The rows of each published
layout are fixtures in `cases/layouts.jsonl` (read by test_schemas.py from JSONL, Parquet and a
`datasets` folder); here they are used whole, through the commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from r1data import io, schemas
from r1data.cli import app
from r1data.record import META_SCHEMA, Record
from r1data.verifiers.dispatch import route, verify_answer

REPO = Path(__file__).resolve().parents[2]
CASES = [json.loads(line) for line in
         (Path(__file__).parent / "cases" / "layouts.jsonl").read_text().splitlines() if line]
VERL_ROWS = [c["row"] for c in CASES if c["layout"] == "verl"]
MATH500 = ("Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter "
           "your answer in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$")


def verl_rows(n: int) -> list[dict]:
    """`n` verl rows in the layout of verl's own gsm8k preprocessing: a system turn, a user turn,
    a gold the model can reach, `extra_info` with split and index."""
    return [{"data_source": "openai/gsm8k",
             "prompt": [{"role": "system", "content": "Answer with a number."},
                        {"role": "user", "content": f"Tom has {i} apples and buys {i + 3} more. "
                                                    f"How many apples has he now?"}],
             "ability": "math", "reward_model": {"style": "rule", "ground_truth": str(2 * i + 3)},
             "extra_info": {"split": "train", "index": i}} for i in range(n)]


def write_parquet(rows: list[dict], path: Path) -> Path:
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def same(a: list[Record], b: list[Record]) -> None:
    """Records equal field by field; `metadata["schema"]` names the layout each was read from."""
    def plain(record):
        d = record.to_dict()
        d["metadata"] = {k: v for k, v in d["metadata"].items() if k != META_SCHEMA}
        return d

    assert [plain(r) for r in a] == [plain(r) for r in b]


def test_verl_rows_read_with_gold_system_turn_domain_source_and_extra_info(tmp_path):
    path = write_parquet(verl_rows(3), tmp_path / "rl.parquet")
    records = list(io.read_records(path))
    assert [r.gold for r in records] == ["3", "5", "7"]
    first = records[0]
    assert first.messages[0] == {"role": "system", "content": "Answer with a number."}
    assert first.prompt.startswith("Tom has 0 apples")
    assert (first.domain, first.source, first.metadata["index"], first.metadata["split"]) == (
        "math", "openai/gsm8k", 0, "train")
    assert "reward_model" not in first.metadata and "extra_info" not in first.metadata


def test_stats_reports_the_gold_count_per_layout(tmp_path):
    mixed = tmp_path / "mixed.jsonl"
    rows = [*VERL_ROWS, {"messages": [{"role": "user", "content": "Hi?"}]}]
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(app, ["stats", str(mixed), "--tokenizer", "none", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "with gold answer" in result.output
    summary = json.loads(out.read_text())
    assert summary["gold"] == f"verl {len(VERL_ROWS)} of {len(VERL_ROWS)}, chat 0 of 1"
    assert summary["with_gold"] == len(VERL_ROWS)
    # r1data's own records (scanned by polars, not read row by row) count theirs too
    io.write_records(io.read_records(mixed), tmp_path / "own")
    result = CliRunner().invoke(app, ["stats", str(tmp_path / "own"), "--tokenizer", "none",
                                      "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["with_gold"] == len(VERL_ROWS)


def test_nested_column_paths_and_rows_missing_the_path_go_to_rejected(tmp_path):
    rows = [{"turns": [{"text": "What is 6*7?"}], "meta": {"truth": {"value": "42"}}},
            {"turns": [{"text": "What is 2*3?"}], "meta": {"truth": {}}},
            {"turns": [], "meta": {"truth": {"value": "1"}}}]
    path = tmp_path / "nested.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    options = schemas.ReadOptions(columns=schemas.parse_columns(
        "prompt=turns.0.text,gold=meta.truth.value"))
    with io.RejectLog(tmp_path / "rejected.jsonl") as rejects:
        records = list(io.read_records(path, rejects, options))
    assert [(r.prompt, r.gold) for r in records] == [("What is 6*7?", "42")]
    reasons = [json.loads(line)["reason"] for line in open(tmp_path / "rejected.jsonl")]
    assert reasons == ["--columns gold=meta.truth.value: no key 'value' in meta.truth",
                       "--columns prompt=turns.0.text: no item 0 in turns (0 items)"]
    # on the command line: the rows go aside, the summary says so in one line, exit 0
    result = CliRunner().invoke(app, ["stats", str(path), "--tokenizer", "none", "--columns",
                                      "prompt=turns.0.text,gold=meta.truth.value",
                                      "--rejected", str(tmp_path / "cli_rejected.jsonl")])
    assert result.exit_code == 0, result.output
    assert "2 unreadable rows skipped" in result.output
    assert "--columns gold=meta.truth.value: no key 'value' in meta.truth (1)" in result.output
    # the mapping the issue names, on a verl row
    verl = schemas.ReadOptions(columns={"gold": "reward_model.ground_truth"})
    [record] = schemas.records_of_row(verl_rows(1)[0], verl)
    assert record.gold == "3"


def test_a_list_of_acceptable_answers_stays_a_list_and_any_one_is_correct():
    skywork = next(c for c in CASES if c["name"] == "verl_skywork_or1_answer_list")["row"]
    [record] = schemas.records_of_row(skywork)
    assert record.gold == ["13", "13.0"]
    assert route(record.gold, record.domain) == "math"
    assert verify_answer("<think>\n9+4\n</think>\n\n\\boxed{13}", record.gold).correct
    assert not verify_answer("<think>\n9+5\n</think>\n\n\\boxed{14}", record.gold).correct
    assert route(["assert f(1) == 2"]) == "code"  # asserts are still tests


def test_decontaminate_format_verl_round_trips_and_drops_a_planted_benchmark_problem(tmp_path):
    rows = verl_rows(4) + [c["row"] for c in CASES if c["name"] == "verl_gsm8k_system_turn"]
    planted = dict(verl_rows(1)[0], prompt=[{"role": "user", "content": MATH500}],
                   reward_model={"style": "rule", "ground_truth": "(3, \\frac{\\pi}{2})"})
    source = write_parquet(rows + [planted], tmp_path / "rl.parquet")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["decontaminate", "--input", str(source), "--output", str(out),
                                      "--benchmarks", "math500", "--format", "verl"])
    assert result.exit_code == 0, result.output
    [dropped] = io.read_records(out / "dropped")
    assert dropped.prompt == MATH500
    files = sorted((out / "kept").iterdir())
    assert [f.suffix for f in files] == [".parquet"]
    table = pq.read_table(files[0])
    assert {"data_source", "prompt", "ability", "reward_model", "extra_info"} <= set(table.column_names)
    kept = list(io.read_records(out / "kept"))
    assert all(r.metadata[META_SCHEMA] == "verl" for r in kept)
    same(kept, list(io.read_records(write_parquet(rows, tmp_path / "clean.parquet"))))


def test_filter_and_mix_write_verl_that_reads_back_equal(tmp_path):
    # every published verl variant: their `extra_info` values differ in type across rows, which
    # one Parquet column cannot hold (written as JSON text then, and decoded on reading)
    source = tmp_path / "rl.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in verl_rows(5) + VERL_ROWS))
    original = list(io.read_records(source))
    out = tmp_path / "filtered"
    args = ["filter", "--input", str(source), "--output", str(out), "--format", "verl"]
    for name in ("format", "length", "decontamination", "minhash", "language"):
        args += ["--disable", name]  # prompts have no answer for these to check
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    same(list(io.read_records(out / "kept")), original)

    # mix writes samples: their final assistant turn travels in a `completion` column
    samples = [r.with_completion(f"<think>\nadd\n</think>\n\n{r.gold}") for r in original[:5]]
    io.write_records(samples, tmp_path / "samples")
    mixed = tmp_path / "mix"
    result = CliRunner().invoke(app, ["mix", str(tmp_path / "samples"), "--output", str(mixed),
                                      "--reasoning-size", "-1", "--non-reasoning-size", "-1",
                                      "--tokenizer", "none", "--format", "verl"])
    assert result.exit_code == 0, result.output
    back = sorted(io.read_records(mixed / "train"), key=lambda r: r.id)
    assert [r.metadata["split"] for r in back] == ["train"] * 5  # the mix's split, as verl's
    same(back, sorted(samples, key=lambda r: r.id))
    assert all(r.reasoning == "add" and r.messages[-1]["role"] == "assistant" for r in back)


def test_grpo_cpu_recipe_trains_on_a_verl_parquet_with_its_golds_read(tmp_path, tiny_dir):
    """`r1data train grpo --config trainers/recipes/grpo_smollm2_135m_cpu.yaml --prompts
    rl.parquet`, on the tiny model for one step: before the verl layout was read, every prompt
    was rejected for having no gold and the run exited 2."""
    prompts = write_parquet(verl_rows(8), tmp_path / "rl.parquet")
    out = tmp_path / "run"
    recipe = REPO / "trainers" / "recipes" / "grpo_smollm2_135m_cpu.yaml"
    done = subprocess.run([sys.executable, "-m", "r1data", "train", "grpo", "--config", str(recipe),
                           "--prompts", str(prompts), "--model", tiny_dir, "--output", str(out),
                           "--max-steps", "1"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [step] = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()
              if "reward/accuracy" in line]
    assert step["step"] == 1
    assert not (out / "rejected.jsonl").exists() or not (out / "rejected.jsonl").read_text()


@pytest.mark.parametrize("fmt", ["jsonl", "parquet", "verl"])
def test_shard_writer_formats_resume_by_id(tmp_path, fmt):
    records = list(io.read_records(write_parquet(verl_rows(3), tmp_path / "rl.parquet")))
    io.write_records(records[:2], tmp_path / fmt, fmt=fmt)
    assert io.write_records(records, tmp_path / fmt, fmt=fmt) == 1  # the first two are there
    same(sorted(io.read_records(tmp_path / fmt), key=lambda r: r.id),
         sorted(records, key=lambda r: r.id))
