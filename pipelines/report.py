"""Statistics and plots for any r1data output: Markdown + PNGs (+ a one-file HTML page).

The same figures serve `r1data report DIR`, the statistics of `mix` and the dataset card of
`publish`, so a card and a report of the same data always agree:

* counts per kind / domain / source / language / split, with and without a chain of thought;
* token lengths (prompt, completion) as quantiles and a histogram;
* per-prompt pass rates (rejection sampling's difficulty measure) as quantiles and a histogram;
* the stage summaries found on the way (`stats.json`: kept, dropped per reason).

A JSONL training log of the GRPO/SFT trainers (rows with a `step` and numbers) is recognised and
plotted instead, one plot per kind of quantity so that no curve flattens another: rewards, lengths,
KL, loss, learning rate, seconds, throughput, and the rest; the wall-clock timestamp is not plotted.

report.md is the source; report.html is rendered from it by markdown-it-py, with the plots
inlined so the page is one self-contained file.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from r1data import stats as core_stats
from r1data.io import RejectLog, iter_rows, read_records, shard_files, write_json
from r1data.pipelines.summary import lineage
from r1data.record import META_PASS_RATE, META_SPLIT, Record

PASS_RATE_BINS = 10
TOKEN_BINS = 40


# -- the frame -----------------------------------------------------------------------------


def corpus_frame(records: Iterable[Record], tokenizer=None, split: str | None = None):
    """One polars row per record: `r1data.stats.frame`'s columns plus prompt_id, split and
    pass_rate (the per-prompt rate stored by rejection sampling, else null)."""
    import polars as pl  # lazy: heavy import

    extra: list[dict[str, Any]] = []

    def tap(items: Iterable[Record]) -> Iterable[Record]:
        for record in items:
            rate = record.metadata.get(META_PASS_RATE)
            extra.append({
                "prompt_id": record.prompt_id or record.id,
                "split": split or record.metadata.get(META_SPLIT) or "train",
                "pass_rate": float(rate) if isinstance(rate, (int, float)) else None,
            })
            yield record

    base = core_stats.frame(tap(records), tokenizer)
    schema = {"prompt_id": pl.String, "split": pl.String, "pass_rate": pl.Float64}
    return pl.concat([base, pl.DataFrame(extra, schema=schema)], how="horizontal")


def statistics(df) -> dict[str, Any]:
    """`r1data.stats.summarize` plus splits, chain-of-thought share and pass rates (JSON-ready)."""
    import polars as pl  # lazy: heavy import

    out = core_stats.summarize(df)
    grouped = df.group_by("split").len().sort("split")
    out["splits"] = {str(k): int(v) for k, v in grouped.iter_rows()}
    by_domain = df.group_by(["kind", "domain"]).len().sort(["kind", "len", "domain"],
                                                           descending=[False, True, False])
    out["kind_domain"] = [{"kind": k, "domain": d, "rows": int(n)} for k, d, n in by_domain.iter_rows()]
    # pass rates are per prompt: one value per prompt, not one per sample
    rates = (df.filter(pl.col("pass_rate").is_not_null())
               .group_by("prompt_id").agg(pl.col("pass_rate").first()).get_column("pass_rate"))
    if rates.len():
        out["pass_rate"] = {"prompts": int(rates.len()), "mean": float(rates.mean()),
                            "p50": float(rates.quantile(0.5, interpolation="nearest")),
                            "solved_by_all": int((rates >= 1.0).sum()),
                            "solved_by_none": int((rates <= 0.0).sum())}
    else:
        out["pass_rate"] = None
    return out


# -- plots ---------------------------------------------------------------------------------


def _pyplot():
    import matplotlib  # lazy: heavy import

    matplotlib.use("Agg")  # files only: never needs a display
    import matplotlib.pyplot as plt  # lazy: heavy import

    return plt


def plots(df, folder: str | Path) -> dict[str, Path]:
    """Token-length histogram, per-domain counts and pass-rate histogram as PNGs in `folder`.
    Returns {name: path} for the plots that have data."""
    import polars as pl  # lazy: heavy import

    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}

    lengths = df.get_column("completion_tokens").drop_nulls()
    if lengths.len():
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for kind in sorted(df.get_column("kind").unique().to_list()):
            values = df.filter(pl.col("kind") == kind).get_column("completion_tokens").drop_nulls()
            if values.len():
                ax.hist(values.to_list(), bins=TOKEN_BINS, alpha=0.6, label=kind)
        ax.set_xlabel("completion tokens")
        ax.set_ylabel("samples")
        ax.legend()
        ax.set_title("Completion length")
        made["token_lengths"] = _save(fig, folder / "token_lengths.png", plt)

    if df.height:
        counts = df.group_by("domain").len().sort(["len", "domain"], descending=[True, False])
        fig, ax = plt.subplots(figsize=(7, max(2.0, 0.35 * counts.height + 1)))
        ax.barh(counts.get_column("domain").to_list()[::-1], counts.get_column("len").to_list()[::-1])
        ax.set_xlabel("samples")
        ax.set_title("Samples per domain")
        made["domains"] = _save(fig, folder / "domains.png", plt)

    rates = (df.filter(pl.col("pass_rate").is_not_null())
               .group_by("prompt_id").agg(pl.col("pass_rate").first()).get_column("pass_rate"))
    if rates.len():
        fig, ax = plt.subplots(figsize=(7, 3.5))
        ax.hist(rates.to_list(), bins=PASS_RATE_BINS, range=(0.0, 1.0))
        ax.set_xlabel("pass rate (correct samples / samples, per prompt)")
        ax.set_ylabel("prompts")
        ax.set_title("Prompt difficulty")
        made["pass_rates"] = _save(fig, folder / "pass_rates.png", plt)
    return made


def _save(fig, path: Path, plt) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- Markdown ------------------------------------------------------------------------------


def table(header: tuple[str, ...], rows: Iterable[tuple[Any, ...]]) -> str:
    """A Markdown table; columns holding only numbers are right-aligned."""
    rows = list(rows)
    numeric = [bool(rows) and all(isinstance(r[i], (int, float)) for r in rows)
               for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    """A table cell: thousands separators, three decimals, and three significant digits for
    numbers too small or too large for that (a learning rate of 1e-05 is not 0).

    >>> [_cell(v) for v in (1234, 0.5, 1e-05, 2.5e-07, 0.0, 12345678.9)]
    ['1,234', '0.5', '1e-05', '2.5e-07', '0', '1.23e+07']
    """
    if isinstance(value, float):
        if value and not 1e-3 <= abs(value) < 1e7:
            return f"{value:.3g}"
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def statistics_markdown(stats: dict[str, Any], images: dict[str, str] | None = None) -> str:
    """The statistics as Markdown tables (the dataset card and `r1data report` both use it).
    `images` maps plot names to the relative paths to link."""
    images = images or {}
    parts = [f"Rows: **{stats['rows']:,}** ({stats['with_reasoning']:,} with a chain of thought)."]
    parts.append("### Rows per split\n\n" + table(("split", "rows"), stats["splits"].items()))
    parts.append("### Rows per kind and domain\n\n" + table(
        ("kind", "domain", "rows"), ((r["kind"], r["domain"], r["rows"]) for r in stats["kind_domain"])))
    for key, title in (("sources", "source"), ("languages", "language")):
        parts.append(f"### Rows per {title}\n\n" + table((title, "rows"), stats[key].items()))
    quantile_rows = [(name, *q.values()) for name, q in
                     (("prompt", stats["prompt_tokens"]), ("completion", stats["completion_tokens"])) if q]
    if quantile_rows:
        names = tuple(next(q for q in (stats["prompt_tokens"], stats["completion_tokens"]) if q))
        parts.append("### Token lengths\n\n" + table(("tokens", *names), quantile_rows)
                     + f"\n\nTruncated samples (finish_reason = length): {stats['truncated']:,}.")
    if "token_lengths" in images:
        parts.append(f"![Completion length]({images['token_lengths']})")
    if "domains" in images:
        parts.append(f"![Samples per domain]({images['domains']})")
    if stats.get("pass_rate"):
        pr = stats["pass_rate"]
        parts.append("### Pass rates (per prompt)\n\n" + table(
            ("prompts", "mean", "median", "solved by all", "solved by none"),
            [(pr["prompts"], pr["mean"], pr["p50"], pr["solved_by_all"], pr["solved_by_none"])]))
        if "pass_rates" in images:
            parts.append(f"![Prompt difficulty]({images['pass_rates']})")
    return "\n\n".join(parts)


def stages_markdown(folder: str | Path) -> str:
    """How the data was built: one row per stage found through the stats.json files."""
    stages = lineage(folder)
    if not stages:
        return ""
    rows = []
    for s in stages:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(s.dropped.items(), key=lambda kv: -kv[1]))
        rows.append((s.stage, s.inputs, s.kept, s.dropped_total, reasons or "-", round(s.seconds, 1)))
    return table(("stage", "in", "kept", "dropped", "drop reasons", "seconds"), rows)


# -- training logs -------------------------------------------------------------------------


def is_training_log(path: str | Path) -> bool:
    """A JSONL file whose rows are `{"step": n, <metric>: number, ...}` rather than records."""
    path = Path(path)
    if not path.is_file() or not path.name.endswith((".jsonl", ".json")):
        return False
    for row in iter_rows(path):
        return "step" in row and "messages" not in row and "prompt" not in row
    return False


# The wall clock of a log row (Unix seconds, ~1.8e9): a when, not a measurement, never plotted.
CLOCK_KEYS = {"time", "timestamp", "wall_time", "_timestamp"}


def log_groups(keys: Iterable[str]) -> dict[str, list[str]]:
    """Which logged metrics go on which plot, so that each plot holds one unit: rewards (each
    component), lengths, KL, loss, learning rate, seconds (`time/...`), throughput and the rest.
    Units are decided before names, so `time/reward` (seconds) is a time, not a reward; the
    wall-clock timestamp (`CLOCK_KEYS`) is left out.

    >>> log_groups(["reward", "rewards/accuracy", "completion_length", "kl", "loss", "lr",
    ...             "time/reward", "tokens_per_s/rollout", "grad_norm", "time"])
    {'reward': ['reward', 'rewards/accuracy'], 'completion length': ['completion_length'], 'kl': ['kl'], 'loss': ['loss'], 'learning rate': ['lr'], 'seconds': ['time/reward'], 'throughput': ['tokens_per_s/rollout'], 'other': ['grad_norm']}
    """
    groups: dict[str, list[str]] = {"reward": [], "completion length": [], "kl": [], "loss": [],
                                    "learning rate": [], "seconds": [], "throughput": [],
                                    "other": []}
    for key in keys:
        low = key.lower()
        if low in CLOCK_KEYS:
            continue
        if low.startswith(("time/", "seconds")) or low.endswith(("_seconds", "/seconds", "_time")):
            groups["seconds"].append(key)
        elif "per_s" in low:  # tokens_per_s, samples_per_second
            groups["throughput"].append(key)
        elif low in ("lr", "learning_rate") or low.startswith("lr/"):
            groups["learning rate"].append(key)
        elif "reward" in low:
            groups["reward"].append(key)
        elif "length" in low or low.endswith("_len"):
            groups["completion length"].append(key)
        elif "kl" in low.replace("/", "_").split("_"):
            groups["kl"].append(key)
        elif "loss" in low:
            groups["loss"].append(key)
        else:
            groups["other"].append(key)
    return {k: v for k, v in groups.items() if v}


def training_log_report(path: str | Path, folder: str | Path
                        ) -> tuple[str, dict[str, Path], dict[str, list[str]]]:
    """Plots of a training log; returns (markdown, {plot name: path}, {plot name: metrics})."""
    plt = _pyplot()
    rows = [r for r in iter_rows(path) if isinstance(r.get("step"), (int, float))]
    metrics = sorted({k for r in rows for k, v in r.items() if not k.startswith("__") and k != "step"
                      and isinstance(v, (int, float)) and not isinstance(v, bool)})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, Path] = {}
    table_rows = []
    groups = log_groups(metrics)
    for group, keys in groups.items():
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            ax.plot([p[0] for p in points], [p[1] for p in points], label=key)
            values = [p[1] for p in points]
            table_rows.append((key, len(values), values[0], values[-1], min(values), max(values)))
        ax.set_xlabel("step")
        ax.set_title(group)
        ax.legend(fontsize=7)
        made[group] = _save(fig, folder / f"log_{group.replace(' ', '_')}.png", plt)
    md = [f"# Training log: {Path(path).name}", f"Steps logged: {len(rows):,}.",
          table(("metric", "points", "first", "last", "min", "max"), table_rows)]
    md += [f"![{name}]({p.name})" for name, p in made.items()]
    return "\n\n".join(md) + "\n", made, groups


# -- the report ----------------------------------------------------------------------------


def build_report(path: str | Path, out: str | Path, tokenizer=None,
                 rejects: RejectLog | None = None) -> dict[str, Any]:
    """Write report.md, report.html and PNGs for `path` into `out`; returns the statistics
    (for a training log: {"training_log": path, "plots": [...]})."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if is_training_log(path):
        markdown, made, groups = training_log_report(path, out)
        result: dict[str, Any] = {"training_log": str(path), "plots": [str(p) for p in made.values()],
                                  "plotted": groups}
    else:
        df = frame_for(path, tokenizer, rejects)
        result = statistics(df)
        made = plots(df, out)
        markdown = f"# r1data report: {path}\n\n"
        stages = stages_markdown(path) if Path(path).is_dir() else ""
        if stages:
            markdown += "## Stages\n\n" + stages + "\n\n"
        markdown += "## Statistics\n\n" + statistics_markdown(
            result, {name: p.name for name, p in made.items()}) + "\n"
        if rejects is not None and rejects.count:
            markdown += f"\nUnreadable rows skipped: {rejects.count:,}.\n"
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(_html(markdown, out), encoding="utf-8")

    write_json(out / "report.json", result)
    return result


