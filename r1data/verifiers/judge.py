"""A generative judge for answers no rule can check (R1 section 2.3.3: DeepSeek-V3 judged the
samples without rule-based verification, given the reference and the prediction).

`judge(backend, items)` asks any generation backend (transformers, an OpenAI-compatible server,
vLLM) to compare each prediction with its reference and returns `Verdict`s. The judge sees only
the final answer (the think block is removed), as R1 judged helpfulness on the summary. It must
end with a line `VERDICT: CORRECT` or `VERDICT: INCORRECT`; a reply with neither (or both) is
`unparseable_judgement` with correct=None, never a pass. The judge's own reasoning is kept in
`details["judgement"]`, so a rejected sample can be audited.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from r1data.backends.base import SamplingConfig
from r1data.record import split_completion
from r1data.verifiers.verdict import Verdict

JUDGE_SYSTEM = "You are a careful grader. You compare a prediction with a reference answer."
JUDGE_TEMPLATE = """Decide whether the PREDICTION answers the QUESTION as correctly as the REFERENCE.
Judge meaning, not wording: equivalent forms, extra explanation and different phrasing are fine;
a different result, a missing part of the answer or a contradiction is not.

QUESTION:
{question}

REFERENCE:
{reference}

PREDICTION:
{prediction}

Explain briefly, then end with exactly one line: "VERDICT: CORRECT" or "VERDICT: INCORRECT"."""

_VERDICT = re.compile(r"VERDICT\s*:\s*\**\s*(CORRECT|INCORRECT)\b", re.IGNORECASE)
MAX_PREDICTION_CHARS = 8000  # the judge reads the answer, not a 30K-token chain of thought


def judge_messages(question: str, reference: str, prediction: str) -> list[dict[str, str]]:
    """The chat the judge model answers, with the prediction's think block removed."""
    _, answer = split_completion(prediction)
    answer = answer[:MAX_PREDICTION_CHARS]
    return [{"role": "system", "content": JUDGE_SYSTEM},
            {"role": "user", "content": JUDGE_TEMPLATE.format(
                question=question.strip(), reference=str(reference).strip(),
                prediction=answer.strip() or "(empty)")}]


def parse_judgement(text: str) -> Verdict:
    """The verdict in a judge's reply: its last VERDICT line decides.

    >>> parse_judgement("Same value.\\nVERDICT: CORRECT").correct
    True
    >>> parse_judgement("I am not sure.").reason
    'unparseable_judgement'
    """
    found = _VERDICT.findall(text or "")
    if not found:
        return Verdict.undecided("unparseable_judgement", judgement=(text or "")[-2000:])
    correct = found[-1].upper() == "CORRECT"
    details = {"judgement": text[-2000:]}
    return Verdict.ok(**details) if correct else Verdict.wrong("judged_incorrect", **details)


def judge(backend: Any, items: Sequence[dict[str, str]], *, max_tokens: int = 1024,
          temperature: float = 0.0) -> list[Verdict]:
    """Verdicts for `items` ({"question", "reference", "prediction"}) from `backend` (an
    `r1data.backends.base.Backend`). A backend error gives an undecided `judge_error` verdict."""
    sampling = SamplingConfig(n=1, temperature=max(temperature, 0.0), top_p=1.0,
                              max_tokens=max_tokens)
    prompts = [judge_messages(i["question"], i["reference"], i["prediction"]) for i in items]
    outputs = backend.generate(prompts, sampling)
    verdicts = []
    for completions in outputs:
        completion = completions[0]
        if completion.finish_reason == "error":
            verdicts.append(Verdict.undecided("judge_error", error=completion.error))
        else:
            verdicts.append(parse_judgement(completion.text))
    return verdicts
