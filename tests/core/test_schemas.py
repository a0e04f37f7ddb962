"""The reading layer (`r1data.schemas`) on rows in the published layouts of public corpora.

The rows live as data in `cases/layouts.jsonl` (one case per layout variant, with the fields a
reader must get out of it). Each is read from JSONL, Parquet and a `datasets` folder; then the
commands that matter for the chain of thought (decontaminate, filter, train sft) run on a file
that mixes every layout, read row by row.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from r1data import io, schemas
from r1data.record import META_SCHEMA, META_TURN_EXTRAS, Record

CASES = [json.loads(line) for line in
         (Path(__file__).parent / "cases" / "layouts.jsonl").read_text().splitlines() if line]


def write_formats(row: dict, folder: Path) -> dict[str, Path]:
    """One row as JSONL, Parquet and a `datasets.save_to_disk` folder."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"jsonl": folder / "rows.jsonl", "parquet": folder / "rows.parquet",
             "datasets": folder / "rows-ds"}
    paths["jsonl"].write_text(json.dumps(row) + "\n")
    pq.write_table(pa.Table.from_pylist([row]), paths["parquet"])
    datasets.Dataset.from_list([row]).save_to_disk(str(paths["datasets"]))
    return paths


def check(record: Record, expect: dict) -> None:
    for key, value in expect.items():
        if key == "n_messages":
            assert len(record.messages) == value, record.messages
        elif key == "completion":
            assert record.completion == value
        elif key == "turn_extras":
            assert record.metadata[META_TURN_EXTRAS] == value
        elif key == "verdicts":
            assert [v["correct"] for v in record.verdicts] == value
        elif key == "metadata":
            assert {k: record.metadata.get(k) for k in value} == value
        else:
            assert getattr(record, key) == value, (key, getattr(record, key))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_layout_read_the_same_from_jsonl_parquet_and_datasets(case, tmp_path):
    read = {}
    for fmt, path in write_formats(case["row"], tmp_path).items():
        report = schemas.ReadReport()
        with io.RejectLog(None) as rejects:
            read[fmt] = list(io.read_records(path, rejects, report=report))
        assert rejects.count == 0, fmt
        assert dict(report.layouts) == {case["layout"]: 1}, fmt
    records = read["jsonl"]
    assert len(records) == len(case["expect"])
    for record, expect in zip(records, case["expect"]):
        check(record, expect)
        assert record.id
        if case["layout"] != "record":  # r1data's own records are read as they were written
            assert record.prompt_id and record.metadata[META_SCHEMA] == case["layout"]
        # both views of the conversation are complete: the final turn holds the answer
        if record.answer:
            assert record.messages[-1]["role"] == "assistant"
            assert record.answer in record.messages[-1]["content"]
    assert len({r.prompt_id for r in records}) == 1  # all samples of a prompt share its id
    for fmt in ("parquet", "datasets"):
        assert [r.to_dict() for r in read[fmt]] == [r.to_dict() for r in records], fmt


def test_records_written_and_read_back_are_the_same(tmp_path):
    rows = [c["row"] for c in CASES]
    source = tmp_path / "mixed.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    first = list(io.read_records(source))
    assert len(first) == sum(len(c["expect"]) for c in CASES)
    for fmt in ("jsonl", "parquet"):
        io.write_records(first, tmp_path / fmt, fmt=fmt)
        again = list(io.read_records(tmp_path / fmt))
        assert [r.to_dict() for r in again] == [r.to_dict() for r in first], fmt
    # ids are stable: a second read of the source gives the same ones
    assert [r.id for r in io.read_records(source)] == [r.id for r in first]


