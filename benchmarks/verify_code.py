"""Code verification throughput: every HumanEval (164) and MBPP (974) canonical solution, through
the sandbox with full isolation, against a plain subprocess per program.

    python benchmarks/verify_code.py [--workers 4] [--rounds 2] [--isolation auto] [--json out.json]

What is compared, at the same worker count (threads that each wait on one program at a time):
- r1data: `verify_code_many` on the solutions as a model would answer (a fenced block after a
  think block), with the strongest isolation here (bubblewrap, else the unshare fallback): the
  asserts split so that a trusted comparer decides, forked children of one fork server per
  worker, rlimits, private /tmp, cleanup after each program. Servers start cold at the start of
  each round, and their start-up is counted.
- plain: `python -I -c PROGRAM` per program, with the same interpreter as the sandbox, the same
  timeout, no isolation and no limits, the whole test code appended (HumanEval: the test module
  and `check(entry_point)`; MBPP: program, setup code, asserts): what a minimal pipeline does.
Both must pass all 1138 programs. Rounds alternate plain and sandbox, so that load from other
work on the machine hits both alike; the table shows the median of `--rounds` (at least 3) with
the min-max of the per-round ratios. Also printed: the share of
asserts that were checked outside the candidate's process (split mode).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from table_row import emit

TIMEOUT = 30.0


def plain_run(program: str) -> bool:
    from r1data.verifiers.sandbox import sandbox_python

    try:  # the same interpreter and flags as the sandbox, so only isolation differs
        return subprocess.run([sandbox_python(), "-I", "-c", program], capture_output=True,
                              timeout=TIMEOUT).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def programs() -> tuple[list[dict], list[str], list[str]]:
    """(verify_code jobs, plain programs, benchmark of each)."""
    from r1data import benchmark_sets

    jobs, plain, names = [], [], []
    for item in benchmark_sets.load("humaneval"):
        code = item["prompt"] + item["canonical_solution"]
        jobs.append({"completion": f"<think>\nsolve\n</think>\n\n```python\n{code}\n```",
                     "tests": item["gold"]})
        plain.append(code + "\n" + item["gold"]["test"] + f"\ncheck({item['entry_point']})\n")
        names.append("humaneval")
    for item in benchmark_sets.load("mbpp"):
        code = item["canonical_solution"]
        jobs.append({"completion": f"<think>\nsolve\n</think>\n\n```python\n{code}\n```",
                     "tests": item["gold"], "setup": item.get("setup", "")})
        plain.append("\n".join([code, item.get("setup", ""), *item["gold"]]) + "\n")
        names.append("mbpp")
    return jobs, plain, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="4")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each side (median, min-max)")
    parser.add_argument("--isolation", default="auto", choices=("auto", "bwrap", "unshare"),
                        help="auto: the strongest here (what verification uses)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from r1data.verifiers import code as code_module
    from r1data.verifiers.code import verify_code_many
    from r1data.verifiers.sandbox import detect_isolation

    jobs, plain, names = programs()
    n = len(jobs)
    isolation = detect_isolation() if args.isolation == "auto" else args.isolation
    print(f"programs: {names.count('humaneval')} HumanEval + {names.count('mbpp')} MBPP canonical "
          f"solutions; sandbox isolation: {isolation}")
    report = {"programs": n, "isolation": isolation, "runs": []}
    for workers in [int(w) for w in args.workers.split(",")]:
        plain_s, sandbox_s = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            with ThreadPoolExecutor(workers) as pool:
                plain_ok = list(pool.map(plain_run, plain))
            plain_s.append(time.perf_counter() - start)
            for sandbox in code_module._sandboxes.values():  # cold fork servers each round
                sandbox.close()
            start = time.perf_counter()
            verdicts = verify_code_many(jobs, workers=workers, timeout=TIMEOUT, isolation=isolation)
            sandbox_s.append(time.perf_counter() - start)
        ratios = sorted(p / s for p, s in zip(plain_s, sandbox_s))  # per round, side by side
        share = {}
        for bench in ("humaneval", "mbpp"):
            picked = [v for v, b in zip(verdicts, names) if b == bench]
            outside = sum(v.details.get("asserts_outside", 0) for v in picked)
            total = sum(v.details.get("asserts", 0) for v in picked)
            share[bench] = {"outside": outside, "asserts": total, "share": round(outside / total, 4),
                            "passed": sum(v.correct is True for v in picked), "programs": len(picked)}
        run = {"workers": workers, "sandbox_programs_per_s": round(n / statistics.median(sandbox_s), 1),
               "plain_programs_per_s": round(n / statistics.median(plain_s), 1),
               "passed": sum(v.correct is True for v in verdicts), "plain_passed": sum(plain_ok),
               "ratio": round(statistics.median(ratios), 2),
               "ratio_range": [round(ratios[0], 2), round(ratios[-1], 2)], "split": share}
        report["runs"].append(run)
        print(f"workers {workers}: sandbox {run['sandbox_programs_per_s']:6.1f} programs/s "
              f"({run['passed']}/{n} pass) | plain subprocess {run['plain_programs_per_s']:6.1f} "
              f"programs/s ({run['plain_passed']}/{n} pass) | sandbox/plain throughput "
              f"{run['ratio']}x ({run['ratio_range'][0]}-{run['ratio_range'][1]}), medians of "
              f"{args.rounds} rounds")
        failed = [i for i, v in enumerate(verdicts) if v.correct is not True]
        plain_failed = [i for i, ok in enumerate(plain_ok) if not ok]
        if failed or plain_failed:  # all must pass: say which did not (a timeout under load?)
            print(f"  failed: sandbox {failed[:10]}, plain {plain_failed[:10]} (program indices)")
        for bench, figures in share.items():
            print(f"  {bench}: {figures['passed']}/{figures['programs']} pass; asserts checked "
                  f"outside the candidate: {figures['outside']}/{figures['asserts']} "
                  f"({100 * figures['share']:.1f}%)")
    run = report["runs"][-1]
    outside = sum(f["outside"] for f in run["split"].values())
    total = sum(f["asserts"] for f in run["split"].values())
    emit(f"code sandbox, {n} HumanEval + MBPP canonical solutions ({run['passed']} pass)",
         f"{run['sandbox_programs_per_s']} programs/s ({isolation}, {run['workers']} workers, "
         f"{100 * outside / total:.1f}% of asserts checked outside the candidate)",
         f"plain subprocess {run['plain_programs_per_s']} programs/s",
         f"{run['ratio']:.2f}x ({run['ratio_range'][0]:.2f}-{run['ratio_range'][1]:.2f}), median of "
         f"{args.rounds}", ">= 1.0x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
