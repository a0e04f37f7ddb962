"""The filter chain and sharded generation through a real single-node Slurm (see conftest.py),
run the way a user runs them: `.venv/bin/r1data` called by path, the venv not activated."""

import json
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from r1data import benchmark_sets, io
from r1data.config import from_dict
from r1data.filters.chain import FilterChainConfig, run_chain

from engine_helpers import REPO, run_with_deadline

sys.path.insert(0, str(REPO / "tests" / "filters"))
from filtercase_helpers import chain_corpus  # noqa: E402

R1DATA = str(Path(sys.executable).parent / "r1data")  # by path: the venv is not on PATH


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "samples.jsonl"
    chain_corpus(path, benchmark_sets.load("gsm8k")[7]["prompt"])
    return path


def kept_ids(out):
    return {r.id for r in io.read_records(out / "kept")}


@pytest.mark.slow
def test_filter_chain_on_slurm_with_wait_matches_the_local_run(slurm, corpus, tmp_path, bare_path):
    # MinHash off: its 4 stages are 19 more Slurm tasks (a Python start each) and nothing more
    # about Slurm; the filter and final stages still run as dependent arrays.
    recipe = {"decontamination": {"benchmarks": ["gsm8k"]}, "correctness": {"max_per_prompt": 2},
              "minhash": None}
    local = run_chain(from_dict(FilterChainConfig, recipe), corpus, tmp_path / "local")
    (tmp_path / "chain.yaml").write_text(json.dumps({
        **recipe, "executor": "slurm", "tasks": 2, "workers": 2,
        "slurm": {"partition": slurm.partition, "time": "00:10:00"}}))
    out = tmp_path / "out"
    proc = run_with_deadline([R1DATA, "filter", "-i", str(corpus), "-o", str(out), "-c",
                              str(tmp_path / "chain.yaml"), "--wait"], timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert kept_ids(out) == kept_ids(tmp_path / "local") and len(kept_ids(out)) >= 10
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == local["kept"] and stats["filters"] == local["filters"]
    assert "mixed_language" in proc.stdout  # the same summary table as a local run
    script = (out / ".logs" / "filter" / "launch_script.slurm").read_text()
    assert f"export PATH={Path(sys.executable).parent}:" in script


# The default chain (MinHash on) on the benchmark's corpus. 300 samples here; the 50K comparison
# of issue #31 is the same test with a size: about 40 min and 9 GB of disk on 2 cores (3 GB of
# corpus, kept/ twice), left in --basetemp:
#   R1DATA_SLURM_CHAIN_SAMPLES=50000 .venv/bin/python -m pytest -s -q tests/engines/test_slurm.py \
#       -k default_chain --basetemp /tmp/slurm_chain_50k
CHAIN_SAMPLES = int(os.environ.get("R1DATA_SLURM_CHAIN_SAMPLES", "300"))


@pytest.mark.slow
def test_default_chain_on_slurm_keeps_exactly_the_local_kept_set(slurm, tmp_path, bare_path):
    sys.path.insert(0, str(REPO / "benchmarks"))
    from filter_chain import generate, score

    corpus = tmp_path / "corpus.jsonl"
    truth = generate(corpus, CHAIN_SAMPLES, words=4000)
    start = time.perf_counter()
    local = run_chain(FilterChainConfig(tasks=2, workers=2), corpus, tmp_path / "local")
    local_s = time.perf_counter() - start
    (tmp_path / "chain.yaml").write_text(json.dumps({
        "executor": "slurm", "tasks": 2, "workers": 2,
        "slurm": {"partition": slurm.partition, "time": "04:00:00"}}))
    out = tmp_path / "out"
    start = time.perf_counter()
    proc = run_with_deadline([R1DATA, "filter", "-i", str(corpus), "-o", str(out), "-c",
                              str(tmp_path / "chain.yaml"), "--wait"],
                             timeout=300 + CHAIN_SAMPLES * 0.1, cwd=tmp_path,
                             env={k: v for k, v in os.environ.items() if k != "R1DATA_VERBOSE"})
    slurm_s = time.perf_counter() - start
    assert proc.returncode == 0, proc.stdout[-3000:]
    kept = kept_ids(out)
    assert kept == kept_ids(tmp_path / "local") and len(kept) > CHAIN_SAMPLES // 2
    # the stats are collected after --wait, from the Slurm tasks' own stats files
    stats = json.loads((out / "stats.json").read_text())
    assert stats["kept"] == local["kept"] and stats["filters"] == local["filters"]
    assert f"kept {len(kept)} of {CHAIN_SAMPLES}" in proc.stdout.replace("\n", "")
    print(f"\n{CHAIN_SAMPLES} samples: local {local_s:.0f} s, slurm (submit to --wait's summary) "
          f"{slurm_s:.0f} s; kept {len(kept)} on both; {json.dumps(score(truth, kept))}")
    # Quiet without --verbose in the Slurm tasks too: datatrove's INFO lines only in the task logs
    stages = [d for d in (out / ".logs").iterdir() if (d / "slurm_logs").is_dir()]
    assert len(stages) >= 3  # the filter stage, MinHash's, the final one
    for logs in stages:
        assert "Launching pipeline for rank=0" in (logs / "logs" / "task_00000.log").read_text()
        slurm_logs = list((logs / "slurm_logs").glob("*.out"))
        assert slurm_logs and not any("| INFO" in p.read_text() for p in slurm_logs), logs.name


def test_filter_chain_on_slurm_without_wait_prints_the_collect_command(slurm, corpus, tmp_path,
                                                                      bare_path):
    # A stage that cannot run (its input vanishes after submission) shows as failed tasks with
    # their log paths, and the dependent stages are cancelled rather than left pending forever.
    data = tmp_path / "samples.jsonl"
    data.write_text(corpus.read_text())
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
    proc = run_with_deadline(shlex.split(collect), timeout=120, cwd=tmp_path)
    assert proc.returncode == 1
    assert "task(s) did not finish" in proc.stdout
    assert "filter rank 0: " + str(out / ".logs" / "filter" / "logs" / "task_00000.log") in proc.stdout
    assert "final rank 0" in proc.stdout


def generation_prompts(path):
    path.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Question {i}: {i} + {i}?"}) + "\n"
                            for i in range(10)))
    return path


