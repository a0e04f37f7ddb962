"""Rerun every benchmark, one after the other (never in parallel: they time themselves), and
rebuild the README's performance table from the figures they print.

    python benchmarks/run_all.py                    # or: make benchmarks
    python benchmarks/run_all.py verify_math sft    # a subset: only their rows are replaced

Each benchmark measures r1data and its named baseline in the same run and prints the ratio, plus
one `ROW {json}` line per table row (benchmarks/table_row.py). This script writes everything each
benchmark printed to benchmarks/RESULTS.md, and rewrites the table between the README's
`performance-table` markers: every row with the command that produced it and the machine it ran on.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from table_row import parse

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"
BENCHMARKS = {
    "generate": ["--prompts", "8", "--batch-size", "8", "--max-tokens", "48", "--repeats", "3"],
    "verify_math": ["--repeat", "3"],
    "verify_code": ["--workers", "1,4", "--rounds", "3"],
    "language_consistency": ["--samples", "60"],
    # 10K, 50K and 200K samples (memory from 10K to 200K, the slope to 800K from the two largest);
    # the datatrove side on 2,000
    "filter_chain": ["--sizes", "2000,10000,50000,200000", "--workers", "2", "--baseline-up-to", "2000",
                     "--profile"],
    # SmolLM2-135M on both sides, checkpointing off on both, 3 runs of each side
    "sft": ["--steps", "20", "--repeat", "3"],
    # rollout: vllm, rollout: transformers, TRL with and without its colocated vLLM mode
    "grpo": ["--steps", "5", "--repeat", "3", "--sides", "r1data-vllm,r1data,trl-vllm,trl"],
}
COLUMNS = ("what", "r1data", "baseline", "ratio", "goal", "command")


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"load average {os.getloadavg()[0]:.1f} at start")


def table(rows: list[dict], where: str) -> str:
    lines = [f"Measured on: {where}.", "", "| " + " | ".join(COLUMNS) + " |",
             "|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(str(row[c]).replace("|", "\\|") for c in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def update_readme(rows: list[dict], where: str, ran: list[str]) -> None:
    """Replace the table between the markers; rows of benchmarks not rerun are kept as they were."""
    text = README.read_text(encoding="utf-8")
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), text, re.S)
    if not match:
        sys.exit(f"README.md has no {START} ... {END} block to rewrite")
    kept = [json.loads(m) for m in re.findall(r"<!-- row (\{.*?\}) -->", match.group(1))]
    kept = [row for row in kept if row["benchmark"] not in ran]
    old_where = re.search(r"Measured on: (.*?)\.\n", match.group(1))
    if kept and old_where and old_where.group(1) != where:
        where = f"{where} (rows not rerun this time: {old_where.group(1)})"
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    rows = sorted(kept + rows, key=lambda row: order[row["benchmark"]])
    # Each row also keeps its raw JSON in a comment, so that a partial rerun can keep the others.
    body = table(rows, where) + "\n" + "\n".join(f"<!-- row {json.dumps(row, ensure_ascii=False)} -->" for row in rows)
    README.write_text(text[:match.start()] + f"{START}\n{body}\n{END}" + text[match.end():], encoding="utf-8")


def write_results(parts: list[str], ran: list[str]) -> None:
    """RESULTS.md: this run's sections, then the sections of benchmarks not rerun this time, kept
    as they were (a subset run must not erase the others' evidence)."""
    path = HERE / "RESULTS.md"
    if path.exists():
        old = re.split(r"(?m)^(?=## )", path.read_text(encoding="utf-8"))
        parts += [section.rstrip() + "\n" for section in old[1:]
                  if section.split(None, 2)[1] not in ran]
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    parts[1:] = sorted(parts[1:], key=lambda section: order.get(section.split(None, 2)[1], len(order)))
    path.write_text("\n".join(parts), encoding="utf-8")


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    names = names or list(BENCHMARKS)
    where = machine()
    parts, rows, failed = [f"# Benchmark results\n\nMachine: {where} (benchmarks not rerun "
                           "this time keep their sections from the run before)\n"], [], []
    for name in names:
        command = [sys.executable, str(HERE / f"{name}.py"), *BENCHMARKS[name]]
        shown = " ".join(["python", f"benchmarks/{name}.py", *BENCHMARKS[name]])
        print(f"== {shown}", flush=True)
        started = time.time()
        result = subprocess.run(command, capture_output=True, text=True)
        seconds = time.time() - started
        output = (result.stdout + ("\n" + result.stderr if result.returncode else "")).strip()
        print(output[-4000:], flush=True)
        parts.append(f"## {name}\n\n`{shown}` (exit {result.returncode}, {seconds:.0f} s)\n\n"
                     f"```\n{output[-30000:]}\n```\n")  # all of it: verify_math lists every disagreement
        if result.returncode:
            failed.append(name)
            continue
        rows += [{**row, "command": f"`{shown}`", "benchmark": name} for row in parse(result.stdout)]
    write_results(parts, names)
    update_readme(rows, where, [name for name in names if name not in failed])
    print(f"wrote {HERE / 'RESULTS.md'} and the performance table of {README}")
    if failed:
        sys.exit(f"failed: {', '.join(failed)} (their README rows were left as they were)")


if __name__ == "__main__":
    main(sys.argv[1:])
