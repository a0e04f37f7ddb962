"""Evaluation under R1's protocol: k samples per question, pass@1 as the mean over them, cons@k.

    results = evaluate.run(EvalConfig(benchmarks=["gsm8k"], sampling={"n": 4}, output="eval/run1"))
    evaluate.compare(results_a, results_b)

The package has three parts along its seams: `metrics` (the figures, pure functions of verdicts),
`runner` (the config, the questions, generation with resume, verification, results files) and
`render` (the rich tables). Everything a caller needs is importable from `r1data.evaluate`.

What is measured (R1 section 3; defaults temperature 0.6, top-p 0.95, 32,768 new tokens):

* pass@1: for each question the fraction p_q of its k samples judged correct; pass@1 is the mean
  of p_q over the Q questions, with the standard error of that mean, sqrt(var(p_q) / Q) (sample
  variance, Q - 1 in the denominator; None for Q < 2). The questions are what varies between
  reruns and test sets, so the error bar is over questions, as in Miller 2024 "Adding error bars
  to evals".
* pass@k (Chen et al. 2021, the HumanEval paper): the unbiased estimator 1 - C(n-c, k) / C(n, k)
  per question (n samples, c correct), averaged over questions, for each chosen k <= n.
* cons@k: a majority vote over the extracted answers of the k samples. Answers vote together when
  they are equivalent, not when their strings are equal ("0.5", "1/2" and "\\frac{1}{2}" are one
  vote): math answers are grouped by the math verifier's own equivalence (`verify_math` of one
  answer against the group's first answer, after a cheap normalised-string match), choice answers
  by their letter. Groups are formed in sample order; the largest group wins and a tie goes to the
  group whose first answer came earliest (lowest sample index), so the vote is deterministic. A
  sample with no extracted answer does not vote; a question where none voted counts as wrong.
  The vote is correct when the winning group's first answer was judged correct. Programs have no
  answer to vote on, so cons@k is None for code benchmarks.
* truncation rate (finish_reason "length") and mean completion tokens, over all samples.

A sample the verifier cannot decide (correct None: timeout, unparseable gold) counts as wrong and
is counted under `undecided`, never as correct.

Files in `output/`: `generations/<benchmark>/` (the samples, written by the generation engine,
so a run killed at any point resumes where it stopped and reuses every finished sample),
`results.json` (the metrics and everything needed to reproduce them) and `details.jsonl` (one line
per question: question, gold, each sample with its extracted answer and verdict, the vote).
Because sample i of a question is seeded by (seed, question id, i), rerunning with a larger k
keeps the first samples and only draws the new ones.
"""


from r1data.evaluate.metrics import (METRICS, benchmark_metrics, compare, majority_vote, math_equivalent,
                                     mean_and_stderr, pass_at_k, question_metrics)
from r1data.evaluate.render import LABELS, render_compare, render_results
from r1data.evaluate.runner import (INSTRUCTIONS, SCHEMA, EvalConfig, kind_of, load_results,
                                    question_records, question_text, run, score, verify_samples)

__all__ = [
    "EvalConfig", "run", "score", "load_results", "compare", "render_results", "render_compare",
    "pass_at_k", "mean_and_stderr", "majority_vote", "math_equivalent", "question_metrics",
    "benchmark_metrics", "kind_of", "question_text", "question_records", "verify_samples",
    "SCHEMA", "INSTRUCTIONS", "METRICS", "LABELS",
]
