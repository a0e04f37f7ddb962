"""Rejection sampling (R1 section 2.3.3): sample many answers per prompt from the RL checkpoint,
keep the correct, readable ones.

    prompts -> n samples each (default 16)          r1data.generate (resumable, seeded)
            -> a gold for prompts that lack one     majority vote (flagged), see below
            -> verdicts                             r1data.verifiers.dispatch.verify_record
            -> optional generative judge            r1data.verifiers.judge, for what rules leave
                                                    undecided and for `judge_domains`
            -> per-prompt pass rate (difficulty)    metadata["pass_rate"], OUT/pass_rates.jsonl
            -> optional difficulty filter           drop prompts solved by all / by none
            -> the filter chain                     readability (mixed language, long paragraphs,
                                                    code blocks), format, dedup, decontamination,
                                                    correctness with at most k per prompt, where
                                                    near-identical traces count once

A prompt without a gold answer gets a pseudo-label: the answer most of its samples give, when that
answer's vote share reaches `min_vote_share`; every sample then carries
`metadata["pseudo_label"] = {answer, vote_share, votes}` so the corpus says which golds were voted.
Votes count the final answers the math extractor finds (boxed or last number), grouped by
mathematical equivalence as in eval's cons@k (`r1data.evaluate.majority_vote`); a prompt whose
answers cannot be extracted (free text, code without tests) or whose vote is too split is dropped
as `no_consensus`.

R1 judged the samples no rule can check with a generative reward model (DeepSeek-V3, given the
reference and the prediction). With `judge` set (a model, like `teacher`), every sample that has a
gold but whose rule verdict is undecided (a free-text reference, say), and every sample of a
domain in `judge_domains`, is judged: the judge's verdict is appended to the sample's trail
(verifier `judge`, its reasoning in `judgement`) and decides. Pseudo-labelled prompts are never
judged: their label is the samples' own vote.

`plan` answers "what will the big run cost?" from a small pilot: it runs the stage on
`pilot_prompts` prompts and extrapolates pass rate, tokens per sample, kept samples per prompt
and the measured throughput to the prompts, samples, tokens and hours that `target_samples`
kept samples need.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from r1data import sharding
from r1data.backends.base import SamplingConfig
from r1data.config import from_dict
from r1data.evaluate import majority_vote, math_equivalent
from r1data.filters.chain import FilterChainConfig
from r1data.io import RejectLog, read_records, write_json
from r1data.pipelines import stage_parts
from r1data.pipelines.summary import StageOutput, StageSummary
from r1data.record import META_PASS_RATE, META_PSEUDO_LABEL, Record, accept_plain
from r1data.schemas import ReadOptions
from r1data.verifiers import extract_math_answer
from r1data.verifiers.dispatch import verdict_entry, verify_records
from r1data.verifiers.judge import judge
from r1data.verifiers.math import normalize

STAGE = "rejection_sampling"


@dataclass
class RejectionSamplingConfig(sharding.Sharded):
    """One rejection-sampling run.

    input: prompts with gold answers or tests (any format r1data reads; columns guessed, or
        named by prompt_column / gold_column).
    output: the stage folder (kept/, dropped/, stats.json, pass_rates.jsonl).
    limit: use only the first `limit` prompts.
    num_shards / shard_index: run only shard i of N of the prompts (after `limit`), into
        `output/shard-<i>-of-<N>/` (see `r1data.sharding`).
    domain: the domain of prompts that carry none ("general"), which routes verification.
    # generation
    teacher: the RL checkpoint that samples (see stage_parts.TeacherConfig).
    template / system: how a prompt is put to it (see r1data.templates).
    sampling: n samples per prompt (R1: several; default 16), temperature, max_tokens, seed.
    # selection
    keep_per_prompt: at most this many correct samples per prompt (k).
    near_identical: similarity at which two traces of one prompt count once.
    min_vote_share: the vote share a majority answer needs to become a pseudo-label.
    accept_plain: also accept a plain step-by-step answer (no think block): its last paragraph,
        when it states the answer, becomes the summary (r1data.record.accept_plain). Off by default.
    judge: the generative judge (a stage_parts.TeacherConfig mapping, e.g. an OpenAI-compatible server
        serving a large model), or None for rules only.
    judge_domains: domains whose samples always go to the judge (rules never decide them).
    judge_max_tokens: tokens the judge may write per verdict.
    drop_solved_by_all / drop_solved_by_none: difficulty filter on per-prompt pass rates.
    filters: the filter chain (filters.chain.FilterChainConfig); correctness is always on.
    # budget
    pilot_prompts: prompts the `plan` pilot runs on.
    target_samples: kept samples the planned run should yield (R1: about 600K).
    """

    input: str = ""
    output: str = "rejection_sampling"
    prompt_column: str | None = None
    gold_column: str | None = None
    limit: int | None = None
    domain: str = "math"
    # generation
    teacher: stage_parts.TeacherConfig = field(default_factory=stage_parts.TeacherConfig)
    template: str = "chat"
    system: str | None = None
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(n=16))
    # selection
    keep_per_prompt: int = 4
    near_identical: float = 0.8
    min_vote_share: float = 0.6
    accept_plain: bool = False
    judge: stage_parts.TeacherConfig | None = None
    judge_domains: list[str] = field(default_factory=list)
    judge_max_tokens: int = 1024
    drop_solved_by_all: bool = False
    drop_solved_by_none: bool = False
    filters: FilterChainConfig = field(default_factory=FilterChainConfig)
    # budget
    pilot_prompts: int = 16
    target_samples: int = 600_000

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sampling, self.teacher, self.filters = stage_parts.nested(
            self.sampling, self.teacher, self.filters)
        if not self.input:
            raise ValueError("rejection sampling needs an input file of prompts")
        if self.keep_per_prompt < 1:
            raise ValueError("keep_per_prompt must be at least 1")
        if not 0 < self.min_vote_share <= 1:
            raise ValueError("min_vote_share must be in (0, 1]")
        if isinstance(self.judge, dict):
            self.judge = from_dict(stage_parts.TeacherConfig, self.judge)
        if self.judge_domains and self.judge is None:
            raise ValueError("judge_domains needs a judge model (judge: {backend, model})")
        if self.pilot_prompts < 1 or self.target_samples < 1:
            raise ValueError("pilot_prompts and target_samples must be at least 1")

    def chain(self) -> FilterChainConfig:
        """The filter chain with correctness forced on and capped at k per prompt."""
        correctness = {**(self.filters.correctness or {}), "max_per_prompt": self.keep_per_prompt,
                       "near_identical": self.near_identical}
        return dataclasses.replace(self.filters, correctness=correctness)


# -- pieces --------------------------------------------------------------------------------


def prepare_prompts(records, domain: str, limit: int | None, folder: Path) -> int:
    """The prompts to sample, with the default domain filled in, written to `folder`."""
    def prepared():
        for i, record in enumerate(records):
            if limit is not None and i >= limit:
                return
            if record.domain == "general":
                record.domain = domain
            yield record

    return stage_parts.write_prompts(prepared(), folder)


def final_answer(record: Record) -> str | None:
    """The normalised final answer a sample gives (for the majority vote), or None."""
    answer = extract_math_answer(record.answer or record.completion)
    return normalize(answer) if answer else None


def majority(samples: list[Record]) -> tuple[str | None, float, int]:
    """(answer, vote share, votes) of the answer most samples give, grouped by mathematical
    equivalence ("0.5" and "\\frac12" vote together): the same vote as eval's cons@k.

    Ties go to the answer seen first, so the label does not depend on hash order.
    """
    answers = [final_answer(r) for r in samples]
    winner, votes = majority_vote(answers, math_equivalent)
    if winner is None:
        return None, 0.0, 0
    return answers[winner], votes / len(samples), votes


def needs_judge(record: Record, config: RejectionSamplingConfig) -> bool:
    """Whether the generative judge decides this verified sample (see the module docstring)."""
    if record.gold in (None, "", []) or META_PSEUDO_LABEL in record.metadata:
        return False
    return record.domain in config.judge_domains or record.verdicts[-1].get("correct") is None


def judge_samples(records: list[Record], judge_backend, max_tokens: int) -> None:
    """Append the judge's verdict to each record's trail (one batch of requests)."""
    items = [{"question": r.prompt, "reference": r.gold if isinstance(r.gold, str) else json.dumps(r.gold),
              "prediction": r.completion} for r in records]
    for record, verdict in zip(records, judge(judge_backend, items, max_tokens=max_tokens)):
        verdict.details["verifier"] = "judge"
        record.verdicts = [*record.verdicts, verdict_entry(verdict)]


def label_and_verify(group: list[Record], config: RejectionSamplingConfig,
                     drop, judge_backend=None) -> tuple[list[Record], dict[str, Any] | None]:
    """Verify one prompt's samples (pseudo-labelling it first when it has no gold, asking the
    judge where `judge_backend` is given); returns the samples to filter further and the prompt's
    pass-rate row. Samples set aside go to `drop`."""
    usable = []
    for record in group:
        if record.finish_reason == "error":
            drop(record, "generation_error")
            continue
        if config.accept_plain:
            accept_plain(record)
        usable.append(record)
    if not usable:
        return [], None
    pseudo = None
    if usable[0].gold in (None, "", []):
        answer, share, votes = majority(usable)
        if answer is None or share < config.min_vote_share:
            for record in usable:
                drop(record, "no_consensus")
            return [], {"prompt_id": usable[0].prompt_id, "samples": len(usable), "correct": None,
                        "pass_rate": None, "pseudo_label": None, "vote_share": share}
        pseudo = {"answer": answer, "vote_share": share, "votes": votes}
        for record in usable:
            record.gold = answer
            record.metadata = {**record.metadata, META_PSEUDO_LABEL: pseudo}
    verify_records(usable)  # code samples run concurrently
    if judge_backend is not None:
        to_judge = [r for r in usable if needs_judge(r, config)]
        if to_judge:
            judge_samples(to_judge, judge_backend, config.judge_max_tokens)
    correct = sum(stage_parts.is_correct(r) for r in usable)
    rate = correct / len(usable)
    for record in usable:
        record.metadata = {**record.metadata, META_PASS_RATE: rate}
    row = {"prompt_id": usable[0].prompt_id, "samples": len(usable), "correct": correct,
           "pass_rate": rate, "pseudo_label": pseudo["answer"] if pseudo else None}
    reason = ("solved_by_all" if config.drop_solved_by_all and rate == 1.0 else
              "solved_by_none" if config.drop_solved_by_none and rate == 0.0 else None)
    if reason:
        for record in usable:
            drop(record, reason)
        return [], row
    return usable, row


# -- the stage -----------------------------------------------------------------------------


def run(config: RejectionSamplingConfig, progress=None, backend=None,
        read_options: ReadOptions | None = None) -> StageSummary:
    """Run the stage into `config.output` (see the module docstring); returns its summary.
    `read_options`: how `config.input` is laid out (the command's --columns, --schema).

    `backend`: an already open backend to use (e.g. shared between stages); else the teacher's
    is opened and closed here.
    """
    started = time.time()
    out = sharding.shard_folder(config.output, config.num_shards, config.shard_index)
    prompts_dir = stage_parts.work_dir(out, "prompts")
    samples_dir = stage_parts.work_dir(out, "samples")
    verified_dir = stage_parts.work_dir(out, "verified")
    with RejectLog(out / "rejected" / "prompts.jsonl") as rejects:
        columns = (read_options or ReadOptions()).mapped(prompt=config.prompt_column,
                                                         gold=config.gold_column)
        own = sharding.take(read_records(config.input, rejects, columns), config.limit,
                            config.num_shards, config.shard_index)
        n_prompts = prepare_prompts(own, config.domain,
                                    config.limit, prompts_dir)
    owned = backend is None
    backend = backend or config.teacher.open()
    try:
        generation = stage_parts.generate_into(samples_dir, prompts_dir, backend, config.sampling,
                                         config.template, teacher=config.teacher,
                                         system=config.system, progress=bool(progress))
    finally:
        if owned:
            backend.close()

    own = StageOutput(out, kept_dir=None, dropped_dir=f"dropped/{STAGE}")
    rates = []
    n_samples = 0
    judge_backend = config.judge.open() if config.judge else None
    try:
        with stage_parts.rewrite(verified_dir) as verified:
            for group in stage_parts.by_prompt(stage_parts.samples(samples_dir)):
                n_samples += len(group)
                usable, row = label_and_verify(group, config, lambda r, why: own.drop(r, why, STAGE),
                                               judge_backend)
                verified.write_many(usable)
                if row:
                    rates.append(row)
    finally:
        if judge_backend is not None:
            judge_backend.close()
    _write_rows(out / "pass_rates.jsonl", rates)

    chain_stats = stage_parts.filter_into(out, verified_dir, config.chain())
    own.close()
    drops = Counter(own.dropped) + stage_parts.chain_drops(chain_stats)
    rated = [r["pass_rate"] for r in rates if r["pass_rate"] is not None]
    summary = StageSummary(
        stage=STAGE, inputs=n_prompts + rejects.count, kept=chain_stats.get("kept", 0),
        dropped=dict(drops), seconds=round(time.time() - started, 3), output=str(out),
        config=dataclasses.asdict(config),
        extra={
            "inputs": [config.input], "prompts": n_prompts, "unreadable_prompts": rejects.count,
            "samples": n_samples,
            "generation": generation.to_dict(),
            "pass_rate_mean": sum(rated) / len(rated) if rated else None,
            "sample_pass_rate": (sum(r["correct"] for r in rates if r["correct"] is not None)
                                 / max(1, sum(r["samples"] for r in rates if r["correct"] is not None))),
            "solved_by_all": sum(r == 1.0 for r in rated), "solved_by_none": sum(r == 0.0 for r in rated),
            "pseudo_labelled_prompts": sum(1 for r in rates if r.get("pseudo_label")),
            "filters": chain_stats.get("filters", {}),
        },
    )
    summary.write(out)
    return summary


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


# -- the budget ----------------------------------------------------------------------------


def plan(config: RejectionSamplingConfig, progress=None, backend=None,
         read_options: ReadOptions | None = None) -> dict[str, Any]:
    """Run a pilot on `pilot_prompts` prompts and extrapolate the cost of reaching
    `target_samples` kept samples; written to OUT/plan.json and returned."""
    pilot_out = stage_parts.work_dir(config.output, "pilot")
    shutil.rmtree(pilot_out, ignore_errors=True)  # a fresh pilot: resumed samples measure no speed
    pilot = dataclasses.replace(config, output=str(pilot_out), limit=config.pilot_prompts)
    figures = budget(run(pilot, progress=progress, backend=backend, read_options=read_options),
                     config)
    write_json(Path(config.output) / "plan.json", figures)
    return figures


def budget(pilot: StageSummary, config: RejectionSamplingConfig) -> dict[str, Any]:
    """The full run's cost, extrapolated linearly from a pilot run's summary.

    Kept samples per prompt (after verification, filters and the k cap) sets how many prompts
    the target needs; each prompt costs n samples; tokens and hours follow from the pilot's
    tokens per sample and measured samples per second. None where the pilot kept nothing.
    """
    gen = pilot.extra["generation"]
    prompts = pilot.extra["prompts"] or 1
    samples = max(1, gen["samples_written"])
    kept_per_prompt = pilot.kept / prompts
    tokens_per_sample = gen["tokens_out"] / samples
    prompts_needed = math.ceil(config.target_samples / kept_per_prompt) if kept_per_prompt else None
    samples_needed = prompts_needed * config.sampling.n if prompts_needed else None
    rate = gen["samples_per_second"]
    return {
        "pilot_prompts": prompts, "pilot_samples": gen["samples_written"],
        "samples_per_prompt": config.sampling.n,
        "pass_rate": pilot.extra["sample_pass_rate"],
        "prompt_pass_rate_mean": pilot.extra["pass_rate_mean"],
        "kept_per_prompt": kept_per_prompt, "tokens_per_sample": tokens_per_sample,
        "truncation_rate": gen["truncation_rate"],
        "samples_per_second": rate, "tokens_per_second": gen["tokens_per_second"],
        "target_samples": config.target_samples, "prompts_needed": prompts_needed,
        "samples_needed": samples_needed,
        "tokens_needed": round(samples_needed * tokens_per_sample) if samples_needed else None,
        "hours": samples_needed / rate / 3600 if samples_needed and rate else None,
        "teacher": {"backend": config.teacher.backend, "model": config.teacher.model},
    }


def plan_table(figures: dict[str, Any]):
    """The plan as a rich Table (what `--plan` prints)."""
    table = Table(title=f"rejection sampling budget (pilot of {figures['pilot_prompts']} prompts)",
                  show_header=False)

    def fmt(value, spec=",.0f"):
        return "n/a (the pilot kept nothing)" if value is None else format(value, spec)

    rows = [
        ("teacher", f"{figures['teacher']['model']} ({figures['teacher']['backend']})"),
        ("pass rate (correct samples / samples)", fmt(figures["pass_rate"], ".1%")),
        ("kept samples per prompt", fmt(figures["kept_per_prompt"], ".2f")),
        ("tokens per sample", fmt(figures["tokens_per_sample"], ",.0f")),
        ("truncated samples", fmt(figures["truncation_rate"], ".1%")),
        ("measured throughput", f"{figures['samples_per_second']:.2f} samples/s, "
                                f"{figures['tokens_per_second']:,.0f} tokens/s"),
        ("target kept samples", fmt(figures["target_samples"])),
        ("prompts needed", fmt(figures["prompts_needed"])),
        ("samples to generate", fmt(figures["samples_needed"])),
        ("tokens to generate", fmt(figures["tokens_needed"])),
        ("hours at the measured throughput", fmt(figures["hours"], ",.1f")),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
