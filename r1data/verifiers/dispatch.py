"""Route records to their verifier, and verify many records across processes.

`verify_record(record)` is what the pipelines, evaluation and GRPO call: it picks the verifier
from the record's gold and domain (`route`) and returns its `Verdict`, with the verifier's name
in `details["verifier"]`:
- metadata "choices" (or a letter gold outside math)  -> verify_choice
- gold a list of asserts, of {input, output}, or a HumanEval / {inputs, outputs} dict -> verify_code
  (metadata "code_language" picks the language, "setup" is MBPP's setup code)
- gold a string                                       -> verify_math
- no gold                                             -> undecided, reason "no_gold"

`verify_many` spreads records over a process pool (spawned processes: forking a process that
holds threads and sympy workers is unsafe). Each process keeps its own sympy workers and sandbox;
records go out in order and come back in order, so the output is deterministic.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

from rich.table import Table

from r1data.io import RejectLog, ShardWriter, read_records, shard_files, write_json
from r1data.record import Record, assistant_content
from r1data.record import accept_plain as reshape
from r1data.verifiers import verify_choice, verify_code, verify_math
from r1data.verifiers.verdict import Verdict

NO_GOLD = "no_gold"
_LETTER_GOLD = re.compile(r"^\(?[A-J]\)?$")


@dataclass
class VerifyOptions:
    """math_timeout: seconds for one sympy check. code_timeout: wall seconds for one program's
    tests. code_memory_mb: memory limit of a program. partial_code_credit: score = tests passed /
    total instead of 0/1. allow_unsafe_code: run code even when no sandbox isolation exists."""

    math_timeout: float = 5.0
    code_timeout: float = 10.0
    code_memory_mb: int = 1024
    partial_code_credit: bool = False
    allow_unsafe_code: bool = False

    def __post_init__(self) -> None:
        if self.math_timeout <= 0 or self.code_timeout <= 0:
            raise ValueError("timeouts must be positive")


def _is_code_gold(gold: Any) -> bool:
    if isinstance(gold, dict):
        return ("test" in gold and "entry_point" in gold) or ("inputs" in gold and "outputs" in gold) \
            or "asserts" in gold
    if isinstance(gold, list) and gold:
        # a list of texts is tests only if they assert: ["17", "17.0"] lists acceptable answers
        return all(isinstance(t, str) and "assert" in t for t in gold) or all(
            isinstance(t, dict) and "input" in t and "output" in t for t in gold)
    return False


def route(gold: Any, domain: str | None = None, metadata: dict | None = None) -> str | None:
    """'choice', 'code', 'math', or None (no gold / a gold no verifier reads).

    >>> route("\\\\frac{1}{2}"), route(["assert f(1) == 2"]), route("C", "science")
    ('math', 'code', 'choice')
    """
    metadata = metadata or {}
    if gold is None or gold == "" or gold == []:
        return None
    if metadata.get("choices"):
        return "choice"
    if _is_code_gold(gold):
        return "code"
    if isinstance(gold, (str, int, float)) and not isinstance(gold, bool):
        if (domain or "math") != "math" and _LETTER_GOLD.match(str(gold).strip()):
            return "choice"
        return "math"
    if isinstance(gold, list) and gold and all(isinstance(g, str) for g in gold):
        return "math"  # acceptable answers (verl's Skywork-OR1 ground truths): any one will do
    return None


def verify_answer(completion: str, gold: Any, *, domain: str | None = None,
                  metadata: dict | None = None, options: VerifyOptions | None = None) -> Verdict:
    """Verify one completion against one gold, routed as `route` says."""
    options = options or VerifyOptions()
    metadata = metadata or {}
    kind = route(gold, domain, metadata)
    if kind is None:
        verdict = Verdict.undecided(NO_GOLD)
    elif kind == "choice":
        verdict = verify_choice(completion, gold, metadata.get("choices"))
    elif kind == "code":
        verdict = verify_code(completion, gold, language=metadata.get("code_language", "python"),
                              timeout=options.code_timeout, setup=metadata.get("setup") or "",
                              partial=options.partial_code_credit, memory_mb=options.code_memory_mb,
                              allow_unsafe=options.allow_unsafe_code)
    else:
        golds = gold if isinstance(gold, list) else [gold]
        for one in golds:  # the first acceptable answer it equals, else the last verdict
            verdict = verify_math(completion, str(one), timeout=options.math_timeout)
            if verdict.correct:
                break
    verdict.details["verifier"] = kind or "none"
    return verdict


def completion_of(record: Record) -> str:
    """The record's answer as the model wrote it: the last assistant turn, or the reasoning and
    answer fields put back together."""
    return record.completion or assistant_content(record.reasoning, record.answer)


def verify_record(record: Record, options: VerifyOptions | None = None) -> Verdict:
    """The verdict on a record's completion (see the module docstring for the routing)."""
    return verify_answer(completion_of(record), record.gold, domain=record.domain,
                         metadata=record.metadata, options=options)


