"""Mixing: the SFT corpus at target sizes, per-domain/source quotas or weights, train/test split.

R1 section 2.3.3 fine-tunes on about 600K reasoning + 200K non-reasoning samples; those are the
default targets. How a target is filled, per kind (reasoning / non_reasoning):

1. Rows are grouped by `group_by` (domain or source). A group named in `quotas` gets exactly that
   many rows (or as many as it can give, see 3). The rest of the target is shared among the other
   groups by `weights`; with no weights, in proportion to what each group has (the natural mix).
   With weights, a group not named gets weight 0 and contributes nothing (reported).
2. A group with more rows than its share is down-sampled without replacement.
3. A group with fewer is up-sampled by repeating rows, but never beyond `max_duplication` copies
   of a row (default 1: no repetition at all). What a capped group cannot give moves to the
   groups that still can; what nobody can give is reported as a shortfall, never made up.

Everything is seeded: the same inputs, config and seed give the same corpus.

No question is in both train and test. Before planning, a row that repeats another exactly (same
normalised prompt and completion, e.g. one sample read from two stage folders) is dropped as
`duplicate`. The split is on a hash of the normalised prompt text (`filters.base.normalize`:
case, spacing, punctuation and number formatting ignored), not on `prompt_id`: the samples of
one question (several traces, repeated copies, or the same question reaching the mix from cold
start and rejection sampling under two ids) all land on the same side. Output rows are `Record`s whose `messages` end with the assistant turn in
R1's form (`<think>...</think>` then the answer), which any SFT trainer reads as is; they are
written in input order (SFT trainers shuffle each epoch).

Two streaming passes keep memory to a few integers per input row: the first reads the groups and
decides how many copies of each row to take, the second writes them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from r1data import models
from r1data.filters.base import normalize, text_hash
from r1data.io import OUTPUT_FORMATS, RejectLog, ShardWriter, read_records, shard_files
from r1data.pipelines import report
from r1data.pipelines.summary import StageOutput, StageSummary, progress_bar
from r1data.record import META_SPLIT, NON_REASONING, REASONING, Record, assistant_content
from r1data.schemas import ReadOptions, ReadReport

DUPLICATE_OF = "duplicate_of"  # metadata key on the extra copies of an up-sampled row


@dataclass
class MixConfig:
    """How to build the SFT corpus (see the module docstring for the rules).

    inputs: record files or stage output folders (their kept/ rows are read).
    output: folder that receives train/, test/, dropped/, plots/ and stats.json.
    # sizes
    reasoning_size / non_reasoning_size: target rows per kind; null = all rows available.
    total / reasoning_share: instead of the two sizes, a total split by the reasoning share.
    # composition
    group_by: "domain" or "source": what `quotas` and `weights` name.
    quotas: {group: rows} taken exactly (capped by availability x max_duplication).
    weights: {group: relative weight} sharing the rest of each kind's target.
    max_duplication: most copies of one row (1 = no up-sampling).
    # split and reproducibility
    test_size: share (< 1) or number (>= 1) of prompts held out for test.
    seed: seeds the sampling and the split.
    # statistics
    tokenizer: counts token lengths the records lack ("none" to skip).
    # output
    shard_size: rows per output shard.
    output_format: jsonl, parquet, or verl (Parquet in verl's prompt layout, the final
        assistant turn in a `completion` column: see `schemas.to_verl`).
    """

    inputs: list[str] | str = field(default_factory=list)  # one str = a list of one
    output: str = "mix"
    # sizes
    reasoning_size: int | None = 600_000
    non_reasoning_size: int | None = 200_000
    total: int | None = None
    reasoning_share: float = 0.75
    # composition
    group_by: str = "domain"
    quotas: dict[str, int] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    max_duplication: float = 1.0
    # split and reproducibility
    test_size: float = 0.0
    seed: int = 0
    # statistics
    tokenizer: str = "smollm2-135m"
    # output
    shard_size: int = 50_000
    output_format: str = "jsonl"

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):
            self.inputs = [self.inputs]
        if not self.inputs:
            raise ValueError("mix needs at least one input")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}")
        if self.group_by not in ("domain", "source"):
            raise ValueError(f"group_by must be 'domain' or 'source', got {self.group_by!r}")
        for name in ("reasoning_size", "non_reasoning_size", "total"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or null")
        if not 0 <= self.reasoning_share <= 1:
            raise ValueError("reasoning_share must be in [0, 1]")
        if self.max_duplication < 1:
            raise ValueError("max_duplication must be >= 1 (1 = never repeat a row)")
        if any(not isinstance(v, int) or v < 0 for v in self.quotas.values()):
            raise ValueError("quotas must be non-negative integers")
        if any(not isinstance(v, (int, float)) or v < 0 for v in self.weights.values()):
            raise ValueError("weights must be non-negative numbers")
        if self.test_size < 0 or (self.test_size >= 1 and self.test_size != int(self.test_size)):
            raise ValueError("test_size is a share in [0, 1) or a whole number of prompts")

    def targets(self) -> dict[str, int | None]:
        """Target rows per kind."""
        if self.total is not None:
            reasoning = round(self.total * self.reasoning_share)
            return {REASONING: reasoning, NON_REASONING: self.total - reasoning}
        return {REASONING: self.reasoning_size, NON_REASONING: self.non_reasoning_size}


# -- planning ------------------------------------------------------------------------------


def _largest_remainder(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split `total` into integers proportional to `weights`, deterministically.

    >>> _largest_remainder(10, {"a": 1, "b": 1, "c": 1})
    {'a': 4, 'b': 3, 'c': 3}
    """
    norm = sum(weights.values())
    if norm <= 0 or total <= 0:
        return {k: 0 for k in weights}
    exact = {k: total * w / norm for k, w in weights.items()}
    out = {k: int(v) for k, v in exact.items()}
    left = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (-(exact[k] - out[k]), k))[:left]:
        out[k] += 1
    return out


