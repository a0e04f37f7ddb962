"""The generation engine: prompts in, one `Record` per sample out, resumable at any moment.

`generate_records` is the library core: it renders each prompt with a template, asks the backend
for n samples per prompt (`chunk_size` prompts per call), and yields one record per sample with id
`<prompt_id>/<i>`, its reasoning and answer split out, token counts, `finish_reason` ("length"
marks a truncated sample) and provenance. Prompts whose n sample ids are all in `done` are
skipped before the model is called. A sample whose request failed after the backend's retries is
not yielded: it goes to a `failures.FailureLog`, so it is never "done" and the next run retries it.

`run(config)` is what `r1data generate` does: stream prompts from a file (bad rows go to
`<output>/rejected/rejected.jsonl` with their reason), write records through `io.ShardWriter`
(append + flush per record, atomic shard renames), show a progress bar, and write
`<output>/generate_summary.json` (figures of the whole folder, summed over resumed runs), and the
samples that failed to `<output>/errors/errors.jsonl`; more failures than `max_error_rate` allows
raise `failures.GenerationFailed` (exit code 3) once the rest is written. Killed at any moment (SIGKILL included), the same command run
again recovers the written samples, skips their prompts, and continues: no sample is lost or
written twice, finished shards are not touched. A prompt cut in the middle of its n samples is
generated again and only its missing samples are written; with the transformers backend they are
the same samples, as each is seeded by (seed, prompt id, sample index).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from r1data import __version__, io, sharding, templates
from r1data.backends import backend_options, get_backend
from r1data.backends.base import Backend, Completion, SamplingConfig, sample_seed
from r1data.failures import ERRORS_FILE, FailureLog, GenerationFailed
from r1data.record import META_ERROR, Record
from r1data.schemas import ReadOptions


@dataclass
class GenerateConfig(sharding.Sharded):
    """What `r1data generate` does, as one recipe.

    input: prompts: JSONL (.gz/.zst), Parquet, a `datasets.save_to_disk` folder, a shard folder.
    output: folder of record shards (`part-*.jsonl|parquet`), rejected/ and the summary.
    read: how the input is laid out (`schemas.ReadOptions`: --columns, --schema, --split,
        --hub-config; --prompt-column and its kind add to its columns). A field, not an
        argument of `run`: a sharded run's tasks get this config as JSON (`r1data.launch`).
    limit: use only the first `limit` readable prompts.
    format / shard_size: output shard format ("jsonl" or "parquet") and records per shard.

    backend / model: see `backends.get_backend`; `backend_options` are passed to it as is.
    batch_size: transformers: rows generated together; vllm: ignored (it schedules itself).
    concurrency: openai: requests in flight.
    max_error_rate: share of this run's samples that may fail (after the backend's retries)
        without failing the run; 0: any failed sample fails it. Failed samples are retried by
        the next run either way.
    template: "chat", "r1-zero", "readable" or "few-shot" (see `templates`).
    system: system prompt added to chat templates.
    fewshot / fewshot_k: file of example solutions and how many to show (few-shot template).
    special_token: the marker of the readable format.
    sampling: n, temperature, top_p, max_tokens, seed, stop.
    num_shards / shard_index: generate only shard i of N of the prompts, into
        `output/shard-<i>-of-<N>/` (see `sharding`).
    """

    input: str
    output: str
    # input layout
    read: ReadOptions = field(default_factory=ReadOptions)
    limit: int | None = None
    # output
    format: str = "jsonl"
    shard_size: int = 1000
    # model
    backend: str = "transformers"
    model: str = "smollm2-135m"
    backend_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    concurrency: int = 32
    max_error_rate: float = 0.0
    # prompting
    template: str = "chat"
    system: str | None = None
    fewshot: str | None = None
    fewshot_k: int = 2
    special_token: str = templates.SPECIAL_TOKEN
    # sampling
    sampling: SamplingConfig = field(default_factory=SamplingConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.sampling, dict):
            self.sampling = SamplingConfig(**self.sampling)
        if self.template not in templates.TEMPLATES:
            raise ValueError(f"unknown template {self.template!r}: use one of {', '.join(templates.TEMPLATES)}")
        if self.template == "few-shot" and not self.fewshot:
            raise ValueError("the few-shot template needs a file of example solutions (fewshot)")
        if self.format not in ("jsonl", "parquet"):
            raise ValueError(f"unknown output format {self.format!r}: use jsonl or parquet")
        for name in ("shard_size", "batch_size", "concurrency", "fewshot_k"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must be >= 0")
        if not 0 <= self.max_error_rate <= 1:
            raise ValueError("max_error_rate must be between 0 and 1")


@dataclass
class GenerateSummary:
    """What a run did. `prompts_done` counts prompts generated in this run; `prompts_resumed`
    those skipped because an earlier run had written all their samples. `samples_failed` are not
    written (the next run retries them); `failures` holds their count and first message by error
    type."""

    prompts_done: int = 0
    prompts_resumed: int = 0
    prompts_rejected: int = 0
    samples_written: int = 0
    samples_truncated: int = 0
    samples_failed: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    seconds: float = 0.0
    output: str = ""
    failures: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, Any] | None = None  # several --base-url servers: what each did (server_pool)

    @property
    def truncation_rate(self) -> float:
        return self.samples_truncated / self.samples_written if self.samples_written else 0.0

    @property
    def samples_per_second(self) -> float:
        return self.samples_written / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_out / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "truncation_rate": self.truncation_rate,
                "samples_per_second": self.samples_per_second, "tokens_per_second": self.tokens_per_second}

    def add(self, record: Record) -> None:
        self.samples_written += 1
        self.samples_truncated += record.finish_reason == "length"
        self.tokens_in += record.prompt_tokens or 0
        self.tokens_out += record.completion_tokens or 0


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def sample_record(prompt: Record, completion: Completion, index: int, provenance: dict[str, Any],
                  *, template: str, special_token: str = templates.SPECIAL_TOKEN) -> Record:
    """The record of sample `index` of `prompt`."""
    record = prompt.with_completion(
        completion.text, sample_index=index, finish_reason=completion.finish_reason,
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        provenance={**provenance, "time": _now()},
    )
    if template == "readable":  # the readable format marks its parts with the special token
        reasoning, summary = templates.split_readable(completion.text, special_token)
        if reasoning is not None:
            record.reasoning, record.answer = reasoning, summary
    if completion.error:
        record.metadata = {**record.metadata, META_ERROR: completion.error}
    return record


def generate_records(
    records: Iterable[Record], backend: Backend, sampling: SamplingConfig, template: str = "chat", *,
    system: str | None = None, fewshot: list | None = None,
    special_token: str = templates.SPECIAL_TOKEN, chunk_size: int | None = None,
    done: set[str] | Any = None, on_skip: Any = None, failures: FailureLog | None = None,
    on_prompt: Any = None,
) -> Iterator[Record]:
    """One record per sample of every prompt record (see the module docstring).

    done: ids already written (anything with `in`); prompts with all n of them are skipped and
        reported to `on_skip(record)`.
    failures: where failed samples go. Without one, any failed sample raises GenerationFailed
        after the last sample is yielded (so the caller writes everything that succeeded).
    on_prompt: called with each prompt record once its samples have been yielded.
    """
    strict = failures is None
    failures = FailureLog() if strict else failures
    attempted = 0
    chunk_size = chunk_size or backend.chunk_size(sampling.n)
    base = {**backend.info(), "sampling": asdict(sampling), "template": template,
            "r1data": __version__}
    if system:
        base["system"] = system
    if fewshot:
        base["fewshot_k"] = len(fewshot)
    chunk: list[Record] = []

    def flush() -> Iterator[Record]:
        prompts = [templates.build_prompt(r, template, system=system, fewshot=fewshot,
                                          special_token=special_token) for r in chunk]
        keys = [r.prompt_id or r.id for r in chunk]
        outputs = backend.generate(prompts, sampling, keys=keys)
        nonlocal attempted
        for record, key, samples in zip(chunk, keys, outputs):
            for i, completion in enumerate(samples):
                provenance = {**base, "seed": sample_seed(sampling.seed, key, i)}
                sample = sample_record(record, completion, i, provenance, template=template,
                                       special_token=special_token)
                attempted += 1
                if completion.finish_reason == "error":
                    failures.add(sample)
                else:
                    yield sample
            if on_prompt:
                on_prompt(record)
        chunk.clear()

    for record in records:
        key = record.prompt_id or record.id
        if done is not None and all(f"{key}/{i}" in done for i in range(sampling.n)):
            if on_skip:
                on_skip(record)
            continue
        chunk.append(record)
        if len(chunk) >= chunk_size:
            yield from flush()
    if chunk:
        yield from flush()
    if strict:
        failures.check(attempted, 0.0)


def _count_prompts(config: GenerateConfig) -> int | None:
    try:
        if config.num_shards > 1:  # the shard's own prompts: ids are needed, so records are read
            rows = islice(io.read_records(config.input, None, config.read), config.limit)
            total = sum(1 for _ in sharding.select(rows, config.num_shards, config.shard_index))
            return total
        total = sum(1 for _ in io.iter_rows(config.input, None, config.read))
    except Exception:  # noqa: BLE001 - only the progress bar's total depends on it
        return None
    return min(total, config.limit) if config.limit is not None else total


def _progress(enabled: bool):
    return Progress(
        TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(), TextColumn("prompts"),
        TextColumn("{task.fields[samples_s]:.2f} samples/s"), TextColumn("{task.fields[tokens_s]:.0f} tok/s"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), disable=not enabled,
    )


def run(config: GenerateConfig, *, backend: Backend | None = None, progress: bool = True) -> GenerateSummary:
    """Generate `config.sampling.n` samples for every prompt of `config.input` into
    `config.output`, resuming what an earlier run of the same config left.

    Raises GenerationFailed (after writing every sample that succeeded and the summary) when more
    samples failed than `config.max_error_rate` allows."""
    io.detect_format(config.input)  # a missing or unreadable input fails before the model loads
    out = sharding.shard_folder(config.output, config.num_shards, config.shard_index)
    summary = GenerateSummary(output=str(out))
    fewshot = (templates.load_fewshot(config.fewshot, config.fewshot_k, seed=config.sampling.seed)
               if config.fewshot else None)
    writer = io.ShardWriter(out, shard_size=config.shard_size, fmt=config.format)
    rejects = io.RejectLog(out / "rejected" / "rejected.jsonl")
    failures = FailureLog(out / ERRORS_FILE)
    total = _count_prompts(config) if progress else None
    owned = backend is None
    start = time.monotonic()
    try:
        prompts = io.read_records(config.input, rejects, config.read)
        if config.limit is not None:
            prompts = islice(prompts, config.limit)
        prompts = sharding.select(prompts, config.num_shards, config.shard_index)  # after limit
        if backend is None:
            backend = get_backend(config.backend, config.model, **backend_options(
                config.backend, config.backend_options, batch_size=config.batch_size,
                concurrency=config.concurrency))
        with _progress(progress) as bar:
            task = bar.add_task("generate", total=total, samples_s=0.0, tokens_s=0.0)

            def skipped(_: Record) -> None:
                summary.prompts_resumed += 1
                bar.advance(task)

            def finished(_: Record) -> None:
                summary.prompts_done += 1
                elapsed = time.monotonic() - start
                bar.update(task, advance=1, samples_s=summary.samples_written / elapsed,
                           tokens_s=summary.tokens_out / elapsed)

            for record in generate_records(
                prompts, backend, config.sampling, config.template, system=config.system,
                fewshot=fewshot, special_token=config.special_token, done=writer, on_skip=skipped,
                failures=failures, on_prompt=finished,
            ):
                if writer.write(record):
                    summary.add(record)
        writer.close()
    finally:
        rejects.close()
        failures.close()
        if backend is not None and hasattr(backend, "server_report"):
            summary.servers = backend.server_report()
        if owned and backend is not None:
            backend.close()
    summary.prompts_rejected = rejects.count
    summary.samples_failed = failures.count
    summary.failures = failures.to_dict()
    summary.seconds = time.monotonic() - start
    _write_summary(out / "generate_summary.json", summary, config, rejects.reasons)
    failures.check(summary.samples_written + summary.samples_failed, config.max_error_rate, summary)
    return summary


# Figures that add up over the runs that filled one folder; the others describe the last run.
_CUMULATIVE = ("samples_written", "samples_truncated", "tokens_in", "tokens_out", "seconds")


def _write_summary(path: Path, summary: GenerateSummary, config: GenerateConfig,
                   rejected_reasons: dict[str, int]) -> None:
    """generate_summary.json for the whole folder: a resumed run adds its figures to those of the
    runs before it rather than replacing them with its own (zeros, when all was already done)."""
    saved = {**summary.to_dict(), "config": asdict(config), "rejected_reasons": rejected_reasons}
    try:
        before = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    except ValueError:
        before = {}
    if before:
        total = GenerateSummary(**{k: before.get(k, 0) + getattr(summary, k) for k in _CUMULATIVE})
        saved.update({k: getattr(total, k) for k in _CUMULATIVE},
                     truncation_rate=total.truncation_rate, samples_per_second=total.samples_per_second,
                     tokens_per_second=total.tokens_per_second,
                     runs=before.get("runs", 1) + 1, last_run=summary.to_dict())
    io.write_json(path, saved)


def run_and_report(config: GenerateConfig, *, progress: bool = True) -> GenerateSummary:
    """`run`, then its summary table on stdout (also when samples failed and `GenerationFailed`
    ends the run with exit code 3) and a line on stderr for rejected prompt rows."""
    try:
        summary = run(config, progress=progress)
    except GenerationFailed as exc:
        Console().print(render_summary(exc.summary))
        raise
    Console().print(render_summary(summary))
    if summary.prompts_rejected:
        rejected = Path(config.output) / "rejected" / "rejected.jsonl"
        Console(stderr=True).print(f"[yellow]{summary.prompts_rejected} prompt rows rejected "
                                   f"(see {rejected})")
    return summary


def render_summary(summary: GenerateSummary):
    """A rich table of a run's figures."""
    table = Table(title=f"r1data generate -> {summary.output}", show_header=False)
    rows = [
        ("prompts generated", f"{summary.prompts_done:,}"),
        ("prompts resumed (already done)", f"{summary.prompts_resumed:,}"),
        ("prompt rows rejected", f"{summary.prompts_rejected:,}"),
        ("samples written", f"{summary.samples_written:,}"),
        ("truncated (finish_reason=length)", f"{summary.samples_truncated:,} ({summary.truncation_rate:.1%})"),
        ("failed after retries (not written)", _failures_cell(summary)),
        ("tokens in / out", f"{summary.tokens_in:,} / {summary.tokens_out:,}"),
        ("throughput", f"{summary.samples_per_second:.2f} samples/s, {summary.tokens_per_second:.1f} tokens/s"),
        ("time", f"{summary.seconds:.1f} s"),
    ]
    if summary.servers:
        rows.append(("servers", _servers_cell(summary.servers)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def _servers_cell(servers: dict[str, Any]) -> str:
    """One line per server: requests answered, and whether (and why) it was taken out."""
    lines = []
    for s in servers["servers"]:
        line = f"{s['url']}: {s['ok']:,} answered"
        if s["times_taken_out"]:
            line += (f", taken out {s['times_taken_out']}x ({s['last_error']})"
                     f"{', still out' if s['out_now'] else ', back in'}")
        lines.append(line)
    if servers["requests_moved"]:
        lines.append(f"{servers['requests_moved']:,} requests moved to another server")
    return "\n".join(lines)


def _failures_cell(summary: GenerateSummary) -> str:
    if not summary.samples_failed:
        return "0"
    kinds = "; ".join(f"{kind} x{v['count']}: {v['first'].partition(':')[2].strip()[:120]}"
                      for kind, v in summary.failures.items())
    return f"{summary.samples_failed:,} ({kinds})"
