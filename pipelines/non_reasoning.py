"""The non-reasoning half of R1's SFT data (section 2.3.3): writing, factual QA, self-cognition and
translation, answered by the teacher; trivial queries get no chain of thought.

R1: "for certain non-reasoning tasks, we call DeepSeek-V3 to generate a potential chain-of-thought
before answering the question by prompting. However, for simpler queries, such as 'hello' we do
not provide a CoT in response."

The routing rule (`route`), applied to the prompt text:

1. The text is normalised: lower case, punctuation, symbols and emoji removed, whitespace
   collapsed.
2. It is **trivial** (a direct answer, no chain of thought) when it is empty, or when it is made
   only of greeting / thanks / farewell / small-talk phrases (`TRIVIAL_PHRASES`, English and
   Chinese, plus any the config adds) and, at most, one or two filler words ("hi there",
   "thanks a lot", "good morning everyone").
3. It is also trivial when it has at most `max_trivial_words` words (each CJK character counts
   as a word) and no sign of a task: no digit, no question word (what, why, how many, 什么, ...)
   and no task verb (write, translate, explain, 写, 翻译, ...).
4. Everything else is routed to the teacher prompted to think before answering.

Reusing an existing SFT set (`reference_answers`, the CLI's `--from FILE`), as R1 reused
DeepSeek-V3's: a row that comes with an answer keeps it. A trivial prompt keeps it with no chain
of thought; another prompt keeps it as it is, or, with `add_cot`, the teacher is shown the question
and the reference answer and writes the chain of thought that leads there (R1 2.3.3: "we call
DeepSeek-V3 to generate a potential chain-of-thought before answering"); the stored answer is the
reference, never the teacher's rewording. Rows with no answer are prompts like any other.

A direct answer is stored with an empty think block (`<think>\\n\\n</think>\\n\\nanswer`, the
default, so every sample of the corpus has the same shape) or with none (`direct_format: none`).
A think-routed answer must come back with a non-empty think block and an answer after it;
otherwise it is dropped (`missing_reasoning`, `empty_answer`), never stored without its CoT.
"""

from __future__ import annotations

import dataclasses
import re
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from r1data import sharding
from r1data.backends.base import SamplingConfig
from r1data.filters.chain import FilterChainConfig
from r1data.io import RejectLog, read_records
from r1data.schemas import ReadOptions
from r1data.record import NON_REASONING, Record, assistant_content
from r1data.pipelines import stage_parts
from r1data.pipelines.recipe import package_path
from r1data.pipelines.summary import StageOutput, StageSummary

STAGE = "non_reasoning"
DIRECT, THINK = "direct", "think"
ROUTE_KEY = "route"
DIRECT_FORMATS = ("empty_think", "none")

TRIVIAL_PHRASES = (
    "hello", "hi", "hey", "hiya", "yo", "howdy", "greetings", "good morning", "good afternoon",
    "good evening", "good night", "morning", "evening", "thanks", "thank you", "thx", "ty",
    "cheers", "bye", "goodbye", "bye bye", "see you", "see you later", "see ya", "take care",
    "how are you", "how are you doing", "how is it going", "hows it going", "whats up", "sup",
    "nice to meet you", "ok", "okay", "cool", "great", "nice", "lol", "haha", "sorry", "welcome",
    "you are welcome", "youre welcome", "no problem",
    "你好", "您好", "嗨", "哈喽", "早上好", "早安", "中午好", "下午好", "晚上好", "晚安", "谢谢",
    "谢谢你", "多谢", "感谢", "再见", "拜拜", "回头见", "你好吗", "好的", "没问题", "不客气",
)
FILLERS = ("there", "everyone", "all", "again", "so", "much", "a", "lot", "very", "guys", "friend",
           "buddy", "mate", "too", "you", "啊", "呀", "呢", "哦", "们", "大家")
QUESTION_WORDS = ("what", "why", "how", "when", "where", "which", "who", "whom", "whose", "can",
                  "could", "would", "should", "is", "are", "do", "does", "did",
                  "什么", "为什么", "怎么", "如何", "哪", "谁", "几", "多少", "吗")
