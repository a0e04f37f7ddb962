"""Prompt templates: how a question becomes what the model sees.

    r1-zero    R1's template for RL on a base model (exact text of R1 section 2.2.2): plain text,
               the model continues after "Assistant:".
    chat       the model's own chat template (a conversation; the backend renders it).
    readable   chat, asking for the cold-start readable format
               |special_token|<reasoning_process>|special_token|<summary>.
    few-shot   chat, with k long-CoT example solutions in front of the question.
"""

from __future__ import annotations

R1_ZERO_TEMPLATE = (
    "A conversation between User and Assistant. The user asks a question, and the Assistant "
    "solves it. The assistant first thinks about the reasoning process in the mind and then "
    "provides the user with the answer. The reasoning process and answer are enclosed within "
    "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
    "here </think> <answer> answer here </answer>. User: {prompt}. Assistant:"
)

TEMPLATES = ("chat", "r1-zero", "readable", "few-shot")


def r1_zero(prompt: str) -> str:
    return R1_ZERO_TEMPLATE.format(prompt=prompt)
