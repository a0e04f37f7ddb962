"""The figures of an evaluation, as pure functions of verdicts: pass@1 with its standard error
over questions, unbiased pass@k, the cons@k vote by answer equivalence, per-benchmark aggregates,
and the comparison of two results files (difference, its standard error, z). Nothing here
generates, verifies or reads files; `r1data.evaluate` (the package docstring) defines each figure.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from r1data.verifiers.math import normalize, verify_math


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased estimate of the chance that at least one of k samples is correct,
    given c correct out of n: 1 - C(n-c, k) / C(n, k), computed as a product (no huge binomials).

    >>> pass_at_k(4, 1, 1)
    0.25
    >>> round(pass_at_k(4, 2, 2), 4)  # 1 - C(2,2)/C(4,2) = 1 - 1/6
    0.8333
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and its standard error sqrt(s^2 / Q), s^2 with Q - 1; stderr None for Q < 2.

    >>> mean_and_stderr([1.0, 0.0, 0.5, 0.5])
    (0.5, 0.2041241452319315)
    """
    q = len(values)
    if q == 0:
        return 0.0, None
    mean = sum(values) / q
    if q < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (q - 1)
    return mean, math.sqrt(var / q)


def majority_vote(answers: Sequence[str | None], same: Any = None) -> tuple[int | None, int]:
    """(index of the winning group's first sample, votes) of a vote over extracted answers.

    `same(a, b)` says whether two answers are equivalent (default: equal strings). Groups are
    formed in sample order, each answer joining the first group whose first answer it equals; the
    largest group wins, a tie goes to the group formed first. None answers do not vote; when no
    answer voted the result is (None, 0).

    >>> majority_vote(["3", "4", "4", "3"])  # tie: "3" came first
    (0, 2)
    >>> majority_vote([None, "5", "4", "4"])
    (2, 2)
    """
    same = same or (lambda a, b: a == b)
    groups: list[list[int]] = []  # sample indices, the first is the group's representative
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if same(answers[group[0]], answer):
                group.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None, 0
    best = max(groups, key=len)  # max keeps the first of equal lengths: the earliest group
    return best[0], len(best)


def math_equivalent(a: str, b: str, timeout: float = 10.0) -> bool:
    """Do two extracted math answers name the same value? Normalised strings first, then the math
    verifier with `a` as the reference (the same check that judges correctness).

    >>> math_equivalent("0.5", "\\\\frac{1}{2}")
    True
    """
    if normalize(a) == normalize(b):
        return True
    return verify_math(f"\\boxed{{{b}}}", a, timeout=timeout).correct is True


def question_metrics(samples: Sequence[dict[str, Any]], ks: Iterable[int], kind: str,
                     timeout: float = 10.0) -> dict[str, Any]:
    """Per-question figures from its samples (dicts with `correct` and `extracted`, in sample
    order): pass_at_1, pass_at_k {k: value}, and the vote (None for code)."""
    n = len(samples)
    c = sum(s["correct"] is True for s in samples)
    out: dict[str, Any] = {
        "n": n, "correct": c, "pass_at_1": c / n if n else 0.0,
        "pass_at_k": {str(k): pass_at_k(n, c, k) for k in ks if k <= n},
    }
    if kind == "code":
        out["vote"] = None
        return out
    same = (lambda a, b: math_equivalent(a, b, timeout)) if kind == "math" else None
    winner, votes = majority_vote([s["extracted"] for s in samples], same)
    out["vote"] = {
        "answer": samples[winner]["extracted"] if winner is not None else None,
        "votes": votes, "sample": winner,
        "correct": winner is not None and samples[winner]["correct"] is True,
    }
    return out


def benchmark_metrics(questions: Sequence[dict[str, Any]], ks: Iterable[int], kind: str) -> dict[str, Any]:
    """Benchmark figures from the details rows of its questions (see `question_metrics`)."""
    samples = [s for q in questions for s in q["samples"]]
    pass1, stderr = mean_and_stderr([q["pass_at_1"] for q in questions])
    ks = [k for k in ks if questions and all(len(q["samples"]) >= k for q in questions)]
    tokens = [s["completion_tokens"] for s in samples if s.get("completion_tokens") is not None]
    count = len(samples) or 1
    return {
        "questions": len(questions),
        "samples_per_question": len(questions[0]["samples"]) if questions else 0,
        "pass_at_1": pass1,
        "pass_at_1_stderr": stderr,
        "pass_at_k": {str(k): sum(q["pass_at_k"][str(k)] for q in questions) / len(questions)
                      for k in ks},
        "cons_at_k": None if kind == "code" or not questions else
        sum(q["vote"]["correct"] for q in questions) / len(questions),
        "truncation_rate": sum(s["finish_reason"] == "length" for s in samples) / count,
        "mean_tokens": sum(tokens) / len(tokens) if tokens else None,
        "errors": sum(s["finish_reason"] == "error" for s in samples),
        "undecided": sum(s["correct"] is None for s in samples),
        "no_answer": sum(s["extracted"] is None for s in samples),
    }


# -- comparing two results ----------------------------------------------------------------------

METRICS = ("pass_at_1", "cons_at_k", "truncation_rate", "mean_tokens", "questions")


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Row per (benchmark, metric) present in both results: a, b, diff = b - a, and for pass@1
    the standard error of the difference sqrt(se_a^2 + se_b^2) (independent runs), z = diff / se
    and `exceeds_se` (|diff| > se). Other metrics have no standard error (None)."""
    rows = []
    for name in [n for n in a["benchmarks"] if n in b["benchmarks"]]:
        ma, mb = a["benchmarks"][name], b["benchmarks"][name]
        keys = list(METRICS) + [f"pass_at_k/{k}" for k in ma.get("pass_at_k", {})
                                if k in mb.get("pass_at_k", {}) and k != "1"]
        for key in keys:
            va, vb = _metric(ma, key), _metric(mb, key)
            if va is None or vb is None:
                continue
            row = {"benchmark": name, "metric": key, "a": va, "b": vb, "diff": vb - va,
                   "se": None, "z": None, "exceeds_se": None}
            if key == "pass_at_1" and ma.get("pass_at_1_stderr") is not None \
                    and mb.get("pass_at_1_stderr") is not None:
                se = math.hypot(ma["pass_at_1_stderr"], mb["pass_at_1_stderr"])
                row["se"] = se
                row["z"] = (vb - va) / se if se > 0 else None
                row["exceeds_se"] = abs(vb - va) > se
            rows.append(row)
    return rows


def _metric(metrics: dict[str, Any], key: str) -> float | None:
    if key.startswith("pass_at_k/"):
        return metrics.get("pass_at_k", {}).get(key.split("/", 1)[1])
    return metrics.get(key)
