"""Select questions and answers by the measures that moved distilled students (issue #30).

OpenThoughts3's ablations (arXiv 2506.04178) and open-r1's releases found that filtering
questions by difficulty (a model's pass rate, or its response length) beat classifier filters,
that several answers per question helped, and that easy questions hurt. This stage keeps:

  questions   whose pass rate (k samples of a model, scored by the same verifiers as rejection
              sampling) is in `pass_rate` (inclusive), and whose mean answer length is in
              `mean_length`;
  answers     not an outlier in length for their question or domain (modified z-score of the
              log length, median/MAD, over `outlier_z`), at most `max_answers` per question,
              and only for questions with at least `min_answers` answers left.

Pass rates come from, in order: a `pass_rates.jsonl` (rejection sampling writes one), the
input's own verdicts (its samples are k samples of a model; unverified ones are verified here),
or k fresh samples from `sampler` (any backend). Lengths are in words (`base.count_words`): no
tokenizer is needed and the ranking is the same.

Two passes: a scan computes each question's pass rate, mean length, answer count and the length
bounds; then a datatrove pipeline of `RecordFilter`s (one per choice, each with its drop reason)
keeps or drops each sample, so dropped samples land in `dropped/<filter>/` with their reason as
everywhere else. It runs as one task: the answer cap counts a question's answers in input order.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from r1data import io
from r1data.atomic import write_bytes
from r1data.record import META_PASS_RATE, Record
from r1data.launch.executors import LocalExecutor
from r1data.verifiers.dispatch import verify_records

from r1data.filters.adapters import DroppedRecordWriter, RecordReader, RecordWriter
from r1data.filters.base import count_words
from r1data.filters.correctness_filter import CorrectnessFilter
from r1data.filters.selection import (AnswerCountFilter, LengthOutlierFilter, MeanLengthFilter,
                                      PassRateFilter, length_bounds)

OUTLIER_SCOPES = ("question", "domain")


@dataclass
class SelectConfig:
    """What `r1data select` keeps.

    # questions
    pass_rate: (low, high) inclusive range of a question's pass rate, or None for any.
    pass_rates: a pass_rates.jsonl ({"prompt_id", "pass_rate"} rows) to reuse.
    mean_length: (low, high) inclusive range of a question's mean answer length (words).
    # answers
    correct_only: keep only answers whose last verdict is correct (the chain's CorrectnessFilter).
    max_answers / min_answers: at most this many answers per question; only questions that have
        at least `min_answers` (after outliers, before the cap: min 4 with max 1 keeps one answer
        of questions a model answered 4 times). None: any.
    outliers: "question" or "domain": drop answers whose length is an outlier there; None: keep.
    outlier_z: the modified z-score (0.6745 * |log len - median| / MAD) beyond which it is one.
    # sampling (only for questions without a pass rate and without verdicts)
    sampler: {"backend", "model", ...backend options} to sample `k` answers per question.
    k: samples per question for a pass rate.
    # output
    output_format: jsonl, parquet or verl (kept/ in verl's prompt layout, as filter writes it).
    """

    # questions
    pass_rate: tuple[float, float] | None = None
    pass_rates: str | None = None
    mean_length: tuple[float, float] | None = None
    # answers
    correct_only: bool = False
    max_answers: int | None = None
    min_answers: int | None = None
    outliers: str | None = None
    outlier_z: float = 3.5
    # sampling
    sampler: dict | None = None
    k: int = 8
    # output
    output_format: str = "jsonl"
    extra: dict = field(default_factory=dict)  # free notes copied into the card (e.g. a recipe name)

    def __post_init__(self):
        for name in ("pass_rate", "mean_length"):
            value = getattr(self, name)
            if value is not None:
                low, high = (float(v) for v in value)
                if low > high or low < 0:
                    raise ValueError(f"{name}: need 0 <= low <= high, got {low}:{high}")
                setattr(self, name, (low, high))
        if self.pass_rate and not 0 <= self.pass_rate[0] <= self.pass_rate[1] <= 1:
            raise ValueError("pass_rate: a range inside 0:1")
        if self.outliers not in (None, *OUTLIER_SCOPES):
            raise ValueError(f"outliers: one of {', '.join(OUTLIER_SCOPES)}, got {self.outliers!r}")
        for name in ("max_answers", "min_answers", "k"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.output_format not in io.OUTPUT_FORMATS:
            raise ValueError(f"output_format: one of {', '.join(io.OUTPUT_FORMATS)}")


def parse_range(text: str | None) -> tuple[float, float] | None:
    """'0.1:0.6' -> (0.1, 0.6); '200:' -> (200, inf); None stays None.

    >>> parse_range("0.1:0.6"), parse_range(":300")
    ((0.1, 0.6), (0.0, 300.0))
    """
    if text is None:
        return None
    low, sep, high = text.partition(":")
    if not sep:
        raise ValueError(f"a range is LOW:HIGH, got {text!r}")
    return float(low or 0), float(high) if high else math.inf


# -- the scan: one row per question --------------------------------------------------------------


@dataclass
class Question:
    domain: str = "math"
    lengths: list[int] = field(default_factory=list)
    correct_lengths: list[int] = field(default_factory=list)  # of the answers verified correct
    correct: int = 0
    verified: int = 0
    pass_rate: float | None = None
    kept_answers: int = 0  # answers left after the length outliers

    @property
    def mean_length(self) -> float:
        return statistics.fmean(self.lengths) if self.lengths else 0.0


def scan(input: str | Path, config: SelectConfig, read_options=None) -> dict[str, Question]:
    """Each question's lengths, verdicts and pass rate (see the module docstring for where the
    rate comes from)."""
    questions: dict[str, Question] = defaultdict(Question)
    unverified: list[Record] = []
    for record in io.read_records(input, None, read_options):
        q = questions[record.prompt_id or record.id]
        q.domain = record.domain or q.domain
        q.lengths.append(count_words(record.completion or ""))
        if record.verdicts:
            _count_verdict(q, record)
        elif record.gold not in (None, "", []):
            unverified.append(record)
    for record in verify_records(unverified):
        _count_verdict(questions[record.prompt_id or record.id], record)
    known = _read_pass_rates(config.pass_rates) if config.pass_rates else {}
    for pid, q in questions.items():
        q.pass_rate = known.get(pid, q.correct / q.verified if q.verified else None)
    if config.pass_rate and config.sampler:
        missing = [pid for pid, q in questions.items() if q.pass_rate is None]
        if missing:
            _sample_pass_rates(input, set(missing), questions, config, read_options)
    return dict(questions)


def _count_verdict(q: Question, record: Record) -> None:
    q.verified += 1
    if record.verdicts[-1].get("correct") is True:
        q.correct += 1
        q.correct_lengths.append(count_words(record.completion or ""))


def _read_pass_rates(path: str) -> dict[str, float]:
    rates = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                row = json.loads(line)
                if "prompt_id" not in row or "pass_rate" not in row:
                    raise ValueError(f"{path}:{number}: a pass_rates row needs prompt_id and pass_rate")
                if row["pass_rate"] is not None:
                    rates[str(row["prompt_id"])] = float(row["pass_rate"])
    return rates


def _sample_pass_rates(input, missing: set[str], questions: dict[str, Question],
                       config: SelectConfig, read_options) -> None:
    """k fresh answers per question from `config.sampler`, verified by the same verifiers."""
    from r1data.backends import SamplingConfig, get_backend

    options = dict(config.sampler)
    max_tokens = int(options.pop("max_tokens", 1024))
    backend = get_backend(options.pop("backend", "transformers"), options.pop("model", None), **options)
    prompts: dict[str, Record] = {}
    for record in io.read_records(input, None, read_options):
        pid = record.prompt_id or record.id
        if pid in missing and pid not in prompts and record.gold not in (None, "", []):
            prompts[pid] = Record.from_prompt(record.prompt, id=pid, gold=record.gold, domain=record.domain)
    order = list(prompts)
    sampling = SamplingConfig(n=config.k, temperature=0.6, top_p=0.95, max_tokens=max_tokens)
    try:
        outputs = backend.generate([[{"role": "user", "content": prompts[p].prompt}] for p in order],
                                   sampling, keys=order)
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    for pid, completions in zip(order, outputs):
        samples = [prompts[pid].with_completion(c.text or "", sample_index=i)
                   for i, c in enumerate(completions)]
        verify_records(samples)
        questions[pid].pass_rate = sum(r.verdicts[-1].get("correct") is True for r in samples) / len(samples)



# -- the run ----------------------------------------------------------------------------------------


def build_filters(questions: dict[str, Question], config: SelectConfig, dropped) -> list:
    """The filters for the choices made, in order: questions first, then answers.
    `dropped(name)` gives a filter's exclusion writer."""
    steps = []
    if config.pass_rate:
        rates = {pid: q.pass_rate for pid, q in questions.items()}
        steps.append(PassRateFilter(rates, *config.pass_rate, exclusion_writer=dropped("pass_rate")))
    if config.mean_length:
        means = {pid: q.mean_length for pid, q in questions.items()}
        steps.append(MeanLengthFilter(means, *config.mean_length, exclusion_writer=dropped("mean_length")))
    if config.correct_only:
        steps.append(CorrectnessFilter(exclusion_writer=dropped(CorrectnessFilter.name)))
    bounds = None
    if config.outliers:
        groups: dict[str, list[int]] = defaultdict(list)
        for pid, q in questions.items():
            groups[pid if config.outliers == "question" else q.domain].extend(q.lengths)
        bounds = length_bounds(groups, config.outlier_z)
        steps.append(LengthOutlierFilter(bounds, config.outliers, exclusion_writer=dropped("length_outlier")))
    if config.max_answers or config.min_answers:
        available = {}
        for pid, q in questions.items():
            low, high = (bounds or {}).get(pid if config.outliers == "question" else q.domain, (0, math.inf))
            lengths = q.correct_lengths if config.correct_only else q.lengths
            available[pid] = sum(low <= n <= high for n in lengths)
        steps.append(AnswerCountFilter(available, config.max_answers, config.min_answers,
                                       exclusion_writer=dropped("answers_per_question")))
    return steps


def run(config: SelectConfig, input: str | Path, output: str | Path, read_options=None,
        on_stage=None) -> dict[str, Any]:
    """Select from `input` into `output` (kept/, dropped/<filter>/, prompts.jsonl,
    selection.json, README.md);
    returns the summary written to selection.json."""
    output = Path(output)
    if on_stage:
        on_stage("scan: pass rates and lengths")
    questions = scan(input, config, read_options)
    fmt = "jsonl" if config.output_format == "verl" else config.output_format

    def dropped(name):
        return DroppedRecordWriter(output / "dropped" / name, name, name, fmt)

    pipeline = [RecordReader(input, rejected_folder=output / "rejected", options=read_options),
                *build_filters(questions, config, dropped), RecordWriter(output / "kept", fmt)]
    if on_stage:
        on_stage("select")
    # Not built by launch.executors.datatrove_executor: a rerun must redo the one task
    # (skip_completed=False), since the scan before it is redone too and the old kept/ may come
    # from other choices. Its console follows --verbose as the filter chain's does.
    stats = LocalExecutor(pipeline, tasks=1, workers=1, logging_dir=str(output / ".logs"),
                          skip_completed=False).run()
    (output / "kept").mkdir(parents=True, exist_ok=True)
    summary = summarize(questions, config, _step_counts(stats), output)
    write_prompts(output / "kept", output / "prompts.jsonl")
    if config.output_format == "verl":  # after the summary, which reads kept/ as records
        io.convert_to_verl(output / "kept")
    io.write_json(output / "selection.json", summary)
    (output / "README.md").write_text(card(summary), encoding="utf-8")
    return summary


def write_prompts(kept: Path, path: Path) -> int:
    """OUTPUT/prompts.jsonl: one record per kept question, without answers, its pass rate in
    metadata: the prompt file `r1data train grpo --prompts` reads (RL prompt curation by pass
    rate, as open-r1 does it)."""
    seen, lines = set(), []
    for record in _kept(kept):
        pid = record.prompt_id or record.id
        if pid in seen:
            continue
        seen.add(pid)
        prompt = Record.from_prompt(record.prompt, id=pid, gold=record.gold, domain=record.domain,
                                    kind=record.kind, source=record.source)
        if META_PASS_RATE in record.metadata:
            prompt.metadata[META_PASS_RATE] = record.metadata[META_PASS_RATE]
        lines.append(json.dumps(prompt.to_dict(), ensure_ascii=False) + "\n")
    write_bytes(path, "".join(lines).encode("utf-8"))
    return len(lines)


def _kept(folder: Path):
    """The kept records; none when nothing was kept (datatrove then writes no file)."""
    return io.read_records(folder) if io.shard_files(folder) else iter(())


def _step_counts(stats) -> dict[str, dict[str, int]]:
    """{filter name: {"seen", "dropped", reason: count}} from datatrove's merged stats."""
    counts = {}
    for step in stats.stats:
        name = step.name.split(": ", 1)[-1]
        values = {k: int(v.total if hasattr(v, "total") else v) for k, v in step.stats.items()}
        if "forwarded" in values or "dropped" in values:
            counts[name] = values
    return counts


# -- what was chosen: selection.json and the card --------------------------------------------------

RATE_BINS = [i / 10 for i in range(11)]
LENGTH_BINS = [0, 50, 100, 200, 400, 800, 1600, 3200, 6400, 12800, math.inf]


def histogram(values: list[float], edges: list[float]) -> list[int]:
    """Counts per [edges[i], edges[i+1]) bin, the last bin closed.

    >>> histogram([0.0, 0.5, 1.0], [0, 0.5, 1])
    [1, 2]
    """
    counts = [0] * (len(edges) - 1)
    for v in values:
        i = next((j for j in range(len(counts)) if v < edges[j + 1]), len(counts) - 1)
        counts[i] += 1
    return counts


def summarize(questions: dict[str, Question], config: SelectConfig,
              counts: dict[str, dict[str, int]], output: Path) -> dict[str, Any]:
    kept_lengths, kept_questions = [], set()
    for record in _kept(output / "kept"):
        kept_lengths.append(count_words(record.completion or ""))
        kept_questions.add(record.prompt_id or record.id)
    rates = [q.pass_rate for q in questions.values() if q.pass_rate is not None]
    kept_rates = [questions[p].pass_rate for p in kept_questions if questions[p].pass_rate is not None]
    all_lengths = [n for q in questions.values() for n in q.lengths]
    return {
        "config": {k: v for k, v in asdict(config).items() if k != "sampler"} | {
            "sampler": {k: v for k, v in (config.sampler or {}).items() if "key" not in k}},
        "questions": {"input": len(questions), "kept": len(kept_questions),
                      "without_pass_rate": len(questions) - len(rates)},
        "answers": {"input": len(all_lengths), "kept": len(kept_lengths)},
        "rejected_rows": sum(1 for f in (output / "rejected").glob("*.jsonl") for _ in open(f)),
        "filters": counts,
        "histograms": {
            "pass_rate": {"edges": RATE_BINS, "input": histogram(rates, RATE_BINS),
                          "kept": histogram(kept_rates, RATE_BINS)},
            "answer_words": {"edges": [e if e != math.inf else "inf" for e in LENGTH_BINS],
                             "input": histogram(all_lengths, LENGTH_BINS),
                             "kept": histogram(kept_lengths, LENGTH_BINS)}},
    }


def _bars(edges: list, before: list[int], after: list[int], fmt: str) -> list[str]:
    top = max(before + [1])
    rows = ["| bin | input | kept | |", "|---|---:|---:|---|"]
    for i, (b, a) in enumerate(zip(before, after)):
        label = f"{format(edges[i], fmt)}-{edges[i + 1] if edges[i + 1] == 'inf' else format(edges[i + 1], fmt)}"
        rows.append(f"| {label} | {b} | {a} | `{'#' * round(20 * a / top)}{'.' * round(20 * (b - a) / top)}` |")
    return rows


def card(summary: dict[str, Any]) -> str:
    """A Markdown card: each choice, what it dropped, and the histograms (kept `#`, dropped `.`)."""
    config, lines = summary["config"], ["# r1data select", "", "## Choices", ""]
    for key in ("pass_rate", "pass_rates", "mean_length", "correct_only", "max_answers", "min_answers", "outliers",
                "outlier_z", "k"):
        lines.append(f"- `{key}`: {config.get(key)}")
    if config.get("sampler"):
        lines.append(f"- `sampler`: {config['sampler']}")
    q, a = summary["questions"], summary["answers"]
    lines += ["", f"Questions kept: {q['kept']} of {q['input']} ({q['without_pass_rate']} without a "
              f"pass rate); answers kept: {a['kept']} of {a['input']}.", "", "## Drops", "",
              "| filter | seen | dropped | reasons |", "|---|---:|---:|---|"]
    for name, c in summary["filters"].items():
        reasons = ", ".join(f"{k[len('dropped_'):]} {v}" for k, v in c.items() if k.startswith("dropped_"))
        lines.append(f"| {name} | {c.get('total', 0)} | {c.get('dropped', 0)} | {reasons} |")
    h = summary["histograms"]
    lines += ["", "## Pass rate per question", ""]
    lines += _bars(h["pass_rate"]["edges"], h["pass_rate"]["input"], h["pass_rate"]["kept"], ".1f")
    lines += ["", "## Answer length (words)", ""]
    lines += _bars(h["answer_words"]["edges"], h["answer_words"]["input"], h["answer_words"]["kept"], "")
    return "\n".join(lines) + "\n"
