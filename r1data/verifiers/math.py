"""Math answers: extract the final answer of a completion and decide whether it equals the gold.

    verify_math(completion, gold, timeout=5.0) -> Verdict

This module owns the order of the stages and the verdict; each stage lives in its own module:

1. `math_extract.extract_math_answer`: the final answer after the think block (last `\\boxed{}`,
   `<answer>`, "the answer is ..."). Nothing found is `no_answer`.
2. `math_normalize.fast_compare`: text answers as normalised text; equal normalised strings,
   plain numbers as exact fractions, and a small LaTeX subset evaluated at two points, in pure
   Python. Most rejection-sampling answers are decided here without sympy.
3. `math_pool`: math-verify (sympy) in a worker process with our own deadline (`timeout`).

Verdicts of (gold, answer) pairs are cached per process, so n samples with the same answer cost
one check, and the gold is parsed once per worker. A gold answer that math-verify cannot parse
is `gold_unparseable` (correct=None), never correct.
"""

from __future__ import annotations

from functools import lru_cache

from r1data.verifiers.math_extract import extract_math_answer
from r1data.verifiers.math_normalize import fast_compare, is_textual, normalize, text_key
from r1data.verifiers.math_pool import WorkerTimeout, get_pool, shutdown
from r1data.verifiers.verdict import (
    GOLD_UNPARSEABLE, NO_ANSWER, TIMEOUT, WRONG_ANSWER, Verdict,
)


@lru_cache(maxsize=65536)
def _compare_cached(gold: str, pred: str) -> tuple[str, bool]:
    """(status, equal) where status is 'ok', 'gold_unparseable' or 'error'. Timeouts raise, so
    they are not cached: a later call with a longer limit may still decide."""
    textual = is_textual(gold)
    if textual:
        return "ok", text_key(gold) == text_key(pred)
    fast = fast_compare(gold, pred)
    if fast is not None:
        return "ok", fast
    raise LookupError  # not decided here: the caller asks the worker with its own deadline


@lru_cache(maxsize=65536)
def _slow_cached(gold: str, pred: str, _timeout_key: float) -> tuple[str, bool]:
    reply = get_pool().ask(gold, pred, _timeout_key)
    if "error" in reply:
        return "error", False
    if not reply["gold_ok"]:
        return GOLD_UNPARSEABLE, False
    return "ok", reply["equal"]


def verify_math(completion: str, gold: str, *, timeout: float = 5.0) -> Verdict:
    """Is the final answer of `completion` equal to `gold` (a bare answer string)?

    Reasons: ok, wrong_answer, no_answer, timeout, gold_unparseable (correct=None), error
    (the checker itself failed; correct=None). `details["path"]` says which stage decided.
    `timeout` bounds the sympy check; a thread with no warm worker also waits once for one to
    start (about a second, outside the limit, so that a cold start is never a false timeout).

    >>> verify_math("<think>2+2</think>\\n\\nThe answer is \\\\boxed{4}.", "4").reason
    'ok'
    >>> verify_math("\\\\boxed{0.5}", "\\\\frac{1}{2}").correct
    True
    """
    gold = "" if gold is None else str(gold).strip()
    extracted = extract_math_answer(completion)
    if not gold or not gold.strip("$ "):
        return Verdict.undecided(GOLD_UNPARSEABLE, extracted)
    if extracted is None or not extracted.strip():
        return Verdict.wrong(NO_ANSWER, None)
    try:
        status, equal = _compare_cached(gold, extracted)
        path = "fast"
    except LookupError:
        try:
            status, equal = _slow_cached(gold, extracted, float(timeout))
        except WorkerTimeout:
            return Verdict.undecided(TIMEOUT, extracted, path="sympy")
        except (RuntimeError, OSError) as exc:
            return Verdict.undecided("error", extracted, path="sympy", error=str(exc))
        path = "sympy"
    if status == GOLD_UNPARSEABLE:
        return Verdict.undecided(GOLD_UNPARSEABLE, extracted, path=path)
    if status == "error":
        return Verdict.wrong(WRONG_ANSWER, extracted, path=path, note="answer_unparseable")
    return (Verdict.ok(extracted, path=path) if equal
            else Verdict.wrong(WRONG_ANSWER, extracted, path=path))


__all__ = ["verify_math", "extract_math_answer", "normalize", "shutdown"]
