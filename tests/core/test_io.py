import gzip
import json
import os
import signal
import subprocess
import sys
import textwrap

import zstandard

from r1data import io
from r1data.record import Record


def test_bad_lines_are_rejected_with_reason_and_good_lines_kept(tmp_path):
    good = [{"id": f"g{i}", "prompt": f"question {i}", "answer": str(i)} for i in range(6)]
    lines = [json.dumps(good[0]).encode()]
    lines.append(b'{"id": "broken", "prompt": "unterminated')  # 1. malformed JSON
    lines.append(json.dumps(good[1]).encode())
    lines.append(b'{"id": "u", "prompt": "caf\xe9"}')  # 2. invalid UTF-8
    lines.append(json.dumps(good[2]).encode())
    lines.append(b'["not", "an", "object"]')  # 3. not an object
    lines.append(json.dumps({"id": "t", "prompt": 42}).encode())  # 4. wrong type
    lines.append(json.dumps(good[3]).encode())
    lines.append(json.dumps({"id": "m", "answer": "7"}).encode())  # 5. missing required field
    lines.append(json.dumps(good[4]).encode())
    lines.append(json.dumps({"id": "e", "prompt": "   "}).encode())  # 6. empty prompt
    lines.append(json.dumps(good[5]).encode())
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with io.RejectLog(tmp_path / "rejected" / "rejected.jsonl") as rejects:
        records = list(io.read_records(path, rejects))
    assert [r.id for r in records] == [g["id"] for g in good]
    assert [r.gold for r in records] == [g["answer"] for g in good]
    assert rejects.count == 6
    logged = [json.loads(line) for line in open(tmp_path / "rejected" / "rejected.jsonl")]
    assert [entry["line"] for entry in logged] == [2, 4, 6, 7, 9, 11]
    reasons = [entry["reason"].split(":")[0] for entry in logged]
    assert reasons == ["bad_json", "invalid_utf8", "not_an_object", "invalid_record",
                       "unknown schema", "invalid_record"]
    assert "must be a string" in logged[3]["reason"]
    assert logged[4]["reason"] == "unknown schema: columns ['answer', 'id']"


def test_compressed_jsonl_and_parquet_read_the_same(tmp_path):
    rows = [{"id": str(i), "problem": f"p{i}", "answer": str(i * 2)} for i in range(50)]
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    (tmp_path / "a.jsonl").write_bytes(text)
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(text))
    (tmp_path / "a.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(text))
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    results = [list(io.read_records(tmp_path / name))
               for name in ("a.jsonl", "a.jsonl.gz", "a.jsonl.zst", "a.parquet")]
    assert all(r == results[0] for r in results)
    assert [r.prompt for r in results[0]] == [f"p{i}" for i in range(50)]


def test_unknown_format_and_missing_file_are_input_errors(tmp_path):
    import pytest

    (tmp_path / "x.tsv").write_text("a\tb\n")
    with pytest.raises(io.InputError, match="unknown format"):
        list(io.read_records(tmp_path / "x.tsv"))
    with pytest.raises(io.InputError, match="no such file"):
        list(io.read_records(tmp_path / "missing.jsonl"))


def test_writer_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "out"
    records = [Record.from_prompt(f"q{i}", id=f"id{i:03d}") for i in range(25)]
    writer = io.ShardWriter(out, shard_size=10)
    for record in records[:13]:
        writer.write(record)
    # a crash: no close(), so no rename; and a torn last line, as a SIGKILL mid-write leaves it
    with open(out / "part-00001.inprogress.jsonl", "ab") as fh:
        fh.write(b'{"id": "id013", "prompt": "q1')
    resumed = io.ShardWriter(out, shard_size=10)
    assert len(resumed.done_ids) == 13
    assert resumed.write_many(records) == 12  # only the missing ones
    resumed.close()
    ids = [r.id for r in io.read_records(out)]
    assert sorted(ids) == [r.id for r in records]
    assert len(ids) == len(set(ids))
    assert sorted(p.name for p in out.iterdir()) == ["part-00000.jsonl", "part-00001.jsonl",
                                                    "part-00002.jsonl"]


def test_writer_survives_sigkill(tmp_path):
    """A real process killed with SIGKILL mid-run; the rerun completes the set exactly once."""
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import sys, time
        from r1data import io
        from r1data.record import Record
        with io.ShardWriter({str(out)!r}, shard_size=7) as writer:
            for i in range(60):
                writer.write(Record.from_prompt(f"q{{i}}", id=f"id{{i:03d}}"))
                if i == 30:
                    print("ready", flush=True)
                time.sleep(0.02 if i >= 30 else 0)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_before = {p.name: p.read_bytes() for p in out.glob("part-*.jsonl")
                       if not p.name.endswith(".inprogress.jsonl")}
    assert finished_before, "some shards were finished before the kill"
    subprocess.run([sys.executable, "-c", script], check=True, stdout=subprocess.DEVNULL)
    ids = [r.id for r in io.read_records(out)]
    assert sorted(ids) == [f"id{i:03d}" for i in range(60)]
    for name, data in finished_before.items():
        assert (out / name).read_bytes() == data, "finished shards are never rewritten"


def test_parquet_shards_resume(tmp_path):
    out = tmp_path / "pq"
    records = [Record.from_prompt(f"q{i}", id=f"{i}") for i in range(9)]
    io.write_records(records[:5], out, shard_size=4, fmt="parquet")
    assert io.write_records(records, out, shard_size=4, fmt="parquet") == 4
    assert sorted(r.id for r in io.read_records(out)) == sorted(r.id for r in records)


def test_rows_between_reads_one_block_and_skips_the_other_lines_unparsed(tmp_path):
    """What a task of a sharded filter chain reads (`filters.adapters`): its block of rows, with
    their numbers; a broken line outside the block is never parsed, so never rejected twice."""
    path = tmp_path / "rows.jsonl"
    path.write_text('{"prompt": "a"}\nnot json\n\n{"prompt": "c"}\n{"prompt": "d"}\n')
    assert io.count_rows(path) == 4  # the blank line is no row
    with io.RejectLog(None, keep=True) as rejects:
        rows = list(io.rows_between(path, 2, 4, rejects))
    assert [(r["prompt"], r[io.ROW], r["__line__"]) for r in rows] == [("c", 2, 4), ("d", 3, 5)]
    assert rejects.count == 0
    with io.RejectLog(None, keep=True) as rejects:
        assert [r["prompt"] for r in io.rows_between(path, 0, 2, rejects)] == ["a"]
    assert [e["line"] for e in rejects.entries] == [2]
    parquet = tmp_path / "rows.parquet"
    io.write_parquet(list(io.read_records(path))[:3], parquet)
    assert io.count_rows(parquet) == 3
    assert [r[io.ROW] for r in io.rows_between(parquet, 1, 9)] == [1, 2]
