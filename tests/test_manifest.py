"""Output folders know their owner (r1data/manifest.py): another command's folder, or the same
command's with other settings, is refused in one line; --overwrite replaces it; readers of a
folder read only the record files its manifest names."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from r1data import io, manifest
from r1data.record import Record


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "r1data", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"})


def records_file(tmp_path: Path) -> Path:
    path = tmp_path / "records.jsonl"
    rows = [{"id": f"q{i}", "prompt": f"What is {i} + {i}?", "gold": str(2 * i),
             "completion": f"<think>\n{i} + {i} = {2 * i}\n</think>\n\nThe answer is \\boxed{{{2 * i}}}."} for i in range(3)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_another_commands_folder_is_refused_and_overwrite_replaces_it(tmp_path):
    data = records_file(tmp_path)
    first = cli("verify", "--input", str(data), "--output", "out", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    owner = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert owner["command"] == "verify" and owner["inputs"] == [str(data)] and owner["records"] == ["part-*"]

    refused = cli("filter", "--input", str(data), "--output", "out", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: out belongs to `r1data verify`, not `r1data filter`: use a new --output, or --overwrite to replace it"]

    again = cli("verify", "--input", str(data), "--output", "out", cwd=tmp_path)  # same command and settings
    assert again.returncode == 0, again.stderr[-2000:]

    replaced = cli("filter", "--input", str(data), "--output", "out", "--overwrite", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-2000:]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["command"] == "filter"
    assert not list((tmp_path / "out").glob("part-*"))  # verify's records are gone, not mixed in


def test_the_same_command_with_other_settings_is_refused_but_speed_settings_may_change(tmp_path):
    out = tmp_path / "gen"
    assert manifest.claim(out, "generate", {"input": "p.jsonl", "model": "a", "temperature": 0.6, "limit": 2})
    # a resumed run may change how much and how fast (limit, URL, concurrency), not what
    assert not manifest.claim(out, "generate", {"input": "p.jsonl", "model": "a", "temperature": 0.6,
                                                "limit": 20, "base_url": "http://other:8000/v1", "concurrency": 4})
    with pytest.raises(manifest.OutputOwned, match=r"holds `r1data generate` output made with other settings "
                                                   r"\(model, temperature\): use a new --output, or --overwrite"):
        manifest.claim(out, "generate", {"input": "p.jsonl", "model": "b", "temperature": 1.0})
    manifest.claim(out, "generate", {"model": "b"}, overwrite=True)
    assert manifest.read(out)["settings"] == {"model": "b"}


def test_overwrite_never_removes_a_folder_r1data_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("precious")
    with pytest.raises(manifest.OutputOwned, match="has no manifest.json: remove it yourself"):
        manifest.claim(tmp_path / "mine", "generate", {}, overwrite=True)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "precious"


def test_readers_of_a_stage_folder_read_only_its_record_shards(tmp_path):
    stage = tmp_path / "rs"
    manifest.claim(stage, "rejection-sampling", {"input": "p.jsonl"})
    io.write_records([Record.from_prompt("kept one", id="k")], stage / "kept")
    (stage / "pass_rates.jsonl").write_text(json.dumps({"id": "side", "prompt": "not a record", "pass_rate": 0.5}) + "\n")
    (stage / "errors").mkdir()
    (stage / "errors" / "errors.jsonl").write_text(json.dumps({"id": "e", "prompt": "x"}) + "\n")
    assert [p.relative_to(stage).as_posix() for p in io.shard_files(stage)] == ["kept/part-00000.jsonl"]
    assert [r.id for r in io.read_records(stage)] == ["k"]