def test_bad_rows_go_to_rejected_with_their_reason_and_the_rest_is_read(tmp_path):
    rows = [
        {"text": "a row of no known layout", "score": 3},
        {"messages": [{"role": "assistant", "content": "an answer to nobody"}]},
        {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "hi?"}]},
        {"conversations": [{"from": "human", "value": "What is 1+2?"},
                           {"from": "gpt", "value": "3"}]},
        {"chosen": "a", "rejected": "b", "prompt": "p"},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with io.RejectLog(tmp_path / "rejected.jsonl") as rejects:
        records = list(io.read_records(path, rejects))
    logged = [json.loads(line) for line in open(tmp_path / "rejected.jsonl")]
    reasons = {entry["line"]: entry["reason"] for entry in logged}
    assert reasons[1] == "unknown schema: columns ['score', 'text']"
    assert reasons[2].startswith("no_user_turn:")
    assert reasons[5].startswith("preference_pair:")
    # a chat ending on a user turn is a prompt to generate from ...
    assert [(r.prompt, r.completion) for r in records] == [("hi?", ""), ("What is 1+2?", "3")]
    # ... but where an answer is needed (SFT data) it is rejected with its reason
    needed = schemas.ReadOptions(require_completion=True)
    with io.RejectLog(None, keep=True) as rejects:
        records = list(io.read_records(path, rejects, needed))
    assert [r.prompt for r in records] == ["What is 1+2?"]
    assert sorted(e["reason"].split(":")[0] for e in rejects.entries) == [
        "no_assistant_turn", "no_user_turn", "preference_pair", "unknown schema"]


def test_columns_mapping_and_forced_schema(tmp_path):
    row = {"q": "What is 0!?", "trace": "The empty product is one.", "final": "0! = 1",
           "ref": "1", "attempt": "unrelated"}
    path = tmp_path / "s1k_like.jsonl"
    path.write_text(json.dumps(row) + "\n")
    columns = schemas.parse_columns("prompt=q,reasoning=trace,answer=final,gold=ref")
    [record] = io.read_records(path, None, schemas.ReadOptions(columns=columns))
    assert (record.prompt, record.reasoning, record.answer, record.gold) == (
        "What is 0!?", "The empty product is one.", "0! = 1", "1")
    assert record.metadata["attempt"] == "unrelated"  # unmapped columns are kept
    with pytest.raises(schemas.SchemaError, match="no column 'trace2'"):
        schemas.records_of_row(row, schemas.ReadOptions(columns={"reasoning": "trace2",
                                                                 "prompt": "q"}))
    with pytest.raises(schemas.SchemaError, match="unknown --schema"):
        schemas.ReadOptions(schema="alpaca")
    # a row with both `messages` and `problem`: detected as chat, forced to columns
    both = {"problem": "P?", "solution": "S.", "messages": [{"role": "user", "content": "M?"}]}
    assert schemas.records_of_row(both)[0].prompt == "M?"
    forced = schemas.records_of_row(both, schemas.ReadOptions(schema="columns"))[0]
    assert (forced.prompt, forced.answer) == ("P?", "S.")


