"""The filter chain and a sharded generation on a local Ray instance give what a local run
gives. Ray runs in a subprocess with a deadline (`engine_helpers.run_with_deadline`): a task that
is never scheduled fails the test instead of hanging the suite."""

import json
import sys

import pytest

from r1data import benchmark_sets, io
from r1data.generate import GenerateConfig, run

from engine_helpers import REPO, run_with_deadline
from ray_run import RECIPE

sys.path.insert(0, str(REPO / "tests" / "filters"))
from filtercase_helpers import chain_corpus  # noqa: E402

pytest.importorskip("ray", reason="the Ray executor needs `pip install r1data[ray]`")


@pytest.fixture(scope="module")
def on_ray(tmp_path_factory, tiny_dir):
    folder = tmp_path_factory.mktemp("ray")
    expected = chain_corpus(folder / "samples.jsonl", benchmark_sets.load("gsm8k")[7]["prompt"])
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Question {i}: {i} + {i}?"})
                               + "\n" for i in range(10)))
    proc = run_with_deadline([sys.executable, str(REPO / "tests" / "engines" / "ray_run.py"),
                              str(folder / "samples.jsonl"), str(folder / "chain"), str(prompts),
                              str(folder / "generated"), tiny_dir, "570"], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return folder, expected, result


@pytest.mark.slow
def test_ray_chain_keeps_the_same_set_as_local(on_ray, tmp_path):
    from r1data.config import from_dict
    from r1data.filters.chain import FilterChainConfig, run_chain

    folder, _, result = on_ray
    local = run_chain(from_dict(FilterChainConfig, RECIPE), folder / "samples.jsonl", tmp_path)
    kept = {r.id for r in io.read_records(tmp_path / "kept")}
    assert {r.id for r in io.read_records(folder / "chain" / "kept")} == kept and len(kept) >= 10
    assert result["kept"] == local["kept"]


@pytest.mark.slow
def test_sharded_generation_on_ray_equals_the_local_run(on_ray, tiny_dir, tmp_path, one_thread):
    folder, _, result = on_ray
    assert result["failed"] == [] and result["samples_written"] == 20
    run(GenerateConfig(input=str(folder / "prompts.jsonl"), output=str(tmp_path), model=tiny_dir,
                       backend_options={"device": "cpu"},
                       sampling={"n": 2, "temperature": 1.0, "max_tokens": 5, "seed": 3}),
        progress=False)
    local = {r.id: (r.completion, r.provenance["seed"]) for r in io.read_records(tmp_path)}
    ray_samples = {r.id: (r.completion, r.provenance["seed"])
                   for r in io.read_records(folder / "generated")}
    assert len(local) == 20 and ray_samples == local


def test_a_task_no_ray_node_can_hold_fails_at_once(on_ray):
    assert "no Ray node can run a task of 1 CPU(s) and 10000.0 GB" in on_ray[2]["too_big"]
