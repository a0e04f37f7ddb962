"""Runs filter_cases.yaml: each per-sample filter's keep/drop decision and drop reason."""

from pathlib import Path

import pytest
import yaml

from r1data import filters as _  # noqa: F401  (the package must import on its own)
from r1data.filters import correctness_filter, format_filter, length_filter, readability_filters, \
    repetition_filter
from r1data.filters.adapters import document_of

from filtercase_helpers import make_record

CASES = yaml.safe_load((Path(__file__).parent / "filter_cases.yaml").read_text(encoding="utf-8"))
CLASSES = {cls.__name__: cls for module in (correctness_filter, format_filter, length_filter,
                                             readability_filters, repetition_filter)
           for cls in vars(module).values() if isinstance(cls, type) and hasattr(cls, "filter")}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_filter_case(case):
    step = CLASSES[case["filter"]](**case.get("args", {}))
    result = step.filter(document_of(make_record(case["record"])))
    kept, reason = (result, None) if isinstance(result, bool) else result
    assert ("kept" if kept else reason) == case["expect"]


def test_every_filter_has_a_drop_case():
    dropping = {c["filter"] for c in CASES if c["expect"] != "kept"}
    assert dropping >= {"FormatFilter", "LengthFilter", "LanguageMixFilter", "LongParagraphFilter",
                        "CodeBlockFilter", "RepetitionFilter", "CorrectnessFilter"}


FORMAT_CASES = yaml.safe_load((Path(__file__).parents[1] / "verifiers" / "cases" / "format.yaml")
                              .read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", [c for c in FORMAT_CASES if c["style"] == "r1"],
                         ids=lambda c: c["completion"][:40])
def test_format_filter_keeps_exactly_what_the_format_reward_accepts(case):
    """One rule where the filter and the reward meet: on every r1-style case of the format
    verifier, a reasoning sample is kept by FormatFilter iff check_format accepts it."""
    result = format_filter.FormatFilter().filter(document_of(make_record({"completion": case["completion"]})))
    kept = result if isinstance(result, bool) else result[0]
    assert kept == case["correct"]