def test_stats_prints_the_schema_and_the_rows_with_a_chain_of_thought(tmp_path):
    from r1data.cli import app

    source = tmp_path / "mixed.jsonl"
    source.write_text("".join(json.dumps(c["row"]) + "\n" for c in CASES))
    out = tmp_path / "stats.json"
    result = CliRunner().invoke(app, ["stats", str(source), "--tokenizer", "none", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "schema" in result.output and "with chain of thought" in result.output
    summary = json.loads(out.read_text())
    expected = [r for c in CASES for r in c["expect"]]
    assert summary["rows"] == len(expected)
    assert summary["with_reasoning"] == sum(1 for e in expected if e.get("reasoning"))
    layouts = {c["layout"] for c in CASES}
    assert all(name in summary["schema"] for name in layouts)
    # s1K-style columns mapped on the command line
    s1k = tmp_path / "s1k.jsonl"
    s1k.write_text(json.dumps({"question": "Q?", "trace": "T.", "final": "F", "solution": "1"}) + "\n")
    result = CliRunner().invoke(app, ["stats", str(s1k), "--tokenizer", "none", "--json", str(out),
                                      "--columns", "prompt=question,reasoning=trace,answer=final,gold=solution"])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["with_reasoning"] == 1


# -- the chain of thought reaches the filters, in every layout --------------------------------

MATH500 = ("Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter "
           "your answer in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$")


def row_in(layout: str, prompt: str, reasoning: str, answer: str) -> dict:
    """A row in `layout` whose chain of thought is `reasoning`."""
    think = f"<think>\n{reasoning}\n</think>\n\n{answer}"
    if layout == "chat":
        return {"messages": [{"role": "user", "content": prompt},
                             {"role": "assistant", "content": think}]}
    if layout == "sharegpt":
        return {"system": "Think first.", "conversations": [
            {"from": "human", "value": prompt},
            {"from": "gpt", "value": f"<|begin_of_thought|>\n\n{reasoning}\n\n<|end_of_thought|>"
                                     f"\n\n<|begin_of_solution|>\n\n{answer}\n\n<|end_of_solution|>"}]}
    if layout == "generations":
        return {"problem": prompt, "answer": answer, "generations": [think],
                "correctness_math_verify": [True], "finish_reasons": ["stop"]}
    if layout == "columns":
        return {"problem": prompt, "generated_solution": think, "expected_answer": answer}
    if layout == "s1k":
        return {"question": prompt, "solution": answer, "deepseek_thinking_trajectory": reasoning,
                "deepseek_attempt": answer}
    if layout == "record":
        return {"id": f"rec-{abs(hash(prompt))}", "prompt": prompt, "reasoning": reasoning,
                "answer": answer}
    raise ValueError(layout)


def layout_of(record: Record) -> str:
    """The layout a test row was written in: its prompt starts with it."""
    return record.prompt.split(":")[0].split()[-1]


READ_LAYOUTS = ("chat", "sharegpt", "generations", "columns", "s1k", "record")
CLEAN_COT = ("First I read the question carefully and note what it asks for. Then I work through "
             "each step in plain words, checking every result twice before I move on, and the "
             "result is clear.")


def test_decontaminate_drops_a_benchmark_problem_quoted_only_in_the_chain_of_thought(tmp_path):
    from r1data.cli import app

    rows = []
    for layout in READ_LAYOUTS:
        rows.append(row_in(layout, f"Layout {layout}: how many sides has a hexagon?",
                           f"I remember a similar exercise: {MATH500} Anyway, a hexagon has six.",
                           "6"))
        rows.append(row_in(layout, f"Layout {layout}: how many legs has a spider?", CLEAN_COT, "8"))
    source = tmp_path / "mixed.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["decontaminate", "--input", str(source), "--output", str(out),
                                      "--benchmarks", "math500"])
    assert result.exit_code == 0, result.output
    dropped = list(io.read_records(out / "dropped"))
    kept = list(io.read_records(out / "kept"))
    assert sorted(layout_of(r) for r in dropped) == sorted(READ_LAYOUTS)
    assert all("hexagon" in r.prompt for r in dropped)
    assert sorted(layout_of(r) for r in kept) == sorted(READ_LAYOUTS)
    assert all("spider" in r.prompt for r in kept)
    # the run says which layouts it read
    assert json.loads((out / "stats.json").read_text())["schema"] == {l: 2 for l in READ_LAYOUTS}
    assert "input layouts" in result.output


def test_filter_applies_the_readability_chain_to_the_chain_of_thought(tmp_path):
    from r1data.cli import app

    code = "Let me check it with code:\n```python\nprint(len('spider legs') - 3)\n```\nIt prints 8."
    rows = []
    for layout in READ_LAYOUTS:
        rows.append(row_in(layout, f"Layout {layout}: how many legs has a spider?", code, "8"))
        rows.append(row_in(layout, f"Layout {layout}: how many sides has a square?", CLEAN_COT, "4"))
    source = tmp_path / "mixed.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    args = ["filter", "--input", str(source), "--output", str(out)]
    for name in ("length", "decontamination", "minhash", "exact_dedup", "fuzzy_dedup"):
        args += ["--disable", name]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    dropped = list(io.read_records(out / "dropped"))
    assert sorted(layout_of(r) for r in dropped) == sorted(READ_LAYOUTS)
    assert all("spider" in r.prompt for r in dropped)
    assert {r.metadata["drop_filter"] for r in dropped} == {"code_block"}
    kept = list(io.read_records(out / "kept"))  # the format filter passes every layout's CoT
    assert sorted(layout_of(r) for r in kept) == sorted(READ_LAYOUTS)
    assert all(r.completion.startswith("<think>\n") for r in kept)