def verdict_entry(verdict: Verdict) -> dict[str, Any]:
    """What goes into `Record.verdicts`: the verdict's fields plus the verifier's name."""
    return {**verdict.to_dict(), "verifier": verdict.details.get("verifier", "none")}


def _verdict(record: Record, options: VerifyOptions) -> Verdict:
    try:
        return verify_record(record, options)
    except ValueError as exc:  # a gold the verifier rejects (malformed tests): say so, go on
        return Verdict.undecided("bad_gold", error=str(exc)[:300])


def _verify_dict(args: tuple[dict[str, Any], VerifyOptions]) -> dict[str, Any]:
    data, options = args
    return verdict_entry(_verdict(Record.from_dict(data), options))


def verify_batch(batch: list[Record], options: VerifyOptions | None = None) -> list[Verdict]:
    """Verdicts for a batch, in order, each routed by `route`: code records run concurrently on
    threads (each only waits on its own sandboxed child, so threads are enough), the rest one by
    one. The one entry point for the stages, `r1data verify` and evaluation."""
    options = options or VerifyOptions()
    verdicts: list[Verdict | None] = [None] * len(batch)
    code = [i for i, r in enumerate(batch) if route(r.gold, r.domain, r.metadata) == "code"]
    if len(code) > 1:
        with ThreadPoolExecutor(min(len(code), code_workers())) as pool:
            for i, verdict in zip(code, pool.map(lambda i: _verdict(batch[i], options), code)):
                verdicts[i] = verdict
    return [v if v is not None else _verdict(r, options) for r, v in zip(batch, verdicts)]


def _verify_batch(batch: list[Record], options: VerifyOptions) -> list[dict[str, Any]]:
    return [verdict_entry(v) for v in verify_batch(batch, options)]


def code_workers() -> int:
    """Programs verified at once: twice the cores (a run mostly waits on its child)."""
    return 2 * (os.cpu_count() or 1)


def verify_records(records: list[Record], options: VerifyOptions | None = None) -> list[Record]:
    """Append each record's verdict entry to its `verdicts`, code records concurrently."""
    for record, entry in zip(records, _verify_batch(records, options or VerifyOptions())):
        record.verdicts = [*record.verdicts, entry]
    return records


def verify_many(records: Iterable[Record], *, workers: int = 1,
                options: VerifyOptions | None = None) -> Iterator[tuple[Record, dict[str, Any]]]:
    """(record, verdict entry) for each record, in input order; `workers` > 1 uses processes,
    and code records run concurrently on threads either way."""
    options = options or VerifyOptions()
    if workers <= 1:
        iterator = iter(records)
        while batch := list(islice(iterator, 64)):
            yield from zip(batch, _verify_batch(batch, options))
        return

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        iterator = iter(records)
        while batch := list(islice(iterator, 64 * workers)):  # bounded memory on big inputs
            entries = pool.map(_verify_dict, [(r.to_dict(), options) for r in batch], chunksize=4)
            yield from zip(batch, entries)


# -- a whole file: `r1data verify` ------------------------------------------------------------

SUMMARY_FILE = "verify_summary.json"


