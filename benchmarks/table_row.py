"""The README's performance table is rebuilt from what the benchmarks measured: each benchmark
prints its headline figures as one `ROW {json}` line per table row, and run_all.py collects them.
"""

from __future__ import annotations

import json

PREFIX = "ROW "


def emit(what: str, r1data: str, baseline: str, ratio: str, goal: str = "-") -> None:
    """Print one table row: what was measured, r1data's figure, the baseline's, their ratio, the goal."""
    row = {"what": what, "r1data": r1data, "baseline": baseline, "ratio": ratio, "goal": goal}
    print(PREFIX + json.dumps(row, ensure_ascii=False), flush=True)


def parse(output: str) -> list[dict]:
    """The rows a benchmark printed, in order."""
    return [json.loads(line[len(PREFIX):]) for line in output.splitlines() if line.startswith(PREFIX)]
