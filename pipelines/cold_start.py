"""Cold start (R1 section 2.3.1): a few thousand long, readable chains of thought, collected three
ways, then verified and kept only when correct and readable.

    few_shot    few-shot prompting with long-CoT examples (template "few-shot"; the bundled
                examples, or your own file)
    reflection  prompting for detailed answers with reflection and verification (template
                "readable" plus an instruction to reflect and check each step)
    refine      rewriting existing R1-Zero outputs (`refine_input`) into the readable format

Every answer must come back in a readable form: the few-shot examples' think block, or R1's
`|special_token|<reasoning_process>|special_token|<summary>`; an answer that is neither, or has no
closing summary, is dropped (`not_readable`, `no_summary`). Kept samples are stored in the one
SFT form (`<think>reasoning</think>` then the summary), verified against the prompt's gold, and
passed through the filter chain (readability, format, dedup, decontamination, correctness with at
most `keep_per_prompt` samples per prompt).

Samples of one prompt made by different methods share its `prompt_id` (so the per-prompt cap
spans methods) and carry the method in `metadata["cold_start_method"]`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from r1data import sharding
from r1data.backends.base import SamplingConfig
from r1data.filters.chain import FilterChainConfig
from r1data.io import RejectLog, read_records
from r1data.schemas import ReadOptions
from r1data.record import Record, assistant_content
from r1data.record import accept_plain as reshape_plain
from r1data.templates import SPECIAL_TOKEN
from r1data.pipelines import stage_parts
from r1data.pipelines.recipe import package_path
from r1data.pipelines.summary import StageOutput, StageSummary

STAGE = "cold_start"
METHODS = ("few_shot", "reflection", "refine")
METHOD_KEY = "cold_start_method"
ORIGINAL_ID = "cold_start_prompt_id"

# R1 names the method, not its wording: these instructions are ours.
REFLECTION_SYSTEM = (
    "Solve the problem with a detailed answer. Reason step by step; after each important step, "
    "reflect on it and verify it (recompute, or check it another way) before you go on."
)
REFINE_PROMPT = (
    "Below is a question and a draft solution written in a terse, hard-to-read style. Rewrite the "
    "solution so that a reader can follow it: keep its reasoning and its final answer, write in "
    "clear sentences in one language, and end with a short summary that states the answer.\n\n"
    "Question:\n{question}\n\nDraft solution:\n{draft}"
)


@dataclass
class ColdStartConfig(sharding.Sharded):
    """One cold-start collection run.

    input: reasoning prompts with gold answers (any format r1data reads).
    output: the stage folder (kept/, dropped/, stats.json).
    limit: use only the first `limit` prompts.
    domain: the domain of prompts that carry none, which routes verification.
    methods: any of few_shot, reflection, refine.
    num_shards / shard_index: run only shard i of N of the prompts (after `limit`), into
        `output/shard-<i>-of-<N>/` (see `r1data.sharding`).
    # generation
    teacher: the model that writes the samples (stage_parts.TeacherConfig).
    sampling: samples per prompt and method, temperature, max_tokens, seed.
    fewshot / fewshot_k: long-CoT example solutions for few_shot (default: the bundled ones).
    reflection_system: the instruction of the reflection method.
    refine_input: R1-Zero-style outputs (records with a completion and a gold) to refine.
    special_token: the marker of the readable format.
    accept_plain: also accept a plain step-by-step answer (no think block, no special tokens)
        whose last paragraph states the final answer: the paragraphs before it become the
        reasoning and that paragraph the summary (`split_plain`). Off by default (R1 keeps only
        answers written in the readable form); the demo turns it on because a 135M teacher
        never writes think tags on its own.
    # selection
    keep_per_prompt: at most this many correct samples per prompt (over all methods).
    filters: the filter chain (filters.chain.FilterChainConfig); correctness is always on.
    """

    input: str = ""
    output: str = "cold_start"
    prompt_column: str | None = None
    gold_column: str | None = None
    limit: int | None = None
    domain: str = "math"
    methods: list[str] = field(default_factory=lambda: ["few_shot", "reflection"])
    # generation
    teacher: stage_parts.TeacherConfig = field(default_factory=stage_parts.TeacherConfig)
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(n=4))
    fewshot: str = "r1data://data/prompts/cold_start_examples.jsonl"
    fewshot_k: int = 2
    reflection_system: str = REFLECTION_SYSTEM
    refine_input: str | None = None
    special_token: str = SPECIAL_TOKEN
    accept_plain: bool = False
    # selection
    keep_per_prompt: int = 1
    filters: FilterChainConfig = field(default_factory=FilterChainConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sampling, self.teacher, self.filters = stage_parts.nested(
            self.sampling, self.teacher, self.filters)
        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"methods must be a non-empty list of {', '.join(METHODS)}; got {self.methods}")
        if "refine" in self.methods and not self.refine_input:
            raise ValueError("the refine method needs refine_input (R1-Zero outputs to refine)")
        if any(m != "refine" for m in self.methods) and not self.input:
            raise ValueError("few_shot and reflection need an input file of prompts")
        if self.keep_per_prompt < 1:
            raise ValueError("keep_per_prompt must be at least 1")
        self.fewshot = package_path(self.fewshot)

    def chain(self) -> FilterChainConfig:
        correctness = {**(self.filters.correctness or {}), "max_per_prompt": self.keep_per_prompt}
        return dataclasses.replace(self.filters, correctness=correctness)


# -- prompts per method --------------------------------------------------------------------


def _tagged(record: Record, method: str) -> Record:
    """The prompt record under a per-method id (sample ids must not collide across methods)."""
    original = record.prompt_id or record.id
    tagged = dataclasses.replace(record, id=f"{original}#{method}", prompt_id=f"{original}#{method}",
                                 metadata={**record.metadata, METHOD_KEY: method, ORIGINAL_ID: original})
    return tagged


def method_prompts(config: ColdStartConfig, method: str, rejects: RejectLog,
                   read_options: ReadOptions | None = None):
    # the config's prompt_column/gold_column name columns the command's options leave open
    columns = (read_options or ReadOptions()).mapped(prompt=config.prompt_column,
                                                     gold=config.gold_column)
    if method == "refine":
        for i, draft in enumerate(sharding.take(read_records(config.refine_input, rejects), config.limit,
                                                config.num_shards, config.shard_index)):
            if config.limit is not None and i >= config.limit:
                return
            if not draft.completion:
                continue
            request = Record.from_prompt(REFINE_PROMPT.format(question=draft.prompt, draft=draft.completion),
                                         id=draft.prompt_id or draft.id, gold=draft.gold,
                                         domain=draft.domain, source=draft.source, language=draft.language)
            request.metadata = {"question": draft.prompt, "refined_from": draft.id}
            yield _tagged(_default_domain(request, config.domain), method)
        return
    for i, record in enumerate(sharding.take(read_records(config.input, rejects, columns), config.limit,
                                             config.num_shards, config.shard_index)):
        if config.limit is not None and i >= config.limit:
            return
        yield _tagged(_default_domain(record, config.domain), method)


def _default_domain(record: Record, domain: str) -> Record:
    if record.domain == "general":
        record.domain = domain
    return record


# -- shaping the answers -------------------------------------------------------------------


def shape(sample: Record, accept_plain: bool = False) -> tuple[Record, str | None]:
    """The sample in the SFT form, under its original prompt id; or a drop reason.

    `generate` already split a readable-format answer at its special tokens, and a think-block
    answer at `</think>`; what is left here is to refuse answers in neither form and to rebuild
    the conversation (for refine: the original question, not the rewrite request).
    """
    method = sample.metadata.get(METHOD_KEY)
    original = sample.metadata.get(ORIGINAL_ID, sample.prompt_id)
    index = sample.metadata.get("sample_index", 0)
    sample.id = f"{original}#{method}/{index}"
    sample.prompt_id = original
    if method == "refine":
        sample.prompt = sample.metadata.get("question", sample.prompt)
    if accept_plain:
        reshape_plain(sample)
    if not sample.reasoning:
        return sample, "not_readable"
    if not (sample.answer or "").strip():
        return sample, "no_summary"
    sample.messages = [{"role": "user", "content": sample.prompt},
                       {"role": "assistant", "content": assistant_content(sample.reasoning, sample.answer)}]
    return sample, None


# -- the stage -----------------------------------------------------------------------------


def run(config: ColdStartConfig, progress=None, backend=None,
        read_options: ReadOptions | None = None) -> StageSummary:
    """Collect, shape, verify and filter cold-start samples into `config.output`;
    `read_options` say how `config.input` is laid out (the command's --columns, --schema)."""
    started = time.time()
    out = sharding.shard_folder(config.output, config.num_shards, config.shard_index)
    own = StageOutput(out, kept_dir=None, dropped_dir=f"dropped/{STAGE}")
    owned = backend is None
    backend = backend or config.teacher.open()
    generations = {}
    prompts: Counter = Counter()
    try:
        with RejectLog(out / "rejected" / "prompts.jsonl") as rejects:
            for method in config.methods:
                folder = stage_parts.work_dir(out, f"prompts_{method}")
                prompts[method] = stage_parts.write_prompts(method_prompts(config, method, rejects, read_options), folder)
                fewshot = config.fewshot if method == "few_shot" else None
                template = "few-shot" if method == "few_shot" else "readable"
                system = config.reflection_system if method == "reflection" else None
                generations[method] = stage_parts.generate_into(
                    stage_parts.work_dir(out, f"samples_{method}"), folder, backend, config.sampling, template,
                    teacher=config.teacher, system=system, fewshot=fewshot, fewshot_k=config.fewshot_k,
                    progress=bool(progress)).to_dict()
    finally:
        if owned:
            backend.close()

    def shape_and_verify(sample: Record) -> tuple[Record, str | None]:
        sample, reason = shape(sample, config.accept_plain)
        return (sample, reason) if reason else (stage_parts.verify(sample), None)

    verified_dir = stage_parts.work_dir(out, "verified")
    samples = stage_parts.shape_into(verified_dir, [(stage_parts.work_dir(out, f"samples_{method}"), shape_and_verify)
                                              for method in config.methods], own, STAGE)
    chain_stats = stage_parts.filter_into(out, verified_dir, config.chain())
    own.close()
    kept_methods = Counter(r.metadata.get(METHOD_KEY) for r in stage_parts.samples(out / "kept"))
    return stage_parts.stage_summary(
        STAGE, out, config, started, sum(prompts.values()) + rejects.count, own, chain_stats,
        inputs=[p for p in (config.input, config.refine_input) if p],
        prompts_per_method=dict(prompts), samples=samples, kept_per_method=dict(kept_methods),
        generation=generations, unreadable_prompts=rejects.count)
