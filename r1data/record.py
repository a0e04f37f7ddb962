"""The one record type of r1data: a prompt, the model's answer, and everything learned about it.

Every stage reads and writes `Record`s: generation fills the conversation and provenance,
verification appends to `verdicts`, filters append to `filters`, the mixer reads `kind`/`domain`.
The conversation is kept in the Hugging Face chat form (`messages`), so a published corpus
trains with any SFT trainer unchanged; the assistant turn is `<think>\\n...\\n</think>\\n\\nanswer`.

Fields:
    id: stable identifier. Given by the source, or derived from the content (`content_id`).
    messages: `[{"role", "content"}]`; the last assistant turn is the sample's completion.
    prompt: the user's question as plain text (the last user turn).
    reasoning: the chain of thought (inside the think block), None for no-CoT answers.
    answer: the final answer / summary after the think block.
    gold: the reference: an answer string, a list of tests, a HumanEval-style dict, or None.
    domain: math, code, science, general, writing, ... (free text, lower case).
    kind: "reasoning" or "non_reasoning".
    language: ISO code of the target language ("en", "zh", ...).
    source: where the prompt came from ("gsm8k_train", "math500", ...).
    prompt_id: the id of the prompt this sample answers (several samples share one).
    prompt_tokens / completion_tokens: token counts, None where unknown.
    finish_reason: "stop", "length" (truncated) or "error"; None for data not generated here.
    provenance: how it was made: teacher model, backend, sampling parameters, seed, template,
        r1data version, time.
    verdicts: trail of verification results (`Verdict.to_dict()` plus the verifier's name).
    filters: trail of filter decisions (`{"filter", "kept", "reason"}`).
    metadata: anything else a stage wants to remember; its keys are the `META_*` names below.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

REASONING = "reasoning"
NON_REASONING = "non_reasoning"
KINDS = (REASONING, NON_REASONING)
FINISH_REASONS = ("stop", "length", "error")

# Keys that stages write into `Record.metadata`, named once here instead of as scattered literals.
META_DROP_REASON = "drop_reason"  # set on samples written aside by a filter
META_DROP_FILTER = "drop_filter"
META_PASS_RATE = "pass_rate"  # fraction of a prompt's samples judged correct
META_PSEUDO_LABEL = "pseudo_label"  # gold came from a majority vote, not a reference
META_SAMPLE_INDEX = "sample_index"  # which of the n samples of a prompt
META_ERROR = "error"  # a backend error recorded on a failed sample
META_CONTAMINATION = "contamination"  # the benchmark item a sample matched
META_SPLIT = "split"
META_SCHEMA = "schema"  # the input layout a record was read from (see r1data.schemas)
META_TURN_EXTRAS = "turn_extras"  # keys of chat turns besides role/content, by turn index

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"

# Fields stored as JSON text in columnar formats (Parquet, datasets): their shapes vary per row
# (gold may be a string, a list of asserts or a dict), and text keeps them lossless.
JSON_FIELDS = ("gold", "provenance", "verdicts", "filters", "metadata")


def content_id(*parts: Any) -> str:
    """A short stable id from content: the same prompt and completion always give the same id.

    >>> content_id("What is 2+2?") == content_id("What is 2+2?")
    True
    """
    h = hashlib.sha1()
    for part in parts:
        h.update(json.dumps(part, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()[:16]


def assistant_content(reasoning: str | None, answer: str | None) -> str:
    """The assistant turn in R1's form: the think block, a blank line, then the answer."""
    answer = answer or ""
    if reasoning is None:
        return answer
    return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer.strip()}"


def split_completion(completion: str, open_tag: str = THINK_OPEN, close_tag: str = THINK_CLOSE
                     ) -> tuple[str | None, str]:
    """Split a completion into (reasoning, answer) at the first closing think tag (or the given
    pair of reasoning markers: `r1data.schemas.split_markers` passes OpenThoughts' ones).

    A completion with an opening tag but no closing one is all reasoning and no answer (it was
    cut off); one with no think block at all is all answer.

    >>> split_completion("<think>\\nadd\\n</think>\\n\\n4")
    ('add', '4')
    >>> split_completion("<think>still thinking")
    ('still thinking', '')
    >>> split_completion("4")
    (None, '4')
    """
    text = completion
    start = text.find(open_tag)
    end = text.find(close_tag)
    if end == -1:
        if start == -1:
            return None, text.strip()
        return text[start + len(open_tag):].strip(), ""
    begin = start + len(open_tag) if -1 < start < end else 0
    return text[begin:end].strip(), text[end + len(close_tag):].strip()