TASK_VERBS = ("write", "translate", "explain", "describe", "summarise", "summarize", "list",
              "give", "tell", "compose", "draft", "rewrite", "suggest", "define", "compare", "name",
              "写", "翻译", "解释", "介绍", "描述", "总结", "列出", "告诉", "说明")

THINK_SYSTEM = (
    "Before answering, think the request through: write your thinking inside <think> and </think>, "
    "then write your answer for the user after the closing tag."
)
DIRECT_SYSTEM = "Reply naturally and briefly. Do not explain your reasoning."
COT_SYSTEM = (
    "You are shown a request and the answer it received. Write, inside <think> and </think>, the "
    "thinking that leads to this answer, then repeat the answer after the closing tag."
)
REFERENCE_KEY = "reference_answer"  # the kept answer of a reused row, while its CoT is written
PROMPT_KEY = "original_prompt"

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalise(text: str) -> str:
    """Lower case, letters/digits/CJK only, single spaces (step 1 of the rule).

    >>> normalise("  Hi!!  there :) ")
    'hi there'
    """
    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    kept = "".join(ch if (ch.isalnum() or ch.isspace()) else " " for ch in text)
    return " ".join(kept.split())


def _words(norm: str) -> list[str]:
    out = []
    for token in norm.split():
        out += list(token) if _CJK.search(token) else [token]
    return out


def _only_phrases(norm: str, phrases: tuple[str, ...]) -> bool:
    """True when the text is made of trivial phrases and at most two filler words."""
    rest = f" {norm} "
    matched = False
    for phrase in sorted(phrases, key=len, reverse=True):  # longest first: "thank you" before "you"
        pattern = f" {phrase} " if not _CJK.search(phrase) else phrase
        while pattern in rest:
            rest = rest.replace(pattern, " ", 1)
            matched = True
    leftover = [w for w in _words(" ".join(rest.split())) if w not in FILLERS]
    return matched and not leftover and len(_words(" ".join(rest.split()))) <= 2


def route(prompt: str, max_trivial_words: int = 3, extra_phrases: tuple[str, ...] = ()) -> str:
    """"direct" for a trivial prompt (no chain of thought), "think" otherwise (module docstring).

    >>> [route(p) for p in ("hello", "Hi there!", "谢谢你！", "thanks a lot", "good morning everyone")]
    ['direct', 'direct', 'direct', 'direct', 'direct']
    >>> [route(p) for p in ("Who are you?", "Translate: cat", "What is 2+2?", "Write a haiku")]
    ['think', 'think', 'think', 'think']
    >>> route("lovely weather"), route("lovely weather today, isn't it"), route("")
    ('direct', 'think', 'direct')
    """
    norm = normalise(prompt)
    if not norm or _only_phrases(norm, TRIVIAL_PHRASES + tuple(p.lower() for p in extra_phrases)):
        return DIRECT
    words = _words(norm)
    has_task = (any(ch.isdigit() for ch in norm)
                or any(w in QUESTION_WORDS or w in TASK_VERBS for w in norm.split())
                or any(c in norm for c in QUESTION_WORDS + TASK_VERBS if _CJK.search(c)))
    return DIRECT if len(words) <= max_trivial_words and not has_task else THINK


