"""The rich tables of `r1data eval`: one row per benchmark for a results file, and the side-by-side
comparison of two (rates in percent, counts as numbers, "beyond 1 se" in bold). Rendering only:
the figures come from `metrics`, the results from `runner`.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

LABELS = {"pass_at_1": "pass@1", "cons_at_k": "cons@k", "truncation_rate": "truncated",
          "mean_tokens": "mean tokens", "questions": "questions"}


def render_results(results: dict[str, Any]):
    """A rich table: one row per benchmark."""
    run_info = results["run"]
    k = run_info["sampling"]["n"]
    table = Table(title=f"r1data eval: {run_info['model']} ({run_info['backend'].get('backend')}, "
                        f"k={k}, T={run_info['sampling']['temperature']}, "
                        f"top-p={run_info['sampling']['top_p']}, max {run_info['sampling']['max_tokens']} tokens)")
    ks = [x for x in run_info["pass_k"] if x != 1]
    for column in ["benchmark", "questions", "pass@1 ± se", f"cons@{k}",
                   *[f"pass@{x}" for x in ks], "truncated", "mean tokens"]:
        table.add_column(column, justify="left" if column == "benchmark" else "right")
    for name, m in results["benchmarks"].items():
        se = m["pass_at_1_stderr"]
        table.add_row(
            name, str(m["questions"]),
            f"{100 * m['pass_at_1']:.1f}" + (f" ± {100 * se:.1f}" if se is not None else ""),
            "n/a" if m["cons_at_k"] is None else f"{100 * m['cons_at_k']:.1f}",
            *[f"{100 * m['pass_at_k'][str(x)]:.1f}" if str(x) in m["pass_at_k"] else "-" for x in ks],
            f"{100 * m['truncation_rate']:.1f}%",
            "-" if m["mean_tokens"] is None else f"{m['mean_tokens']:.0f}",
        )
    return table


def render_compare(rows: list[dict[str, Any]], name_a: str, name_b: str):
    table = Table(title=f"A = {name_a}\nB = {name_b}")
    for column in ("benchmark", "metric", "A", "B", "B - A", "se of diff", "beyond 1 se"):
        table.add_column(column, justify="left" if column in ("benchmark", "metric") else "right")
    for r in rows:
        count = r["metric"] in ("mean_tokens", "questions")  # the rest are rates, in percent
        fmt = (lambda v: f"{v:.0f}") if count else (lambda v: f"{100 * v:.1f}")
        label = LABELS.get(r["metric"]) or r["metric"].replace("pass_at_k/", "pass@")
        table.add_row(r["benchmark"], label, fmt(r["a"]), fmt(r["b"]),
                      ("+" if r["diff"] >= 0 else "") + fmt(r["diff"]),
                      "-" if r["se"] is None else fmt(r["se"]),
                      "-" if r["exceeds_se"] is None else ("[bold]yes" if r["exceeds_se"] else "no"))
    return table