def split_folders(path: Path) -> dict[str, Path]:
    """{split: folder} when `path` holds train/ and test/ (a mix output), else {}; a split
    folder with no data (no test split asked for) is left out."""
    if not path.is_dir():
        return {}
    return {name: path / name for name in ("train", "test", "validation")
            if (path / name).is_dir() and shard_files(path / name)}


def frame_for(path: str | Path, tokenizer=None, rejects: RejectLog | None = None):
    """`corpus_frame` of a file or folder; a folder with train/ and test/ gets a split column."""
    import polars as pl  # lazy: heavy import

    path = Path(path)
    splits = split_folders(path)
    if not splits:
        # a stage folder: its data is kept/ (beside it lie reports such as pass_rates.jsonl)
        source = path / "kept" if (path / "kept").is_dir() else path
        return corpus_frame(read_records(source, rejects), tokenizer)
    return pl.concat([corpus_frame(read_records(folder, rejects), tokenizer, split=name)
                      for name, folder in splits.items()])


def _html(markdown: str, folder: Path) -> str:
    """A self-contained page: the Markdown rendered by markdown-it-py (CommonMark + tables), each
    image that is a file in `folder` inlined as base64."""
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(markdown)
    for token in tokens:
        for child in token.children or []:
            src = child.attrGet("src") if child.type == "image" else None
            if src and (folder / str(src)).is_file():
                data = base64.b64encode((folder / str(src)).read_bytes()).decode()
                child.attrSet("src", f"data:image/png;base64,{data}")
    style = ("body{font-family:sans-serif;max-width:60em;margin:2em auto}table{border-collapse:"
             "collapse}td,th{border:1px solid #ccc;padding:2px 8px}img{max-width:100%}")
    return (f"<!doctype html><meta charset=utf-8><style>{style}</style>\n"
            + md.renderer.render(tokens, md.options, {}))
