"""Corpus statistics with polars: counts per domain/kind/language/source and token-length
quantiles. Used by `r1data stats`, the dataset card of `publish` and `r1data report`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from r1data.io import RejectLog, read_records
from r1data.record import Record

QUANTILES = (0.0, 0.1, 0.5, 0.9, 0.99, 1.0)


def _count_tokens(texts: list[str], tokenizer) -> list[int]:
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def frame(records: Iterable[Record], tokenizer=None, batch: int = 512):
    """A polars DataFrame with one row per record: its categories and token lengths.

    Token counts stored on the record are used as they are; missing ones are counted with
    `tokenizer` (prompt = the question, completion = the last assistant turn).
    """
    import polars as pl

    rows: list[dict[str, Any]] = []
    pending: list[tuple[int, str, str]] = []

    def flush() -> None:
        if tokenizer is None or not pending:
            pending.clear()
            return
        prompts = _count_tokens([p for _, p, _ in pending], tokenizer)
        completions = _count_tokens([c for _, _, c in pending], tokenizer)
        for (index, _, completion), p_len, c_len in zip(pending, prompts, completions, strict=True):
            rows[index]["prompt_tokens"] = rows[index]["prompt_tokens"] or p_len
            if rows[index]["completion_tokens"] is None and completion:
                rows[index]["completion_tokens"] = c_len
        pending.clear()

    for record in records:
        rows.append({
            "id": record.id, "domain": record.domain, "kind": record.kind,
            "language": record.language, "source": record.source,
            "prompt_tokens": record.prompt_tokens, "completion_tokens": record.completion_tokens,
            "finish_reason": record.finish_reason,
        })
        if record.prompt_tokens is None or (record.completion_tokens is None and record.completion):
            pending.append((len(rows) - 1, record.prompt, record.completion))
        if len(pending) >= batch:
            flush()
    flush()
    schema = {"id": pl.String, "domain": pl.String, "kind": pl.String, "language": pl.String,
              "source": pl.String, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
              "finish_reason": pl.String}
    return pl.DataFrame(rows, schema=schema)


def summarize(df) -> dict[str, Any]:
    """The figures `r1data stats` prints, as plain data (JSON-ready)."""
    import polars as pl

    def counts(column: str) -> dict[str, int]:
        grouped = df.group_by(column).len().sort(["len", column], descending=[True, False])
        return {str(k): int(v) for k, v in grouped.iter_rows()}

    def quantiles(column: str) -> dict[str, float] | None:
        values = df.get_column(column).drop_nulls()
        if values.len() == 0:
            return None
        out = {f"p{int(q * 100)}": float(values.quantile(q, interpolation="nearest")) for q in QUANTILES}
        out["mean"] = float(values.mean())
        return out

    return {
        "rows": df.height,
        "domains": counts("domain"),
        "kinds": counts("kind"),
        "languages": counts("language"),
        "sources": counts("source"),
        "prompt_tokens": quantiles("prompt_tokens"),
        "completion_tokens": quantiles("completion_tokens"),
        "truncated": int(df.filter(pl.col("finish_reason") == "length").height),
    }


def file_stats(path: str | Path, tokenizer=None, rejects: RejectLog | None = None) -> dict[str, Any]:
    from r1data.schemas import ReadReport

    rejects = rejects if rejects is not None else RejectLog(None)
    report = ReadReport()
    summary = summarize(frame(read_records(path, rejects, report=report), tokenizer))
    summary["rejected"] = rejects.count
    # the input layout(s) read, and how many records came with a chain of thought
    summary["schema"] = report.line()
    summary["with_reasoning"] = report.with_reasoning
    return summary


def render(summary: dict[str, Any], title: str = "r1data stats"):
    """A rich Table of a `summarize` result."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows", f"{summary['rows']:,}")
    if "schema" in summary:
        table.add_row("schema", summary["schema"])
        table.add_row("with chain of thought", f"{summary['with_reasoning']:,}")
    if summary.get("rejected"):
        table.add_row("rejected rows", f"{summary['rejected']:,}")
    for key in ("kinds", "domains", "languages", "sources"):
        items = summary[key]
        shown = ", ".join(f"{k} {v:,}" for k, v in list(items.items())[:8])
        if len(items) > 8:
            shown += f", ... ({len(items)} in all)"
        table.add_row(key, shown)
    for key in ("prompt_tokens", "completion_tokens"):
        q = summary.get(key)
        if q:
            table.add_row(key, "  ".join(f"{name} {value:,.0f}" for name, value in q.items()))
    if summary.get("truncated"):
        table.add_row("truncated (finish_reason=length)", f"{summary['truncated']:,}")
    return table
