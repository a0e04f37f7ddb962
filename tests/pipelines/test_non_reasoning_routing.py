"""The documented routing rule of the non-reasoning stage, checked against a case table."""

from pathlib import Path

import pytest
import yaml

from r1data.pipelines.non_reasoning import DIRECT, NonReasoningConfig, Record, route, shape

CASES = yaml.safe_load((Path(__file__).parent / "routing_cases.yaml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("prompt,expected", CASES, ids=[c[0][:30] or "empty" for c in CASES])
def test_routing_case(prompt, expected):
    assert route(prompt) == expected


def test_bundled_prompts_route_greetings_only_to_direct():
    import json

    from r1data.pipelines.recipe import package_path

    rows = [json.loads(line) for line in open(package_path("r1data://data/prompts/non_reasoning.jsonl"),
                                              encoding="utf-8")]
    assert 40 <= len(rows) <= 60
    assert {r["domain"] for r in rows} == {"greeting", "self_cognition", "writing", "factual_qa",
                                           "translation"}
    for row in rows:
        assert (route(row["prompt"]) == DIRECT) == (row["domain"] == "greeting"), row["prompt"]


def test_extra_phrases_and_word_limit_are_configurable():
    assert route("namaste") == "direct"  # one word, no task
    assert route("namaste my good friend") == "think"
    assert route("namaste my good friend", extra_phrases=("namaste", "my good friend")) == "direct"
    assert route("lovely weather", max_trivial_words=1) == "think"


def _sample(route_name, completion):
    record = Record.from_prompt("hi", kind="non_reasoning").with_completion(completion)
    record.metadata["route"] = route_name
    return record


def test_shape_direct_answers_have_no_thinking():
    record, reason = shape(_sample("direct", "<think>\nhmm\n</think>\n\nHello!"), "empty_think")
    assert reason is None
    assert record.messages[-1]["content"] == "<think>\n\n</think>\n\nHello!"
    record, _ = shape(_sample("direct", "Hello!"), "none")
    assert record.messages[-1]["content"] == "Hello!" and record.reasoning is None


def test_shape_think_answers_need_their_chain_of_thought():
    assert shape(_sample("think", "Paris."), "empty_think")[1] == "missing_reasoning"
    assert shape(_sample("think", "<think>\nThe capital.\n</think>\n\n"), "empty_think")[1] == "empty_answer"
    record, reason = shape(_sample("think", "<think>\nIt is Paris.\n</think>\n\nParis."), "none")
    assert reason is None and record.reasoning == "It is Paris." and record.answer == "Paris."


def test_config_refuses_unknown_direct_format():
    with pytest.raises(ValueError):
        NonReasoningConfig(direct_format="blank")


def test_a_route_with_no_prompts_is_skipped(tmp_path):
    """Only trivial prompts: the thinking route gets none and must not fail the stage."""
    import json

    from r1data.backends.base import SamplingConfig
    from r1data.models import tiny_model
    from r1data.backends.transformers import TransformersBackend
    from r1data.pipelines import non_reasoning

    prompts = tmp_path / "greetings.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"g{i}", "prompt": text}) + "\n"
                               for i, text in enumerate(["hello", "hi there", "thanks!"])))
    model, tokenizer = tiny_model(layers=1, hidden=32, heads=2)
    backend = TransformersBackend(model_obj=model, tokenizer=tokenizer, batch_size=4)
    summary = non_reasoning.run(non_reasoning.NonReasoningConfig(
        input=str(prompts), output=str(tmp_path / "out"), sampling=SamplingConfig(n=1, max_tokens=4)),
        backend=backend)
    assert summary.extra["routes"] == {"direct": 3}
    assert summary.inputs == 3 and summary.kept + sum(summary.dropped.values()) == 3
