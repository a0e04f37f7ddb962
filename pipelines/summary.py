"""The one summary every stage returns, and the output-folder layout every stage shares.

A stage writes to an output folder laid out like a filter's:

    OUT/kept/part-*.jsonl      what the stage produced (the next stage's input)
    OUT/dropped/part-*.jsonl   what it discarded, each with `metadata["drop_reason"]`
    OUT/stats.json             this summary (counts, drop reasons, wall time, the config)

and returns a `StageSummary`, so that one table can show a whole pipeline run and the dataset card
of `publish` can say how the corpus was built by following the `inputs` of each stats.json.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress
from rich.table import Table

from r1data.io import ShardWriter, write_json
from r1data.record import META_DROP_FILTER, META_DROP_REASON, Record

KEPT = "kept"
DROPPED = "dropped"
STATS = "stats.json"


@dataclass
class StageSummary:
    """What a stage did.

    stage: the stage name (`cold_start`, `rejection_sampling`, ...).
    inputs: how many rows came in (prompts for generating stages, records otherwise).
    kept: how many records the stage wrote to its output.
    dropped: records discarded, per snake_case reason.
    seconds: wall time.
    output: the output folder.
    config: the stage's config as plain data (the recipe that produced this output).
    extra: stage-specific figures (pass rates, the mix plan, the pilot budget, ...).
    """

    stage: str
    inputs: int = 0
    kept: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    output: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StageSummary":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def write(self, folder: str | Path) -> Path:
        path = Path(folder) / STATS
        write_json(path, self.to_dict())
        return path


def read_summary(folder: str | Path) -> StageSummary | None:
    """The summary a stage left in `folder`, or None when there is none (a plain data file)."""
    path = Path(folder) / STATS
    if not Path(folder).is_dir() or not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None
    return StageSummary.from_dict(data) if isinstance(data, dict) and "stage" in data else None


def lineage(folder: str | Path) -> list[StageSummary]:
    """The summaries of every stage that led to `folder`, earliest first (following each
    summary's `extra["inputs"]`, the folders it read)."""
    seen: set[str] = set()
    out: list[StageSummary] = []

    def visit(path: Path) -> None:
        key = str(path.resolve())
        if key in seen:
            return
        seen.add(key)
        summary = read_summary(path)
        if summary is None:
            return
        for parent in summary.extra.get("inputs", []):
            # a stage's input may be its predecessor's kept/ folder or the folder itself
            parent = Path(parent)
            visit(parent.parent if parent.name == KEPT else parent)
        out.append(summary)

    visit(Path(folder))
    return out


class StageOutput:
    """The kept/ and dropped/ writers of one stage run, counting drops per reason.

    `kept_dir=None` when something else writes kept/ (the filter chain does, for the generating
    stages); `dropped_dir` is relative to the folder (generating stages use dropped/<stage>/,
    beside the chain's dropped/<filter>/). Writers resume (see `ShardWriter`): a rerun after a
    crash appends, never duplicates.
    """

    def __init__(self, folder: str | Path, *, shard_size: int = 10_000, kept_dir: str | None = KEPT,
                 dropped_dir: str = DROPPED, fmt: str = "jsonl"):
        self.folder = Path(folder)
        self.kept = (ShardWriter(self.folder / kept_dir, shard_size=shard_size, fmt=fmt)
                     if kept_dir else None)
        self.dropped_writer = ShardWriter(self.folder / dropped_dir, shard_size=shard_size)
        self.dropped: Counter[str] = Counter(_reasons(self.folder / dropped_dir))
        self.started = time.time()

    @property
    def kept_count(self) -> int:
        # includes what a resumed run found already written
        return len(self.kept.done_ids) if self.kept is not None else 0

    def keep(self, record: Record) -> None:
        self.kept.write(record)

    def keep_many(self, records: Iterable[Record]) -> None:
        for record in records:
            self.keep(record)

    def drop(self, record: Record, reason: str, by: str = "") -> None:
        record.metadata = {**record.metadata, META_DROP_REASON: reason}
        if by:
            record.metadata[META_DROP_FILTER] = by
        if self.dropped_writer.write(record):
            self.dropped[reason] += 1

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()
        self.dropped_writer.close()

    def summary(self, stage: str, inputs: int, config: Any = None,
                extra: dict[str, Any] | None = None) -> StageSummary:
        """Close the writers, write stats.json and return the summary."""
        self.close()
        cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})
        summary = StageSummary(
            stage=stage, inputs=inputs, kept=self.kept_count, dropped=dict(self.dropped),
            seconds=round(time.time() - self.started, 3), output=str(self.folder), config=cfg,
            extra=dict(extra or {}),
        )
        summary.write(self.folder)
        return summary

    def __enter__(self) -> "StageOutput":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextmanager
def progress_bar(progress: Any, description: str) -> Iterator[Any]:
    """`progress` as a callable `(done, total=None)`: True draws a rich bar, a callable is used as
    it is, None/False gives None (no reporting)."""
    if callable(progress):
        yield progress
    elif progress:
        with Progress(transient=True) as bar:
            task = bar.add_task(description, total=None)
            yield lambda done, total=None: bar.update(task, completed=done, total=total)
    else:
        yield None


def _reasons(folder: Path) -> Counter[str]:
    """Drop reasons already written by an interrupted run (so a resumed summary is complete);
    the glob takes finished shards and the recovered in-progress one."""
    counts: Counter[str] = Counter()
    for shard in sorted(folder.glob("part-*.jsonl")):
        with open(shard, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    counts[json.loads(line).get("metadata", {}).get(META_DROP_REASON, "unknown")] += 1
    return counts


def render(summaries: Iterable[StageSummary], title: str = "r1data stages"):
    """One rich Table for any number of stage summaries (the demo prints a whole run)."""
    table = Table(title=title)
    for name, justify in (("stage", "left"), ("in", "right"), ("kept", "right"),
                          ("dropped", "right"), ("drop reasons", "left"), ("rejected", "right"),
                          ("errored", "right"), ("seconds", "right")):
        table.add_column(name, justify=justify)
    for s in summaries:
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(s.dropped.items(), key=lambda kv: -kv[1]))
        table.add_row(s.stage, f"{s.inputs:,}", f"{s.kept:,}", f"{s.dropped_total:,}",
                      reasons or "-", f"{rejected_rows(s):,}", f"{errored_samples(s):,}",
                      f"{s.seconds:,.1f}")
    return table


def rejected_rows(summary: StageSummary) -> int:
    """Input rows the stage could not read (set aside in OUT/rejected/)."""
    extra = summary.extra
    return int(extra.get("unreadable_prompts") or extra.get("unreadable_rows") or 0)


def errored_samples(summary: StageSummary) -> int:
    """Samples that failed after the backend's retries and were accepted as lost
    (`teacher.max_error_rate`); with the default of 0 such a stage stops instead."""
    generation = summary.extra.get("generation") or {}
    if "samples_failed" in generation:
        return int(generation["samples_failed"])
    return sum(int(g.get("samples_failed", 0)) for g in generation.values() if isinstance(g, dict))