@pytest.mark.slow
def test_sharded_generation_on_slurm_equals_the_local_run(slurm, tmp_path, tiny_dir, bare_path,
                                                          one_thread):
    from r1data.generate import GenerateConfig, run

    prompts = generation_prompts(tmp_path / "prompts.jsonl")
    sampling = ["-n", "2", "--temperature", "1.0", "--max-tokens", "5", "--seed", "3"]
    out = tmp_path / "slurm"
    proc = run_with_deadline([R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--model",
                              tiny_dir, "--device", "cpu", *sampling, "--num-shards", "2",
                              "--executor", "slurm", "--slurm", f"partition={slurm.partition}",
                              "--slurm", "time=00:10:00", "--slurm", "cpus-per-task=1", "--wait"],
                             timeout=300, cwd=tmp_path)  # 1 CPU each: both shards at once here
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "samples written" in proc.stdout and "20" in proc.stdout  # the merged summary
    run(GenerateConfig(input=str(prompts), output=str(tmp_path / "local"), model=tiny_dir,
                       backend_options={"device": "cpu"},
                       sampling={"n": 2, "temperature": 1.0, "max_tokens": 5, "seed": 3}),
        progress=False)
    local = {r.id: (r.completion, r.provenance["seed"]) for r in io.read_records(tmp_path / "local")}
    sharded = {r.id: (r.completion, r.provenance["seed"]) for r in io.read_records(out)}
    assert len(local) == 20 and sharded == local
    script = (out / ".logs" / "generate" / "generate.sbatch").read_text()
    assert "#SBATCH --array=0,1" in script and f"export PATH={Path(sys.executable).parent}:" in script


