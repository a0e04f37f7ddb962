"""Corpus statistics as polars lazy queries: counts per domain/kind/language/source, token-length
quantiles, truncation and chain-of-thought counts. Used by `r1data stats`, the dataset card of
`publish` and `r1data report`.

Two ways in, one query:

* r1data's own record files (plain `.jsonl` or `.parquet`, a file or a folder of shards) are
  scanned by polars itself (`scan_ndjson` / `scan_parquet`), reading only the columns the figures
  need, and the query runs on the streaming engine: memory stays flat in the number of rows.
* Every other layout (chat, ShareGPT, columns, Hub datasets, compressed files, or a record file
  polars cannot parse, e.g. a broken line) is read through `r1data.io.read_records`, which maps
  the layout and writes unreadable rows aside; the records become a narrow frame in batches.

Either way `summarize` builds the figures from one LazyFrame, so both give the same numbers.
Token counts stored on the records are used as they are; missing ones are counted with the
tokenizer (prompt = the question, completion = the last assistant turn).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.table import Table

from r1data import io, schemas
from r1data.io import RejectLog, read_records
from r1data.record import REASONING, Record
from r1data.schemas import ReadOptions, ReadReport, has_gold

QUANTILES = (0.0, 0.1, 0.5, 0.9, 0.99, 1.0)
CATEGORIES = ("domain", "kind", "language", "source")
# what a column holds when a record leaves it out (the Record defaults)
DEFAULTS = {"domain": "general", "kind": REASONING, "language": "en", "source": ""}
BATCH = 50_000  # records per frame on the row path


def _schema():
    import polars as pl  # lazy: heavy import

    return {"id": pl.String, "domain": pl.String, "kind": pl.String, "language": pl.String,
            "source": pl.String, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
            "finish_reason": pl.String, "has_reasoning": pl.Boolean, "has_gold": pl.Boolean}


def _count_tokens(texts: list[str], tokenizer) -> list[int]:
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _rows(records: list[Record], tokenizer) -> dict[str, list]:
    """The columns of a batch of records, missing token counts counted with `tokenizer`."""
    columns: dict[str, list] = {name: [] for name in _schema()}
    todo_prompt, todo_completion = [], []
    for i, record in enumerate(records):
        for name in ("id", *CATEGORIES, "prompt_tokens", "completion_tokens", "finish_reason"):
            columns[name].append(getattr(record, name))
        columns["has_reasoning"].append(bool(record.reasoning))
        columns["has_gold"].append(has_gold(record.gold))
        if tokenizer is not None:
            if record.prompt_tokens is None:
                todo_prompt.append(i)
            if record.completion_tokens is None and record.completion:
                todo_completion.append(i)
    for name, todo, text in (("prompt_tokens", todo_prompt, lambda r: r.prompt),
                             ("completion_tokens", todo_completion, lambda r: r.completion)):
        for i, count in zip(todo, _count_tokens([text(records[i]) for i in todo], tokenizer),
                            strict=True):
            columns[name][i] = count
    return columns


def frame(records: Iterable[Record], tokenizer=None, batch: int = BATCH):
    """A polars DataFrame with one row per record: its categories, token lengths, finish reason
    and whether it has a chain of thought (built `batch` records at a time)."""
    import polars as pl  # lazy: heavy import

    parts, pending = [], []
    for record in records:
        pending.append(record)
        if len(pending) >= batch:
            parts.append(pl.DataFrame(_rows(pending, tokenizer), schema=_schema()))
            pending = []
    parts.append(pl.DataFrame(_rows(pending, tokenizer), schema=_schema()))
    return pl.concat(parts) if len(parts) > 1 else parts[0]


# -- the scan of r1data's own files -------------------------------------------------------------


def _own_files(path: Path) -> list[Path] | None:
    """The plain .jsonl or .parquet files of `path` (one format), when they hold r1data records;
    None when polars cannot scan them directly (another layout, compressed, mixed formats)."""
    if io.is_hub_name(path) or not path.exists():
        return None
    files = [path] if path.is_file() else (io.shard_files(path) if path.is_dir() else [])
    if not files or len({f.suffix for f in files}) != 1 or files[0].suffix not in (".jsonl", ".parquet"):
        return None
    first = next(io.iter_rows(files[0]), None)
    columns = frozenset(k for k in (first or {}) if not k.startswith("__"))
    return files if first is not None and schemas.detect(columns) == "record" else None


def scan(path: str | Path, tokenizer=None):
    """A LazyFrame with `frame`'s columns over r1data's own record files, or None when the input
    must be read row by row (see the module docstring). Needs a tokenizer only for the token
    counts a file lacks."""
    import polars as pl  # lazy: heavy import

    files = _own_files(Path(path))
    if files is None:
        return None
    wanted = {"domain": pl.String, "kind": pl.String, "language": pl.String, "source": pl.String,
              "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
              "finish_reason": pl.String, "reasoning": pl.String, "gold": pl.String}
    if tokenizer is not None:  # the texts, in case a count is missing
        wanted |= {"prompt": pl.String, "messages": pl.List(pl.Struct({"role": pl.String,
                                                                       "content": pl.String}))}
    if files[0].suffix == ".jsonl":
        lf = pl.scan_ndjson(files, schema=wanted)
    else:
        lf = pl.scan_parquet(files)
        have = lf.collect_schema()
        lf = lf.select([pl.col(c).cast(t) if c in have else pl.lit(None, t).alias(c)
                        for c, t in wanted.items()])
    # gold comes as text whatever its JSON type (Parquet rows store it as JSON text): "null",
    # "" and "[]" (or no gold at all) are no gold
    no_gold = pl.col("gold").fill_null("null").str.strip_chars().is_in(["null", "", '""', "[]"])
    lf = lf.with_columns(
        [pl.col(c).fill_null(v) for c, v in DEFAULTS.items()]
        + [(pl.col("reasoning").fill_null("") != "").alias("has_reasoning"),
           (~no_gold).alias("has_gold")])
    if tokenizer is not None:
        lf = lf.with_columns(_counted("prompt_tokens", pl.col("prompt"), tokenizer),
                             _counted("completion_tokens", _last_assistant(), tokenizer))
    return lf.select([c for c in _schema() if c != "id"])


def _last_assistant():
    import polars as pl  # lazy: heavy import

    return (pl.col("messages").list.eval(
        pl.element().filter(pl.element().struct.field("role") == "assistant")
        .struct.field("content")).list.last())


def _counted(column: str, text, tokenizer):
    """`column`, its nulls filled by counting the tokens of `text` (batch by batch)."""
    import polars as pl  # lazy: heavy import

    def count(texts):
        values = texts.to_list()
        todo = [i for i, t in enumerate(values) if t]
        counts = [None] * len(values)
        for i, n in zip(todo, _count_tokens([values[i] for i in todo], tokenizer), strict=True):
            counts[i] = n
        return pl.Series(counts, dtype=pl.Int64)

    return pl.coalesce(pl.col(column), text.map_batches(count, return_dtype=pl.Int64,
                                                        is_elementwise=True)).alias(column)


# -- the figures --------------------------------------------------------------------------------


def summarize(data) -> dict[str, Any]:
    """The figures `r1data stats` prints, as plain data (JSON-ready), from a DataFrame or
    LazyFrame with `frame`'s columns: one set of lazy queries, collected together on the
    streaming engine."""
    import polars as pl  # lazy: heavy import

    lf = data.lazy()
    queries = [lf.select(
        pl.len().alias("rows"),
        (pl.col("finish_reason") == "length").sum().alias("truncated"),
        pl.col("has_reasoning").sum().alias("with_reasoning"),
        pl.col("has_gold").sum().alias("with_gold"),
        *[pl.col(c).count().alias(f"{c}_count") for c in ("prompt_tokens", "completion_tokens")],
        *[pl.col(c).mean().alias(f"{c}_mean") for c in ("prompt_tokens", "completion_tokens")],
        # all quantiles of a column in one expression: one pass over its values, not six
        *[pl.col(c).quantile(list(QUANTILES), interpolation="nearest").alias(f"{c}_quantiles")
          for c in ("prompt_tokens", "completion_tokens")],
    )]
    queries += [lf.group_by(c).len().sort(["len", c], descending=[True, False])
                for c in CATEGORIES]
    totals, *counted = pl.collect_all(queries, engine="streaming")
    row = totals.row(0, named=True)

    def quantiles(column: str) -> dict[str, float] | None:
        if not row[f"{column}_count"]:
            return None
        out = {f"p{int(q * 100)}": float(v) for q, v in zip(QUANTILES, row[f"{column}_quantiles"])}
        out["mean"] = float(row[f"{column}_mean"])
        return out

    plural = {"domain": "domains", "kind": "kinds", "language": "languages", "source": "sources"}
    out: dict[str, Any] = {"rows": int(row["rows"])}
    for column, grouped in zip(CATEGORIES, counted):
        out[plural[column]] = {str(k): int(v) for k, v in grouped.iter_rows()}
    out["prompt_tokens"] = quantiles("prompt_tokens")
    out["completion_tokens"] = quantiles("completion_tokens")
    out["truncated"] = int(row["truncated"] or 0)
    out["with_reasoning"] = int(row["with_reasoning"] or 0)
    out["with_gold"] = int(row["with_gold"] or 0)
    return out


def file_stats(path: str | Path, tokenizer=None, rejects: RejectLog | None = None,
               options: ReadOptions | None = None) -> dict[str, Any]:
    """`summarize` of a file or folder, with the layout(s) read and the rows set aside;
    `options`: how the input is laid out (the command's --columns, --schema)."""
    import polars as pl  # lazy: heavy import

    rejects = rejects if rejects is not None else RejectLog(None)
    try:
        lf = scan(path, tokenizer)
        summary = summarize(lf) if lf is not None else None
    except pl.exceptions.PolarsError:  # a line polars cannot parse: read row by row instead
        summary = None
    if summary is not None:
        summary["rejected"] = 0
        summary["schema"] = f"record {summary['rows']:,}"
        summary["gold"] = f"record {summary['with_gold']:,} of {summary['rows']:,}"
        return summary
    report = ReadReport()
    summary = summarize(frame(read_records(path, rejects, options, report), tokenizer))
    summary["rejected"] = rejects.count
    # the input layout(s) read, and how many records came with a chain of thought
    summary["schema"] = report.line()
    summary["with_reasoning"] = report.with_reasoning
    summary["gold"] = report.gold_line()  # records with a gold answer, per layout
    summary["unread_text"] = report.unread_lines()  # long texts no field read, with the option
    if report.solution_line():
        summary["solution_as"] = report.solution_line()
    return summary


def render(summary: dict[str, Any], title: str = "r1data stats"):
    """A rich Table of a `summarize` result."""
    table = Table(title=title, show_lines=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("rows", f"{summary['rows']:,}")
    if "schema" in summary:
        table.add_row("schema", summary["schema"])
        table.add_row("with chain of thought", f"{summary['with_reasoning']:,}")
    if "gold" in summary:
        table.add_row("with gold answer", summary["gold"])
    if summary.get("solution_as"):
        table.add_row("solution beside a gold read as", summary["solution_as"])
    for line in summary.get("unread_text") or []:
        table.add_row("[yellow]unread text column", f"[yellow]{line}")
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
