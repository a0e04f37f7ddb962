"""Code verification throughput: HumanEval's 164 canonical solutions through the sandbox.

    python benchmarks/verify_code.py [--workers 1,4] [--json out.json]

For each worker count, the 164 canonical solutions (prompt + canonical_solution, in a fenced
block after a think block, as a model would answer) go through `verify_code_many`. Printed:
programs/s and the pass count (must be 164/164), and, side by side in the same run, the same
programs in a plain `python -c` subprocess with a timeout and no isolation (what a minimal
pipeline does): the ratio is what isolation, limits and the anti-cheat harness cost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from table_row import emit


def plain_run(program: str) -> bool:
    from r1data.verifiers.sandbox import sandbox_python

    try:  # the same interpreter and flags as the sandbox, so only isolation differs
        return subprocess.run([sandbox_python(), "-I", "-c", program], capture_output=True,
                              timeout=10).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,4")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from r1data import benchmarks
    from r1data.verifiers.code import verify_code_many
    from r1data.verifiers.sandbox import detect_isolation

    items = benchmarks.load("humaneval")
    jobs = [{"completion": "<think>\nsolve\n</think>\n\n```python\n" + item["prompt"]
             + item["canonical_solution"] + "\n```", "tests": item["gold"]} for item in items]
    plain = [item["prompt"] + item["canonical_solution"] + "\n" + item["gold"]["test"]
             + f"\ncheck({item['entry_point']})\n" for item in items]
    print(f"HumanEval canonical solutions: {len(items)}; sandbox isolation: {detect_isolation()}")
    report = {"programs": len(items), "isolation": detect_isolation(), "runs": []}
    for workers in [int(w) for w in args.workers.split(",")]:
        start = time.perf_counter()
        verdicts = verify_code_many(jobs, workers=workers)
        sandbox_s = time.perf_counter() - start
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            plain_ok = list(pool.map(plain_run, plain))
        plain_s = time.perf_counter() - start
        passed = sum(v.correct is True for v in verdicts)
        run = {"workers": workers, "sandbox_programs_per_s": round(len(items) / sandbox_s, 1),
               "plain_programs_per_s": round(len(items) / plain_s, 1), "passed": passed,
               "plain_passed": sum(plain_ok), "sandbox_cost": round(sandbox_s / plain_s, 2)}
        report["runs"].append(run)
        print(f"workers {workers}: sandbox {run['sandbox_programs_per_s']:6.1f} programs/s "
              f"({passed}/{len(items)} pass) | plain subprocess {run['plain_programs_per_s']:6.1f} "
              f"programs/s ({sum(plain_ok)} pass) | sandbox/plain time {run['sandbox_cost']}x")
    run = report["runs"][-1]
    emit(f"code sandbox, {len(items)} HumanEval canonical solutions ({run['passed']} pass)",
         f"{run['sandbox_programs_per_s']} programs/s ({report['isolation']}, {run['workers']} workers)",
         f"plain subprocess {run['plain_programs_per_s']} programs/s",
         f"{1 / run['sandbox_cost']:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
