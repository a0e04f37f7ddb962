"""The generation engine and `r1data generate`: records with the schema's fields, bad rows set
aside, backend failures recorded, and resume after SIGKILL with every sample exactly once."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from r1data.backends.base import Completion
from r1data.failures import GenerationFailed
from r1data.generate import GenerateConfig, run, sample_record
from r1data.record import Record


def write_prompts(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def all_records(folder: Path) -> list[dict]:
    lines = []
    for shard in sorted(folder.glob("part-*.jsonl")):
        lines += [json.loads(line) for line in shard.read_text().splitlines() if line.strip()]
    return lines


def test_run_writes_one_record_per_sample_and_sets_bad_rows_aside(tmp_path, tiny_dir, package_data):
    gsm = [json.loads(line) for line in (package_data / "benchmarks" / "gsm8k_test.jsonl").read_text().splitlines()[:5]]
    rows = gsm[:3] + [{"id": "empty", "problem": "   "}, {"id": "number", "problem": 42}] + gsm[3:]
    prompts = write_prompts(tmp_path / "prompts.jsonl", rows)
    config = GenerateConfig(input=str(prompts), output=str(tmp_path / "out"), model=tiny_dir, shard_size=3,
                            batch_size=4, sampling={"n": 2, "max_tokens": 4, "seed": 11})
    summary = run(config, progress=False)

    records = all_records(tmp_path / "out")
    assert sorted(r["id"] for r in records) == sorted(f"{g['id']}/{i}" for g in gsm for i in range(2))
    assert summary.samples_written == 10 and summary.prompts_done == 5 and summary.prompts_rejected == 2
    assert summary.samples_truncated == 10 and summary.truncation_rate == 1.0  # 4 tokens: all cut off
    first = next(r for r in records if r["id"] == f"{gsm[0]['id']}/0")
    assert first["prompt_id"] == gsm[0]["id"] and first["gold"] == gsm[0]["answer"]
    assert first["messages"][-1]["role"] == "assistant" and first["finish_reason"] == "length"
    assert first["completion_tokens"] == 4 and first["prompt_tokens"] > 0
    assert first["metadata"]["sample_index"] == 0
    prov = first["provenance"]
    assert prov["backend"] == "transformers" and prov["model"] == tiny_dir and prov["template"] == "chat"
    assert prov["sampling"]["temperature"] == 0.6 and prov["sampling"]["top_p"] == 0.95
    assert isinstance(prov["seed"], int) and prov["r1data"] and prov["time"]

    rejected = [json.loads(line) for line in (tmp_path / "out/rejected/rejected.jsonl").read_text().splitlines()]
    reasons = sorted(r["reason"] for r in rejected)
    assert "is empty" in reasons[0] + reasons[1] and "must be a string" in reasons[0] + reasons[1]
    saved = json.loads((tmp_path / "out/generate_summary.json").read_text())
    assert saved["samples_written"] == 10 and saved["config"]["sampling"]["n"] == 2

    again = run(config, progress=False)  # everything done: the model is not asked for anything
    assert again.samples_written == 0 and again.prompts_resumed == 5 and again.prompts_done == 0
    assert len(all_records(tmp_path / "out")) == 10


def test_failed_samples_are_not_written_and_fail_the_run(tmp_path):
    class Down(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):  # the server is up (the backend checks /v1/models) but every request fails
            self.send_response(200)
            self.send_header("content-length", "11")
            self.end_headers()
            self.wfile.write(b'{"data": []}'[:11])

        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(503)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Down)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        prompts = write_prompts(tmp_path / "p.jsonl", [{"id": "a", "prompt": "2+2?"}, {"id": "b", "prompt": "3+3?"}])
        config = GenerateConfig(
            input=str(prompts), output=str(tmp_path / "out"), backend="openai", model="teacher",
            backend_options={"base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
                             "backoff": 0.01, "max_retries": 1},
            sampling={"n": 1, "max_tokens": 8})
        with pytest.raises(GenerationFailed, match=r"2 of 2 samples failed .*HTTP 503 x2") as failed:
            run(config, progress=False)
        accepting = GenerateConfig(**{**config.__dict__, "max_error_rate": 1.0})
        accepted = run(accepting, progress=False)  # --max-error-rate 1: the loss is accepted
    finally:
        server.shutdown()
        server.server_close()
    assert failed.value.summary.samples_failed == 2 and failed.value.summary.samples_written == 0
    assert not all_records(tmp_path / "out")  # a failed sample is never written, so never "done"
    errors = [json.loads(line) for line in (tmp_path / "out/errors/errors.jsonl").read_text().splitlines()]
    assert sorted(e["id"] for e in errors) == ["a/0", "b/0"] and {e["error_type"] for e in errors} == {"HTTP 503"}
    saved = json.loads((tmp_path / "out/generate_summary.json").read_text())
    assert saved["samples_failed"] == 2 and saved["failures"]["HTTP 503"]["count"] == 2
    assert accepted.samples_failed == 2 and accepted.prompts_resumed == 0  # retried, failed again


def test_readable_samples_are_split_at_the_special_token():
    prompt = Record.from_prompt("What is 2+2?", id="q")
    completion = Completion("|special_token|2 and 2 make 4|special_token|The answer is 4.", "stop", 5, 12)
    record = sample_record(prompt, completion, 1, {"backend": "x"}, template="readable")
    assert record.id == "q/1" and record.reasoning == "2 and 2 make 4" and record.answer == "The answer is 4."
    assert record.completion == completion.text and record.finish_reason == "stop"


def test_bad_config_values_are_refused():
    with pytest.raises(ValueError, match="template"):
        GenerateConfig(input="x", output="y", template="nope")
    with pytest.raises(ValueError, match="few-shot"):
        GenerateConfig(input="x", output="y", template="few-shot")
    with pytest.raises(ValueError, match="temperature"):
        GenerateConfig(input="x", output="y", sampling={"temperature": -1})


def test_cli_missing_input_is_one_line_and_exit_code_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "r1data", "generate", "--input", str(tmp_path / "missing.jsonl"),
         "--output", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"error: no such file or directory: {tmp_path / 'missing.jsonl'}"]


@pytest.mark.slow
def test_resume_after_sigkill_gives_every_sample_once(tmp_path, tiny_dir, package_data):
    lines = (package_data / "benchmarks" / "gsm8k_test.jsonl").read_text().splitlines()[:12]
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    command = [sys.executable, "-m", "r1data", "generate", "--input", str(prompts), "--output", str(out),
               "--model", tiny_dir, "--n", "2", "--max-tokens", "6", "--batch-size", "2",
               "--shard-size", "5", "--no-progress"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 400
    written = 0
    while written < 7:  # kill it once a shard is finished and the next one is being filled
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "the first run wrote too little in 400 s"
        time.sleep(0.2)
        written = sum(len(p.read_bytes().splitlines()) for p in out.glob("part-*"))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished_before = {p.name: p.read_bytes() for p in out.glob("part-*.jsonl") if "inprogress" not in p.name}
    assert finished_before, "no finished shard before the kill"

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = [r["id"] for r in all_records(out)]
    expected = [f"{json.loads(line)['id']}/{i}" for line in lines for i in range(2)]
    assert sorted(ids) == sorted(expected) and len(ids) == len(set(ids))
    assert not list(out.glob("*.inprogress.jsonl"))
    for name, content in finished_before.items():  # finished shards are never rewritten
        assert (out / name).read_bytes() == content
    summary = json.loads((out / "generate_summary.json").read_text())
    # the rerun generated only what was missing
    assert summary["prompts_resumed"] >= 3 and summary["samples_written"] <= len(expected) - 6
