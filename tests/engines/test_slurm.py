"""The filter chain and sharded generation through a real single-node Slurm (see conftest.py),
run the way a user runs them: `.venv/bin/r1data` called by path, the venv not activated."""

import json
import sys
from pathlib import Path

import pytest

from r1data import benchmarks, io

from engine_helpers import REPO, run_with_deadline

sys.path.insert(0, str(REPO / "tests" / "filters"))
from filtercase_helpers import chain_corpus  # noqa: E402

R1DATA = str(Path(sys.executable).parent / "r1data")  # by path: the venv is not on PATH


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "samples.jsonl"
    expected = chain_corpus(path, benchmarks.load("gsm8k")[7]["prompt"])
    return path, {rid for rid, reason in expected.items() if reason == "kept"}


def kept_ids(out):
    return {r.id for r in io.read_records(out / "kept")}


@pytest.mark.slow
def test_filter_chain_on_slurm_with_wait_matches_the_local_run(slurm, corpus, tmp_path, bare_path):
    recipe = tmp_path / "chain.yaml"
    recipe.write_text(json.dumps({
        "decontamination": {"benchmarks": ["gsm8k"]}, "correctness": {"max_per_prompt": 2},
        "executor": "slurm", "tasks": 2, "workers": 2,
        "slurm": {"partition": slurm.partition, "time": "00:10:00"}}))
    out = tmp_path / "out"
    proc = run_with_deadline([R1DATA, "filter", "-i", str(corpus[0]), "-o", str(out), "-c",
                              str(recipe), "--wait"], timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kept_ids(out) == corpus[1]  # what the local chain keeps (tests/filters)
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == len(corpus[1])
    assert "mixed_language" in proc.stdout  # the same summary table as a local run
    script = (out / ".logs" / "filter" / "launch_script.slurm").read_text()
    assert f"export PATH={Path(sys.executable).parent}:" in script


def test_filter_chain_on_slurm_without_wait_prints_the_collect_command(slurm, corpus, tmp_path,
                                                                      bare_path):
    # A stage that cannot run (its input vanishes after submission) shows as failed tasks with
    # their log paths, and the dependent stages are cancelled rather than left pending forever.
    data = tmp_path / "samples.jsonl"
    data.write_text(corpus[0].read_text())
    recipe = tmp_path / "chain.yaml"
    recipe.write_text(json.dumps({"minhash": None, "executor": "slurm", "tasks": 1,
                                  "slurm": {"partition": slurm.partition, "time": "00:05:00",
                                            "sbatch_args": {"begin": "now+2"}}}))
    out = tmp_path / "out"
    proc = run_with_deadline([R1DATA, "filter", "-i", str(data), "-o", str(out), "-c",
                              str(recipe)], timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    collect = proc.stdout.strip().splitlines()[-1].strip()
    assert collect.startswith(R1DATA) and collect.endswith("--collect")
    data.unlink()
    proc = run_with_deadline(collect.split(), timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert "task(s) did not finish" in proc.stdout
    assert "filter rank 0: " + str(out / ".logs" / "filter" / "logs" / "task_00000.log") in proc.stdout
    assert "final rank 0" in proc.stdout