def allocate(target: int | None, available: dict[str, int], config: MixConfig) -> dict[str, int]:
    """Rows to take from each group of one kind (see the module docstring).

    >>> cfg = MixConfig(inputs=["x"], max_duplication=2)
    >>> allocate(10, {"math": 3, "code": 100}, MixConfig(inputs=["x"], weights={"math": 1, "code": 1}))
    {'math': 3, 'code': 7}
    >>> allocate(10, {"math": 30, "code": 70}, cfg)   # the natural mix
    {'math': 3, 'code': 7}
    >>> allocate(10, {"math": 3, "code": 100}, MixConfig(inputs=["x"], quotas={"math": 8}, max_duplication=2))
    {'math': 6, 'code': 4}
    """
    caps = {g: int(n * config.max_duplication) for g, n in available.items()}
    alloc = {g: min(config.quotas[g], caps[g]) for g in available if g in config.quotas}
    free = [g for g in available if g not in config.quotas]
    if target is None:  # everything available, quotas still applied
        alloc.update({g: available[g] for g in free})
        return {g: alloc[g] for g in available}
    weights = ({g: float(config.weights.get(g, 0.0)) for g in free} if config.weights
               else {g: float(available[g]) for g in free})
    remaining = max(0, target - sum(alloc.values()))
    active = {g: w for g, w in weights.items() if w > 0}
    for g in free:
        alloc[g] = 0
    # water-filling: give each active group its share; a group that hits its cap is fixed there
    # and its excess is shared again among the others
    while remaining > 0 and active:
        shares = _largest_remainder(remaining, active)
        capped = [g for g in active if alloc[g] + shares[g] >= caps[g]]
        if not capped:
            for g in active:
                alloc[g] += shares[g]
            break
        for g in capped:
            remaining -= caps[g] - alloc[g]
            alloc[g] = caps[g]
            del active[g]
    return {g: alloc[g] for g in available}


