"""Acceptance: cold start -> rejection sampling -> non-reasoning -> mix -> publish --dry-run on the
embedded SmolLM2-135M, on CPU, with a handful of prompts.

The 135M model rarely solves anything, so nothing here asserts a pass rate: the test checks each
stage's output schema, that every sample is accounted for (kept + dropped = generated), and that
the dataset card's statistics equal the published data's.
"""

import json
import random
from collections import Counter
from pathlib import Path

import pytest

from r1data.config import from_dict
from r1data.io import read_records, shard_files
from r1data.pipelines import cold_start, mix, non_reasoning, publish, rejection_sampling
from r1data.pipelines.summary import read_summary
from r1data.record import META_DROP_REASON, META_PASS_RATE, META_PSEUDO_LABEL, THINK_CLOSE, THINK_OPEN

SAMPLING = {"n": 2, "temperature": 0.8, "top_p": 0.95, "max_tokens": 48, "seed": 0}
# two greetings (answered directly) and two tasks (the teacher thinks first)
NON_REASONING = ["hello", "Thanks a lot!", "What is the capital of France?",
                 "Translate into English: \"谢谢\""]
FILTERS = {"minhash": None}  # datatrove's four MinHash stages add time, not coverage, on 20 rows


def _arithmetic(path: Path, count: int, seed: int = 0, gold: bool = True) -> Path:
    rng = random.Random(seed)
    with open(path, "w") as fh:
        for i in range(count):
            a, b = rng.randint(1, 9), rng.randint(1, 9)
            row = {"id": f"arith/{seed}/{i}", "problem": f"What is {a} + {b}? Answer with the number."}
            if gold:
                row["answer"] = str(a + b)
            fh.write(json.dumps(row) + "\n")
    return path


def _records(folder: Path) -> list:
    return list(read_records(folder)) if folder.exists() and shard_files(folder) else []


def _check_stage(summary, generated: int):
    out = Path(summary.output)
    assert read_summary(out).to_dict() == json.loads(json.dumps(summary.to_dict()))
    kept, dropped = _records(out / "kept"), _records(out / "dropped")
    assert summary.kept == len(kept)
    assert sum(summary.dropped.values()) == len(dropped)
    assert Counter(r.metadata[META_DROP_REASON] for r in dropped) == Counter(summary.dropped)
    assert len(kept) + len(dropped) == generated  # every sample kept or set aside with a reason
    for record in kept:
        assert [m["role"] for m in record.messages] == ["user", "assistant"]
        assert record.messages[-1]["content"] == record.completion and record.answer
    return kept