@dataclass(slots=True)
class Record:
    """One sample. See the module docstring for what each field holds."""

    id: str
    messages: list[dict[str, str]] = field(default_factory=list)
    prompt: str = ""
    reasoning: str | None = None
    answer: str | None = None
    gold: Any = None
    domain: str = "general"
    kind: str = REASONING
    language: str = "en"
    source: str = ""
    prompt_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    provenance: dict[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    filters: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def from_prompt(cls, prompt: str, *, id: str | None = None, **fields: Any) -> "Record":
        """A record holding only a question (the input of generation)."""
        rid = id or content_id(prompt)
        return cls(id=rid, prompt=prompt, messages=[{"role": "user", "content": prompt}],
                   prompt_id=fields.pop("prompt_id", rid), **fields)

    def with_completion(self, completion: str, *, sample_index: int = 0, **fields: Any) -> "Record":
        """A new record: this prompt answered by `completion` (split into reasoning and answer)."""
        reasoning, answer = split_completion(completion)
        messages = [m for m in self.messages if m["role"] != "assistant"]
        messages.append({"role": "assistant", "content": completion})
        metadata = {**self.metadata, META_SAMPLE_INDEX: sample_index}
        base = dataclasses.replace(
            self, id=f"{self.prompt_id or self.id}/{sample_index}", messages=messages,
            reasoning=reasoning, answer=answer, prompt_id=self.prompt_id or self.id,
            metadata=metadata, verdicts=list(self.verdicts), filters=list(self.filters),
        )
        for key, value in fields.items():
            setattr(base, key, value)
        return base

    @property
    def completion(self) -> str:
        """The last assistant turn, or "" when the record has none yet."""
        for message in reversed(self.messages):
            if message.get("role") == "assistant":
                return message.get("content") or ""
        return ""

    # -- serialisation ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Record":
        """Build a record from a dict, checking types. Raises `RecordError` with the reason.

        Unknown keys are kept in `metadata` rather than dropped, so nothing read is lost.
        """
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        for name in JSON_FIELDS:
            value = data.get(name)
            if isinstance(value, str) and name != "gold":
                try:
                    data[name] = json.loads(value)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"field {name!r} is not valid JSON: {exc.msg}") from None
        known = {f.name for f in dataclasses.fields(cls)}
        extra = {k: v for k, v in data.items() if k not in known}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        if "id" not in values or not isinstance(values["id"], (str, int)) or values["id"] == "":
            raise RecordError("missing required field 'id'")
        values["id"] = str(values["id"])
        _check_types(values)
        record = cls(**values)
        if extra:
            record.metadata = {**record.metadata, **extra}
        return record

    def to_row(self) -> dict[str, Any]:
        """A flat row for columnar formats: JSON_FIELDS become JSON text, the rest stays typed."""
        row = self.to_dict()
        for name in JSON_FIELDS:
            row[name] = json.dumps(row[name], ensure_ascii=False)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        row = dict(row)
        if isinstance(row.get("gold"), str):
            row["gold"] = json.loads(row["gold"])
        return cls.from_dict(row)


class RecordError(ValueError):
    """A row that cannot be a `Record`; the message is the reason written to `rejected/`."""


_STR_FIELDS = ("prompt", "domain", "kind", "language", "source")
_OPT_STR_FIELDS = ("reasoning", "answer", "prompt_id", "finish_reason")
_OPT_INT_FIELDS = ("prompt_tokens", "completion_tokens")


def _check_types(values: dict[str, Any]) -> None:
    for name in _STR_FIELDS + _OPT_STR_FIELDS:
        if name in values and not isinstance(values[name], str):
            raise RecordError(f"field {name!r} must be a string, got {type(values[name]).__name__}")
    for name in _OPT_INT_FIELDS:
        if name in values and (isinstance(values[name], bool) or not isinstance(values[name], int)):
            raise RecordError(f"field {name!r} must be an integer, got {type(values[name]).__name__}")
    messages = values.get("messages", [])
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
        for m in messages
    ):
        raise RecordError("field 'messages' must be a list of {role, content} strings")
    if not values.get("prompt") and not messages:
        raise RecordError("record has neither 'prompt' nor 'messages'")
    if values.get("kind", REASONING) not in KINDS:
        raise RecordError(f"field 'kind' must be one of {KINDS}, got {values['kind']!r}")
    for name in ("provenance", "metadata"):
        if name in values and not isinstance(values[name], dict):
            raise RecordError(f"field {name!r} must be an object")
    for name in ("verdicts", "filters"):
        if name in values and not isinstance(values[name], list):
            raise RecordError(f"field {name!r} must be a list")


# -- plain answers -------------------------------------------------------------------------

_FINAL = re.compile(r"\\boxed\{|\\fbox\{|answer is|final answer|answer:|=\s*-?\d", re.IGNORECASE)


def split_plain(text: str) -> tuple[str, str] | None:
    """(reasoning, summary) of a plain answer: the last paragraph (or, in a one-paragraph answer,
    the last line; in a one-line answer, the last sentence) that states the final answer is the
    summary, everything before it the reasoning. None when no such split exists (no final-answer
    statement, or nothing before it).

    >>> split_plain("6 + 10 = 16 cookies.\\n\\nSo the answer is 16.")
    ('6 + 10 = 16 cookies.', 'So the answer is 16.')
    >>> split_plain("Kofi has 15 + 9 = 24 marbles. The answer is 24.")
    ('Kofi has 15 + 9 = 24 marbles.', 'The answer is 24.')
    >>> split_plain("The answer is 24.") is None
    True
    """
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text.strip()) if b.strip()]
    if len(blocks) < 2:
        blocks = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(blocks) < 2:  # sentences: a full stop (not a decimal point) before a capital letter
        blocks = [b.strip() for b in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text.strip()) if b.strip()]
    if len(blocks) < 2 or not _FINAL.search(blocks[-1]):
        return None
    return "\n\n".join(blocks[:-1]), blocks[-1]


def accept_plain(record: Record) -> bool:
    """Give a plain step-by-step answer (no think block) R1's form, reasoning + summary, when
    `split_plain` finds the split; a truncated answer is left alone. Returns whether it changed.

    Off by default in every stage: R1 keeps only answers written in the readable form. It is for
    small teachers that never write think tags (the demo's 135M model).
    """
    if record.reasoning or record.finish_reason == "length":
        return False
    parts = split_plain(record.answer or "")
    if not parts:
        return False
    record.reasoning, record.answer = parts
    record.messages = [*[m for m in record.messages if m.get("role") != "assistant"],
                       {"role": "assistant", "content": assistant_content(*parts)}]
    return True
