"""The `r1data select` filters (pipelines/select.py builds them): each keeps or drops a sample
by one choice about questions or answers, with its own drop reason, as a datatrove step.
`length_bounds` gives `LengthOutlierFilter` its bounds."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict

from r1data.record import META_PASS_RATE

from .base import RecordFilter, count_words, record_of


def length_bounds(groups: dict[str, list[int]], z: float) -> dict[str, tuple[float, float]]:
    """(low, high) answer length per group (question or domain -> its answers' lengths): beyond them an answer is an
    outlier by the modified z-score of its log length (robust: one 30K-word loop does not
    widen the bounds the way a standard deviation would)."""
    bounds = {}
    for key, lengths in groups.items():
        logs = [math.log1p(n) for n in lengths]
        median = statistics.median(logs)
        mad = statistics.median(abs(x - median) for x in logs)
        if mad == 0:  # all alike (or one answer): nothing is an outlier
            bounds[key] = (0.0, math.inf)
            continue
        spread = z * mad / 0.6745
        bounds[key] = (math.expm1(median - spread), math.expm1(median + spread))
    return bounds


# -- the filters (datatrove steps: each keeps or drops a sample, with a reason) --------------------


class PassRateFilter(RecordFilter):
    """Keeps the answers of questions whose pass rate is in [low, high]."""

    name = "pass_rate"

    def __init__(self, rates: dict[str, float | None], low: float, high: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.rates, self.low, self.high = rates, low, high

    def filter(self, doc):
        record = record_of(doc)
        rate = self.rates.get(record.prompt_id or record.id)
        if rate is None:
            return False, "no_pass_rate"
        record.metadata[META_PASS_RATE] = rate
        return self.low <= rate <= self.high or (False, "pass_rate_out_of_range")


class MeanLengthFilter(RecordFilter):
    """Keeps the answers of questions whose mean answer length (words) is in [low, high]."""

    name = "mean_length"

    def __init__(self, means: dict[str, float], low: float, high: float, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.means, self.low, self.high = means, low, high

    def filter(self, doc):
        record = record_of(doc)
        mean = self.means[record.prompt_id or record.id]
        return self.low <= mean <= self.high or (False, "mean_length_out_of_range")


class LengthOutlierFilter(RecordFilter):
    """Drops an answer whose length is outside its question's or domain's bounds."""

    name = "length_outlier"

    def __init__(self, bounds: dict[str, tuple[float, float]], scope: str, exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.bounds, self.scope = bounds, scope

    def filter(self, doc):
        record = record_of(doc)
        key = (record.prompt_id or record.id) if self.scope == "question" else record.domain
        low, high = self.bounds.get(key, (0.0, math.inf))
        return low <= count_words(record.completion or "") <= high or (False, "length_outlier")


class AnswerCountFilter(RecordFilter):
    """At most `max_answers` answers per question (the first ones in input order), and none of
    a question left with fewer than `min_answers` (counted after the length outliers)."""

    name = "answers_per_question"

    def __init__(self, available: dict[str, int], max_answers: int | None, min_answers: int | None,
                 exclusion_writer=None):
        super().__init__(exclusion_writer)
        self.available, self.max_answers, self.min_answers = available, max_answers, min_answers
        self.seen: dict[str, int] = defaultdict(int)

    def filter(self, doc):
        pid = record_of(doc).prompt_id or record_of(doc).id
        if self.min_answers and self.available.get(pid, 0) < self.min_answers:
            return False, "too_few_answers"
        self.seen[pid] += 1
        return not self.max_answers or self.seen[pid] <= self.max_answers or (False, "over_answer_cap")
