"""A filter chain: R1's readability filters, correctness, decontamination and dedup, as datatrove
pipelines run by datatrove's local, Slurm or Ray executor.

The chain's stages, each a datatrove executor that depends on the one before:
1. `filter` (`tasks` tasks): read records, then format, length, correctness (verdict only),
   code blocks, long paragraphs, repetition, decontamination, language mix (cheap first); for
   the survivors write compact keys (`keys.KeyWriter`: hashes, band keys, normalised prompt)
   and their MinHash signatures (datatrove's first MinHash step), not the records.
2. `minhash_buckets`, `minhash_clusters` (datatrove's MinHash steps): which completions are
   near-duplicates.
3. `decide` (one task, `keys.DedupDecisions`): from the keys alone, in order, MinHash's
   near-duplicates, exact prompt/completion dedup, fuzzy prompt dedup and the per-prompt cap of
   correct samples: one byte of decision per sample. Its memory is numpy columns of keys (about
   110 bytes a sample), not records or Python objects.
4. `final` (`tasks` tasks): read the input once more and write kept/ and dropped/ by those
   decisions (the filter stage's own drops are already in dropped/).
No stage writes a copy of the corpus: what passes between stages is keys and signatures.
Without MinHash and the corpus-wide filters the chain is its `filter` stage alone, writing kept/.

Output (the same for `r1data filter` and `r1data decontaminate`):
    OUT/kept/           kept records, <rank>.jsonl or .parquet
    OUT/dropped/<filter>/  dropped records, each with `metadata.drop_reason`/`drop_filter`
    OUT/rejected/       input rows that were not readable records, with the reason
    OUT/stats.json      counts per filter and reason; OUT/contamination_report.jsonl
Datatrove's completion markers (OUT/.logs/<stage>/completions) make a rerun skip finished tasks;
the keys and signatures live in OUT/.work and are removed once the chain has finished.
Entry points that use `workers > 1` locally need an `if __name__ == "__main__":` guard: the
local executor starts its workers with forkserver, which re-imports the main module.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from r1data import io
from r1data.launch import slurm
from r1data.launch.executors import EXECUTORS, datatrove_executor
from r1data.record import META_CONTAMINATION
from r1data.schemas import ReadOptions, unread_line

from .adapters import (
    OUTPUT_FORMATS,
    SOLUTION_AS,
    UNREAD,
    UNREAD_CHARS,
    DroppedRecordWriter,
    RecordReader,
    RecordWriter,
)
from .correctness_filter import CorrectnessFilter
from .decontamination import DecontaminationFilter
from .exact_dedup import ExactDedupFilter
from .format_filter import FormatFilter
from .fuzzy_dedup import FuzzyPromptDedupFilter
from .length_filter import LengthFilter
from .keys import DedupDecisions, KeyedDecision, KeyWriter, Survivors
from .minhash_dedup import MINHASH_NAME, minhash_config, minhash_stages
from .readability_filters import CodeBlockFilter, LanguageMixFilter, LongParagraphFilter
from .repetition_filter import RepetitionFilter

# config field -> filter class, in the order the filter stage runs them (cheap checks first).
PER_SAMPLE_FILTERS = {
    "format": FormatFilter,
    "length": LengthFilter,
    "correctness": CorrectnessFilter,
    "code_blocks": CodeBlockFilter,
    "paragraphs": LongParagraphFilter,
    "repetition": RepetitionFilter,
    "decontamination": DecontaminationFilter,
    "language": LanguageMixFilter,
}
WHOLE_CORPUS_FILTERS = {"exact_dedup": ExactDedupFilter, "fuzzy_dedup": FuzzyPromptDedupFilter}


@dataclass
class FilterChainConfig:
    """Which filters run, with which parameters, and where.

    Each filter field holds the keyword arguments of its filter class (see that class for each
    parameter and its R1-faithful default); `{}` runs it with the defaults, `None` turns it off.
    A YAML recipe maps one-to-one onto these fields; unknown keys are errors.

    # per-sample filters (stage `filter`)
    format: FormatFilter. length: LengthFilter. correctness: CorrectnessFilter (off by default:
        it needs verdicts; its `max_per_prompt` cap runs in the `decide` stage). code_blocks:
        CodeBlockFilter. paragraphs: LongParagraphFilter. repetition: RepetitionFilter.
        decontamination: DecontaminationFilter. language: LanguageMixFilter.
    # corpus-level dedup
    minhash: datatrove MinhashConfig fields (n_grams, num_buckets, hashes_per_bucket, seed).
    exact_dedup: ExactDedupFilter. fuzzy_dedup: FuzzyPromptDedupFilter.
    # execution
    executor: local, ray or slurm. tasks: shards of the per-sample stages. workers: tasks run
        at once. output_format: jsonl, parquet, or verl (kept/ as Parquet in verl's prompt
        layout, `schemas.to_verl`).
    slurm: SlurmPipelineExecutor arguments (partition and time are required for slurm).
    cpus_per_task / mem_per_cpu_gb: resources per task (ray, slurm).
    """

    # per-sample filters
    format: dict | None = field(default_factory=dict)
    length: dict | None = field(default_factory=dict)
    correctness: dict | None = None
    code_blocks: dict | None = field(default_factory=dict)
    paragraphs: dict | None = field(default_factory=dict)
    repetition: dict | None = field(default_factory=dict)
    decontamination: dict | None = field(default_factory=dict)
    language: dict | None = field(default_factory=dict)
    # corpus-level dedup
    minhash: dict | None = field(default_factory=dict)
    exact_dedup: dict | None = field(default_factory=dict)
    fuzzy_dedup: dict | None = field(default_factory=dict)
    # execution
    executor: str = "local"
    tasks: int = 1
    workers: int = 1
    output_format: str = "jsonl"
    slurm: dict = field(default_factory=dict)
    cpus_per_task: int = 1
    mem_per_cpu_gb: float = 2.0

    def __post_init__(self):
        for name, cls in {**PER_SAMPLE_FILTERS, **WHOLE_CORPUS_FILTERS}.items():
            _check_kwargs(name, cls, getattr(self, name))
        if self.minhash is not None:
            minhash_config(self.minhash)  # raises on unknown keys
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got {self.executor!r}")
        if self.tasks < 1 or self.workers < 1:
            raise ValueError("tasks and workers must be at least 1")
        if self.output_format not in OUTPUT_FORMATS:
            raise ValueError(f"output_format must be one of {', '.join(OUTPUT_FORMATS)}, got "
                             f"{self.output_format!r}")
        if self.executor == "slurm" and not {"partition", "time"} <= set(self.slurm):
            raise ValueError("slurm needs slurm.partition and slurm.time")

    def enabled(self) -> list[str]:
        names = list(PER_SAMPLE_FILTERS) + ["minhash"] + list(WHOLE_CORPUS_FILTERS)
        return [n for n in names if getattr(self, n) is not None]


def _check_kwargs(name: str, cls: type, kwargs: Any) -> None:
    if kwargs is None:
        return
    if not isinstance(kwargs, dict):
        raise ValueError(f"{name}: expected a mapping of {cls.__name__} parameters or null")
    try:
        inspect.signature(cls).bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc} (see {cls.__name__})") from None


# -- building the stages -------------------------------------------------------------------------


@dataclass
class ChainStage:
    name: str
    pipeline: list
    tasks: int


def _dropped(output: Path, step_name: str, stage: str, reason: str, fmt: str):
    return DroppedRecordWriter(output / "dropped" / step_name, step_name, reason, fmt,
                               filename=f"{stage}-${{rank}}")


def build_stages(config: FilterChainConfig, input: str | Path, output: str | Path,
                 read_options: ReadOptions | None = None) -> list[ChainStage]:
    """The chain's stages as datatrove pipelines (steps), without executors. `read_options`:
    how `input` is laid out (taken by the reader step, so a task on another process or node
    reads it the same)."""
    output = Path(output)
    work = output / ".work"
    fmt = "jsonl" if config.output_format == "verl" else config.output_format  # see _finish
    steps = []
    for name, cls in PER_SAMPLE_FILTERS.items():
        kwargs = getattr(config, name)
        if kwargs is not None:
            if cls is CorrectnessFilter:  # its cap needs the whole corpus: in the decisions
                kwargs = {**kwargs, "max_per_prompt": None}
            steps.append(cls(**kwargs, exclusion_writer=_dropped(output, cls.name, "filter", cls.name, fmt)))
    reader = RecordReader(input, rejected_folder=output / "rejected", options=read_options)
    corpus = {name: cls(**getattr(config, name)) for name, cls in WHOLE_CORPUS_FILTERS.items()
              if getattr(config, name) is not None}
    cap = CorrectnessFilter(**config.correctness) if (config.correctness or {}).get("max_per_prompt") else None
    if not corpus and cap is None and config.minhash is None:
        return [ChainStage("filter", [reader, *steps, RecordWriter(output / "kept", fmt)], config.tasks)]
    fuzzy = corpus.get("fuzzy_dedup")
    steps.append(KeyWriter(work, fuzzy, cap is not None))
    stages, removed, names = [], None, []
    if config.minhash is not None:
        signature, later, removed = minhash_stages(work / "minhash", minhash_config(config.minhash))
        steps.append(signature)  # over the documents the key writer passes on, in its order
        names.append(MINHASH_NAME)
        stages += [ChainStage(name, pipeline, tasks) for name, pipeline, tasks in later]
    names += [cls.name for cls in corpus.values()] + ([cap.name] if cap else [])
    return [ChainStage("filter", [reader, *steps], config.tasks), *stages,
            ChainStage("decide", [DedupDecisions(work, removed, corpus.get("exact_dedup"), fuzzy, cap)], 1),
            ChainStage("final", [
                RecordReader(input, options=read_options), Survivors(work),
                *[KeyedDecision(name, exclusion_writer=_dropped(output, name, "final", name, fmt))
                  for name in names],
                RecordWriter(output / "kept", fmt)], config.tasks)]


def build_executors(config: FilterChainConfig, input: str | Path, output: str | Path,
                    read_options: ReadOptions | None = None) -> list:
    """One datatrove executor per stage, each depending on the previous one; `run()` on the last
    runs (or, for Slurm, submits) the whole chain."""
    output = Path(output)
    executors = []
    for stage in build_stages(config, input, output, read_options):
        executors.append(datatrove_executor(
            config.executor, stage.pipeline, tasks=stage.tasks, workers=config.workers,
            logging_dir=output / ".logs" / stage.name, depends=executors[-1] if executors else None,
            name=stage.name, cpus_per_task=config.cpus_per_task,
            mem_per_cpu_gb=config.mem_per_cpu_gb, slurm=config.slurm))
    return executors


# -- running and reporting ----------------------------------------------------------------------


class ChainIncomplete(RuntimeError):
    """Tasks of the chain ended without finishing; the message lists them with their logs."""


def run_chain(config: FilterChainConfig, input: str | Path, output: str | Path,
              executor: str | None = None, workers: int | None = None,
              on_stage: Callable[[str, int, int], None] | None = None,
              wait: bool = False,
              on_progress: Callable[[dict[str, int]], None] | None = None,
              read_options: ReadOptions | None = None) -> dict[str, Any]:
    """Run the chain over `input` into `output` (layout in the module docstring); returns the
    stats dict also written to `output/stats.json`. Rerunning skips finished tasks.

    `on_stage(name, index, count)` is called before each stage (for a progress display).
    datatrove's console lines show only with `r1data --verbose` (r1data.launch.executors); each
    task's full log is in OUT/.logs/<stage>/logs either way.
    Slurm: the stages are submitted as dependent arrays and `{"submitted": [job ids]}` comes
    back at once, unless `wait`: then `collect_chain` waits for them (`on_progress` gets the
    finished tasks per stage) and the stats come back as from a local run.
    """
    if executor is not None or workers is not None:
        config = dataclasses.replace(config, executor=executor or config.executor,
                                     workers=workers or config.workers)
    io.detect_format(input)  # a missing or unreadable input is a one-line InputError
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    stages = build_stages(config, input, output, read_options)
    executors = build_executors(config, input, output, read_options)
    if config.executor == "slurm":
        executors[-1].run()  # submits every stage, chained by Slurm dependencies
        slurm.save_jobs(output / ".logs", [
            slurm.SubmittedStage(s.name, str(output / ".logs" / s.name), s.tasks, str(e.job_id),
                                 e.tasks_per_job)
            for s, e in zip(stages, executors)])
        if not wait:
            return {"submitted": [str(e.job_id) for e in executors]}
        return collect_chain(config, output, on_progress=on_progress)
    if config.executor == "ray":
        _check_ray_resources(config)
    for index, (stage, step) in enumerate(zip(stages, executors)):
        if on_stage:
            on_stage(stage.name, index, len(stages))
        step.run()  # its dependency already ran: run() only checks its completion markers
        # Stop at the first unfinished stage: datatrove's Ray executor would otherwise start
        # the next one, which waits for its dependency in a sleep loop that never ends.
        if step.get_incomplete_ranks(skip_completed=True):
            raise ChainIncomplete(slurm.describe_failures(slurm.failed_tasks([
                slurm.SubmittedStage(stage.name, str(output / ".logs" / stage.name),
                                     stage.tasks, "-1")])))
        for folder in CONSUMED_BY.get(stage.name, ()):
            shutil.rmtree(output / ".work" / folder, ignore_errors=True)
    return _finish(config, output)


# Intermediate folders (under OUT/.work) no later stage reads once this stage has finished: the
# MinHash signatures are the largest (~1 KB a sample), so they go as soon as they can. A rerun
# skips the finished stages (datatrove's completion markers) and never needs them again.
CONSUMED_BY = {"minhash_clusters": ("minhash/signatures", "minhash/buckets"),
               "decide": ("minhash",)}


def _check_ray_resources(config: FilterChainConfig) -> None:
    """A Ray task that no node can hold is never scheduled, and datatrove waits for it forever:
    fail at once instead. Ray counts as `memory` what the node had free when Ray started, so on
    a busy machine it can be far below the machine's size."""
    import ray  # lazy: optional dependency

    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)  # RAY_ADDRESS, else a local Ray
    need_memory = config.mem_per_cpu_gb * config.cpus_per_task * 1024**3
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if not any(r.get("CPU", 0) >= config.cpus_per_task and r.get("memory", 0) >= need_memory
               for r in nodes):
        have = ", ".join(f"{r.get('CPU', 0):g} CPUs / {r.get('memory', 0) / 1024**3:.1f} GB" for r in nodes)
        raise ChainIncomplete(
            f"no Ray node can run a task of {config.cpus_per_task} CPU(s) and "
            f"{need_memory / 1024**3:.1f} GB (nodes: {have or 'none'}): lower cpus_per_task or "
            "mem_per_cpu_gb in the recipe, or start Ray with more memory")


