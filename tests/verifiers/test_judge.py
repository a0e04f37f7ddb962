"""The generative judge: reply parsing (case table), the prompt, and a run with a real backend."""

from pathlib import Path

import pytest
import yaml

from r1data.verifiers.judge import judge, judge_messages, parse_judgement

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "judge.yaml").read_text("utf-8"))


@pytest.mark.parametrize("case", CASES, ids=[c["reply"][:30] or "empty" for c in CASES])
def test_parse_judgement(case):
    verdict = parse_judgement(case["reply"])
    assert (verdict.correct, verdict.reason) == (case["correct"], case["reason"])


def test_the_judge_sees_the_answer_not_the_reasoning():
    messages = judge_messages("Capital of France?", "Paris",
                              "<think>\nmaybe Lyon, SECRET_DRAFT\n</think>\n\nParis.")
    prompt = messages[-1]["content"]
    assert "Paris." in prompt and "SECRET_DRAFT" not in prompt and "Capital of France?" in prompt


def test_judge_through_a_real_backend():
    """The whole path (chat template, generation, parsing) with a tiny random-weight model: its
    replies are noise, which is the point: noise must never come back as a pass."""
    backends = pytest.importorskip("r1data.backends.transformers")
    from r1data.models import tiny_model

    model, tokenizer = tiny_model()
    backend = backends.TransformersBackend("tiny", batch_size=2, model_obj=model,
                                           tokenizer=tokenizer, device="cpu")
    items = [{"question": "What is 2+2?", "reference": "4", "prediction": "4"},
             {"question": "Capital of France?", "reference": "Paris", "prediction": "Rome"}]
    verdicts = judge(backend, items, max_tokens=24)
    assert len(verdicts) == 2
    for verdict in verdicts:
        assert verdict.reason in ("ok", "judged_incorrect", "unparseable_judgement")
        assert verdict.correct is not True or "VERDICT" in verdict.details["judgement"].upper()
