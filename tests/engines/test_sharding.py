"""Sharded generation: shards partition the prompts by id, each shard folder resumes on its own,
and the folder of shard folders reads as the dataset an unsharded run writes, sample for sample."""

import json

import pytest

from r1data import io, sharding
from r1data.backends.transformers import TransformersBackend
from r1data.generate import GenerateConfig, run


def comparable(records):
    """Each sample as the fields a run decides (the provenance time differs run to run)."""
    rows = {}
    for r in records:
        rows[r.id] = (r.prompt, r.completion, r.finish_reason, r.completion_tokens,
                      r.provenance["seed"])
    return rows


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "prompts.jsonl"
    # Prompts of different lengths, so that batches differ between the sharded and unsharded runs.
    rows = [{"id": f"p{i}", "prompt": f"Question {i}: " + "add the numbers " * (i % 5) + f"{i} + {i}"}
            for i in range(14)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def backend(tiny_dir):
    return TransformersBackend(tiny_dir, batch_size=4, device="cpu")


def config(prompts, out, **kw):
    return GenerateConfig(input=str(prompts), output=str(out), backend="transformers",
                          sampling={"n": 2, "temperature": 1.0, "top_p": 0.9, "max_tokens": 6,
                                    "seed": 7}, **kw)


def test_two_shards_merged_equal_the_unsharded_run(prompts, backend, tmp_path):
    run(config(prompts, tmp_path / "whole"), backend=backend, progress=False)
    sharded = tmp_path / "sharded"
    summaries = [run(config(prompts, sharded, num_shards=2, shard_index=i), backend=backend,
                     progress=False) for i in range(2)]
    whole = comparable(io.read_records(tmp_path / "whole"))
    assert len(whole) == 28
    assert comparable(io.read_records(sharded)) == whole  # the shard folders read as one dataset
    # a real split: both shards hold prompts, none twice
    per_shard = [{r.prompt_id for r in io.read_records(sharding.shard_folder(sharded, 2, i))}
                 for i in range(2)]
    assert all(per_shard) and not per_shard[0] & per_shard[1]
    assert sum(s.prompts_done for s in summaries) == 14


def test_a_shard_resumes_on_its_own(prompts, backend, tmp_path):
    first = run(config(prompts, tmp_path, num_shards=2, shard_index=1), backend=backend,
                progress=False)
    again = run(config(prompts, tmp_path, num_shards=2, shard_index=1), backend=backend,
                progress=False)
    assert again.prompts_resumed == first.prompts_done > 0 and again.samples_written == 0
    assert not sharding.shard_folder(tmp_path, 2, 0).exists()


def test_shard_index_out_of_range_is_a_config_error(prompts, tmp_path):
    with pytest.raises(ValueError, match="shard_index must be in 0..1"):
        config(prompts, tmp_path, num_shards=2, shard_index=2)


@pytest.mark.slow
def test_a_sharded_stage_covers_the_prompts_of_the_unsharded_stage(backend, tmp_path):
    # Rejection sampling over 2 shards: each shard folder holds its own prompts' pass rates and
    # samples; together, exactly the prompts and samples of the unsharded run.
    from r1data.pipelines import rejection_sampling as stage

    prompts = tmp_path / "math.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"m{i}", "prompt": f"What is {i} + {i}?",
                                           "answer": str(2 * i)}) + "\n" for i in range(8)))

    def stage_run(out, **shard):
        config = stage.RejectionSamplingConfig(
            input=str(prompts), output=str(out), sampling={"n": 2, "max_tokens": 4, "seed": 1},
            filters={name: None for name in ("minhash", "exact_dedup", "fuzzy_dedup",
                                             "decontamination", "language")}, **shard)
        stage.run(config, backend=backend)

    def prompts_and_samples(folder):
        rates = {json.loads(line)["prompt_id"] for f in folder.rglob("pass_rates.jsonl")
                 for line in f.read_text().splitlines()}
        dropped = [p for p in folder.rglob("*.jsonl") if "dropped" in p.parts]
        ids = {r.id for p in dropped for r in io.read_records(p)}
        return rates, ids

    stage_run(tmp_path / "whole")
    for i in range(2):
        stage_run(tmp_path / "sharded", num_shards=2, shard_index=i)
    whole = prompts_and_samples(tmp_path / "whole")
    assert len(whole[0]) == 8
    assert prompts_and_samples(tmp_path / "sharded") == whole
    per_shard = [prompts_and_samples(sharding.shard_folder(tmp_path / "sharded", 2, i))[0]
                 for i in range(2)]
    assert all(per_shard) and not per_shard[0] & per_shard[1]


@pytest.mark.slow
def test_sharded_eval_then_one_scoring_run_equals_an_unsharded_eval(tiny_dir, tmp_path):
    from r1data import evaluate

    def eval_config(out, **shard):
        return evaluate.EvalConfig(benchmarks=["gsm8k"], output=str(out), limit=6, model=tiny_dir,
                                   backend_options={"device": "cpu"},
                                   sampling={"n": 2, "max_tokens": 4, "seed": 5}, **shard)

    whole = evaluate.run(eval_config(tmp_path / "whole"), progress=False)
    for i in range(2):
        shard = evaluate.run(eval_config(tmp_path / "sharded", num_shards=2, shard_index=i),
                             progress=False)
        assert "benchmarks" not in shard and shard["generated"]["gsm8k"] > 0
    merged = evaluate.run(eval_config(tmp_path / "sharded"), progress=False)
    generations = tmp_path / "sharded" / "generations" / "gsm8k"
    assert not list(generations.glob("part-*"))  # the scoring run generated nothing itself
    assert merged["benchmarks"] == whole["benchmarks"]
    details = [[json.loads(line)["samples"] for line in (tmp_path / d / "details.jsonl").open()]
               for d in ("whole", "sharded")]
    assert details[0] == details[1]
