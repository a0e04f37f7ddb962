"""Evaluation under R1's protocol: k samples per question, pass@1 as the mean over them, cons@k.

    results = evaluate.run(EvalConfig(benchmarks=["gsm8k"], samples=4, output="eval/run1"))
    evaluate.compare(results_a, results_b)

What is measured (R1 section 3; defaults temperature 0.6, top-p 0.95, 32,768 new tokens):

* pass@1: for each question the fraction p_q of its k samples judged correct; pass@1 is the mean
  of p_q over the Q questions, with the standard error of that mean, sqrt(var(p_q) / Q) (sample
  variance, Q - 1 in the denominator; None for Q < 2). The questions are what varies between
  reruns and test sets, so the error bar is over questions, as in Miller 2024 "Adding error bars
  to evals".
* pass@k (Chen et al. 2021, the HumanEval paper): the unbiased estimator 1 - C(n-c, k) / C(n, k)
  per question (n samples, c correct), averaged over questions, for each chosen k <= n.
* cons@k: a majority vote over the extracted answers of the k samples. Answers vote together when
  they are equivalent, not when their strings are equal ("0.5", "1/2" and "\\frac{1}{2}" are one
  vote): math answers are grouped by the math verifier's own equivalence (`verify_math` of one
  answer against the group's first answer, after a cheap normalised-string match), choice answers
  by their letter. Groups are formed in sample order; the largest group wins and a tie goes to the
  group whose first answer came earliest (lowest sample index), so the vote is deterministic. A
  sample with no extracted answer does not vote; a question where none voted counts as wrong.
  The vote is correct when the winning group's first answer was judged correct. Programs have no
  answer to vote on, so cons@k is None for code benchmarks.
* truncation rate (finish_reason "length") and mean completion tokens, over all samples.

A sample the verifier cannot decide (correct None: timeout, unparseable gold) counts as wrong and
is counted under `undecided`, never as correct.

Files in `output/`: `generations/<benchmark>/` (the samples, written by the generation engine,
so a run killed at any point resumes where it stopped and reuses every finished sample),
`results.json` (the metrics and everything needed to reproduce them) and `details.jsonl` (one line
per question: question, gold, each sample with its extracted answer and verdict, the vote).
Because sample i of a question is seeded by (seed, question id, i), rerunning with a larger k
keeps the first samples and only draws the new ones.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from r1data import __version__, benchmarks as bench
from r1data.backends.base import SamplingConfig
from r1data.errors import ConfigError
from r1data.record import META_SAMPLE_INDEX, Record

SCHEMA = "r1data.eval/1"

# The question text each kind of benchmark gets. The math line is DeepSeek-R1's evaluation prompt
# (also used by its distilled models' model cards); the other two are ours, in the same spirit.
INSTRUCTIONS = {
    "math": "Please reason step by step, and put your final answer within \\boxed{}.",
    "choice": "Please reason step by step, and put the letter of the correct option within \\boxed{}.",
    "code": "Write the solution as a Python function in a single ```python code block.",
}


@dataclass
class EvalConfig:
    """One evaluation run.

    benchmarks: names from `r1data.benchmarks.BENCHMARKS` (or one comma-separated string, or "all").
    output: folder of generations, results.json and details.jsonl (rerun to resume).
    limit: evaluate only the first `limit` questions of each benchmark.
    pass_k: the k of pass@k to report (default: 1, the powers of two below n, and n).

    backend / model / backend_options: see `backends.get_backend`.
    batch_size: transformers: sequences generated together. concurrency: openai: requests in flight.
    template: how questions are rendered (`templates.TEMPLATES`; default the model's chat template).
    system: optional system prompt.

    sampling: n (= k samples per question), temperature, top_p, max_tokens, seed, stop.
    verify_timeout: seconds for one math check (sympy) or one program's tests.
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
    # sampling and checking
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(n=4))
    verify_timeout: float = 10.0

    def __post_init__(self) -> None:
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

    @property
    def ks(self) -> list[int]:
        if self.pass_k:
            return sorted(set(self.pass_k))
        n = self.sampling.n
        return sorted({1, n, *(2 ** i for i in range(1, n.bit_length()) if 2 ** i < n)})


