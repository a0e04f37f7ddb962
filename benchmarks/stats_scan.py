"""`r1data stats` on N records: the polars lazy scan of r1data's own files against reading the
same file row by row through r1data.io (the path every other layout takes, and what stats did
for every input before). Each side runs in its own process; peak anonymous memory is sampled
from /proc (the input file's mapped pages are page cache, reported apart).

    python benchmarks/stats_scan.py --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIDE = r'''
import json, sys, threading, time
peak = {"RssAnon": 0, "RssFile": 0}
done = False
def poll():
    while not done:
        with open("/proc/self/status") as fh:
            for line in fh:
                key = line.split(":")[0]
                if key in peak:
                    peak[key] = max(peak[key], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=poll, daemon=True).start()
from r1data import stats
from r1data.io import read_records
side, path = sys.argv[1], sys.argv[2]
start = time.perf_counter()
out = stats.file_stats(path) if side == "scan" else stats.summarize(stats.frame(read_records(path)))
seconds = time.perf_counter() - start
done = True
print(json.dumps({"side": side, "seconds": seconds, "rows": out["rows"], "anon_mb": peak["RssAnon"] / 1024,
                  "file_mb": peak["RssFile"] / 1024, "figures": {k: out[k] for k in ("domains", "completion_tokens")}}))
'''


def make(path: Path, rows: int) -> None:
    from r1data.record import Record

    domains = ["math", "code", "science", "chat", "writing"]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(rows):
            a, b = i % 97, i % 89
            prompt = Record.from_prompt(f"Question {i}: what is {a} times {b}?", id=f"q{i}",
                                        domain=domains[i % 5], source=f"src{i % 7}")
            record = prompt.with_completion(
                f"<think>\n{a} times {b} is {a * b}.\n</think>\n\nThe answer is {a * b}.", sample_index=0,
                prompt_tokens=10 + i % 30, completion_tokens=20 + i % 500,
                finish_reason="length" if i % 50 == 0 else "stop")
            fh.write(json.dumps(record.to_dict(), ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.jsonl"
        started = time.perf_counter()
        make(path, args.rows)
        print(f"{args.rows:,} records, {path.stat().st_size / 1e6:.0f} MB, written in "
              f"{time.perf_counter() - started:.0f} s")
        results = {}
        for side in ("scan", "rows"):
            done = subprocess.run([sys.executable, "-c", SIDE, side, str(path)], capture_output=True,
                                  text=True, check=True)
            results[side] = json.loads(done.stdout.strip().splitlines()[-1])
            r = results[side]
            print(f"{side:5s} {r['seconds']:7.1f} s  peak anonymous {r['anon_mb']:6.0f} MB  "
                  f"(input pages mapped {r['file_mb']:.0f} MB)")
        assert results["scan"]["figures"] == results["rows"]["figures"], "the two paths disagree"
        print(f"scan vs rows: {results['rows']['seconds'] / results['scan']['seconds']:.1f}x faster, "
              f"{results['rows']['anon_mb'] / results['scan']['anon_mb']:.1f}x less anonymous memory")


if __name__ == "__main__":
    main()
