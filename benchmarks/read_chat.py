"""Reading cost of the reading layer: chat rows from Parquet into records, side by side with
`datasets.load_dataset` + `.map` doing the same split.

    python benchmarks/read_chat.py --rows 200000 --words 2000 --work /tmp/read_chat
    python benchmarks/read_chat.py --rows 20000                 # a smaller size, same protocol

A synthetic corpus is written straight to one Parquet file (row groups of 1,000 rows, never held
in memory): `messages` = [user question, assistant turn `<think>\\n{~words words}\\n</think>\\n\\n
{answer}`], the layout of an R1-style SFT set on the Hub. Then, on the same file:

- r1data: `r1data.io.read_records(path)`, the path every command takes: pyarrow batches ->
  layout detection -> a complete `Record` per row (prompt, reasoning, answer, stable content id,
  prompt id, both views of the conversation);
- baseline: what a user of `datasets` writes for the same result, configured as its
  documentation advises for speed:
    * `datasets.load_dataset("parquet", data_files=PATH, split="train", cache_dir=FRESH)`: the
      Parquet file is converted to `datasets`' memory-mapped Arrow cache (a cost every
      `load_dataset` user pays once per file; the cache dir is fresh so nothing is reused);
    * `.map(split, batched=True, batch_size=1000, input_columns=["messages"],
      num_proc=WORKERS or None, load_from_cache_file=False)`: batched (one Python call per 1,000
      rows), reading only the column it needs, as many processes as r1data's reader uses
      (`--workers`, default 1: `read_records` is one process), recomputed rather than served from
      a previous run's cache;
    * the split function calls the same `r1data.schemas.split_markers` on the final assistant
      turn, so both sides do the same text work and the comparison is of the reading machinery.
- Both sides count the rows that came out with a chain of thought (must equal --rows).
- The page cache is warmed by reading the file once before either side runs; the sides run
  one after the other in this process, `--repeat` times each in alternating order (best kept).

Printed: rows/s of each side, the baseline's load and map parts, and the ratio (r1data /
baseline; the issue's goal is at least 1.0x). Timings depend on load: the figures in the
README say under which conditions they were taken.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

from table_row import emit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ("the", "sum", "of", "two", "numbers", "is", "then", "we", "check", "each", "term",
         "carefully", "so", "that", "value", "equals", "twice", "first", "second", "result",
         "wait", "let", "me", "verify", "again", "because", "square", "root", "factor", "prime")


def write_corpus(path: Path, rows: int, words: int, seed: int = 0) -> int:
    """`rows` chat rows of about `words` words of reasoning each; returns the file size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    # a pool of reasoning texts, each row's made unique by its own first sentence: drawing
    # 400M random words for 200K rows would take longer than the measurement
    pool = [" ".join(rng.choice(WORDS) for _ in range(words)) for _ in range(64)]
    schema = pa.schema([("messages", pa.list_(pa.struct([("role", pa.string()),
                                                          ("content", pa.string())])))])
    path.parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 1000):
            batch = []
            for i in range(start, min(rows, start + 1000)):
                thought = f"Row {i} asks for {i} plus {i}. " + pool[rng.randrange(len(pool))]
                batch.append({"messages": [
                    {"role": "user", "content": f"Question {i}: what is {i} plus {i}?"},
                    {"role": "assistant",
                     "content": f"<think>\n{thought}\n</think>\n\nThe answer is {2 * i}."}]})
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return path.stat().st_size


def read_r1data(path: Path) -> tuple[float, int, int]:
    """(seconds, records, records with a chain of thought) through the reading layer."""
    from r1data import io

    start = time.perf_counter()
    rows = with_cot = 0
    for record in io.read_records(path):
        rows += 1
        with_cot += record.reasoning is not None
    return time.perf_counter() - start, rows, with_cot


def _split(messages_batch: list) -> dict:
    """The baseline's map function: prompt / reasoning / answer of each row's final turn."""
    from r1data.schemas import split_markers

    prompts, reasonings, answers = [], [], []
    for messages in messages_batch:
        final = next(m["content"] for m in reversed(messages) if m["role"] == "assistant")
        prompts.append(next(m["content"] for m in reversed(messages) if m["role"] == "user"))
        reasoning, answer = split_markers(final)
        reasonings.append(reasoning)
        answers.append(answer)
    return {"prompt": prompts, "reasoning": reasonings, "answer": answers}


def read_datasets(path: Path, cache: Path, workers: int) -> tuple[float, float, int, int]:
    """(load seconds, map seconds, rows, rows with a chain of thought) with `datasets`."""
    import datasets

    shutil.rmtree(cache, ignore_errors=True)
    start = time.perf_counter()
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train", cache_dir=str(cache))
    loaded = time.perf_counter()
    out = ds.map(_split, batched=True, batch_size=1000, input_columns=["messages"],
                 num_proc=workers if workers > 1 else None, load_from_cache_file=False)
    done = time.perf_counter()
    column = out.data.column("reasoning")
    return loaded - start, done - loaded, len(out), len(out) - column.null_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--words", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="num_proc of the baseline's map")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/r1data-read-chat"))
    args = parser.parse_args()

    import datasets

    datasets.disable_progress_bars()
    path = args.work / f"chat-{args.rows}x{args.words}.parquet"
    if not path.exists():
        print(f"writing {args.rows:,} rows of ~{args.words:,} words to {path} ...", flush=True)
        write_corpus(path, args.rows, args.words)
    size_mb = path.stat().st_size / 1e6
    with open(path, "rb") as fh:  # warm the page cache for both sides
        while fh.read(1 << 24):
            pass

    ours, theirs = [], []
    for attempt in range(args.repeat):
        sides = ["r1data", "datasets"] if attempt % 2 == 0 else ["datasets", "r1data"]
        for side in sides:  # the order alternates between repeats: neither always goes first
            if side == "r1data":
                seconds, rows, cot = read_r1data(path)
                assert rows == cot == args.rows, (rows, cot)
                ours.append(seconds)
            else:
                load_s, map_s, rows, cot = read_datasets(path, args.work / "hf-cache", args.workers)
                assert rows == cot == args.rows, (rows, cot)
                theirs.append((load_s + map_s, load_s, map_s))
    shutil.rmtree(args.work / "hf-cache", ignore_errors=True)
    best_ours = min(ours)
    best_theirs, load_s, map_s = min(theirs)
    ratio = best_theirs / best_ours
    print(f"file: {path.name}, {size_mb:,.0f} MB Parquet")
    print(f"r1data read_records:            {args.rows / best_ours:10,.0f} rows/s ({best_ours:.1f} s)")
    print(f"datasets load_dataset + map:    {args.rows / best_theirs:10,.0f} rows/s ({best_theirs:.1f} s:"
          f" load {load_s:.1f} s, map {map_s:.1f} s, num_proc {args.workers})")
    print(f"ratio (r1data / baseline):      {ratio:.2f}x")
    emit(f"read {args.rows:,} chat rows (~{args.words:,} words) from Parquet into records",
         f"{args.rows / best_ours:,.0f} rows/s", f"{args.rows / best_theirs:,.0f} rows/s",
         f"{ratio:.2f}x", ">= 1.0x")


if __name__ == "__main__":
    main()
