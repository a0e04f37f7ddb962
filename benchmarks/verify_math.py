"""Math verification on real completions: r1data's `verify_math` against plain math-verify.

    python benchmarks/verify_math.py [--repeat 3] [--limit N]
    python benchmarks/verify_math.py --from-eval EVAL_DIR [EVAL_DIR ...]   # rebuild the pairs

The pairs are real: the embedded SmolLM2-135M's own `r1data eval` completions on MATH-500 and
GSM8K with their golds (benchmarks/data/math_completions.jsonl.gz, rebuilt with `--from-eval`
from the eval folders; the command that generated them is in the file's first line), plus the
hand-labelled hard cases of tests/verifiers/cases/math_hard.yaml (boxed, fractions, intervals,
sets, units, percent, multiple boxes, tuples, matrices, equations, text answers).

Fairness rules, point by point:
1. Same pairs, same order, both sides single-threaded in this process, one after the other.
2. The baseline is math-verify as its README documents it: `verify(parse(gold), parse(completion))`
   with its default extraction configs and timeouts.
3. The gold is parsed once on both sides: the baseline keeps `parse(gold)` per distinct gold,
   parsed inside the timed loop the first time it is met; r1data's worker caches its parsed
   golds the same way.
4. Each side's caches start empty in every repetition: r1data's verdict caches are cleared and its
   sympy worker restarted. Set-up is outside the timing on both sides: the worker's start and
   math-verify's lazy first-call set-up in it, math-verify's import and its first call in the
   baseline (one unrelated pair each). Within a repetition r1data reuses the verdict of a repeated
   (gold, answer) pair: that is its design, and the same holds in real rejection sampling.
5. Each side runs `--repeat` times (at least 3); the table shows the median pairs/s with min-max.
6. Agreement is three-way: correct / incorrect / undecided on each side. math-verify's undecided
   is an unparseable gold, a timeout or an exception; r1data's is `correct=None`. Every
   disagreement is listed with its verdict on who is right, from
   benchmarks/data/math_disagreements.yaml (judged by hand, by reading the completion and gold;
   "unjudged" when a new one appears) or from the hard case's own label.

Goals: >= 5x math-verify's pairs/s; no disagreement where math-verify is right.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

from table_row import emit

ROOT = Path(__file__).resolve().parents[1]
PAIRS = ROOT / "benchmarks" / "data" / "math_completions.jsonl.gz"
JUDGED = ROOT / "benchmarks" / "data" / "math_disagreements.yaml"
HARD = ROOT / "tests" / "verifiers" / "cases" / "math_hard.yaml"
OUTCOMES = ("correct", "incorrect", "undecided")


def pair_key(completion: str, gold: str) -> str:
    return hashlib.sha1(f"{gold}\x00{completion}".encode()).hexdigest()[:12]


# -- the pairs -----------------------------------------------------------------------------------


def build_pairs_file(eval_dirs: list[Path], command: str) -> None:
    """Collect every (completion, gold) that `r1data eval` generated into PAIRS. Reads the
    generation shards (finished or in progress), so that a time-boxed eval run still counts."""
    from r1data.record import Record

    rows = []
    for folder in eval_dirs:
        for shard in sorted((folder / "generations").glob("*/*.jsonl")):
            for line in shard.read_text(encoding="utf-8").splitlines():
                record = Record.from_dict(json.loads(line))
                rows.append({"source": shard.parent.name, "id": record.id, "gold": record.gold,
                             "completion": record.completion})
    PAIRS.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(PAIRS, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"generated_by": command, "pairs": len(rows)}) + "\n")
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    print(f"wrote {len(rows)} pairs to {PAIRS}")


def load_pairs(limit: int | None) -> tuple[list[dict], str]:
    with gzip.open(PAIRS, "rt", encoding="utf-8") as fh:
        header = json.loads(fh.readline())
        real = [json.loads(line) for line in fh]
    real = real[:limit] if limit else real
    hard = []
    for case in yaml.safe_load(HARD.read_text(encoding="utf-8")):
        completion = case.get("completion") or f"<think>\nworking\n</think>\n\n\\boxed{{{case['pred']}}}"
        hard.append({"source": "hard:" + case["kind"], "gold": case["gold"], "completion": completion,
                     "label": case["correct"]})
    return real + hard, header["generated_by"]


# -- the two sides -------------------------------------------------------------------------------


def run_baseline(pairs: list[dict]) -> tuple[list[str], float, list[str]]:
    from math_verify import parse, verify

    verify(parse("$x(x+2)$"), parse("\\boxed{x^2 + 2x}"))  # its lazy set-up, outside the timing
    golds: dict[str, list] = {}
    outcomes, answers = [], []
    start = time.perf_counter()
    for pair in pairs:
        try:
            gold = golds.get(pair["gold"])
            if gold is None:
                gold = golds[pair["gold"]] = parse(f"${pair['gold']}$")
            pred = parse(pair["completion"])
            answers.append(str(pred[1]) if len(pred) > 1 else (str(pred[0]) if pred else ""))
            if not gold:
                outcomes.append("undecided")
            else:
                outcomes.append("correct" if verify(gold, pred) else "incorrect")
        except Exception:  # noqa: BLE001: a timeout or a crash is math-verify not deciding
            answers.append("")
            outcomes.append("undecided")
    return outcomes, time.perf_counter() - start, answers


def run_r1data(pairs: list[dict]) -> tuple[list[str], float, Counter, list[str]]:
    from r1data.verifiers import math as vm

    vm.shutdown()  # a fresh worker: its parse caches start empty, as the baseline's do
    vm._compare_cached.cache_clear()
    vm._slow_cached.cache_clear()
    # start the worker and let math-verify build its parsers outside the timing (a pair the
    # fast path leaves to sympy), as the baseline does below
    assert vm.verify_math("\\boxed{x^2 + 2x}", "x(x+2)").details["path"] == "sympy"
    vm._compare_cached.cache_clear()
    vm._slow_cached.cache_clear()
    outcomes, answers, paths = [], [], Counter()
    start = time.perf_counter()
    for pair in pairs:
        verdict = vm.verify_math(pair["completion"], pair["gold"])
        outcomes.append({True: "correct", False: "incorrect", None: "undecided"}[verdict.correct])
        answers.append(verdict.extracted or "")
        paths[verdict.details.get("path", "extraction")] += 1
    return outcomes, time.perf_counter() - start, paths, answers


# -- report --------------------------------------------------------------------------------------


def who_is_right(pair: dict, ours: str, theirs: str, judged: dict) -> str:
    if "label" in pair:  # a hand-labelled hard case
        if pair["label"] == "either":
            return "either (ambiguous)"
        truth = "correct" if pair["label"] else "incorrect"
        return "r1data" if ours == truth else "math-verify" if theirs == truth else "neither"
    entry = judged.get(pair_key(pair["completion"], pair["gold"]))
    return f"{entry['right']} ({entry['why']})" if entry else "unjudged"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N real pairs")
    parser.add_argument("--from-eval", type=Path, nargs="+", default=None)
    parser.add_argument("--eval-command", default="", help="with --from-eval: the eval command run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.from_eval:
        build_pairs_file(args.from_eval, args.eval_command or "r1data eval (command not given)")
        return
    logging.disable(logging.WARNING)
    pairs, generated_by = load_pairs(args.limit)
    real = sum("label" not in p for p in pairs)
    subsets = {"real": pairs[:real], "hard": pairs[real:]}
    ours_s, base_s = [], []
    split = {"real": ([], []), "hard": ([], [])}
    for _ in range(args.repeat):  # alternate, so that a change in the machine's load hits both
        ours, our_answers, base, their_answers = [], [], [], []
        o_total = b_total = 0.0
        for name, subset in subsets.items():
            o, o_s, paths, a = run_r1data(subset)
            b, b_s, t = run_baseline(subset)
            ours += o
            our_answers += a
            base += b
            their_answers += t
            split[name][0].append(o_s)
            split[name][1].append(b_s)
            o_total, b_total = o_total + o_s, b_total + b_s
        ours_s.append(o_total)
        base_s.append(b_total)
    rate = lambda s: len(pairs) / s  # noqa: E731
    ours_rate, base_rate = rate(statistics.median(ours_s)), rate(statistics.median(base_s))
    ratio = statistics.median(base_s) / statistics.median(ours_s)
    ratios = [b / o for b, o in zip(base_s, ours_s)]
    print(f"pairs: {len(pairs)} ({real} real completions: {dict(Counter(p['source'] for p in pairs if 'label' not in p))}; "
          f"{len(pairs) - real} hand-labelled hard cases)\nreal completions made by: {generated_by}")
    print(f"math-verify: median {base_rate:8.1f} pairs/s (runs: {', '.join(f'{s:.2f}' for s in base_s)} s)")
    print(f"r1data:      median {ours_rate:8.1f} pairs/s (runs: {', '.join(f'{s:.2f}' for s in ours_s)} s)")
    print(f"ratio r1data/math-verify: {ratio:.2f}x (per run {min(ratios):.2f}-{max(ratios):.2f})")
    for name, (o_s, b_s) in split.items():
        if subsets[name]:
            print(f"  {name:5s} {len(subsets[name]):5d} pairs: r1data {len(subsets[name]) / statistics.median(o_s):8.1f} "
                  f"pairs/s, math-verify {len(subsets[name]) / statistics.median(b_s):8.1f} pairs/s, "
                  f"ratio {statistics.median(b_s) / statistics.median(o_s):.2f}x")
    print(f"decided by (last subset run): {dict(paths)}")

    matrix = Counter(zip(ours, base))
    print("\nthree-way agreement (rows r1data, columns math-verify):")
    print(f"{'':>12}" + "".join(f"{o:>12}" for o in OUTCOMES))
    for o in OUTCOMES:
        print(f"{o:>12}" + "".join(f"{matrix[(o, t)]:>12}" for t in OUTCOMES))
    agree = sum(a == b for a, b in zip(ours, base))
    judged = {e["key"]: e for e in (yaml.safe_load(JUDGED.read_text(encoding="utf-8")) or [])} \
        if JUDGED.exists() else {}
    verdicts = Counter()
    print(f"\nagreement {agree}/{len(pairs)} ({100 * agree / len(pairs):.2f}%); every disagreement:")
    for pair, a, b, ans, their in zip(pairs, ours, base, our_answers, their_answers):
        if a == b:
            continue
        right = who_is_right(pair, a, b, judged)
        verdicts[right.split(" ")[0]] += 1
        print(f"  [{pair['source']}] key {pair_key(pair['completion'], pair['gold'])} gold {pair['gold']!r}: "
              f"r1data {a} ({ans[:60]!r}), math-verify {b} ({their[:60]!r}) -> right: {right}")
    print(f"who is right in the disagreements: {dict(verdicts)}")
    mv_right = verdicts["math-verify"]
    emit(f"math verification, {len(pairs):,} pairs ({real:,} real SmolLM2-135M completions on MATH-500 + "
         f"GSM8K, {len(pairs) - real} hand-labelled hard cases), median of {args.repeat}",
         f"{ours_rate:.0f} pairs/s", f"`math_verify` parse+verify, gold parsed once: {base_rate:.0f} pairs/s",
         f"**{ratio:.2f}x** ({min(ratios):.2f}-{max(ratios):.2f}); {100 * agree / len(pairs):.2f}% three-way "
         f"agreement, {len(pairs) - agree} disagreements, math-verify right in {mv_right}"
         + (f", **{verdicts['unjudged']} not yet judged**" if verdicts["unjudged"] else ""),
         ">= 5x, math-verify right in 0")
    if args.json:
        args.json.write_text(json.dumps({"pairs": len(pairs), "ratio": ratio, "ours_s": ours_s,
                                         "base_s": base_s, "agreement": agree,
                                         "who_is_right": dict(verdicts)}, indent=2))


if __name__ == "__main__":
    main()