def summarize(records: Iterable[Record]) -> dict[str, Any]:
    """Counts per (source, domain) from each record's last verdict: n, correct, wrong, timeouts,
    undecided (no gold, unparseable gold, judge/sandbox errors) and the reasons seen."""
    groups: dict[str, dict[str, Any]] = {}
    for record in records:
        entry = record.verdicts[-1] if record.verdicts else {"correct": None, "reason": "unverified"}
        key = f"{record.source or '-'} / {record.domain or '-'}"
        g = groups.setdefault(key, {"n": 0, "correct": 0, "wrong": 0, "timeout": 0,
                                    "undecided": 0, "reasons": {}})
        g["n"] += 1
        reason = entry.get("reason", "")
        g["reasons"][reason] = g["reasons"].get(reason, 0) + 1
        if reason == "timeout":
            g["timeout"] += 1
        if entry.get("correct") is True:
            g["correct"] += 1
        elif entry.get("correct") is False:
            g["wrong"] += 1
        else:
            g["undecided"] += 1
    for g in groups.values():
        decided = g["correct"] + g["wrong"]
        g["correct_rate"] = round(g["correct"] / decided, 4) if decided else None
    total = {k: sum(g[k] for g in groups.values())
             for k in ("n", "correct", "wrong", "timeout", "undecided")}
    decided = total["correct"] + total["wrong"]
    total["correct_rate"] = round(total["correct"] / decided, 4) if decided else None
    return {"groups": dict(sorted(groups.items())), "total": total}


def summary_table(summary: dict[str, Any], title: str = "r1data verify"):
    """A rich table of `summarize`'s figures."""
    table = Table(title=title)
    for name in ("source / domain", "n", "correct", "wrong", "correct rate", "timeouts",
                 "undecided", "top reasons"):
        table.add_column(name, justify="left" if name in ("source / domain", "top reasons") else "right")

    def row(name: str, g: dict[str, Any], reasons: str) -> None:
        rate = "-" if g["correct_rate"] is None else f"{100 * g['correct_rate']:.1f}%"
        table.add_row(name, str(g["n"]), str(g["correct"]), str(g["wrong"]), rate,
                      str(g["timeout"]), str(g["undecided"]), reasons)

    for name, g in summary["groups"].items():
        top = sorted(g["reasons"].items(), key=lambda kv: -kv[1])[:3]
        row(name, g, ", ".join(f"{r} {c}" for r, c in top))
    row("total", summary["total"], "")
    return table


def verify_file(input: Any, output: Any, *, workers: int = 1, options: VerifyOptions | None = None,
                fmt: str = "jsonl", on_record: Any = None, accept_plain: bool = False,
                read_options: Any = None) -> dict[str, Any]:
    """Verify every record of `input` into the folder `output` (resumable: records already
    there are skipped), append each verdict to `Record.verdicts`, and write the summary to
    OUTPUT/verify_summary.json. Unreadable rows go to OUTPUT/rejected/unreadable.jsonl.
    `accept_plain`: first give plain step-by-step answers (no think block) R1's form, reasoning +
    summary, as the stages' `accept_plain` does (for small teachers that never write think tags).
    `read_options`: how `input` is laid out (`schemas.ReadOptions`, the command's --columns)."""
    output = Path(output)
    with RejectLog(output / "rejected" / "unreadable.jsonl") as rejects, \
            ShardWriter(output, fmt=fmt) as writer:
        resumed = len(writer.done_ids)
        todo = (r for r in read_records(input, rejects, read_options) if r.id not in writer)
        if accept_plain:
            todo = (r for r in todo if reshape(r) or True)
        for record, entry in verify_many(todo, workers=workers, options=options):
            record.verdicts = [*record.verdicts, entry]
            writer.write(record)
            if on_record:
                on_record(record)
        written, unreadable = writer.written, rejects.count
    summary = summarize(read_records(output) if shard_files(output) else [])
    summary.update(written=written, resumed=resumed, unreadable=unreadable)
    write_json(output / SUMMARY_FILE, summary)
    return summary
