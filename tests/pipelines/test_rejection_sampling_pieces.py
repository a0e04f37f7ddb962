"""Rejection sampling's own logic on real records: majority-vote pseudo-labels, pass rates,
the difficulty filter, and the budget extrapolation of --plan (a run on the tiny model)."""

import pytest

from r1data.pipelines.rejection_sampling import (RejectionSamplingConfig, budget, label_and_verify,
                                                 majority, plan)
from r1data.pipelines.summary import StageSummary
from r1data.record import META_PASS_RATE, META_PSEUDO_LABEL, Record


def _samples(answers, gold=None):
    prompt = Record.from_prompt("What is 6 x 7?", id="p", gold=gold, domain="math")
    return [prompt.with_completion(f"<think>\nmultiply\n</think>\n\nThe answer is \\boxed{{{a}}}.",
                                   sample_index=i, finish_reason="stop") for i, a in enumerate(answers)]


def _config(**kw):
    return RejectionSamplingConfig(input="x", **kw)


def test_majority_vote_labels_a_prompt_without_gold():
    answer, share, votes = majority(_samples(["42", "42", "41", "42"]))
    assert (answer, share, votes) == ("42", 0.75, 3)
    drops = []
    kept, row = label_and_verify(_samples(["42", "42", "41", "42"]), _config(),
                                 lambda r, why: drops.append(why))
    assert not drops and len(kept) == 4
    assert all(r.metadata[META_PSEUDO_LABEL] == {"answer": "42", "vote_share": 0.75, "votes": 3}
               for r in kept)
    assert [r.verdicts[-1]["correct"] for r in kept] == [True, True, False, True]
    assert row["pass_rate"] == 0.75 and row["pseudo_label"] == "42"
    assert all(r.metadata[META_PASS_RATE] == 0.75 for r in kept)


def test_split_vote_is_no_consensus():
    drops = []
    kept, row = label_and_verify(_samples(["1", "2", "3", "3"]), _config(min_vote_share=0.6),
                                 lambda r, why: drops.append(why))
    assert kept == [] and drops == ["no_consensus"] * 4 and row["pass_rate"] is None


def test_gold_prompts_and_the_difficulty_filter():
    drops = []
    kept, row = label_and_verify(_samples(["42", "42"], gold="42"), _config(drop_solved_by_all=True),
                                 lambda r, why: drops.append(why))
    assert kept == [] and drops == ["solved_by_all"] * 2 and row["pass_rate"] == 1.0
    kept, row = label_and_verify(_samples(["41", "42"], gold="42"), _config(drop_solved_by_all=True),
                                 lambda r, why: drops.append(why))
    assert len(kept) == 2 and row["correct"] == 1 and META_PSEUDO_LABEL not in kept[0].metadata
    errored = _samples(["42", "42"], gold="42")
    errored[0].finish_reason = "error"
    drops.clear()
    kept, row = label_and_verify(errored, _config(), lambda r, why: drops.append(why))
    assert drops == ["generation_error"] and row["samples"] == 1


def test_budget_extrapolates_the_pilot():
    pilot = StageSummary("rejection_sampling", kept=10, extra={
        "prompts": 5, "sample_pass_rate": 0.4, "pass_rate_mean": 0.4,
        "generation": {"samples_written": 80, "tokens_out": 80_000, "truncation_rate": 0.0,
                       "samples_per_second": 2.0, "tokens_per_second": 2000.0}})
    figures = budget(pilot, _config(target_samples=600_000, sampling={"n": 16}))
    assert figures["kept_per_prompt"] == 2.0 and figures["tokens_per_sample"] == 1000
    assert figures["prompts_needed"] == 300_000 and figures["samples_needed"] == 4_800_000
    assert figures["tokens_needed"] == 4_800_000_000
    assert figures["hours"] == pytest.approx(4_800_000 / 2.0 / 3600)


def test_plan_runs_a_pilot(tmp_path):
    import json

    from r1data import models
    from r1data.backends.transformers import TransformersBackend

    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
                               for i in range(5)))
    model, tokenizer = models.tiny_model()
    backend = TransformersBackend("tiny", model_obj=model, tokenizer=tokenizer, batch_size=8)
    config = RejectionSamplingConfig(input=str(prompts), output=str(tmp_path / "rs"), pilot_prompts=2,
                                     sampling={"n": 2, "max_tokens": 8, "temperature": 1.0},
                                     filters={"minhash": None})
    figures = plan(config, backend=backend)
    assert figures["pilot_prompts"] == 2 and figures["pilot_samples"] == 4
    assert figures["samples_per_second"] > 0 and figures["tokens_per_sample"] > 0
    assert json.loads((tmp_path / "rs" / "plan.json").read_text()) == figures
    if figures["kept_per_prompt"] == 0:  # a random model keeps nothing: no extrapolation then
        assert figures["prompts_needed"] is None and figures["hours"] is None


def test_plain_answers_are_verified_in_r1_form_only_when_accepted():
    def group():
        prompt = Record.from_prompt("What is 6 x 7?", id="p", gold="42", domain="math")
        return [prompt.with_completion(text, sample_index=i, finish_reason=finish)
                for i, (text, finish) in enumerate([("6 x 7 is 42.\n\nThe answer is 42.", "stop"),
                                                    ("6 x 7 is 42.\n\nThe answer is", "length"),
                                                    ("Multiply them.\n\nSo 6 x 7 = 41", "stop")])]

    kept, row = label_and_verify(group(), _config(accept_plain=True), lambda r, why: None)
    assert kept[0].reasoning == "6 x 7 is 42." and kept[0].answer == "The answer is 42."
    assert kept[0].completion.startswith("<think>\n6 x 7 is 42.\n</think>\n\n")
    assert kept[1].reasoning is None  # a truncated answer is never split
    assert [r.verdicts[-1]["correct"] for r in kept] == [True, False, False] and row["correct"] == 1
    plain, _ = label_and_verify(group(), _config(), lambda r, why: None)
    assert all(r.reasoning is None for r in plain)  # off by default: R1 keeps only its own form


def test_majority_groups_equivalent_answers_like_eval():
    """"0.5", "\\frac12" and "1/2" are one answer: the same vote as eval's cons@k."""
    answer, share, votes = majority(_samples(["0.5", "\\frac{1}{2}", "0.25", "1/2", "0.25"]))
    assert answer == "0.5" and votes == 3 and share == 3 / 5


def test_code_samples_are_verified_in_the_sandbox():
    prompt = Record.from_prompt("Write f(x) = 2x.", id="c", gold=["assert f(2) == 4", "assert f(0) == 0"],
                                domain="code")
    bodies = ["return 2 * x", "return x + 2", "return x * 2", "return 4"]
    samples = [prompt.with_completion(f"<think>\ndouble\n</think>\n\n```python\ndef f(x):\n    {b}\n```",
                                      sample_index=i, finish_reason="stop") for i, b in enumerate(bodies)]
    kept, row = label_and_verify(samples, _config(domain="code"), lambda r, why: None)
    assert [r.verdicts[-1]["correct"] for r in kept] == [True, False, True, False]
    assert row["pass_rate"] == 0.5