@pytest.fixture
def one_torch_thread():
    """Generation with one torch thread: on a shared 2-core runner, two OpenMP threads that spin
    while waiting for each other were measured 10x slower (458 s vs 47 s for the same batch)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_cold_start_to_publish(tmp_path, one_torch_thread):
    from r1data.backends import get_backend

    prompts = _arithmetic(tmp_path / "arith.jsonl", 2)
    _arithmetic(tmp_path / "nogold.jsonl", 1, seed=1, gold=False)
    with open(tmp_path / "arith.jsonl", "a") as fh:  # one prompt with no gold: majority vote
        fh.write(open(tmp_path / "nogold.jsonl").read())
    backend = get_backend("transformers", "smollm2-135m", batch_size=16)
    try:
        cs = cold_start.run(from_dict(cold_start.ColdStartConfig, dict(
            input=str(prompts), output=str(tmp_path / "cs"), limit=2, sampling=SAMPLING,
            fewshot_k=1, filters=FILTERS)), backend=backend)
        rs = rejection_sampling.run(from_dict(rejection_sampling.RejectionSamplingConfig, dict(
            input=str(prompts), output=str(tmp_path / "rs"), sampling=SAMPLING, keep_per_prompt=1,
            min_vote_share=0.5, filters=FILTERS)), backend=backend)
        nr_prompts = tmp_path / "nr.jsonl"
        nr_prompts.write_text("".join(json.dumps({"prompt": p, "domain": "chat"}) + "\n"
                                      for p in NON_REASONING))
        nr = non_reasoning.run(from_dict(non_reasoning.NonReasoningConfig, dict(
            input=str(nr_prompts), output=str(tmp_path / "nr"), sampling={**SAMPLING, "n": 1},
            filters=FILTERS)), backend=backend)
    finally:
        backend.close()

    # cold start: 2 prompts x 2 methods x 2 samples
    assert cs.extra["prompts_per_method"] == {"few_shot": 2, "reflection": 2}
    for record in _check_stage(cs, 8):
        assert record.verdicts[-1]["correct"] is True
        assert record.completion.startswith(THINK_OPEN) and THINK_CLOSE in record.completion
        assert record.metadata["cold_start_method"] in ("few_shot", "reflection")

    # rejection sampling: 3 prompts x 2 samples; pass rates per prompt; the pseudo-labelled one
    rs_kept = _check_stage(rs, 6)
    rates = [json.loads(line) for line in open(tmp_path / "rs" / "pass_rates.jsonl")]
    assert len(rates) == 3 and all(r["samples"] == 2 for r in rates)
    voted = [r for r in rates if r["prompt_id"] == "arith/1/0"]
    assert voted and (voted[0]["pseudo_label"] is not None or voted[0]["pass_rate"] is None)
    for record in rs_kept:
        assert record.verdicts[-1]["correct"] is True
        assert record.metadata[META_PASS_RATE] > 0
        assert (META_PSEUDO_LABEL in record.metadata) == (record.prompt_id == "arith/1/0")
    # the pass rates are the verdicts: per prompt, `correct` counts the samples judged correct,
    # whether the format filters kept them or not
    judged = rs_kept + _records(Path(rs.output) / "dropped")
    for row in rates:
        verdicts = [r.verdicts[-1]["correct"] for r in judged if r.prompt_id == row["prompt_id"]]
        assert len(verdicts) == row["samples"] and row["correct"] == verdicts.count(True), row
    # keep_per_prompt=1 (the cap itself is tested in tests/filters with kept samples to cap)
    assert all(n == 1 for n in Counter(r.prompt_id for r in rs_kept).values())

    # non-reasoning: the greetings are answered directly, the others think first
    assert nr.extra["routes"] == {"direct": 2, "think": 2}
    for record in _check_stage(nr, 4):
        assert record.kind == "non_reasoning"
        if record.metadata["route"] == "direct":
            assert record.completion.startswith(f"{THINK_OPEN}\n\n{THINK_CLOSE}")
        else:
            assert record.reasoning

    # mix everything; publish the folder
    mx = mix.run(mix.MixConfig(inputs=[cs.output, rs.output, nr.output], output=str(tmp_path / "mix"),
                               reasoning_size=None, non_reasoning_size=None, tokenizer="none"))
    assert mx.kept + mx.dropped.get("duplicate", 0) == cs.kept + rs.kept + nr.kept
    pb = publish.run(publish.PublishConfig(input=mx.output, repo_id="org/r1-e2e", dry_run=True,
                                           tokenizer="smollm2-135m"))
    import datasets

    loaded = datasets.load_dataset(pb.output)["train"]
    assert len(loaded) == mx.kept == pb.kept
    card = (Path(pb.output) / "README.md").read_text()
    stats = pb.extra["statistics"]
    assert stats["rows"] == len(loaded)
    assert stats["kinds"] == dict(Counter(loaded["kind"]))
    assert stats["domains"] == dict(Counter(loaded["domain"]))
    for (kind, domain), count in Counter(zip(loaded["kind"], loaded["domain"])).items():
        assert f"| {kind} | {domain} | {count:,} |" in card
    assert f"| train | {len(loaded):,} |" in card
    # how it was built: every stage, with its drop counts
    for stage in ("cold_start", "rejection_sampling", "non_reasoning", "mix"):
        assert f"| {stage} |" in card
    assert "smollm2-135m" in card  # the teacher, read from the records' provenance
