"""Small corpora of real records for the pipeline tests (no model needed)."""

from pathlib import Path

import pytest

from r1data.io import write_records
from r1data.record import META_PASS_RATE, NON_REASONING, Record


def make_corpus(folder: Path, *, math: int = 30, code: int = 10, writing: int = 10,
                samples_per_prompt: int = 2, unanswered: int = 1) -> list[Record]:
    """Reasoning samples (two per prompt, with pass rates), non-reasoning answers without a
    chain of thought, and prompts with no answer at all (which a mix must set aside)."""
    records = []
    for domain, count in (("math", math), ("code", code)):
        for i in range(count):
            prompt = Record.from_prompt(f"{domain} question {i}: what is {i} + {i}?", domain=domain,
                                        source=f"{domain}_src", metadata={META_PASS_RATE: (i % 5) / 4})
            for k in range(samples_per_prompt):
                records.append(prompt.with_completion(
                    f"<think>\n{i} plus {i} is {2 * i}, checked twice ({k}).\n</think>\n\n{2 * i}",
                    sample_index=k, completion_tokens=12 + i + k, prompt_tokens=9, finish_reason="stop"))
    for i in range(writing):
        prompt = Record.from_prompt(f"Write a two-line poem about the number {i}.", domain="writing",
                                    source="poems", kind=NON_REASONING, language="en" if i % 3 else "zh")
        records.append(prompt.with_completion(f"Number {i} stands alone,\nits own.",
                                              completion_tokens=10, prompt_tokens=12))
    records += [Record.from_prompt(f"unanswered {i}") for i in range(unanswered)]
    write_records(records, folder)
    return records


@pytest.fixture
def corpus(tmp_path) -> tuple[Path, list[Record]]:
    folder = tmp_path / "corpus"
    return folder, make_corpus(folder)