def test_train_sft_trains_on_rows_of_every_layout(tmp_path, tiny_dir):
    from r1data.cli import app

    rows = [row_in(layout, f"{layout}: what is {i} + {i}?", f"Double {i}.", str(2 * i))
            for i, layout in enumerate(READ_LAYOUTS)]
    rows.append({"messages": [{"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello."}]})  # messages only
    rows.append({"question": "A prompt with no answer?"})  # nothing to train on: set aside
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    recipe = Path(__file__).parents[2] / "trainers" / "recipes" / "sft_smollm2_135m_cpu.yaml"
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", "sft", "--config", str(recipe), "--model", tiny_dir,
                                      "--data", str(data), "--max-steps", "1", "--output", str(out)])
    assert result.exit_code == 0, result.output
    trained = [line for line in result.output.splitlines() if "samples trained" in line]
    assert trained and trained[0].split()[-2] == str(len(READ_LAYOUTS) + 1), result.output
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    assert [r["reason"] for r in rejected] == ["no_assistant_turn"]


# -- Hub inputs -------------------------------------------------------------------------------


def cache_hub_dataset(hf_home: Path, repo_id: str, rows: list[dict]) -> None:
    """Put `rows` in the `datasets` cache under HF_HOME as a download of `repo_id` leaves them
    (`<org>___<name>/default/0.0.0/<commit>/<name>-train.arrow`), with no network."""
    from datasets.packaged_modules.json.json import Json

    org, name = repo_id.split("/")
    source = hf_home / "rows.jsonl"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cache = hf_home / "datasets"
    builder = Json(data_files={"train": str(source)}, dataset_name=f"{org}___{name}",
                   hash="0" * 40, cache_dir=str(cache))
    builder.download_and_prepare()
    prepared = Path(builder.cache_dir)  # <org>___<name>/default-<data files hash>/0.0.0/<hash>
    final = cache / f"{org}___{name}" / "default" / "0.0.0" / prepared.name
    final.parent.mkdir(parents=True)
    prepared.rename(final)
    (final / f"{org}___{name}-train.arrow").rename(final / f"{name}-train.arrow")


def test_hub_dataset_is_read_by_name_from_the_local_cache_offline(tmp_path):
    import os
    import subprocess
    import sys

    rows = [row_in("sharegpt", f"Question {i}?", f"Think about {i}.", str(i)) for i in range(4)]
    rows.append({"text": "no layout"})
    cache_hub_dataset(tmp_path / "hf", "acme/tiny_chat", rows)
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1",
           "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "stats.json"
    done = subprocess.run([sys.executable, "-m", "r1data", "stats", "acme/tiny_chat", "--split", "train",
                           "--tokenizer", "none", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(out.read_text())
    assert (summary["rows"], summary["with_reasoning"], summary["rejected"]) == (4, 4, 1)
    assert summary["schema"] == "sharegpt 4"
    missing = subprocess.run([sys.executable, "-m", "r1data", "stats", "acme/not_cached",
                              "--tokenizer", "none"],
                             capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot read Hub dataset acme/not_cached")


def test_samples_of_one_prompt_share_its_prompt_id_and_keep_their_own_ids():
    rows = [{"messages": [{"role": "user", "content": "Name a colour."},
                          {"role": "assistant", "content": answer}]} for answer in ("Red.", "Blue.")]
    rows.append({"question": "Name a colour.", "response": "Green."})  # another layout, same prompt
    records = [r for row in rows for r in schemas.records_of_row(row)]
    assert len({r.prompt_id for r in records}) == 1
    assert len({r.id for r in records}) == 3
    assert [r.id for r in records] == [r.id for row in rows for r in schemas.records_of_row(row)]


def test_the_module_examples_hold():
    import doctest

    assert doctest.testmod(schemas).failed == 0
