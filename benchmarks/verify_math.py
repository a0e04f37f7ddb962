"""Math verification throughput and agreement: r1data's `verify_math` vs plain math-verify.

    python benchmarks/verify_math.py [--problems 500] [--samples 8] [--json out.json]

The pairs imitate rejection sampling: for each MATH-500 problem, `--samples` completions (a think
block, then a boxed answer). Half give the gold in another equivalent form (the verbatim gold,
spacing changes, `x = gold`, a decimal for a fraction, thousands separators, `\\dfrac`, a
degree mark...), half a wrong answer (gold + 1 for numbers, another problem's gold otherwise).
As in real sampling, the same answer text recurs among a problem's samples.

Both sides run single-threaded in this process on the same pairs, caches cleared first:
- baseline: `math_verify.parse("$gold$")`, `parse(completion)`, `verify(gold, pred)` for every
  pair, with math-verify's default (signal-based) timeouts;
- r1data: `verify_math(completion, gold)`: extraction, normalised-string/number fast path, cached
  sympy verdicts in a worker process (started before timing).

Printed: pairs/s of each, the ratio, the share decided by the fast path, and agreement (pairs
where both say correct or both say not; disagreements are listed, as r1data's text-answer rule
and extraction differ from math-verify's on purpose).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import re
import time
from fractions import Fraction
from pathlib import Path

from table_row import emit

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "math500.jsonl"


def equivalent_forms(gold: str) -> list[str]:
    """Other ways to write `gold` that mean the same."""
    forms = [gold, f" {gold} ", f"x = {gold}" if "=" not in gold and "," not in gold else gold]
    if re.fullmatch(r"-?\d+", gold):
        n = int(gold)
        forms += [f"{n:,}" if abs(n) >= 1000 else f"{gold}.0", f"{gold}^\\circ"]
    frac = re.fullmatch(r"(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}", gold)
    if frac:
        value = Fraction(int(frac.group(2)), int(frac.group(3))) * (-1 if frac.group(1) else 1)
        forms += [f"{frac.group(1)}{frac.group(2)}/{frac.group(3)}",
                  gold.replace("\\frac", "\\dfrac")]
        if value.denominator in (1, 2, 4, 5, 8, 10, 20, 25, 40, 50, 100):
            forms.append(str(float(value)))
    return forms


def wrong_answer(gold: str, other: str) -> str:
    if re.fullmatch(r"-?\d+", gold):
        return str(int(gold) + 1)
    return other if other != gold else gold + "+1"


def build_pairs(problems: int, samples: int, seed: int = 0) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in SHARED.read_text(encoding="utf-8").splitlines()][:problems]
    rng = random.Random(seed)
    pairs = []
    for row in rows:
        gold = row["answer"]
        forms = equivalent_forms(gold)
        for i in range(samples):
            if i % 2 == 0:
                answer = rng.choice(forms)
            else:
                answer = wrong_answer(gold, rng.choice(rows)["answer"])
            completion = f"<think>\nLet me work through this.\n</think>\n\nThe answer is $\\boxed{{{answer}}}$."
            pairs.append((completion, gold))
    return pairs


def run_baseline(pairs):
    from math_verify import parse, verify

    results = []
    start = time.perf_counter()
    for completion, gold in pairs:
        try:
            results.append(bool(verify(parse(f"${gold}$"), parse(completion))))
        except Exception:  # noqa: BLE001: a crash counts as "not correct", as in practice
            results.append(False)
    return results, time.perf_counter() - start


def run_r1data(pairs):
    from r1data.verifiers import math as vm

    vm._compare_cached.cache_clear()
    vm._slow_cached.cache_clear()
    vm.verify_math("\\boxed{\\sqrt{2}}", "\\sqrt{3}")  # start the sympy worker outside the timing
    vm._slow_cached.cache_clear()
    results, paths = [], {"fast": 0, "sympy": 0, "none": 0}
    start = time.perf_counter()
    for completion, gold in pairs:
        verdict = vm.verify_math(completion, gold)
        results.append(verdict.correct is True)
        paths[verdict.details.get("path", "none")] += 1
    return results, time.perf_counter() - start, paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    pairs = build_pairs(args.problems, args.samples)
    ours, ours_s, paths = run_r1data(pairs)
    base, base_s = run_baseline(pairs)
    agree = sum(a == b for a, b in zip(ours, base))
    report = {
        "pairs": len(pairs),
        "baseline_pairs_per_s": round(len(pairs) / base_s, 1),
        "r1data_pairs_per_s": round(len(pairs) / ours_s, 1),
        "speedup": round(base_s / ours_s, 2),
        "agreement": round(agree / len(pairs), 4),
        "r1data_correct": sum(ours), "baseline_correct": sum(base),
        "decided_by": paths,
    }
    print(f"pairs: {len(pairs)} ({args.problems} problems x {args.samples} samples)")
    print(f"math-verify parse+verify: {base_s:8.2f} s  {report['baseline_pairs_per_s']:8.1f} pairs/s")
    print(f"r1data verify_math:       {ours_s:8.2f} s  {report['r1data_pairs_per_s']:8.1f} pairs/s")
    print(f"speed ratio r1data/baseline: {report['speedup']}x   decided by: {paths}")
    print(f"agreement: {100 * report['agreement']:.2f}%  (correct: r1data {sum(ours)}, "
          f"math-verify {sum(base)})")
    for (completion, gold), a, b in list(zip(pairs, ours, base)):
        if a != b:
            answer = completion.split("boxed{", 1)[1].rsplit("}$", 1)[0]
            print(f"  differ: gold {gold!r} answer {answer!r}: r1data {a}, math-verify {b}")
    emit(f"math verification, {len(pairs):,} MATH-500 (prediction, gold) pairs",
         f"{report['r1data_pairs_per_s']} pairs/s",
         f"`math_verify.parse`+`verify` {report['baseline_pairs_per_s']} pairs/s",
         f"**{report['speedup']}x**, {100 * report['agreement']:.2f}% agreement", ">= 5x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
