"""Rerun every benchmark, one after the other (never in parallel: they time themselves), with
the settings whose figures are in the README's performance table, and write what each printed to
benchmarks/RESULTS.md together with the machine it ran on.

    python benchmarks/run_all.py            # or: make benchmarks
    python benchmarks/run_all.py verify_math sft   # a subset

Each benchmark measures r1data and its named baseline in the same run and prints the ratio.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = {
    "generate": ["--prompts", "8", "--batch-size", "8", "--max-tokens", "48"],
    "verify_math": ["--problems", "500", "--samples", "8"],
    "verify_code": ["--workers", "1,4"],
    "language_consistency": ["--samples", "60"],
    "filter_chain": ["--sizes", "400,1600", "--workers", "2"],
    "sft": ["--epochs", "2", "--repeat", "1", "--layers", "2", "--hidden", "128", "--seq-len", "512"],
    "grpo": ["--model", "tiny", "--steps", "2", "--prompts", "2", "--g", "4", "--max-tokens", "16"],
}


def machine() -> str:
    import torch

    return (f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f} at start")


def main(names: list[str]) -> None:
    names = names or list(BENCHMARKS)
    parts = [f"# Benchmark results\n\nMachine: {machine()}\n"]
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
                     f"```\n{output[-6000:]}\n```\n")
    (HERE / "RESULTS.md").write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main(sys.argv[1:])