def collect_chain(config: FilterChainConfig, output: str | Path, *, poll: float = 2.0,
                  on_progress: Callable[[dict[str, int]], None] | None = None) -> dict[str, Any]:
    """Wait for a chain submitted to Slurm into `output`, then write and return its stats as a
    local run does. Raises ChainIncomplete listing the failed tasks and their logs."""
    output = Path(output)
    failed = slurm.wait(slurm.load_jobs(output / ".logs"), poll=poll, on_progress=on_progress)
    if failed:
        raise ChainIncomplete(slurm.describe_failures(failed))
    return _finish(config, output)


def _finish(config: FilterChainConfig, output: Path) -> dict[str, Any]:
    # kept/ exists even when nothing was kept: the next stage reads an empty folder, not the
    # stage folder's side files
    (output / "kept").mkdir(exist_ok=True)
    if config.output_format == "verl":  # kept/ as verl reads it; dropped/ stays r1data records
        io.convert_to_verl(output / "kept")
    stats = collect_stats(output, config)
    io.write_json(output / "stats.json", stats)
    write_contamination_report(output)
    shutil.rmtree(output / ".work", ignore_errors=True)
    return stats


def _step_stats(logging_dir: Path) -> dict[str, dict[str, int]]:
    """Datatrove's per-rank stats files of one stage, summed per step name."""
    merged: dict[str, dict[str, int]] = {}
    for path in sorted((logging_dir / "stats").glob("*.json")):
        for step in json.loads(path.read_text()):
            counters = merged.setdefault(step["name"], {})
            for key, value in step["stats"].items():
                if isinstance(value, dict):
                    value = value.get("total", 0)
                counters[key] = counters.get(key, 0) + int(value)
    return merged