def copies_for(rows: list[int], take: int, rng: random.Random) -> dict[int, int]:
    """How many copies of each row index: all rows `take // len` times, plus a seeded sample of
    `take % len` rows once more (so up-sampling repeats rows as evenly as possible)."""
    if not rows or take <= 0:
        return {}
    full, extra = divmod(take, len(rows))
    chosen = rng.sample(rows, extra)
    counts = {i: full for i in rows} if full else {}
    for i in chosen:
        counts[i] = counts.get(i, 0) + 1
    return counts


def _hash01(*parts: Any) -> float:
    digest = hashlib.sha1("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def prompt_key(record: Record) -> int:
    """What the split goes by: a 64-bit hash of the normalised prompt, so one question under two
    ids, or written with other spacing or casing, is one key.

    >>> prompt_key(Record.from_prompt("What is 1,000 + 1?", id="a")) == \\
    ...     prompt_key(Record.from_prompt("what is 1000+1", id="b"))
    True
    """
    return text_hash(normalize(record.prompt))


def _row_key(record: Record, prompt: int) -> int:
    """Exact-duplicate key of a row: its prompt key and its normalised completion."""
    return text_hash(f"{prompt}\x00{normalize(record.completion or '')}")


def _normalise(record: Record) -> Record | None:
    """The record with an assistant turn in its messages, or None when it has no answer at all."""
    if record.completion:
        return record
    if record.answer is None and record.reasoning is None:
        return None
    record.messages = [m for m in record.messages if m["role"] != "assistant"]
    if not record.messages:
        record.messages = [{"role": "user", "content": record.prompt}]
    record.messages.append({"role": "assistant",
                            "content": assistant_content(record.reasoning, record.answer)})
    return record


def _input_paths(inputs: list[str]) -> list[Path]:
    out = []
    for raw in inputs:
        path = Path(raw)
        # a stage output folder: read what it kept, not what it dropped
        out.append(path / "kept" if (path / "kept").is_dir() else path)
    return out


def _stream(config: MixConfig, rejects: RejectLog, read_options: ReadOptions | None,
            report: ReadReport | None = None):
    """(index, record) of every input row; without `report`, a long text no field read is
    reported on stderr (`io.read_records`): the first pass does, the second fills a report."""
    index = 0
    for path in _input_paths(config.inputs):
        if path.is_dir() and not shard_files(path):
            continue  # a stage that kept nothing (the summary lists it under empty_inputs)
        for record in read_records(path, rejects, read_options, report):
            yield index, record
            index += 1


# -- the stage -----------------------------------------------------------------------------


def run(config: MixConfig, progress=None, read_options: ReadOptions | None = None) -> StageSummary:
    """Build the mix into `config.output`; returns the summary (its `extra` holds the plan,
    the shortfalls, the up/down-sampling figures and the statistics). `progress`: True for a
    progress bar, or a callable `(done, total)`."""
    out = Path(config.output)
    rejects = RejectLog(out / "rejected" / "rejected.jsonl")

    # pass 1: groups, and which rows can be used at all
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    prompt_of: dict[int, int] = {}  # row index -> prompt_key
    seen_rows: set[int] = set()
    duplicates: set[int] = set()
    inputs = unusable = 0
    for index, record in _stream(config, rejects, read_options):
        inputs += 1
        if _normalise(record) is None:  # (Record.from_dict already refused an unknown kind)
            unusable += 1
            continue
        key = prompt_key(record)
        row = _row_key(record, key)
        if row in seen_rows:
            duplicates.add(index)
            continue
        seen_rows.add(row)
        groups[(record.kind, getattr(record, config.group_by) or "unknown")].append(index)
        prompt_of[index] = key

    copies, plan, shortfall = _plan(config, groups)
    # the split, by normalised prompt
    prompts = sorted({prompt_of[i] for i in copies}, key=lambda p: (_hash01(config.seed, p), p))
    n_test = (round(config.test_size * len(prompts)) if config.test_size < 1 else
              min(int(config.test_size), len(prompts)))
    test_prompts = set(prompts[:n_test])

    # pass 2: write
    # a mix writes train/ and test/ where other stages write kept/
    stage = StageOutput(out, shard_size=config.shard_size, kept_dir="train",
                        fmt=config.output_format)
    writers = {"train": stage.kept, "test": ShardWriter(out / "test", shard_size=config.shard_size,
                                                        fmt=config.output_format)}
    written = Counter()
    seen = ReadReport()
    with progress_bar(progress, "mixing") as report_progress:
        for index, record in _stream(config, RejectLog(None), read_options, seen):
            if report_progress is not None:
                report_progress(index + 1, inputs)
            if _normalise(record) is None:
                stage.drop(record, "no_completion", "mix")
                continue
            if index in duplicates:
                stage.drop(record, "duplicate", "mix")
                continue
            count = copies.get(index, 0)
            split = "test" if prompt_of[index] in test_prompts else "train"
            for k in range(count):
                copy = dataclasses.replace(record, metadata={**record.metadata, META_SPLIT: split},
                                           messages=list(record.messages))
                if k:
                    copy.id = f"{record.id}#dup{k}"
                    copy.metadata[DUPLICATE_OF] = record.id
                writers[split].write(copy)
            written[split] += count
    for writer in writers.values():
        writer.close()
    rejects.close()

    statistics = _statistics(out, config)
    repeated = sum(p["repeated"] for p in plan)
    summary = stage.summary("mix", inputs, config, dict(
        inputs=[str(p) for p in _input_paths(config.inputs)], plan=plan, shortfall=shortfall,
        empty_inputs=[str(p) for p in _input_paths(config.inputs) if p.is_dir() and not shard_files(p)],
        targets=config.targets(), splits=dict(written), repeated_rows=repeated,
        left_out_rows=sum(p["left_out"] for p in plan), unreadable_rows=rejects.count,
        max_duplication=config.max_duplication, statistics=statistics,
        unread_text=seen.unread_lines(),
    ))
    summary.kept = sum(written.values())
    summary.write(out)
    return summary


def _plan(config: MixConfig, groups: dict[tuple[str, str], list[int]]
          ) -> tuple[dict[int, int], list[dict[str, Any]], dict[str, int]]:
    """(copies to take of each row index, the plan per kind and group, the shortfall per kind)."""
    copies: dict[int, int] = {}
    plan: list[dict[str, Any]] = []
    shortfall: dict[str, int] = {}
    for kind, target in config.targets().items():
        available = {g: len(rows) for (k, g), rows in sorted(groups.items()) if k == kind}
        alloc = allocate(target, available, config)
        for group, take in alloc.items():
            rng = random.Random(f"{config.seed}/{kind}/{group}")
            copies.update(copies_for(groups[(kind, group)], take, rng))
            plan.append({"kind": kind, "group": group, "available": available[group], "taken": take,
                         "repeated": max(0, take - available[group]),
                         "left_out": max(0, available[group] - take)})
        got = sum(alloc.values())
        if target is not None and got < target:
            shortfall[kind] = target - got
    return copies, plan, shortfall


def _statistics(out: Path, config: MixConfig) -> dict[str, Any]:
    tokenizer = None
    if config.tokenizer and config.tokenizer != "none":
        tokenizer = models.load_tokenizer(config.tokenizer)
    df = report.frame_for(out, tokenizer)
    stats = report.statistics(df)
    report.plots(df, out / "plots")
    return stats


def plan_table(summary: StageSummary):
    """The mix plan as a rich Table: per kind and group, available / taken / repeated / left out."""
    table = Table(title="mix plan")
    for name in ("kind", "group", "available", "taken", "repeated", "left out"):
        table.add_column(name, justify="left" if name in ("kind", "group") else "right")
    for p in summary.extra["plan"]:
        table.add_row(p["kind"], p["group"], f"{p['available']:,}", f"{p['taken']:,}",
                      f"{p['repeated']:,}", f"{p['left_out']:,}")
    return table
