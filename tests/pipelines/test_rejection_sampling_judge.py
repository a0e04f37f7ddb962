"""The generative judge inside rejection sampling (R1 2.3.3: DeepSeek-V3 judged, given the
reference and the prediction, the samples no rule can check).

The judge model here is a small OpenAI-compatible server started by the test on 127.0.0.1 that
follows one rule (CORRECT when the reference appears in the prediction): what is under test is
the pipeline's side (which samples go to the judge, what it is shown, how its verdict is
recorded and counted), through the real openai backend. A random-weight model as the judge
checks that noise never becomes a pass.
"""

from __future__ import annotations

import re

import pytest

from chat_stub import chat_server
from r1data.pipelines.rejection_sampling import RejectionSamplingConfig, label_and_verify
from r1data.record import Record


def shown(question: str) -> dict:
    """What the judge was shown: the reference and the prediction."""
    return {"reference": re.search(r"REFERENCE:\n(.*?)\n\nPREDICTION:", question, re.S).group(1),
            "prediction": re.search(r"PREDICTION:\n(.*?)\n\nExplain", question, re.S).group(1)}


def rule_verdict(question: str) -> str:
    """CORRECT when the reference appears in the prediction."""
    pair = shown(question)
    correct = pair["reference"].lower() in pair["prediction"].lower()
    return f"Compared.\nVERDICT: {'CORRECT' if correct else 'INCORRECT'}"


@pytest.fixture()
def judge():
    """(base URL, questions the judge was sent) of a rule judge on 127.0.0.1."""
    with chat_server("rule-judge", rule_verdict) as (url, seen):
        yield url, seen


def _group(answers, gold, domain):
    prompt = Record.from_prompt("What is the capital of France?", id="p", gold=gold, domain=domain)
    return [prompt.with_completion(f"<think>\nthinking about {a}\n</think>\n\nThe capital is {a}.",
                                   sample_index=i, finish_reason="stop") for i, a in enumerate(answers)]


def _config(url, **kw):
    return RejectionSamplingConfig(input="x", judge={"backend": "openai", "model": "judge",
                                                     "options": {"base_url": url, "max_retries": 0}}, **kw)


def test_judge_decides_free_text_answers(judge):
    judge_url, seen = judge
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
    assert sorted(shown(q)["prediction"] for q in seen) == ["The capital is Lyon.", "The capital is Paris.",
                                                               "The capital is paris."]
    assert {shown(q)["reference"] for q in seen} == {"Paris"}


def test_rule_verdicts_and_pseudo_labels_are_not_judged(judge):
    judge_url, seen = judge
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
    assert seen == []


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
