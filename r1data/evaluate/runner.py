"""Running an evaluation: the config, the benchmark questions and their prompts, generation of
the missing samples (resumable, one backend for every benchmark), verification of each sample,
the per-question details and the results.json / details.jsonl files, and reading a results file
back. The figures come from `metrics`; the file layout is described in `r1data.evaluate`.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from r1data import __version__, io, sharding
from r1data import benchmark_sets as bench
from r1data.backends import backend_options, get_backend
from r1data.backends.base import SamplingConfig
from r1data.config import ConfigError
from r1data.evaluate.metrics import benchmark_metrics, question_metrics
from r1data.generate import generate_records
from r1data.io import InputError
from r1data.record import META_SAMPLE_INDEX, Record
from r1data.verifiers.dispatch import VerifyOptions, verify_batch

SCHEMA = "r1data.eval/1"

# The question text each kind of benchmark gets. The math line is DeepSeek-R1's evaluation prompt
# (also used by its distilled models' model cards); the other two are ours, in the same spirit.
INSTRUCTIONS = {
    "math": "Please reason step by step, and put your final answer within \\boxed{}.",
    "choice": "Please reason step by step, and put the letter of the correct option within \\boxed{}.",
    "code": "Write the solution as a Python function in a single ```python code block.",
}


@dataclass
class EvalConfig(sharding.Sharded):
    """One evaluation run.

    benchmarks: names from `r1data.benchmark_sets.BENCHMARKS` (or one comma-separated string, or "all").
    output: folder of generations, results.json and details.jsonl (rerun to resume).
    limit: evaluate only the first `limit` questions of each benchmark.
    pass_k: the k of pass@k to report (default: 1, the powers of two below n, and n).

    backend / model / backend_options: see `backends.get_backend`.
    batch_size: transformers: sequences generated together. concurrency: openai: requests in flight.
    template: how questions are rendered (`templates.TEMPLATES`; default the model's chat template).
    system: optional system prompt.
    instruction: the line appended to every question instead of `INSTRUCTIONS[kind]` (R1's
        `\\boxed{}` line for math), for a model or task that answers in another form; the
        verifier still reads any form it knows ("The answer is N.", `<answer>` tags, ...).

    sampling: n (= k samples per question), temperature, top_p, max_tokens, seed, stop.
    verify_timeout: seconds for one math check (sympy) or one program's tests.
    num_shards / shard_index: generate only shard i of N of the questions (after `limit`), into
        `generations/<benchmark>/shard-<i>-of-<N>/`, and score nothing; a run without shards
        then finds every sample and scores them all (see `r1data.sharding`).
    """

    benchmarks: list[str] | str = field(default_factory=lambda: ["gsm8k"])  # a str is split
    output: str = "eval"
    limit: int | None = None
    pass_k: list[int] | None = None
    # model
    backend: str = "transformers"
    model: str = "smollm2-135m"
    backend_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 16
    concurrency: int = 32
    # prompting
    template: str = "chat"
    system: str | None = None
    instruction: str | None = None
    # sampling and checking
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(n=4))
    verify_timeout: float = 10.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.sampling, dict):
            self.sampling = SamplingConfig(**self.sampling)
        if isinstance(self.benchmarks, str):
            self.benchmarks = bench.parse_names(self.benchmarks)
        else:
            bench.parse_names(",".join(self.benchmarks))
        if not self.benchmarks:
            raise ValueError("benchmarks: name at least one")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be at least 1")
        for k in self.pass_k or []:
            if not 1 <= k <= self.sampling.n:
                raise ValueError(f"pass_k: {k} is not between 1 and the number of samples {self.sampling.n}")
        if self.verify_timeout <= 0:
            raise ValueError("verify_timeout must be positive")
        if self.instruction is not None and not self.instruction.strip():
            raise ValueError("instruction: give the line to append, or leave it unset for R1's")

    @property
    def ks(self) -> list[int]:
        if self.pass_k:
            return sorted(set(self.pass_k))
        n = self.sampling.n
        return sorted({1, n, *(2 ** i for i in range(1, n.bit_length()) if 2 ** i < n)})


# -- questions, prompts and verdicts ------------------------------------------------------------

def kind_of(benchmark: str) -> str:
    """'math', 'choice' or 'code': which instruction and vote a benchmark gets (the verifier
    itself is chosen per item by `r1data.verifiers.dispatch.route`)."""
    domain = bench.load(benchmark)[0]["domain"] if benchmark != "humaneval" else "code"
    return {d: kind for kind, d in bench.VERIFIER_DOMAINS.items()}[domain]


def question_text(item: dict[str, Any], kind: str, instruction: str | None = None) -> str:
    """What the model is asked: the item's prompt, its options (multiple choice), the instruction
    (`instruction`, or the kind's default from `INSTRUCTIONS`)."""
    text = item["prompt"]
    if kind == "choice":
        text += "\n\n" + "\n".join(f"{chr(65 + i)}) {c}" for i, c in enumerate(item["choices"]))
    elif kind == "code" and item["benchmark"] == "humaneval":
        text = f"Complete this Python function:\n```python\n{text}```"
    return f"{text}\n\n{instruction or INSTRUCTIONS[kind]}"


def question_records(benchmark: str, limit: int | None, instruction: str | None = None) -> list[Record]:
    kind = kind_of(benchmark)
    items = bench.scored_items(benchmark)
    items = items[:limit] if limit else items
    return [Record.from_prompt(question_text(item, kind, instruction), id=item["id"], gold=item["gold"],
                               domain=item["domain"], source=benchmark,
                               metadata={"item": {k: v for k, v in item.items()
                                                  if k in ("choices", "setup", "entry_point")}})
            for item in items]


def verify_samples(question: Record, samples: list[Record], timeout: float) -> list[dict]:
    """One details entry per sample: its completion, extracted answer and verdict, routed by
    `r1data.verifiers.dispatch` exactly as the stages and `r1data verify` route (the item's options and
    setup code are what the choice and code verifiers read)."""
    item = question.metadata.get("item", {})
    options = VerifyOptions(math_timeout=timeout, code_timeout=timeout)
    judged = [dataclasses.replace(s, gold=question.gold, domain=question.domain, metadata=item)
              for s in samples]
    return [{
        "index": s.metadata[META_SAMPLE_INDEX], "completion": s.completion,
        "extracted": v.extracted, "correct": v.correct, "score": v.score, "reason": v.reason,
        "finish_reason": s.finish_reason, "completion_tokens": s.completion_tokens,
    } for s, v in zip(samples, verify_batch(judged, options))]


# -- the run ------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _instructions(config: EvalConfig) -> dict[str, str]:
    """The line each kind of question gets in this run."""
    return {kind: config.instruction or line for kind, line in INSTRUCTIONS.items()}


def _generation_settings(config: EvalConfig) -> dict[str, Any]:
    """What decides the samples: a resumed run must not mix samples made under other settings.
    n is left out on purpose: sample i does not depend on n, so k may grow or shrink on resume."""
    sampling = {k: v for k, v in asdict(config.sampling).items() if k != "n"}
    return {"backend": config.backend, "model": config.model, "template": config.template,
            "system": config.system, "instructions": _instructions(config), "sampling": sampling,
            "backend_options": config.backend_options}


def _check_resume(out: Path, config: EvalConfig) -> None:
    path = out / "eval_settings.json"
    settings = json.loads(json.dumps(_generation_settings(config)))
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise ConfigError(f"{out} holds samples made with other settings ({', '.join(changed)}):"
                              " use a new --output folder, or the same settings to resume")
    else:
        io.write_json(path, settings)


def _read_samples(folder: Path, n: int) -> dict[str, list[Record]]:
    """Samples already generated, by question id, sample order, the first n of each."""
    by_question: dict[str, list[Record]] = {}
    if folder.exists():
        # A killed run leaves its last samples in an in-progress shard: the writer recovers its
        # complete lines and closing it makes them a finished shard that readers see.
        io.ShardWriter(folder, shard_size=1000).close()
    if folder.exists() and io.shard_files(folder):
        for record in io.read_records(folder):
            if record.metadata.get(META_SAMPLE_INDEX, n) < n:
                by_question.setdefault(record.prompt_id or "", []).append(record)
    for samples in by_question.values():
        samples.sort(key=lambda r: r.metadata[META_SAMPLE_INDEX])
    return by_question



def _generate(config: EvalConfig, todo: dict[str, list[Record]], out: Path, progress: Any,
              backend_info: dict[str, Any]) -> None:
    """Generate the missing samples of every benchmark with one backend, loaded only if needed."""
    if not any(todo.values()):
        return
    with get_backend(config.backend, config.model, **backend_options(
            config.backend, config.backend_options, batch_size=config.batch_size,
            concurrency=config.concurrency)) as backend:
        backend_info.update(backend.info())
        for name, questions in todo.items():
            if not questions:
                continue
            task = progress.add_task(f"generate {name}", total=len(questions) * config.sampling.n)
            folder = sharding.shard_folder(out / "generations" / name, config.num_shards,
                                           config.shard_index)
            with io.ShardWriter(folder, shard_size=1000) as writer:
                progress.advance(task, sum(f"{q.id}/{i}" in writer for q in questions
                                           for i in range(config.sampling.n)))
                for record in generate_records(questions, backend, config.sampling, config.template,
                                               system=config.system, done=writer):
                    if writer.write(record):
                        progress.advance(task)
            progress.remove_task(task)


def score(name: str, questions: list[Record], samples: dict[str, list[Record]], config: EvalConfig,
          on_question: Any = None) -> list[dict[str, Any]]:
    """The details rows of a benchmark: each question's samples verified, with its figures."""
    kind, n = kind_of(name), config.sampling.n
    rows = []
    for question in questions:
        got = samples.get(question.id, [])
        if len(got) < n:
            raise RuntimeError(f"{name}/{question.id}: {len(got)} of {n} samples generated")
        checked = verify_samples(question, got, config.verify_timeout)
        rows.append({"benchmark": name, "id": question.id, "question": question.prompt,
                     "gold": question.gold, "samples": checked,
                     **question_metrics(checked, config.ks, kind, config.verify_timeout)})
        if on_question:
            on_question()
    return rows


def run(config: EvalConfig, *, progress: bool = True, command: list[str] | None = None) -> dict[str, Any]:
    """Generate (resuming), verify and score every benchmark of `config`; write results.json and
    details.jsonl into `config.output` and return the results."""
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, config)
    started, start = _now(), time.monotonic()
    n = config.sampling.n
    questions = {name: question_records(name, config.limit, config.instruction) for name in config.benchmarks}
    backend_info: dict[str, Any] = {"backend": config.backend, "model": config.model}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not progress) as bar:
        todo = {}
        for name, records in questions.items():
            have = _read_samples(out / "generations" / name, n)
            own = sharding.select(records, config.num_shards, config.shard_index)
            todo[name] = [q for q in own if len(have.get(q.id, [])) < n]
        _generate(config, todo, out, bar, backend_info)
        if config.num_shards > 1:  # a shard only generates: the run without shards scores all
            return {"shard": f"{config.shard_index} of {config.num_shards}",
                    "generated": {name: len(qs) for name, qs in todo.items()}}

        results: dict[str, Any] = {}
        tmp = out / "details.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as details:
            for name, records in questions.items():
                task = bar.add_task(f"verify {name}", total=len(records))
                rows = score(name, records, _read_samples(out / "generations" / name, n), config,
                             on_question=lambda: bar.advance(task))
                details.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
                results[name] = {"kind": kind_of(name), **benchmark_metrics(rows, config.ks, kind_of(name))}
        tmp.replace(out / "details.jsonl")  # atomic: a reader never sees half a details file

    if "dtype" not in backend_info:
        backend_info.update(_recorded_backend(out, config))
    report = {
        "schema": SCHEMA,
        "run": {
            "model": config.model, "backend": backend_info, "sampling": asdict(config.sampling),
            "seeding": "sample i of question q is seeded by sample_seed(seed, q, i)",
            "template": config.template, "system": config.system, "instructions": _instructions(config),
            "limit": config.limit, "pass_k": config.ks, "verify_timeout": config.verify_timeout,
            "r1data": __version__, "python": platform.python_version(),
            "platform": platform.platform(), "command": command or sys.argv,
            "started": started, "finished": _now(), "wall_s": round(time.monotonic() - start, 1),
        },
        "benchmarks": results,
        "details": "details.jsonl",
    }
    io.write_json(out / "results.json", report)
    return report


def _recorded_backend(out: Path, config: EvalConfig) -> dict[str, Any]:
    """Backend facts (versions, dtype) from the samples' provenance when nothing was generated in
    this run (a fully resumed run does not load the model)."""
    for name in config.benchmarks:
        folder = out / "generations" / name
        if folder.exists() and io.shard_files(folder):
            for record in io.read_records(folder):
                return {k: v for k, v in record.provenance.items()
                        if k not in ("sampling", "template", "r1data", "seed", "time", "system")}
    return {}


# -- reading results ----------------------------------------------------------------------------

def load_results(path: str | Path) -> dict[str, Any]:
    """A results.json (or the folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    if not path.exists():
        raise InputError(f"no results file at {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a results file: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise InputError(f"{path} is not an r1data eval results file (schema {SCHEMA})")
    return data
