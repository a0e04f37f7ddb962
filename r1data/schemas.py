"""The one reading layer: a row of any published layout in, r1data `Record`s out.

Every reader of `r1data.io` (JSONL, Parquet, `datasets` folders, Hub datasets) hands its raw rows
here. The layout is recognised per row from its columns (a lookup cached per set of columns, so a
file that mixes layouts is read row by row at no extra cost), and `ReadReport` counts what was
seen so that a command can say which layout it read.

Layouts (`LAYOUTS`; `--schema NAME` forces one, `--columns field=column,...` maps any other):

    record       r1data's own records (an `id` plus fields only r1data writes: kind, verdicts...)
    generations  OpenR1-Math-220k: problem/answer plus a `generations` list: one record per
                 generation, with the matching `correctness_*` entries as verdicts and
                 `finish_reasons` as finish_reason; every record of the row shares a prompt_id
    chat         Hugging Face chat `messages: [{role, content, ...}]` (extra keys of a turn kept in
                 metadata, a system turn kept, multi-turn conversations kept whole)
    sharegpt     `conversations: [{from, value}]` (human/gpt/user/assistant/system) plus an optional
                 top-level `system` column: OpenThoughts, Bespoke-Stratos
    preference   TRL preference data (`chosen`/`rejected`, optional `prompt`): read as pairs by
                 `r1data.preference`, not as records
    columns      named columns: problem/question/instruction(+input) -> prompt;
                 solution/response/output/generated_solution/attempt -> completion (a
                 `solution` beside a gold column is a reference solution, kept in metadata,
                 unless `ReadOptions.solution` is "sample"); numbered completion columns
                 (DeepMath's r1_solution_1..3) -> one sample each, sharing the prompt_id;
                 answer/expected_answer/final_answer/gold -> gold; source/problem_source ->
                 source; domain -> domain (math where `problem_type`, `topic` or MATH's `type`
                 names a math area) (OpenMathReasoning, NuminaMath, DeepScaleR, Big-Math,
                 Alpaca, GSM8K; a row with no completion column is a prompt to generate from)
    s1k          s1K / s1K-1.1: question, thinking trajectory, attempt, solution as gold
    verl         the RL frameworks' prompt sets (verl; DAPO-Math-17k, Skywork-OR1, DeepMath in
                 verl form): a chat `prompt` list (system turn kept), `reward_model.ground_truth`
                 -> gold (JSON text of a list or a dict is decoded: Skywork's `["17"]` is a list
                 of acceptable answers), `ability` -> domain, `data_source` -> source,
                 `extra_info` -> metadata. `to_verl` writes a record back in this layout.
    openrlhf     OpenRLHF's prompt data: `--input_key` (`input`, or a chat list such as
                 `context_messages`) and `--label_key` (`label`) -> gold, `datasource` -> source

In every completion the chain of thought is split off at its markers (`split_markers`): `<think>`,
OpenThoughts' `<|begin_of_thought|>`/`<|begin_of_solution|>`, and an `<answer>` wrapper around the
answer; a completion with no marker is all answer (reasoning None).

Nothing is dropped silently: the columns no field read stay in the record's metadata, and
`ReadReport` counts the long texts among them (`unread_lines`), which `stats`, the filter chain
and `io.read_records` report with the option that would read them.

Ids: a row's `id` (or `uuid`) is kept; otherwise the id is a stable content id, so rereading a file
gives the same ids. All records of one prompt share `prompt_id`.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import xxhash

from r1data.record import (
    META_SAMPLE_INDEX, META_SCHEMA, META_TURN_EXTRAS, NON_REASONING, THINK_CLOSE, THINK_OPEN, Record,
    RecordError, assistant_content, content_id, split_completion,
)

LAYOUTS = ("record", "generations", "chat", "sharegpt", "preference", "columns", "s1k", "verl",
           "openrlhf")

# Fields a `--columns field=column` mapping may name.
FIELDS = ("prompt", "input", "completion", "reasoning", "answer", "gold", "id", "prompt_id",
          "domain", "source", "system", "messages", "conversations", "generations",
          "chosen", "rejected")  # the last two: preference pairs (r1data.preference)

# Column guesses, most specific first.
PROMPT_COLUMNS = ("prompt", "problem", "question", "instruction", "query", "input",
                  "context_messages")
COMPLETION_COLUMNS = ("completion", "response", "output", "generated_solution", "attempt",
                      "solution")
REASONING_COLUMNS = ("reasoning", "reasoning_content", "thinking")
ANSWER_COLUMNS = ("answer", "attempt", "response", "output", "completion")
GOLD_COLUMNS = ("gold", "expected_answer", "final_answer", "answer", "tests")
ID_COLUMNS = ("id", "uuid")
DOMAIN_COLUMNS = ("domain",)
SOURCE_COLUMNS = ("source", "problem_source")
# OpenRLHF's prompt data (`--input_key`/`--label_key`; `datasource` is what its reward
# functions receive).
OPENRLHF_PROMPTS = ("input", "context_messages")
OPENRLHF_GOLD = ("label",)
OPENRLHF_SOURCE = ("datasource",)
SOLUTION_ROLES = ("reference", "sample")
# Numbered completion columns (DeepMath-103K's r1_solution_1..3): several samples of one prompt,
# read as `generations` is. Answers are not among them: `answer_2` is a second gold, not a sample.
NUMBERED = re.compile(r"^(?P<base>.*?(?:solution|response|generation|completion|output|attempt"
                      r"|trace|cot).*?)_?(?P<n>\d+)$", re.IGNORECASE)
# Text at least this long in a column that no field read is reported (`ReadReport.unread`):
# a chain of thought or a worked solution, not a label or an id.
LONG_TEXT = 200
META_SAMPLE_COLUMN = "sample_column"  # the numbered column a sample was read from

# verl: the metadata key that keeps a `reward_model.style` other than "rule" (kept here, beside
# the layout, rather than in record.py: only this layout reads and writes it).
META_REWARD_STYLE = "reward_style"

# Fields only r1data writes: an `id` plus one of these marks a row as r1data's own record.
RECORD_ONLY = frozenset(("kind", "verdicts", "filters", "provenance", "prompt_id", "finish_reason",
                         "reasoning"))
# s1K's column names (v1.0 and v1.1, which names the teacher).
S1K_REASONING = ("deepseek_thinking_trajectory", "thinking_trajectories",
                 "gemini_thinking_trajectory")
S1K_ANSWER = ("deepseek_attempt", "attempt", "gemini_attempt")
# Per-generation list columns of OpenR1-Math-220k besides `correctness_*`.
PER_GENERATION = ("finish_reasons", "is_reasoning_complete")
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "system": "system", "tool": "tool", "function": "tool", "observation": "tool"}

THOUGHT_OPEN, THOUGHT_CLOSE = "<|begin_of_thought|>", "<|end_of_thought|>"
SOLUTION_OPEN, SOLUTION_CLOSE = "<|begin_of_solution|>", "<|end_of_solution|>"
_ANSWER_TAG = re.compile(r"<answer>(.*?)(?:</answer>|$)", re.DOTALL)


class SchemaError(RecordError):
    """A row that fits no layout, or fits one but lacks what it needs; the message is the reason
    written to `rejected/` as it is."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read the user's input. Everything optional: by default layouts are detected.

    schema: force one of LAYOUTS for every row that is not r1data's own record.
    columns: `{field: input column}` for fields of `FIELDS` (`--columns prompt=question,...`).
    split / config: the split and configuration of a Hub dataset (`--input ORG/NAME`).
    require_completion: reject a row with no assistant answer (SFT data) instead of reading it
        as a prompt.
    solution: what a `solution` column beside a gold answer is: "reference" (MATH, GSM8K,
        NuminaMath: the worked solution of the prompt, kept in metadata) or "sample" (a corpus
        whose solution is the text to train on: read as the completion). `--solution`.
    """

    schema: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    split: str | None = None
    config: str | None = None
    require_completion: bool = False
    solution: str = "reference"

    def __post_init__(self):
        if self.schema is not None and self.schema not in LAYOUTS:
            raise SchemaError(f"unknown --schema {self.schema!r}: use one of {', '.join(LAYOUTS)}")
        if self.solution not in SOLUTION_ROLES:
            raise SchemaError(f"--solution {self.solution!r}: use one of {', '.join(SOLUTION_ROLES)}")
        unknown = sorted(set(self.columns) - set(FIELDS))
        if unknown:
            raise SchemaError(f"--columns: unknown field {unknown[0]!r}; fields are "
                              f"{', '.join(FIELDS)}")

    def mapped(self, **columns: str | None) -> "ReadOptions":
        """These options with more columns named (those given as None are left out); the
        older per-column options (`--prompt-column`, a config's `prompt_column`) build their
        ReadOptions this way. A column the options already name wins.

        >>> ReadOptions(columns={"gold": "ref"}).mapped(prompt="q", gold="answer", id=None).columns
        {'prompt': 'q', 'gold': 'ref'}
        """
        named = {k: v for k, v in columns.items() if v}
        return dataclasses.replace(self, columns={**named, **self.columns}) if named else self

    def __hash__(self) -> int:  # frozen with a dict field: hash what identifies it (once)
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.schema, tuple(sorted(self.columns.items())), self.split,
                           self.config, self.require_completion, self.solution))
            object.__setattr__(self, "_hash", cached)
        return cached


def parse_columns(text: str | None) -> dict[str, str]:
    """`"prompt=question,gold=solution"` -> `{"prompt": "question", "gold": "solution"}`.

    >>> parse_columns("prompt=question, gold=solution")
    {'prompt': 'question', 'gold': 'solution'}
    """
    mapping: dict[str, str] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, sep, column = part.partition("=")
        if not sep or not name.strip() or not column.strip():
            raise SchemaError(f"--columns: expected field=column, got {part.strip()!r}")
        mapping[name.strip()] = column.strip()
    return mapping


class ReadReport:
    """What a read saw: rows per layout (per file), records with a chain of thought, and
    records with a gold answer per layout."""

    def __init__(self):
        self.layouts: Counter[str] = Counter()
        self.by_file: dict[str, Counter[str]] = {}
        self.records = 0
        self.with_reasoning = 0
        self.records_by_layout: Counter[str] = Counter()
        self.with_gold: Counter[str] = Counter()
        self.unread: dict[str, list[int]] = {}  # column -> [rows, characters]
        self.solution_as: Counter[str] = Counter()  # "reference" / "sample": rows read so

    def add(self, file: str, layout: str, records: list[Record],
            row: dict[str, Any] | None = None) -> None:
        self.layouts[layout] += 1
        self.by_file.setdefault(file, Counter())[layout] += 1
        self.records += len(records)
        self.with_reasoning += sum(1 for r in records if r.reasoning)
        self.records_by_layout[layout] += len(records)
        self.with_gold[layout] += sum(1 for r in records if has_gold(r.gold))
        if row is not None and records:
            self._unread(row, records[0].metadata)
            if layout in ("columns", "openrlhf") and solution_beside_gold(row):
                kept = records[0].metadata.get("solution") is row["solution"]
                self.solution_as["reference" if kept else "sample"] += 1

    def _unread(self, row: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Count the long texts of `row` that no field read: they are in the record's metadata
        as they were (the same object), where no filter, verifier or trainer looks."""
        for key, value in row.items():
            if isinstance(value, str) and len(value) >= LONG_TEXT and metadata.get(key) is value:
                counts = self.unread.setdefault(key, [0, 0])
                counts[0] += 1
                counts[1] += len(value)

    def unread_lines(self) -> list[str]:
        """One line per unread long-text column: rows, mean length, the option that reads it."""
        return [unread_line(column, rows, chars, bool(self.solution_as["reference"]))
                for column, (rows, chars) in sorted(self.unread.items(), key=lambda kv: -kv[1][0])]

    def solution_line(self) -> str | None:
        """What a `solution` beside a gold answer was read as, when the input had one."""
        if not self.solution_as:
            return None
        return ", ".join(f"{role} {count:,}" for role, count in self.solution_as.most_common()) + (
            " (switch with --solution sample)" if "reference" in self.solution_as else
            " (switch with --solution reference)")

    def line(self) -> str:
        """`chat 10, sharegpt 2` (rows read in each layout, most first)."""
        return ", ".join(f"{name} {count:,}" for name, count in self.layouts.most_common()) or "none"

    def gold_line(self) -> str:
        """`verl 64 of 64, chat 0 of 10` (records with a gold answer, per layout)."""
        return ", ".join(f"{name} {self.with_gold[name]:,} of {count:,}"
                         for name, count in self.records_by_layout.most_common()) or "none"

    def to_dict(self) -> dict[str, Any]:
        return {"layouts": dict(self.layouts), "files": {f: dict(c) for f, c in self.by_file.items()},
                "records": self.records, "with_reasoning": self.with_reasoning,
                "with_gold": dict(self.with_gold), "solution_as": dict(self.solution_as),
                "unread": {k: {"rows": r, "mean_chars": round(c / r)}
                           for k, (r, c) in self.unread.items()}}


def unread_line(column: str, rows: int, chars: int, solution_is_reference: bool) -> str:
    """How a long-text column no field read is reported, with the option that reads it.

    >>> unread_line("explanation", 2, 900, False)
    'explanation: 2 rows, mean 450 chars, not read (read it with --columns completion=explanation)'
    """
    hint = ("--solution sample" if column == "solution" and solution_is_reference
            else f"--columns completion={column}")
    return f"{column}: {rows:,} rows, mean {chars / rows:,.0f} chars, not read (read it with {hint})"


def has_gold(gold: Any) -> bool:
    """Whether a gold answer is there (None, "" and [] are none)."""
    return gold is not None and gold != "" and gold != []


# -- markers ----------------------------------------------------------------------------------


def _strip_answer_tag(text: str) -> str:
    match = _ANSWER_TAG.search(text)
    return match.group(1).strip() if match else text.strip()


def split_markers(text: str) -> tuple[str | None, str]:
    """(reasoning, answer) of a completion, whichever reasoning markers it uses.

    >>> split_markers("<think>\\nadd\\n</think>\\n\\n<answer>4</answer>")
    ('add', '4')
    >>> split_markers("<|begin_of_thought|>\\n\\nadd\\n\\n<|end_of_thought|>\\n\\n"
    ...               "<|begin_of_solution|>\\n\\n4\\n\\n<|end_of_solution|>")
    ('add', '4')
    >>> split_markers("just 4")
    (None, 'just 4')
    """
    # One splitter for every marker pair (record.split_completion); R1's own form first.
    if THINK_OPEN in text or THINK_CLOSE in text:
        reasoning, rest = split_completion(text)
        return reasoning, _strip_answer_tag(rest)
    if THOUGHT_OPEN in text or THOUGHT_CLOSE in text:
        reasoning, rest = split_completion(text, THOUGHT_OPEN, THOUGHT_CLOSE)
        if SOLUTION_OPEN in rest:
            rest = rest.split(SOLUTION_OPEN, 1)[1].split(SOLUTION_CLOSE, 1)[0]
        return reasoning, _strip_answer_tag(rest)
    if "<answer>" in text:  # an answer wrapper with no thinking before it
        return None, _strip_answer_tag(text)
    return None, text.strip()


def assistant_turn(text: str, reasoning: str | None = None) -> tuple[str, str | None, str]:
    """(turn content, reasoning, answer) of an assistant turn. A chain of thought in another form
    (OpenThoughts' markers, a separate `reasoning` key) is rewritten into R1's form, so that the
    corpus trains, filters and publishes as one format; `<think>` turns are kept as written.

    >>> assistant_turn("<|begin_of_thought|>add<|end_of_thought|><|begin_of_solution|>4<|end_of_solution|>")
    ('<think>\\nadd\\n</think>\\n\\n4', 'add', '4')
    """
    if reasoning is not None:
        answer = split_markers(text)[1]
        return assistant_content(reasoning.strip(), answer), reasoning.strip(), answer
    reasoning, answer = split_markers(text)
    if reasoning is not None and "<think>" not in text and "</think>" not in text:
        return assistant_content(reasoning, answer), reasoning, answer
    return text, reasoning, answer


# -- records from their parts -----------------------------------------------------------------


def complete(record: Record) -> Record:
    """Fill whichever view of the conversation is missing, in place, and return the record:
    fields (prompt/reasoning/answer) -> messages in R1's form, messages -> fields."""
    if not record.messages and record.prompt:
        record.messages = [{"role": "user", "content": record.prompt}]
    has_assistant = any(m.get("role") == "assistant" for m in record.messages)
    if not has_assistant and (record.reasoning is not None or record.answer):
        record.messages = [*record.messages,
                           {"role": "assistant",
                            "content": assistant_content(record.reasoning, record.answer)}]
    elif has_assistant and record.reasoning is None and record.answer is None:
        record.reasoning, record.answer = split_markers(record.completion)
    if not record.prompt:
        record.prompt = _last_user(record.messages, len(record.messages)) or ""
    return record


def _text(content: Any) -> str:
    """A turn's content as text: a string as is, OpenAI content parts joined, None as ""."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    raise SchemaError(f"invalid_record: turn content must be text, got {type(content).__name__}")


def _last_user(messages: list[dict[str, str]], before: int) -> str | None:
    for message in reversed(messages[:before]):
        if message["role"] == "user":
            return message["content"]
    return None


def _from_conversation(turns: list[dict[str, Any]], row: dict[str, Any], used: set[str],
                       options: ReadOptions, layout: str, system: str | None = None,
                       role_key: str = "role", content_key: str = "content",
                       roles: dict[str, str] | None = None) -> list[Record]:
    """One record from a conversation: the final assistant turn is the completion and the last
    user turn before it the prompt; every turn is kept."""
    if isinstance(turns, str):  # columnar files may store the list as JSON text
        try:
            turns = json.loads(turns)
        except json.JSONDecodeError:
            raise SchemaError(f"invalid_record: {layout} turns are text but not JSON") from None
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        raise SchemaError(f"invalid_record: {layout} turns must be a list of objects")
    messages: list[dict[str, str]] = []
    extras: dict[str, dict[str, Any]] = {}
    if system:
        messages.append({"role": "system", "content": system})
    turn_reasoning: dict[int, str] = {}
    for turn in turns:
        role = turn.get(role_key)
        role = roles.get(str(role).lower(), role) if roles else role
        if not isinstance(role, str):
            raise SchemaError(f"invalid_record: a {layout} turn has no {role_key!r}")
        index = len(messages)
        messages.append({"role": role, "content": _text(turn.get(content_key))})
        # None: the key is absent (Parquet and datasets fill a turn's missing keys with null)
        extra = {k: v for k, v in turn.items() if k not in (role_key, content_key) and v is not None}
        for key in REASONING_COLUMNS:  # some corpora keep the thinking in its own key
            if isinstance(extra.get(key), str):
                turn_reasoning[index] = extra[key]
        if extra:
            extras[str(index)] = extra
    final = max((i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None)
    if not any(m["role"] == "user" for m in messages):
        raise SchemaError(f"no_user_turn: the {layout} conversation has no user turn")
    if final is None and options.require_completion:
        raise SchemaError(f"no_assistant_turn: the {layout} conversation has no assistant turn")
    prompt = _last_user(messages, final if final is not None else len(messages))
    if prompt is None:
        raise SchemaError(f"no_user_turn: no user turn before the final assistant turn ({layout})")
    reasoning, answer = None, None
    if final is not None:
        content, reasoning, answer = assistant_turn(messages[final]["content"],
                                                    turn_reasoning.get(final))
        messages[final] = {"role": "assistant", "content": content}
    metadata = {META_TURN_EXTRAS: extras} if extras else {}
    return [_build(row, used, options, layout, prompt=prompt, messages=messages,
                   reasoning=reasoning, answer=answer, completion=final is not None,
                   metadata=metadata)]


def _pick(row: dict[str, Any], options: ReadOptions, name: str, guesses: tuple[str, ...],
          used: set[str]) -> str | None:
    """The column holding field `name`: the mapped one, else the first guess present (and not
    already used for another field). A mapped nested path is in the row already
    (`with_paths`)."""
    mapped = options.columns.get(name)
    if mapped is not None:
        if mapped not in row:
            raise SchemaError(f"--columns {name}={mapped}: no column {mapped!r} in the row "
                              f"(columns {sorted(_visible(row))})")
        return mapped
    for guess in guesses:
        if guess in row and guess not in used and row[guess] is not None:
            return guess
    return None


def resolve(row: dict[str, Any], path: str, name: str = "field") -> Any:
    """The value at `path` in a row: a column, or a dotted path through objects and lists
    (`reward_model.ground_truth`, `turns.0.text`; JSON text on the way is decoded, as
    columnar files store nested values that way). A missing step raises a `SchemaError` that
    names the path, the reason the row goes to `rejected/`.

    >>> resolve({"reward_model": {"ground_truth": "17"}}, "reward_model.ground_truth")
    '17'
    >>> resolve({"turns": [{"text": "Hi?"}]}, "turns.0.text")
    'Hi?'
    >>> resolve({"turns": []}, "turns.0.text", "prompt")
    Traceback (most recent call last):
    r1data.schemas.SchemaError: --columns prompt=turns.0.text: no item 0 in turns (0 items)
    """
    if path in row:  # a column whose name has dots is taken as it is
        return row[path]
    value: Any = row
    walked: list[str] = []
    for part in path.split("."):
        if walked and isinstance(value, str):
            value = _json_or_text(value)
        where = ".".join(walked)
        if isinstance(value, dict):
            if part not in value or (not walked and part.startswith("__")):
                raise SchemaError(
                    f"--columns {name}={path}: no column {part!r} in the row (columns "
                    f"{sorted(_visible(row))})" if not walked else
                    f"--columns {name}={path}: no key {part!r} in {where}")
            value = value[part]
        elif isinstance(value, list):
            if not part.lstrip("-").isdigit() or not -len(value) <= int(part) < len(value):
                raise SchemaError(f"--columns {name}={path}: no item {part} in {where} "
                                  f"({len(value)} items)")
            value = value[int(part)]
        else:
            raise SchemaError(f"--columns {name}={path}: {where} is "
                              f"{type(value).__name__}, not an object or a list")
        walked.append(part)
    return value


def with_paths(row: dict[str, Any], options: ReadOptions) -> dict[str, Any]:
    """The row, plus the value of every mapped nested path under the path as a key (so the
    layouts read it as a column); the row itself is not changed."""
    missing = {name: path for name, path in options.columns.items() if path not in row}
    if not missing:
        return row
    row = dict(row)
    for name, path in missing.items():
        row[path] = resolve(row, path, name)
    return row


def _json_or_text(value: str) -> Any:
    """JSON text decoded when it holds an object or a list, else the text as it is."""
    text = value.strip()
    if not text.startswith(("{", "[")):
        return value
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return value


# Where `_build` looks for the fields every layout shares, most specific first; a layout's own
# names come before the shared ones.
GUESSES = {"gold": GOLD_COLUMNS, "domain": DOMAIN_COLUMNS, "source": SOURCE_COLUMNS,
           "id": ID_COLUMNS, "prompt_id": ("prompt_id",)}
LAYOUT_GUESSES = {
    "verl": {"domain": ("ability", *DOMAIN_COLUMNS), "source": ("data_source", *SOURCE_COLUMNS)},
    "openrlhf": {"gold": (*OPENRLHF_GOLD, *GOLD_COLUMNS), "source": (*OPENRLHF_SOURCE,
                                                                     *SOURCE_COLUMNS)},
}


def _domain(value: Any) -> str | None:
    """A domain column's value as r1data's domain: lower case; "Mathematics -> Algebra" (DeepMath,
    Big-Math, which keeps a list of them) and verl's "MATH" are math.

    >>> _domain("MATH"), _domain(["Mathematics -> Algebra -> Linear Equations"]), _domain(3)
    ('math', 'math', None)
    """
    if isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip().lower()
    return "math" if value.startswith("mathematics") else value


def _math_area(row: dict[str, Any]) -> bool:
    """Whether a column names the row's math area: OpenR1-Math's and OpenMathReasoning's
    `problem_type`, MATH's `type` beside its `level`, DeepMath's `topic` ("Mathematics -> ...").
    The domain that routes verification is then math."""
    if row.get("problem_type") is not None or (row.get("type") is not None and "level" in row):
        return True
    return _domain(row.get("topic")) == "math"


def _text_id(*texts: str) -> str:
    """A stable id of a prompt and its completion: xxh3-128 of the texts (installed with
    `datasets`), an order of magnitude cheaper than `content_id`'s JSON + SHA-1 on a long chain
    of thought, which was most of the reading time."""
    h = xxhash.xxh3_128()
    for text in texts:
        h.update(text.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def _visible(row: dict[str, Any]) -> list[str]:
    return [k for k in row if not k.startswith("__")]


def _build(row: dict[str, Any], used: set[str], options: ReadOptions, layout: str, *,
           prompt: str, messages: list[dict[str, str]], reasoning: str | None,
           answer: str | None, completion: bool, metadata: dict[str, Any] | None = None,
           sample: int | None = None, **fields: Any) -> Record:
    """A record from the parts a layout found, plus the row's id, gold, domain and source; the
    columns no field consumed are kept in metadata."""
    if not isinstance(prompt, str):
        raise SchemaError(f"invalid_record: prompt must be a string, got {type(prompt).__name__}")
    if not prompt.strip():
        raise SchemaError("invalid_record: the prompt is empty")
    used = set(used)
    values: dict[str, Any] = {}
    for name, guesses in {**GUESSES, **LAYOUT_GUESSES.get(layout, {})}.items():
        if name in fields:
            continue
        column = _pick(row, options, name, guesses, used)
        if column is not None:
            values[name] = row[column]
            used.add(column)
    values.update(fields)
    values["domain"] = _domain(values.get("domain")) or ("math" if _math_area(row) else None)
    if not isinstance(values.get("source"), str):
        values.pop("source", None)
    if values["domain"] is None:
        values.pop("domain")
    given = values.pop("id", None)
    given = str(given) if given not in (None, "") else None
    prompt_id = values.pop("prompt_id", None)
    if completion:
        prompt_id = str(prompt_id) if prompt_id not in (None, "") else (given if sample is not None
                                                                         else None)
        prompt_id = prompt_id or content_id(prompt)
        if sample is not None:
            rid = f"{prompt_id}/{sample}"
        else:
            rid = given or _text_id(prompt, messages[-1]["content"] if messages else answer or "")
    else:
        rid = given or content_id(prompt)
        prompt_id = str(prompt_id) if prompt_id not in (None, "") else rid
    extra = {k: v for k, v in row.items() if k not in used and not k.startswith("__")}
    meta = {**extra, **(metadata or {}), META_SCHEMA: layout}
    if sample is not None:
        meta[META_SAMPLE_INDEX] = sample
    if completion and reasoning is None and "kind" not in values:
        values["kind"] = NON_REASONING  # an answer with no chain of thought is no R1 reasoning sample
    record = Record(id=rid, messages=messages, prompt=prompt, reasoning=reasoning, answer=answer,
                    prompt_id=prompt_id, metadata=meta, **values)
    return complete(record)


def _prompt_text(row: dict[str, Any], options: ReadOptions, used: set[str]
                 ) -> tuple[str, list[dict[str, str]]]:
    """(prompt, messages before the answer) from the prompt column (+ Alpaca's `input`); a prompt
    column holding a chat list (TRL's conversational prompts) is taken as the conversation."""
    column = _pick(row, options, "prompt", PROMPT_COLUMNS, used)
    if column is None:
        raise SchemaError(f"unknown schema: columns {sorted(_visible(row))}")
    used.add(column)
    value = row[column]
    if isinstance(value, list):
        turns = [{"role": t.get("role"), "content": _text(t.get("content"))} for t in value
                 if isinstance(t, dict)]
        prompt = _last_user(turns, len(turns))
        if prompt is None:
            raise SchemaError(f"no_user_turn: column {column!r} has no user turn")
        return prompt, turns
    if not isinstance(value, str):
        raise SchemaError(f"invalid_record: field {column!r} must be a string, got "
                          f"{type(value).__name__}")
    if not value.strip():
        raise SchemaError(f"invalid_record: field {column!r} is empty")
    context = _pick(row, options, "input", ("input",), used) if column != "input" else None
    if context and isinstance(row[context], str) and row[context].strip():
        value = f"{value}\n\n{row[context]}"  # Alpaca: the instruction's context
    if context:
        used.add(context)
    messages = []
    system = _pick(row, options, "system", ("system",), used)
    if system and isinstance(row[system], str) and row[system].strip():
        messages.append({"role": "system", "content": row[system]})
        used.add(system)
    messages.append({"role": "user", "content": value})
    return value, messages


def _from_columns(row: dict[str, Any], options: ReadOptions, layout: str) -> list[Record]:
    used: set[str] = set()
    prompt, messages = _prompt_text(row, options, used)
    reasoning_col = _pick(row, options, "reasoning", REASONING_COLUMNS if layout != "s1k"
                          else S1K_REASONING, used)
    if reasoning_col is not None:
        used.add(reasoning_col)
        answer_col = _pick(row, options, "answer", S1K_ANSWER if layout == "s1k" else ANSWER_COLUMNS,
                           used)
        if answer_col is not None:
            used.add(answer_col)
        reasoning = row[reasoning_col]
        if isinstance(reasoning, list) and all(isinstance(t, str) for t in reasoning):
            reasoning = "\n\n".join(reasoning)  # s1K 1.0 keeps its trajectory as a list of steps
        answer = row[answer_col] if answer_col else ""
        if not isinstance(reasoning, str) or not isinstance(answer, (str, type(None))):
            raise SchemaError("invalid_record: reasoning and answer must be text")
        answer = _strip_answer_tag(answer or "")
        messages = [*messages, {"role": "assistant", "content": assistant_content(reasoning, answer)}]
        fields = {}
        if layout == "s1k" and "gold" not in options.columns and "solution" in row:
            fields["gold"] = row["solution"]  # s1K's `solution` is the reference, not an answer
            used.add("solution")
        return [_build(row, used, options, layout, prompt=prompt, messages=messages,
                       reasoning=reasoning.strip(), answer=answer, completion=True, **fields)]
    if options.columns.get("answer") and "completion" not in options.columns:
        options = dataclasses.replace(options, columns={**options.columns,
                                                        "completion": options.columns["answer"]})
    numbered = [] if "completion" in options.columns else numbered_columns(row)
    if numbered:
        return _numbered_samples(row, options, layout, used, prompt, messages, numbered)
    completion_col = _pick(row, options, "completion", COMPLETION_COLUMNS, used)
    if (completion_col == "solution" and "completion" not in options.columns
            and options.solution == "reference" and solution_beside_gold(row)):
        # MATH, GSM8K, NuminaMath-1.5: a `solution` beside an `answer` is the reference worked
        # solution of a prompt (kept in metadata), not a sample to train on (`--solution sample`
        # says otherwise; `stats` says which was read)
        completion_col = None
    if completion_col is None or not isinstance(row[completion_col], str):
        if options.require_completion:
            raise SchemaError(f"no_assistant_turn: no completion column in {sorted(_visible(row))}")
        return [_build(row, used, options, layout, prompt=prompt, messages=messages,
                       reasoning=None, answer=None, completion=False)]
    used.add(completion_col)
    text, reasoning, answer = assistant_turn(row[completion_col])
    messages = [*messages, {"role": "assistant", "content": text}]
    return [_build(row, used, options, layout, prompt=prompt, messages=messages,
                   reasoning=reasoning, answer=answer, completion=True)]


def solution_beside_gold(row: dict[str, Any]) -> bool:
    """Whether a row has a `solution` text and a gold answer column."""
    return isinstance(row.get("solution"), str) and any(row.get(c) is not None
                                                         for c in GOLD_COLUMNS)


def numbered_columns(row: dict[str, Any]) -> list[str]:
    """The numbered completion columns of a row (`r1_solution_1`, `r1_solution_2`, ...) in
    number order: those of the base with the most text columns.

    >>> numbered_columns({"question": "q", "r1_solution_2": "b", "r1_solution_1": "a", "answer_1": "7"})
    ['r1_solution_1', 'r1_solution_2']
    """
    groups: dict[str, list[tuple[int, str]]] = {}
    for key, value in row.items():
        match = NUMBERED.match(key) if isinstance(value, str) else None
        if match:
            groups.setdefault(match["base"].rstrip("_").lower(), []).append((int(match["n"]), key))
    if not groups:
        return []
    best = max(groups.values(), key=len)
    return [key for _, key in sorted(best)]


def _numbered_samples(row: dict[str, Any], options: ReadOptions, layout: str, used: set[str],
                      prompt: str, messages: list[dict[str, str]], numbered: list[str]
                      ) -> list[Record]:
    """One record per numbered completion column, samples of one prompt (as `generations`)."""
    used |= set(numbered)
    records = []
    for i, column in enumerate(numbered):
        text, reasoning, answer = assistant_turn(row[column])
        records.append(_build(row, used, options, layout, prompt=prompt,
                              messages=[*messages, {"role": "assistant", "content": text}],
                              reasoning=reasoning, answer=answer, completion=True, sample=i,
                              metadata={META_SAMPLE_COLUMN: column}))
    return records


def _from_generations(row: dict[str, Any], options: ReadOptions) -> list[Record]:
    used: set[str] = set()
    prompt, head = _prompt_text(row, options, used)
    column = _pick(row, options, "generations", ("generations",), used)
    generations = row.get(column) if column else None
    if not isinstance(generations, list):
        raise SchemaError("invalid_record: 'generations' must be a list of completions")
    used.add(column)
    n = len(generations)
    per_generation = {k: v for k, v in row.items()
                      if (k.startswith("correctness_") or k in PER_GENERATION)
                      and isinstance(v, list) and len(v) == n}
    used |= set(per_generation)
    # The row's `messages` repeat one of its generations; `solution` (the reference solution of
    # NuminaMath) stays in metadata; the gold is the short `answer`.
    used.add("messages")
    records = []
    for i, text in enumerate(generations):
        if not isinstance(text, str):
            continue
        text, reasoning, answer = assistant_turn(text)
        verdicts = []
        for name, values in per_generation.items():
            if name.startswith("correctness_") and isinstance(values[i], bool):
                verdicts.append({"correct": values[i], "score": float(values[i]),
                                 "reason": "input_label", "extracted": None,
                                 "details": {"column": name}, "verifier": name[len("correctness_"):]})
        finish = per_generation.get("finish_reasons", [None] * n)[i]
        meta = {k: v[i] for k, v in per_generation.items()
                if not k.startswith("correctness_") and k != "finish_reasons"}
        records.append(_build(row, used, options, "generations", prompt=prompt,
                              messages=[*head, {"role": "assistant", "content": text}],
                              reasoning=reasoning, answer=answer, completion=True, metadata=meta,
                              sample=i, verdicts=verdicts,
                              finish_reason=finish if isinstance(finish, str) else None))
    return records


def _from_verl(row: dict[str, Any], options: ReadOptions) -> list[Record]:
    """A verl prompt row (see the module docstring); a `completion` column (r1data writes one
    for a record that has an answer, see `to_verl`) is the assistant turn."""
    used = {"reward_model", "extra_info", "completion"}
    prompt, messages = _prompt_text(row, options, used)
    reward = row.get("reward_model")
    reward = _json_or_text(reward) if isinstance(reward, str) else reward
    reward = reward if isinstance(reward, dict) else {}
    extra = row.get("extra_info")
    extra = _json_or_text(extra) if isinstance(extra, str) else extra
    # a Parquet struct holds every key of every row: null stands for a key the row lacks
    metadata = {k: v for k, v in extra.items() if v is not None} if isinstance(extra, dict) else {}
    if reward.get("style") not in (None, "rule"):
        metadata[META_REWARD_STYLE] = reward["style"]
    fields = {} if "gold" in options.columns else {"gold": ground_truth(reward.get("ground_truth"))}
    reasoning = answer = None
    final = row.get("completion")
    if isinstance(final, str):
        text, reasoning, answer = assistant_turn(final)
        messages = [*messages, {"role": "assistant", "content": text}]
    return [_build(row, used, options, "verl", prompt=prompt, messages=messages,
                   reasoning=reasoning, answer=answer, completion=isinstance(final, str),
                   metadata=metadata, **fields)]


def ground_truth(value: Any) -> Any:
    """verl's `ground_truth` as a gold: JSON text of a list of texts (Skywork-OR1's acceptable
    answers) or of an object (test cases) is decoded; other text, e.g. an interval "[1, 2]",
    stays text.

    >>> ground_truth('["17", "17.0"]'), ground_truth("[1, 2]"), ground_truth("17")
    (['17', '17.0'], '[1, 2]', '17')
    """
    if not isinstance(value, str):
        return value
    decoded = _json_or_text(value)
    if isinstance(decoded, dict) or (isinstance(decoded, list) and decoded and all(
            isinstance(v, str) for v in decoded)):
        return decoded
    return value


def to_verl(record: Record) -> dict[str, Any]:
    """A record as a row of verl's prompt sets, which the `verl` layout reads back equal: the
    turns before the final answer as `prompt`, gold, domain, source and metadata in verl's
    columns. `id` and `prompt_id` are extra columns (verl passes extra columns through untouched),
    and so is `completion`, the final assistant turn of a record that has one.
    Left out: verdicts, filters, provenance, token counts, language."""
    final = max((i for i, m in enumerate(record.messages) if m.get("role") == "assistant"),
                default=None)
    turns = record.messages[:final] if final is not None else record.messages
    metadata = {k: v for k, v in record.metadata.items() if k not in (META_SCHEMA, META_REWARD_STYLE)}
    row = {"data_source": record.source,
           "prompt": [{"role": m["role"], "content": m["content"]} for m in turns]
           or [{"role": "user", "content": record.prompt}],
           "ability": record.domain,
           "reward_model": {"style": record.metadata.get(META_REWARD_STYLE, "rule"),
                            "ground_truth": record.gold},
           "extra_info": metadata, "id": record.id, "prompt_id": record.prompt_id or record.id}
    if final is not None:
        row["completion"] = record.messages[final]["content"]
    return row


def _from_record(row: dict[str, Any]) -> list[Record]:
    record = Record.from_row(row) if isinstance(row.get("provenance"), str) else Record.from_dict(row)
    return [complete(record)]


# -- detection --------------------------------------------------------------------------------


def detect(columns: frozenset[str], options: ReadOptions = ReadOptions()) -> str | None:
    """The layout of a row with these columns, or None when none fits.

    >>> detect(frozenset({"messages"}))
    'chat'
    >>> detect(frozenset({"system", "conversations"}))
    'sharegpt'
    >>> detect(frozenset({"problem", "generated_solution", "expected_answer"}))
    'columns'
    """
    if "reward_model" in columns and "prompt" in columns and not options.schema:
        return "verl"  # before `record`: r1data's own verl output has `id` and `prompt_id` too
    if "id" in columns and ("prompt" in columns or "messages" in columns) and columns & RECORD_ONLY:
        return "record"  # r1data's own output is never remapped by --columns or --schema
    if options.schema:
        return options.schema
    mapped = set(options.columns)
    if mapped & {"messages"}:
        return "chat"
    if mapped & {"conversations"}:
        return "sharegpt"
    if mapped & {"generations"}:
        return "generations"
    if mapped & {"prompt", "completion", "reasoning", "answer"}:
        return "columns"
    if "generations" in columns and columns & set(PROMPT_COLUMNS):
        return "generations"
    if "messages" in columns:
        return "chat"
    if "conversations" in columns:
        return "sharegpt"
    if "chosen" in columns and "rejected" in columns:
        return "preference"
    if columns & set(S1K_REASONING) and "question" in columns:
        return "s1k"
    if columns & set(OPENRLHF_GOLD) and columns & set(OPENRLHF_PROMPTS):
        return "openrlhf"
    if columns & set(PROMPT_COLUMNS):
        return "columns"
    return None


# layout per (options, set of columns): detection runs once per distinct set of columns
_DETECTED: dict[ReadOptions, dict[frozenset[str], str | None]] = {}


def records_of_row(row: dict[str, Any], options: ReadOptions = ReadOptions(),
                   report: ReadReport | None = None) -> list[Record]:
    """The records of one raw row (several for a `generations` row). Raises `SchemaError` (or
    `RecordError`) with the reason the row is rejected."""
    row = with_paths(row, options)
    keys = frozenset(k for k in row if not k.startswith("__"))
    seen = _DETECTED.setdefault(options, {})
    layout = seen.get(keys, "?")
    if layout == "?":
        layout = seen[keys] = detect(keys, options)
    if layout is None:
        raise SchemaError(f"unknown schema: columns {sorted(keys)}")
    if layout == "record":
        records = _from_record({k: v for k, v in row.items() if not k.startswith("__")})
    elif layout == "chat":
        column = options.columns.get("messages", "messages")
        records = _from_conversation(row.get(column), row, {column}, options, "chat")
    elif layout == "sharegpt":
        column = options.columns.get("conversations", "conversations")
        system_col = options.columns.get("system", "system")
        system = row.get(system_col) if isinstance(row.get(system_col), str) else None
        records = _from_conversation(row.get(column), row, {column, system_col}, options,
                                     "sharegpt", system=system, role_key="from",
                                     content_key="value", roles=SHAREGPT_ROLES)
    elif layout == "generations":
        records = _from_generations(row, options)
    elif layout == "verl":
        records = _from_verl(row, options)
    elif layout == "preference":
        raise SchemaError("preference_pair: chosen/rejected rows are pairs; read them with "
                          "r1data.preference.read_pairs")
    else:
        records = _from_columns(row, options, layout)
    if report is not None:
        report.add(str(row.get("__file__", "")), layout, records, row)
    return records
