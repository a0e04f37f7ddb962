"""The pieces the generating stages compose, so that each stage module reads as its recipe.

    teacher  ->  generate into a folder (r1data.generate: resumable, seeded)
             ->  verify each sample (r1data.verifiers.dispatch.verify_record)
             ->  the filter chain into the stage folder (filters.chain: kept/, dropped/<filter>/)

Work files live in `OUT/.stage/` (hidden, so no reader takes them for data): the prompts a stage
built, the raw samples, the verified samples. They stay after the run, since they are what a
pass-rate or a failure analysis needs.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1data import generate
from r1data.backends import BACKENDS, get_backend
from r1data.backends.base import SamplingConfig
from r1data.config import from_dict
from r1data.filters.chain import FilterChainConfig, run_chain
from r1data.io import ShardWriter, read_records, shard_files
from r1data.pipelines.summary import StageSummary
from r1data.record import Record
from r1data.verifiers.dispatch import verdict_entry, verify_record

WORK = ".stage"


@dataclass
class TeacherConfig:
    """The model that writes the samples.

    backend: transformers (local), openai (any OpenAI-compatible server, e.g. `vllm serve`) or
        vllm (offline engine).
    model: a model spec (`smollm2-135m`, a folder, a Hub id, or the served model's name).
    options: the backend's own options (batch_size, device, base_url, api_key_env, concurrency,
        tensor_parallel_size, ...), passed to `r1data.backends.get_backend` as they are.
    max_error_rate: share of samples that may fail after the backend's retries without stopping
        the stage (0: any failure stops it with exit code 3; a rerun retries the failed samples).
    """

    backend: str = "transformers"
    model: str = "smollm2-135m"
    options: dict[str, Any] = field(default_factory=dict)
    max_error_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"teacher.backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")

    def open(self):
        return get_backend(self.backend, self.model, **self.options)


def nested(sampling, teacher, filters):
    """The three nested configs of a generating stage, built from mappings when a stage config is
    made directly in Python rather than through `r1data.config.from_dict`."""
    def build(cls, value, name):
        return from_dict(cls, value, name) if isinstance(value, dict) else value

    return (build(SamplingConfig, sampling, "sampling"), build(TeacherConfig, teacher, "teacher"),
            build(FilterChainConfig, filters, "filters"))


def work_dir(out: str | Path, name: str) -> Path:
    return Path(out) / WORK / name


def write_prompts(records: Iterable[Record], folder: Path) -> int:
    """Prompt records to a fresh folder (the input of `generate`); returns how many."""
    if folder.exists():
        shutil.rmtree(folder)
    with ShardWriter(folder) as writer:
        return writer.write_many(records)


def generate_into(folder: Path, prompts: str | Path, backend, sampling: SamplingConfig, template: str,
                  *, teacher: TeacherConfig, system: str | None = None, fewshot: str | None = None,
                  fewshot_k: int = 2, limit: int | None = None, progress: bool = False):
    """Samples for every prompt of `prompts` into `folder` (resuming what is there); returns
    generate's summary (throughput, tokens, truncation)."""
    config = generate.GenerateConfig(
        input=str(prompts), output=str(folder), limit=limit, backend=teacher.backend,
        model=teacher.model, backend_options=dict(teacher.options), template=template,
        max_error_rate=teacher.max_error_rate,
        system=system, fewshot=fewshot, fewshot_k=fewshot_k, sampling=sampling,
    )
    return generate.run(config, backend=backend, progress=progress)


def verify(record: Record) -> Record:
    """The record with its verdict appended (rule-based, routed by domain and gold)."""
    record.verdicts = [*record.verdicts, verdict_entry(verify_record(record))]
    return record


@contextmanager
def rewrite(folder: Path) -> Iterator[ShardWriter]:
    """A writer that replaces `folder` as a whole when it closes cleanly (a derived folder, e.g.
    the verified samples, is rebuilt from its source on every run rather than resumed)."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with ShardWriter(tmp) as writer:
        yield writer
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def is_correct(record: Record) -> bool:
    return bool(record.verdicts) and record.verdicts[-1].get("correct") is True


def by_prompt(records: Iterable[Record]) -> Iterator[list[Record]]:
    """Consecutive samples of one prompt, grouped (generate writes a prompt's samples together)."""
    group: list[Record] = []
    for record in records:
        if group and record.prompt_id != group[0].prompt_id:
            yield group
            group = []
        group.append(record)
    if group:
        yield group


def samples(folder: Path) -> Iterator[Record]:
    if not folder.exists() or not shard_files(folder):
        return iter(())
    return read_records(folder)


def filter_into(out: Path, source: Path, chain: Any) -> dict[str, Any]:
    """Run the filter chain over `source` into the stage folder `out` (kept/, dropped/<filter>/);
    returns its stats. An empty source gives empty stats (no chain to run)."""
    if not source.exists() or not any(source.glob("*.jsonl")):
        (out / "kept").mkdir(parents=True, exist_ok=True)
        return {"input": 0, "kept": 0, "dropped": 0, "filters": {}}
    return run_chain(chain, source, out)


def chain_drops(stats: dict[str, Any]) -> Counter:
    """Drop counts per reason over every filter of a chain run."""
    counts: Counter = Counter()
    for entry in stats.get("filters", {}).values():
        counts.update(entry.get("reasons", {}))
    return counts


Shape = Callable[[Record], "tuple[Record, str | None]"]


def shape_into(folder: Path, sources: Iterable[tuple[Path, Shape]], own: Any, stage: str,
               first: Iterable[Record] = ()) -> int:
    """The one writer of the stages that shape generated samples (cold start, non-reasoning):
    every sample of each source folder, put in its stored form by that source's `shape` (which
    returns the sample, or it and a drop reason), into `folder`, rebuilt whole. A failed
    generation or a refused sample goes to `own`'s dropped/ with its reason. `first`: records
    written as they are (rows reused without generation). Returns how many samples were read."""
    read = 0
    with rewrite(folder) as writer:
        writer.write_many(first)
        for source, shape in sources:
            for sample in samples(source):
                read += 1
                if sample.finish_reason == "error":
                    own.drop(sample, "generation_error", stage)
                    continue
                sample, reason = shape(sample)
                if reason:
                    own.drop(sample, reason, stage)
                else:
                    writer.write(sample)
    return read


def stage_summary(stage: str, out: Path, config: Any, started: float, prompts: int, own: Any,
                  chain_stats: dict[str, Any], **extra: Any):
    """The StageSummary of a stage that shaped its samples and ran the filter chain (its drops
    and the chain's, per reason), written to `out` and returned. `prompts`: the rows it read."""
    summary = StageSummary(
        stage=stage, inputs=prompts, kept=chain_stats.get("kept", 0),
        dropped=dict(Counter(own.dropped) + chain_drops(chain_stats)),
        seconds=round(time.time() - started, 3), output=str(out), config=dataclasses.asdict(config),
        extra={**extra, "filters": chain_stats.get("filters", {})},
    )
    summary.write(out)
    return summary
