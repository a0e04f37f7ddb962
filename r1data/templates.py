"""Prompt templates: how a question becomes what the model sees.

    r1-zero    R1's template for RL on a base model (exact text of R1 section 2.2.2): plain text,
               the model continues after "Assistant:".
    chat       the model's own chat template (a conversation; the backend renders it).
    readable   chat, asking for the cold-start readable format
               |special_token|<reasoning_process>|special_token|<summary>.
    few-shot   chat, with k long-CoT example solutions in front of the question.

Two helpers deal with what comes back:

* `think_prefill(rendered)`: chat templates of reasoning models (DeepSeek-R1 distills, QwQ) end
  the rendered prompt with `<think>\\n`, so the model's output starts inside the think block and
  never contains the opening tag. Backends prepend that pre-filled part to the completion, so a
  stored sample (and any format reward reading it) sees the whole reasoning block. Public
  reproductions that skip this train on, or reward, completions that lack `<think>`.
* `split_readable(text, special_token)`: the (reasoning, summary) of a readable-format answer.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from r1data.backends.base import Prompt
from r1data.io import iter_rows
from r1data.record import THINK_CLOSE, THINK_OPEN, Record, assistant_content

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
    "here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)

TEMPLATES = ("chat", "r1-zero", "readable", "few-shot")
SPECIAL_TOKEN = "|special_token|"

# R1 (section 2.3.1) gives the format, not the instruction that asked for it: this wording is ours.
READABLE_INSTRUCTION = (
    "Think through the problem step by step, checking your work, then answer. Write your response "
    "in exactly this format: {token}<your reasoning process>{token}<a short summary that states "
    "the final answer>. Use the marker {token} exactly twice: once before the reasoning and once "
    "before the summary."
)


class TemplateError(ValueError):
    """An unknown template or a template used without what it needs (e.g. few-shot examples)."""


def r1_zero(prompt: str) -> str:
    return R1_ZERO_TEMPLATE.format(prompt=prompt)


def _question(record_or_prompt: Record | str) -> tuple[str, list[dict[str, str]]]:
    """(question text, conversation so far without assistant turns) of a record or a string."""
    if isinstance(record_or_prompt, str):
        return record_or_prompt, [{"role": "user", "content": record_or_prompt}]
    messages = [dict(m) for m in record_or_prompt.messages if m.get("role") != "assistant"]
    text = record_or_prompt.prompt
    if not text:
        users = [m["content"] for m in messages if m.get("role") == "user"]
        text = users[-1] if users else ""
    if not messages:
        messages = [{"role": "user", "content": text}]
    return text, messages


def _with_system(messages: list[dict[str, str]], system: str | None) -> list[dict[str, str]]:
    if not system:
        return messages
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{system}\n\n{messages[0]['content']}"}, *messages[1:]]
    return [{"role": "system", "content": system}, *messages]


def fewshot_turns(examples: list[Any]) -> list[dict[str, str]]:
    """User/assistant turn pairs from example solutions: Records, or dicts with a question
    (`prompt`/`problem`/`question`) and a solution (`completion`/`solution`/`response`, or
    `reasoning` + `answer`, which become a think block)."""
    turns: list[dict[str, str]] = []
    for example in examples:
        if isinstance(example, Record):
            question, solution = example.prompt, example.completion or assistant_content(
                example.reasoning, example.answer)
        elif isinstance(example, dict):
            question = next((example[k] for k in ("prompt", "problem", "question") if example.get(k)), None)
            solution = next((example[k] for k in ("completion", "solution", "response") if example.get(k)), None)
            if solution is None and example.get("answer") is not None:
                solution = assistant_content(example.get("reasoning"), str(example["answer"]))
        else:
            raise TemplateError(f"a few-shot example must be a Record or a dict, got {type(example).__name__}")
        if not isinstance(question, str) or not isinstance(solution, str) or not solution.strip():
            raise TemplateError("a few-shot example needs a question and a solution text")
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": solution}]
    return turns


def load_fewshot(path: str | Path, k: int, *, seed: int = 0) -> list[dict[str, Any]]:
    """k example solutions drawn (reproducibly, by `seed`) from a JSONL file or record folder."""
    rows = [{kk: v for kk, v in row.items() if not kk.startswith("__")} for row in iter_rows(path)]
    if len(rows) < k:
        raise TemplateError(f"{path} holds {len(rows)} examples, fewer than the {k} asked for")
    picked = random.Random(seed).sample(rows, k)
    for row in picked:  # records keep their solution in messages
        if "messages" in row and not any(row.get(c) for c in ("completion", "solution", "response")):
            turns = [m for m in row["messages"] if m.get("role") == "assistant"]
            if turns:
                row["completion"] = turns[-1]["content"]
    fewshot_turns(picked)  # validate now, not at the first prompt
    return picked


def build_prompt(record_or_prompt: Record | str, template: str, *, system: str | None = None,
                 fewshot: list | None = None, special_token: str = SPECIAL_TOKEN) -> Prompt:
    """What the backend receives for this question under `template`.

    r1-zero gives plain text (a system prompt has no place in it and is refused); the others give
    a conversation that the backend renders with the model's chat template.

    >>> build_prompt("What is 2+2?", "chat")
    [{'role': 'user', 'content': 'What is 2+2?'}]
    >>> build_prompt("What is 2+2?", "r1-zero").endswith("User: What is 2+2?. Assistant:")
    True
    """
    question, messages = _question(record_or_prompt)
    if template == "r1-zero":
        if system:
            raise TemplateError("the r1-zero template is plain text: it takes no system prompt")
        return r1_zero(question)
    if template == "chat":
        return _with_system(messages, system)
    if template == "readable":
        instruction = READABLE_INSTRUCTION.format(token=special_token)
        return _with_system(messages, f"{system}\n\n{instruction}" if system else instruction)
    if template == "few-shot":
        if not fewshot:
            raise TemplateError("the few-shot template needs example solutions (--fewshot FILE)")
        return _with_system([*fewshot_turns(fewshot), *messages], system)
    raise TemplateError(f"unknown template {template!r}: use one of {', '.join(TEMPLATES)}")


def think_prefill(rendered: str) -> str:
    """The part of a rendered prompt that opened a think block the model is expected to continue
    (e.g. `<think>\\n`), or "" when the prompt leaves no think block open.

    >>> think_prefill("<|im_start|>assistant\\n<think>\\n")
    '<think>\\n'
    >>> think_prefill("Assistant:")
    ''
    >>> think_prefill("<think>old</think> Assistant:")
    ''
    """
    start = rendered.rfind(THINK_OPEN)
    if start == -1 or THINK_CLOSE in rendered[start:] or rendered[start + len(THINK_OPEN):].strip():
        return ""
    return rendered[start:]


def restore_think(completion: str, prefill: str) -> str:
    """The completion with the pre-filled opening of its think block put back.

    Backends that do not see the rendered prompt (a chat endpoint) pass prefill=None and rely on
    the evidence: a `</think>` with no `<think>` before it means the template opened the block.

    >>> restore_think("add\\n</think>\\n\\n4", "<think>\\n")
    '<think>\\nadd\\n</think>\\n\\n4'
    >>> restore_think("add\\n</think>\\n\\n4", None)
    '<think>\\nadd\\n</think>\\n\\n4'
    >>> restore_think("4", None)
    '4'
    """
    if prefill:
        return prefill + completion
    if prefill is None:
        close = completion.find(THINK_CLOSE)
        if close != -1 and THINK_OPEN not in completion[:close]:
            return f"{THINK_OPEN}\n{completion.lstrip()}"
    return completion


def split_readable(text: str, special_token: str = SPECIAL_TOKEN) -> tuple[str | None, str]:
    """(reasoning, summary) of an answer in the readable format; (None, text) when it is not one.

    >>> split_readable("|special_token|2 and 2 make 4|special_token|The answer is 4.")
    ('2 and 2 make 4', 'The answer is 4.')
    >>> split_readable("just 4")
    (None, 'just 4')
    """
    parts = text.split(special_token)
    if len(parts) != 3 or parts[0].strip():
        return None, text.strip()
    return parts[1].strip(), parts[2].strip()