@pytest.mark.slow
def test_each_slurm_task_starts_and_stops_its_own_server(slurm, tmp_path, bare_path):
    # The per-node `vllm serve` pattern, with the test's small OpenAI-compatible server standing
    # in for vLLM (no GPU here): each task starts it on a free port, waits for /v1/models,
    # generates its shard against it and stops it.
    prompts = generation_prompts(tmp_path / "prompts.jsonl")
    server = f"{sys.executable} {REPO / 'tests' / 'engines' / 'chat_server.py'} {{port}} {tmp_path / 'requests.log'}"
    out = tmp_path / "out"
    proc = run_with_deadline([R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--backend",
                              "openai", "--model", "echo", "-n", "2", "--num-shards", "2",
                              "--executor", "slurm", "--serve", server,
                              "--slurm", f"partition={slurm.partition}", "--slurm", "time=00:05:00"],
                             timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    collect = proc.stdout.strip().splitlines()[-1].strip()
    assert collect.endswith("--collect")
    proc = run_with_deadline(shlex.split(collect), timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    records = list(io.read_records(out))
    assert sorted(r.id for r in records) == sorted(f"p{i}/{k}" for i in range(10) for k in range(2))
    assert all(r.completion.endswith(f"The answer is {r.provenance['seed'] % 1000}.") for r in records)
    logs = out / ".logs" / "generate" / "logs"
    assert sorted(p.name for p in logs.glob("server_*.log")) == ["server_00000.log", "server_00001.log"]
    assert "--serve" in (out / ".logs" / "generate" / "generate.sbatch").read_text()


@pytest.mark.slow
def test_slurm_tasks_serve_vllm_and_a_shard_whose_server_fails_is_redone(slurm, tmp_path, bare_path,
                                                                         embedded_path):
    # Each task starts a real vLLM server of the embedded model (the README's form), waits for
    # /v1/models, generates its shard against it and stops it. The server of shard 1 fails to
    # start until a marker file exists: that shard fails with its log, and the rerun redoes it
    # alone. The records equal a local run against one vLLM server (per-sample seeds, float32).
    import vllm_helpers

    prompts = generation_prompts(tmp_path / "prompts.jsonl")
    marker = tmp_path / "server-may-start"
    server = " ".join(vllm_helpers.server_command(embedded_path, "smol", "{port}"))
    serve = (f"sh -c 'if [ \"$SLURM_ARRAY_TASK_ID\" = 1 ] && [ ! -e {marker} ]; then "
             f"echo no server for this shard; exit 3; fi; exec {server}'")
    out = tmp_path / "out"
    command = [R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--backend", "openai",
               "--model", "smol", "-n", "2", "--max-tokens", "8", "--temperature", "0.8", "--seed", "4",
               "--num-shards", "2", "--executor", "slurm", "--serve", serve, "--wait",
               "--slurm", f"partition={slurm.partition}", "--slurm", "time=00:15:00",
               "--slurm", "cpus-per-task=1"]
    proc = run_with_deadline(command, timeout=600, cwd=tmp_path)
    logs = out / ".logs" / "generate" / "logs"
    assert proc.returncode != 0 and "shard 1: " in proc.stdout, proc.stdout[-3000:]
    assert "server_00001.log" in proc.stdout or "task_00001.log" in proc.stdout
    assert "the server exited with code 3" in (logs / "task_00001.log").read_text()
    assert (out / ".logs" / "generate" / "completions" / "00000").exists()
    first = {r.id: r.completion for r in io.read_records(out)}
    assert 0 < len(first) < 20  # shard 0's samples only (which prompts: the id hash decides)

    marker.touch()
    proc = run_with_deadline(command, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "#SBATCH --array=1\n" in (out / ".logs" / "generate" / "generate.sbatch").read_text()
    sharded = {r.id: r.completion for r in io.read_records(out)}
    assert all(sharded[k] == v for k, v in first.items())  # shard 0 untouched
    assert sorted(p.name for p in logs.glob("server_*.log")) == ["server_00000.log", "server_00001.log"]

    with vllm_helpers.vllm_servers(embedded_path, "smol", tmp_path) as [(_, url)]:
        local = tmp_path / "local"
        proc = run_with_deadline([R1DATA, "generate", "-i", str(prompts), "-o", str(local), "--backend",
                                  "openai", "--model", "smol", "--base-url", url, "-n", "2",
                                  "--max-tokens", "8", "--temperature", "0.8", "--seed", "4"],
                                 timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert sharded == {r.id: r.completion for r in io.read_records(local)} and len(sharded) == 20