@dataclass
class NonReasoningConfig(sharding.Sharded):
    """One non-reasoning generation run.

    input: prompts (default: the bundled set of ~50 writing, factual QA, self-cognition,
        translation and greeting prompts); a `language` column sets the target language.
    output: the stage folder (kept/, dropped/, stats.json).
    limit: use only the first `limit` prompts.
    num_shards / shard_index: run only shard i of N of the prompts (after `limit`), into
        `output/shard-<i>-of-<N>/` (see `r1data.sharding`).
    domain: the domain of prompts that carry none.
    # routing
    reference_answers: the input is an SFT set whose answers are kept (module docstring).
    add_cot: with reference_answers, the teacher writes a chain of thought for each kept answer
        of a non-trivial prompt.
    max_trivial_words: rule 3 of the routing (see the module docstring).
    trivial_phrases: more phrases that make a prompt trivial (rule 2).
    direct_format: empty_think (an empty think block) or none (no think block at all).
    # generation
    teacher: the model that answers (stage_parts.TeacherConfig).
    sampling: n, temperature, max_tokens, seed.
    think_system / direct_system / cot_system: the instructions for the two routes and for
        writing a chain of thought to a reference answer.
    # filters
    filters: the filter chain (filters.chain.FilterChainConfig); correctness does not apply.
    """

    input: str = "r1data://data/prompts/non_reasoning.jsonl"
    output: str = "non_reasoning"
    prompt_column: str | None = None
    limit: int | None = None
    domain: str = "general"
    reference_answers: bool = False
    add_cot: bool = False
    # routing
    max_trivial_words: int = 3
    trivial_phrases: list[str] = field(default_factory=list)
    direct_format: str = "empty_think"
    # generation
    teacher: stage_parts.TeacherConfig = field(default_factory=stage_parts.TeacherConfig)
    sampling: SamplingConfig = field(default_factory=lambda: SamplingConfig(n=1, temperature=0.7))
    think_system: str = THINK_SYSTEM
    direct_system: str = DIRECT_SYSTEM
    cot_system: str = COT_SYSTEM
    # filters
    filters: FilterChainConfig = field(default_factory=FilterChainConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.sampling, self.teacher, self.filters = stage_parts.nested(
            self.sampling, self.teacher, self.filters)
        if self.direct_format not in DIRECT_FORMATS:
            raise ValueError(f"direct_format must be one of {', '.join(DIRECT_FORMATS)}")
        if self.add_cot and not self.reference_answers:
            raise ValueError("add_cot needs reference_answers (the CLI's --from FILE)")
        if self.max_trivial_words < 0:
            raise ValueError("max_trivial_words must be >= 0")
        self.input = package_path(self.input)

    def chain(self) -> FilterChainConfig:
        # nothing to verify: a non-reasoning answer has no gold
        return dataclasses.replace(self.filters, correctness=None)


def prepare(record: Record, config: NonReasoningConfig) -> Record:
    record.kind = NON_REASONING
    language = record.metadata.pop("language", None)
    if isinstance(language, str) and language:
        record.language = language
    if record.domain == "general" and config.domain != "general":
        record.domain = config.domain
    record.metadata[ROUTE_KEY] = route(record.prompt, config.max_trivial_words,
                                       tuple(config.trivial_phrases))
    return record


def shape(sample: Record, direct_format: str) -> tuple[Record, str | None]:
    """The sample in its stored form, or a drop reason (see the module docstring)."""
    answer = (sample.answer or "").strip()
    if sample.metadata.get(ROUTE_KEY) == DIRECT:
        # a direct answer keeps no thinking, even if the model wrote some
        reasoning = "" if direct_format == "empty_think" else None
    else:
        reasoning = (sample.reasoning or "").strip()
        if not reasoning:
            return sample, "missing_reasoning"
    if not answer:
        return sample, "empty_answer"
    sample.reasoning, sample.answer = reasoning, answer
    sample.messages = [*[m for m in sample.messages if m["role"] != "assistant"],
                       {"role": "assistant", "content": assistant_content(reasoning, answer)}]
    return sample, None


def keep_reference(record: Record, direct_format: str, reasoning: str | None = None) -> Record:
    """A reused row in its stored form: its reference answer, with `reasoning` (a chain of
    thought the teacher wrote for it) or none (stored as `direct_format` says)."""
    answer = record.metadata.pop(REFERENCE_KEY, None) or (record.answer or "").strip()
    prompt = record.metadata.pop(PROMPT_KEY, None) or record.prompt
    if reasoning is None:
        reasoning = "" if direct_format == "empty_think" else None
    record.prompt, record.reasoning, record.answer = prompt, reasoning, answer
    turns = [m for m in record.messages if m["role"] == "system"]
    record.messages = [*turns, {"role": "user", "content": prompt},
                       {"role": "assistant", "content": assistant_content(reasoning, answer)}]
    return record


def cot_prompt(record: Record) -> Record:
    """The teacher's prompt for a chain of thought to a reference answer (same id as the row, so
    its samples map back to it)."""
    answer = (record.answer or "").strip()
    text = f"{record.prompt}\n\nThe answer it received:\n{answer}"
    return dataclasses.replace(
        Record.from_prompt(text, id=record.id, kind=NON_REASONING, domain=record.domain,
                           language=record.language, source=record.source),
        metadata={**record.metadata, REFERENCE_KEY: answer, PROMPT_KEY: record.prompt,
                  ROUTE_KEY: THINK})


def run(config: NonReasoningConfig, progress=None, backend=None,
        read_options: ReadOptions | None = None) -> StageSummary:
    """Route, generate, shape and filter the non-reasoning samples into `config.output`;
    `read_options` say how `config.input` is laid out (the command's --columns, --schema)."""
    started = time.time()
    out = sharding.shard_folder(config.output, config.num_shards, config.shard_index)
    own = StageOutput(out, kept_dir=None, dropped_dir=f"dropped/{STAGE}")
    routes: Counter = Counter()
    with RejectLog(out / "rejected" / "prompts.jsonl") as rejects:
        prompts, reused = [], []
        options = (read_options or ReadOptions()).mapped(prompt=config.prompt_column)
        rows = read_records(config.input, rejects, options)
        for i, record in enumerate(sharding.take(rows, config.limit, config.num_shards, config.shard_index)):
            if config.limit is not None and i >= config.limit:
                break
            record = prepare(record, config)
            has_answer = bool((record.answer or "").strip())
            (reused if config.reference_answers and has_answer else prompts).append(record)
            routes[record.metadata[ROUTE_KEY]] += 1
    # Reused rows: a trivial prompt keeps its answer with no CoT; another keeps the CoT it came
    # with, or gets one from the teacher (add_cot), or keeps its answer alone.
    prompts_cot, kept_as_is = [], []
    for r in reused:
        thinks = r.metadata[ROUTE_KEY] == THINK
        if thinks and config.add_cot and not (r.reasoning or "").strip():
            prompts_cot.append(cot_prompt(r))
        else:
            cot = r.reasoning.strip() if thinks and (r.reasoning or "").strip() else None
            kept_as_is.append(keep_reference(r, config.direct_format, cot))
    routes.update({"reused": len(reused)} if reused else {})
    owned = backend is None and bool(prompts or prompts_cot)  # reuse alone needs no teacher
    backend = backend or (config.teacher.open() if owned else None)
    generations = {}
    todo = {DIRECT: [p for p in prompts if p.metadata[ROUTE_KEY] == DIRECT],
            THINK: [p for p in prompts if p.metadata[ROUTE_KEY] == THINK], "cot": prompts_cot}
    try:
        for name, system in ((DIRECT, config.direct_system), (THINK, config.think_system),
                             ("cot", config.cot_system)):
            folder = stage_parts.work_dir(out, f"prompts_{name}")
            if not todo[name] or not stage_parts.write_prompts(todo[name], folder):
                continue  # every prompt took another route
            generations[name] = stage_parts.generate_into(
                stage_parts.work_dir(out, f"samples_{name}"), folder, backend, config.sampling, "chat",
                teacher=config.teacher, system=system, progress=bool(progress)).to_dict()
    finally:
        if owned:
            backend.close()

    def direct_or_think(sample: Record) -> tuple[Record, str | None]:
        return shape(sample, config.direct_format)

    def cot(sample: Record) -> tuple[Record, str | None]:  # the teacher's CoT, the row's answer
        reasoning = (sample.reasoning or "").strip()
        if not reasoning:
            return sample, "missing_reasoning"
        return keep_reference(sample, config.direct_format, reasoning), None

    shaped_dir = stage_parts.work_dir(out, "shaped")
    stage_parts.shape_into(shaped_dir, [(stage_parts.work_dir(out, f"samples_{DIRECT}"), direct_or_think),
                                  (stage_parts.work_dir(out, f"samples_{THINK}"), direct_or_think),
                                  (stage_parts.work_dir(out, "samples_cot"), cot)],
                     own, STAGE, first=kept_as_is)
    chain_stats = stage_parts.filter_into(out, shaped_dir, config.chain())
    own.close()
    return stage_parts.stage_summary(
        STAGE, out, config, started, len(prompts) + len(reused) + rejects.count, own, chain_stats,
        inputs=[config.input], routes=dict(routes), generation=generations,
        unreadable_prompts=rejects.count)