# -- metrics ------------------------------------------------------------------------------------

def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased estimate of the chance that at least one of k samples is correct,
    given c correct out of n: 1 - C(n-c, k) / C(n, k), computed as a product (no huge binomials).

    >>> pass_at_k(4, 1, 1)
    0.25
    >>> round(pass_at_k(4, 2, 2), 4)  # 1 - C(2,2)/C(4,2) = 1 - 1/6
    0.8333
    """
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n and 1 <= k <= n (n={n}, c={c}, k={k})")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_and_stderr(values: Sequence[float]) -> tuple[float, float | None]:
    """The mean and its standard error sqrt(s^2 / Q), s^2 with Q - 1; stderr None for Q < 2.

    >>> mean_and_stderr([1.0, 0.0, 0.5, 0.5])
    (0.5, 0.2041241452319315)
    """
    q = len(values)
    if q == 0:
        return 0.0, None
    mean = sum(values) / q
    if q < 2:
        return mean, None
    var = sum((v - mean) ** 2 for v in values) / (q - 1)
    return mean, math.sqrt(var / q)


def majority_vote(answers: Sequence[str | None], same: Any = None) -> tuple[int | None, int]:
    """(index of the winning group's first sample, votes) of a vote over extracted answers.

    `same(a, b)` says whether two answers are equivalent (default: equal strings). Groups are
    formed in sample order, each answer joining the first group whose first answer it equals; the
    largest group wins, a tie goes to the group formed first. None answers do not vote; when no
    answer voted the result is (None, 0).

    >>> majority_vote(["3", "4", "4", "3"])  # tie: "3" came first
    (0, 2)
    >>> majority_vote([None, "5", "4", "4"])
    (2, 2)
    """
    same = same or (lambda a, b: a == b)
    groups: list[list[int]] = []  # sample indices, the first is the group's representative
    for i, answer in enumerate(answers):
        if answer is None:
            continue
        for group in groups:
            if same(answers[group[0]], answer):
                group.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return None, 0
    best = max(groups, key=len)  # max keeps the first of equal lengths: the earliest group
    return best[0], len(best)


def math_equivalent(a: str, b: str, timeout: float = 10.0) -> bool:
    """Do two extracted math answers name the same value? Normalised strings first, then the math
    verifier with `a` as the reference (the same check that judges correctness).

    >>> math_equivalent("0.5", "\\\\frac{1}{2}")
    True
    """
    from r1data.verifiers.math import normalize, verify_math

    if normalize(a) == normalize(b):
        return True
    return verify_math(f"\\boxed{{{b}}}", a, timeout=timeout).correct is True


def question_metrics(samples: Sequence[dict[str, Any]], ks: Iterable[int], kind: str,
                     timeout: float = 10.0) -> dict[str, Any]:
    """Per-question figures from its samples (dicts with `correct` and `extracted`, in sample
    order): pass_at_1, pass_at_k {k: value}, and the vote (None for code)."""
    n = len(samples)
    c = sum(s["correct"] is True for s in samples)
    out: dict[str, Any] = {
        "n": n, "correct": c, "pass_at_1": c / n if n else 0.0,
        "pass_at_k": {str(k): pass_at_k(n, c, k) for k in ks if k <= n},
    }
    if kind == "code":
        out["vote"] = None
        return out
    same = (lambda a, b: math_equivalent(a, b, timeout)) if kind == "math" else None
    winner, votes = majority_vote([s["extracted"] for s in samples], same)
    out["vote"] = {
        "answer": samples[winner]["extracted"] if winner is not None else None,
        "votes": votes, "sample": winner,
        "correct": winner is not None and samples[winner]["correct"] is True,
    }
    return out


def benchmark_metrics(questions: Sequence[dict[str, Any]], ks: Iterable[int], kind: str) -> dict[str, Any]:
    """Benchmark figures from the details rows of its questions (see `question_metrics`)."""
    samples = [s for q in questions for s in q["samples"]]
    pass1, stderr = mean_and_stderr([q["pass_at_1"] for q in questions])
    ks = [k for k in ks if questions and all(len(q["samples"]) >= k for q in questions)]
    tokens = [s["completion_tokens"] for s in samples if s.get("completion_tokens") is not None]
    count = len(samples) or 1
    return {
        "questions": len(questions),
        "samples_per_question": len(questions[0]["samples"]) if questions else 0,
        "pass_at_1": pass1,
        "pass_at_1_stderr": stderr,
        "pass_at_k": {str(k): sum(q["pass_at_k"][str(k)] for q in questions) / len(questions)
                      for k in ks},
        "cons_at_k": None if kind == "code" or not questions else
        sum(q["vote"]["correct"] for q in questions) / len(questions),
        "truncation_rate": sum(s["finish_reason"] == "length" for s in samples) / count,
        "mean_tokens": sum(tokens) / len(tokens) if tokens else None,
        "errors": sum(s["finish_reason"] == "error" for s in samples),
        "undecided": sum(s["correct"] is None for s in samples),
        "no_answer": sum(s["extracted"] is None for s in samples),
    }


# -- questions, prompts and verdicts ------------------------------------------------------------

def kind_of(benchmark: str) -> str:
    """'math', 'choice' or 'code': which instruction, verifier and vote a benchmark gets."""
    domain = bench.load(benchmark)[0]["domain"] if benchmark != "humaneval" else "code"
    return {"math": "math", "science": "choice", "code": "code"}[domain]


def question_text(item: dict[str, Any], kind: str) -> str:
    """What the model is asked: the item's prompt, its options (multiple choice), the instruction."""
    text = item["prompt"]
    if kind == "choice":
        text += "\n\n" + "\n".join(f"{chr(65 + i)}) {c}" for i, c in enumerate(item["choices"]))
    elif kind == "code" and item["benchmark"] == "humaneval":
        text = f"Complete this Python function:\n```python\n{text}```"
    return f"{text}\n\n{INSTRUCTIONS[kind]}"


def question_records(benchmark: str, limit: int | None) -> list[Record]:
    kind = kind_of(benchmark)
    items = bench.load(benchmark)[:limit] if limit else bench.load(benchmark)
    return [Record.from_prompt(question_text(item, kind), id=item["id"], gold=item["gold"],
                               domain=item["domain"], source=benchmark,
                               metadata={"item": {k: v for k, v in item.items()
                                                  if k in ("choices", "setup", "entry_point")}})
            for item in items]


def verify_samples(question: Record, samples: list[Record], kind: str, timeout: float) -> list[dict]:
    """One details entry per sample: its completion, extracted answer and verdict."""
    from r1data.verifiers import verify_choice, verify_math
    from r1data.verifiers.code import verify_code_many

    item = question.metadata.get("item", {})
    if kind == "math":
        verdicts = [verify_math(s.completion, question.gold, timeout=timeout) for s in samples]
    elif kind == "choice":
        verdicts = [verify_choice(s.completion, question.gold, item.get("choices")) for s in samples]
    else:
        verdicts = verify_code_many(
            [{"completion": s.completion, "tests": question.gold, "setup": item.get("setup", "")}
             for s in samples], timeout=timeout)
    return [{
        "index": s.metadata[META_SAMPLE_INDEX], "completion": s.completion,
        "extracted": v.extracted, "correct": v.correct, "score": v.score, "reason": v.reason,
        "finish_reason": s.finish_reason, "completion_tokens": s.completion_tokens,
    } for s, v in zip(samples, verdicts)]


# -- the run ------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _generation_settings(config: EvalConfig) -> dict[str, Any]:
    """What decides the samples: a resumed run must not mix samples made under other settings.
    n is left out on purpose: sample i does not depend on n, so k may grow or shrink on resume."""
    sampling = {k: v for k, v in asdict(config.sampling).items() if k != "n"}
    return {"backend": config.backend, "model": config.model, "template": config.template,
            "system": config.system, "instructions": INSTRUCTIONS, "sampling": sampling,
            "backend_options": config.backend_options}


def _check_resume(out: Path, config: EvalConfig) -> None:
    from r1data import io

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
    from r1data import io

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


def _backend_options(config: EvalConfig) -> dict[str, Any]:
    options = dict(config.backend_options)
    if config.backend == "transformers":
        options.setdefault("batch_size", config.batch_size)
    elif config.backend == "openai":
        options.setdefault("concurrency", config.concurrency)
    return options


def _generate(config: EvalConfig, todo: dict[str, list[Record]], out: Path, progress: Any,
              backend_info: dict[str, Any]) -> None:
    """Generate the missing samples of every benchmark with one backend, loaded only if needed."""
    from r1data import io
    from r1data.backends import get_backend
    from r1data.generate import generate_records

    if not any(todo.values()):
        return
    with get_backend(config.backend, config.model, **_backend_options(config)) as backend:
        backend_info.update(backend.info())
        for name, questions in todo.items():
            if not questions:
                continue
            task = progress.add_task(f"generate {name}", total=len(questions) * config.sampling.n)
            with io.ShardWriter(out / "generations" / name, shard_size=1000) as writer:
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
        checked = verify_samples(question, got, kind, config.verify_timeout)
        rows.append({"benchmark": name, "id": question.id, "question": question.prompt,
                     "gold": question.gold, "samples": checked,
                     **question_metrics(checked, config.ks, kind, config.verify_timeout)})
        if on_question:
            on_question()
    return rows


def run(config: EvalConfig, *, progress: bool = True, command: list[str] | None = None) -> dict[str, Any]:
    """Generate (resuming), verify and score every benchmark of `config`; write results.json and
    details.jsonl into `config.output` and return the results."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from r1data import io

    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, config)
    started, start = _now(), time.monotonic()
    n = config.sampling.n
    questions = {name: question_records(name, config.limit) for name in config.benchmarks}
    backend_info: dict[str, Any] = {"backend": config.backend, "model": config.model}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not progress) as bar:
        todo = {}
        for name, records in questions.items():
            have = _read_samples(out / "generations" / name, n)
            todo[name] = [q for q in records if len(have.get(q.id, [])) < n]
        _generate(config, todo, out, bar, backend_info)

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
            "template": config.template, "system": config.system, "instructions": INSTRUCTIONS,
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
    from r1data import io

    for name in config.benchmarks:
        folder = out / "generations" / name
        if folder.exists() and io.shard_files(folder):
            for record in io.read_records(folder):
                return {k: v for k, v in record.provenance.items()
                        if k not in ("sampling", "template", "r1data", "seed", "time", "system")}
    return {}


# -- reading and comparing results --------------------------------------------------------------

def load_results(path: str | Path) -> dict[str, Any]:
    """A results.json (or the folder holding one)."""
    from r1data.io import InputError

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


METRICS = ("pass_at_1", "cons_at_k", "truncation_rate", "mean_tokens", "questions")
LABELS = {"pass_at_1": "pass@1", "cons_at_k": "cons@k", "truncation_rate": "truncated",
          "mean_tokens": "mean tokens", "questions": "questions"}


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Row per (benchmark, metric) present in both results: a, b, diff = b - a, and for pass@1
    the standard error of the difference sqrt(se_a^2 + se_b^2) (independent runs), z = diff / se
    and `exceeds_se` (|diff| > se). Other metrics have no standard error (None)."""
    rows = []
    for name in [n for n in a["benchmarks"] if n in b["benchmarks"]]:
        ma, mb = a["benchmarks"][name], b["benchmarks"][name]
        keys = list(METRICS) + [f"pass_at_k/{k}" for k in ma.get("pass_at_k", {})
                                if k in mb.get("pass_at_k", {}) and k != "1"]
        for key in keys:
            va, vb = _metric(ma, key), _metric(mb, key)
            if va is None or vb is None:
                continue
            row = {"benchmark": name, "metric": key, "a": va, "b": vb, "diff": vb - va,
                   "se": None, "z": None, "exceeds_se": None}
            if key == "pass_at_1" and ma.get("pass_at_1_stderr") is not None \
                    and mb.get("pass_at_1_stderr") is not None:
                se = math.hypot(ma["pass_at_1_stderr"], mb["pass_at_1_stderr"])
                row["se"] = se
                row["z"] = (vb - va) / se if se > 0 else None
                row["exceeds_se"] = abs(vb - va) > se
            rows.append(row)
    return rows


def _metric(metrics: dict[str, Any], key: str) -> float | None:
    if key.startswith("pass_at_k/"):
        return metrics.get("pass_at_k", {}).get(key.split("/", 1)[1])
    return metrics.get(key)


# -- tables -------------------------------------------------------------------------------------

def render_results(results: dict[str, Any]):
    """A rich table: one row per benchmark."""
    from rich.table import Table

    run_info = results["run"]
    k = run_info["sampling"]["n"]
    table = Table(title=f"r1data eval: {run_info['model']} ({run_info['backend'].get('backend')}, "
                        f"k={k}, T={run_info['sampling']['temperature']}, "
                        f"top-p={run_info['sampling']['top_p']}, max {run_info['sampling']['max_tokens']} tokens)")
    ks = [x for x in run_info["pass_k"] if x != 1]
    for column in ["benchmark", "questions", "pass@1 ± se", f"cons@{k}",
                   *[f"pass@{x}" for x in ks], "truncated", "mean tokens"]:
        table.add_column(column, justify="left" if column == "benchmark" else "right")
    for name, m in results["benchmarks"].items():
        se = m["pass_at_1_stderr"]
        table.add_row(
            name, str(m["questions"]),
            f"{100 * m['pass_at_1']:.1f}" + (f" ± {100 * se:.1f}" if se is not None else ""),
            "n/a" if m["cons_at_k"] is None else f"{100 * m['cons_at_k']:.1f}",
            *[f"{100 * m['pass_at_k'][str(x)]:.1f}" if str(x) in m["pass_at_k"] else "-" for x in ks],
            f"{100 * m['truncation_rate']:.1f}%",
            "-" if m["mean_tokens"] is None else f"{m['mean_tokens']:.0f}",
        )
    return table


def render_compare(rows: list[dict[str, Any]], name_a: str, name_b: str):
    from rich.table import Table

    table = Table(title=f"A = {name_a}\nB = {name_b}")
    for column in ("benchmark", "metric", "A", "B", "B - A", "se of diff", "beyond 1 se"):
        table.add_column(column, justify="left" if column in ("benchmark", "metric") else "right")
    for r in rows:
        count = r["metric"] in ("mean_tokens", "questions")  # the rest are rates, in percent
        fmt = (lambda v: f"{v:.0f}") if count else (lambda v: f"{100 * v:.1f}")
        label = LABELS.get(r["metric"]) or r["metric"].replace("pass_at_k/", "pass@")
        table.add_row(r["benchmark"], label, fmt(r["a"]), fmt(r["b"]),
                      ("+" if r["diff"] >= 0 else "") + fmt(r["diff"]),
                      "-" if r["se"] is None else fmt(r["se"]),
                      "-" if r["exceeds_se"] is None else ("[bold]yes" if r["exceeds_se"] else "no"))
    return table