def _reader_stats(stats: dict[str, Any], counters: dict[str, int]) -> None:
    """Add one reader task's counters to `stats`: the input layouts read (r1data.schemas), the
    long-text columns no field read (`unread_text`: rows and mean length) and what a `solution`
    beside a gold was read as (`solution_as`)."""
    for key, count in counters.items():
        for prefix, name in (("schema_", "schema"), (SOLUTION_AS, "solution_as")):
            if key.startswith(prefix):
                found = stats.setdefault(name, {})
                found[key[len(prefix):]] = found.get(key[len(prefix):], 0) + count
        if key.startswith(UNREAD):
            column = key[len(UNREAD):]
            entry = stats.setdefault("unread_text", {}).setdefault(column, {"rows": 0, "chars": 0})
            entry["rows"] += count
            entry["chars"] += counters.get(f"{UNREAD_CHARS}{column}", 0)


def unread_lines(stats: dict[str, Any]) -> list[str]:
    """The summary's lines for the long-text columns no field read (see `_reader_stats`)."""
    reference = bool((stats.get("solution_as") or {}).get("reference"))
    return [unread_line(column, e["rows"], e["chars"], reference)
            for column, e in sorted((stats.get("unread_text") or {}).items(),
                                    key=lambda kv: -kv[1]["rows"])]


