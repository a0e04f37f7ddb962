"""The generative judge inside rejection sampling (R1 2.3.3: DeepSeek-V3 judged, given the
reference and the prediction, the samples no rule can check).

The judge model here is a small OpenAI-compatible server started by the test on 127.0.0.1 that
follows one rule (CORRECT when the reference appears in the prediction): what is under test is
the pipeline's side (which samples go to the judge, what it is shown, how its verdict is
recorded and counted), through the real openai backend. A random-weight model as the judge
checks that noise never becomes a pass.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from r1data.pipelines.rejection_sampling import RejectionSamplingConfig, label_and_verify
from r1data.record import Record


class RuleJudge(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_GET(self):  # noqa: N802 - a real OpenAI-compatible server lists its models
        ok = self.path.rstrip("/") == "/v1/models"
        data = json.dumps({"object": "list", "data": [{"id": "rule-judge", "object": "model"}]}).encode()
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data) if ok else 0))
        self.end_headers()
        if ok:
            self.wfile.write(data)

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        question = body["messages"][-1]["content"]
        reference = re.search(r"REFERENCE:\n(.*?)\n\nPREDICTION:", question, re.S).group(1)
        prediction = re.search(r"PREDICTION:\n(.*?)\n\nExplain", question, re.S).group(1)
        type(self).seen.append({"reference": reference, "prediction": prediction})
        verdict = "CORRECT" if reference.lower() in prediction.lower() else "INCORRECT"
        reply = {"choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": f"Compared.\nVERDICT: {verdict}"}}],
                 "usage": {"prompt_tokens": 50, "completion_tokens": 5}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def judge_url():
    RuleJudge.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RuleJudge)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
    server.server_close()


def _group(answers, gold, domain):
    prompt = Record.from_prompt("What is the capital of France?", id="p", gold=gold, domain=domain)
    return [prompt.with_completion(f"<think>\nthinking about {a}\n</think>\n\nThe capital is {a}.",
                                   sample_index=i, finish_reason="stop") for i, a in enumerate(answers)]


def _config(url, **kw):
    return RejectionSamplingConfig(input="x", judge={"backend": "openai", "model": "judge",
                                                     "options": {"base_url": url, "max_retries": 0}}, **kw)


def test_judge_decides_free_text_answers(judge_url):
    config = _config(judge_url, judge_domains=["general"])
    backend = config.judge.open()
    try:
        kept, row = label_and_verify(_group(["Paris", "Lyon", "paris"], "Paris", "general"), config,
                                     lambda r, why: None, backend)
    finally:
        backend.close()
    assert [r.verdicts[-1]["correct"] for r in kept] == [True, False, True]
    assert all(r.verdicts[-1]["verifier"] == "judge" and "VERDICT" in r.verdicts[-1]["details"]["judgement"]
               for r in kept)
    assert len(kept[0].verdicts) == 2  # the rule verdict stays in the trail, the judge's decides
    assert row["correct"] == 2 and row["pass_rate"] == pytest.approx(2 / 3)
    # the judge saw the reference and the final answer only, not the chain of thought
    assert sorted(s["prediction"] for s in RuleJudge.seen) == ["The capital is Lyon.", "The capital is Paris.",
                                                               "The capital is paris."]
    assert {s["reference"] for s in RuleJudge.seen} == {"Paris"}


def test_rule_verdicts_and_pseudo_labels_are_not_judged(judge_url):
    config = _config(judge_url)  # no judge_domains: only what rules leave undecided
    backend = config.judge.open()
    try:
        math = Record.from_prompt("What is 2 + 2?", id="m", gold="4", domain="math")
        group = [math.with_completion(f"<think>\nadd\n</think>\n\n\\boxed{{{a}}}", sample_index=i,
                                      finish_reason="stop") for i, a in enumerate(["4", "5"])]
        kept, row = label_and_verify(group, config, lambda r, why: None, backend)
        assert [r.verdicts[-1]["verifier"] for r in kept] == ["math", "math"] and row["correct"] == 1
        voted = Record.from_prompt("What is 3 + 3?", id="v", domain="math")
        group = [voted.with_completion(f"<think>\nadd\n</think>\n\n\\boxed{{{a}}}", sample_index=i,
                                       finish_reason="stop") for i, a in enumerate(["6", "6", "7"])]
        kept, row = label_and_verify(group, config, lambda r, why: None, backend)
        assert row["pseudo_label"] == "6" and all(r.verdicts[-1]["verifier"] == "math" for r in kept)
    finally:
        backend.close()
    assert RuleJudge.seen == []


def test_a_noise_judge_never_passes_a_sample():
    from r1data import models
    from r1data.backends.transformers import TransformersBackend

    model, tokenizer = models.tiny_model()
    backend = TransformersBackend("tiny", model_obj=model, tokenizer=tokenizer)
    config = RejectionSamplingConfig(input="x", judge={"model": "tiny"}, judge_domains=["general"],
                                     judge_max_tokens=16)
    kept, row = label_and_verify(_group(["Paris", "Paris"], "Paris", "general"), config,
                                 lambda r, why: None, backend)
    assert [r.verdicts[-1]["reason"] for r in kept] == ["unparseable_judgement"] * 2
    assert row["correct"] == 0


def test_judge_domains_need_a_judge():
    with pytest.raises(ValueError, match="judge_domains needs a judge"):
        RejectionSamplingConfig(input="x", judge_domains=["general"])
