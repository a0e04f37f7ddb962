"""The chain as Slurm sbatch scripts (the sbatch stand-in checks the scripts; tests/engines runs
them on a real Slurm, and the chain on a local Ray in a subprocess with a deadline), and the CLI
with forkserver workers (its entry point needs a main guard)."""

import json
import os
import stat
import subprocess
import sys

import pytest

from r1data import benchmark_sets, io
from r1data.config import from_dict
from r1data.filters.chain import FilterChainConfig, build_executors, run_chain

from filtercase_helpers import chain_corpus

RECIPE = {"decontamination": {"benchmarks": ["gsm8k"]}, "correctness": {"max_per_prompt": 2}}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "samples.jsonl"
    expected = chain_corpus(path, benchmark_sets.load("gsm8k")[7]["prompt"])
    return path, {rid for rid, reason in expected.items() if reason == "kept"}


def kept_ids(out):
    return {r.id for r in io.read_records(out / "kept")}


def test_slurm_chain_is_submitted_as_dependent_sbatch_scripts(corpus, tmp_path, monkeypatch):
    # No Slurm here: a stand-in `sbatch` on PATH records each script and answers as sbatch does.
    bindir = tmp_path / "bin"
    bindir.mkdir()
    sbatch = bindir / "sbatch"
    sbatch.write_text('#!/bin/sh\nn=$(ls "$SBATCH_LOG" | wc -l)\n'
                      'for a in "$@"; do last="$a"; done\n'
                      'printf "%s\\n" "$*" > "$SBATCH_LOG/call_$n.args"\n'
                      'cp "$last" "$SBATCH_LOG/call_$n.sh"\necho "Submitted batch job $((100 + n))"\n')
    sbatch.chmod(sbatch.stat().st_mode | stat.S_IEXEC)
    (tmp_path / "sbatch_log").mkdir()
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SBATCH_LOG", str(tmp_path / "sbatch_log"))
    config = from_dict(FilterChainConfig, {**RECIPE, "executor": "slurm", "tasks": 4,
                                           "slurm": {"partition": "cpu", "time": "02:00:00"}})
    out = tmp_path / "out"
    # filter (+ MinHash signatures), buckets, clusters, MinHash filter, final
    assert len(build_executors(config, corpus[0], out)) == 5
    result = run_chain(config, corpus[0], out)
    scripts = {p.name: p.read_text() for p in (tmp_path / "sbatch_log").iterdir()}
    filter_script = (out / ".logs" / "filter" / "launch_script.slurm").read_text()
    assert "#SBATCH --partition=cpu" in filter_script and "#SBATCH --array=0-3" in filter_script
    assert "launch_pickled_pipeline" in filter_script
    assert (out / ".logs" / "minhash_buckets" / "launch_script.slurm").read_text().count("--array=0-13")
    # each stage after the first waits for the previous one
    args = [scripts[n] for n in sorted(scripts) if n.endswith(".args")]
    assert any("--dependency=afterok:100" in a for a in args)
    assert result["submitted"][0] == "100"


@pytest.mark.slow
def test_cli_with_forkserver_workers(corpus, tmp_path):
    out = tmp_path / "out"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(json.dumps(RECIPE))  # JSON is YAML
    proc = subprocess.run([sys.executable, "-m", "r1data", "filter", "-i", str(corpus[0]), "-o",
                           str(out), "-c", str(recipe), "--tasks", "2", "--workers", "2"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert kept_ids(out) == corpus[1]
    assert "language_mix" in proc.stdout and "mixed_language" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["filter", "-i", "missing.jsonl", "-o", "x"], "no such file"),
    (["decontaminate", "-i", "missing.jsonl", "-o", "x", "--benchmarks", "aime99"], "unknown benchmark"),
    (["filter", "-i", "missing.jsonl", "-o", "x", "--disable", "everything"], "not a filter"),
])
def test_cli_bad_input_is_one_line_and_exit_code_2(args, message, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "r1data", *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