def collect_stats(output: str | Path, config: FilterChainConfig) -> dict[str, Any]:
    """{"input", "rejected", "kept", "dropped", "filters": {name: {"seen", "kept", "dropped",
    "reasons"}}} from the stages' datatrove stats."""
    output = Path(output)
    stats: dict[str, Any] = {"input": 0, "rejected": 0, "kept": 0, "dropped": 0, "filters": {}}
    names = ["filter", "minhash_buckets", "minhash_clusters", "final"]
    for stage in names:
        steps = _step_stats(output / ".logs" / stage)
        for step_name, counters in steps.items():
            if step_name.endswith(RecordReader.name) and stage == "filter":
                stats["input"] += counters.get("documents", 0)
                stats["rejected"] += counters.get("rejected", 0)
                _reader_stats(stats, counters)
            if "dropped" not in counters and "forwarded" not in counters:
                continue
            name = step_name.split(": ", 1)[-1]
            entry = stats["filters"].setdefault(name, {"seen": 0, "kept": 0, "dropped": 0,
                                                       "reasons": {}})
            entry["seen"] += counters.get("total", 0)
            entry["kept"] += counters.get("forwarded", 0)
            entry["dropped"] += counters.get("dropped", 0)
            reasons = {k[len("dropped_"):]: v for k, v in counters.items() if k.startswith("dropped_")}
            if counters.get("dropped", 0) and not reasons:
                reasons = {"near_duplicate": counters["dropped"]}
            for reason, count in reasons.items():
                entry["reasons"][reason] = entry["reasons"].get(reason, 0) + count
    stats["dropped"] = sum(f["dropped"] for f in stats["filters"].values())
    stats["kept"] = stats["input"] - stats["dropped"]
    stats["config"] = dataclasses.asdict(config)
    return stats


def write_contamination_report(output: str | Path) -> int:
    """OUT/contamination_report.jsonl: each sample removed as contaminated, with the benchmark
    item it matched (from the dropped records' `metadata.contamination`)."""
    output = Path(output)
    folder = output / "dropped" / DecontaminationFilter.name
    rows = []
    if folder.exists() and io.shard_files(folder):
        for record in io.read_records(folder):
            match = record.metadata.get(META_CONTAMINATION) or {}
            rows.append({"id": record.id, "prompt": record.prompt[:200], **match})
    path = output / "contamination_report.jsonl"
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)
    return len(rows)


def stats_table(stats: dict[str, Any], title: str = "r1data filter"):
    """A rich table: kept/dropped per filter and reason."""
    table = Table(title=title)
    for column in ("filter", "reason", "seen", "kept", "dropped"):
        table.add_column(column, justify="left" if column in ("filter", "reason") else "right")
    for name, entry in stats["filters"].items():
        table.add_row(name, "", str(entry["seen"]), str(entry["kept"]), str(entry["dropped"]))
        for reason, count in sorted(entry["reasons"].items(), key=lambda kv: -kv[1]):
            table.add_row("", reason, "", "", str(count))
    table.add_section()
    table.add_row("total", "", str(stats["input"]), str(stats["kept"]), str(stats["dropped"]))
    if stats.get("rejected"):
        table.add_row("unreadable rows", "", "", "", str(stats["rejected"]))
    if stats.get("schema"):
        table.add_row("input layouts", ", ".join(f"{k} {v}" for k, v in sorted(
            stats["schema"].items(), key=lambda kv: -kv[1])), "", "", "")
    if stats.get("solution_as"):
        table.add_row("solution beside a gold", ", ".join(
            f"read as {k} {v}" for k, v in stats["solution_as"].items()), "", "", "")
    for line in unread_lines(stats):
        table.add_row("[yellow]unread text column", f"[yellow]{line}", "", "", "")
    return table
