"""Publishing: a Hub-ready dataset folder, then (unless --dry-run) a push to the Hugging Face Hub.

The folder is what the Hub expects of a dataset repository:

    data/<split>-00000-of-0000N.parquet   the records, one column per `Record` field
    README.md                             the dataset card: the Hub's YAML header (configs,
                                          splits, license, task categories, languages, size),
                                          how the data was built, statistics tables and plots
    plots/*.png                           token lengths, samples per domain, pass rates
    stats.json                            this stage's summary (machine-readable)

"How it was built" follows the `stats.json` of the input and of every stage before it (each
names the folders it read), so the card shows every stage's recipe and drop counts; teachers and
sampling parameters are read from the records' provenance, so they cannot disagree with the data.
The statistics are computed from the rows written to data/, the same rows the Hub will serve.

The push needs a token in the environment (`HF_TOKEN` unless told otherwise) and the network.
Without either, the error is one line and the local folder stays as built.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from r1data import models
from r1data.io import InputError, RejectLog, iter_rows, read_records, row_to_record
from r1data.pipelines import report
from r1data.pipelines.report import table
from r1data.pipelines.summary import StageSummary, lineage, progress_bar
from r1data.record import META_SPLIT, Record

TASK_CATEGORIES = ["text-generation"]
R1_CITATION = """@article{deepseekai2025r1,
  title={DeepSeek-R1: Incentivizing Reasoning Capability in LLMs via Reinforcement Learning},
  author={DeepSeek-AI},
  journal={arXiv preprint arXiv:2501.12948},
  year={2025}
}"""


class PublishError(Exception):
    """Publishing cannot go on (no token, no network, the Hub refused); the folder is intact."""


@dataclass
class PublishConfig:
    """What to publish and where.

    input: a mix output (train/ and test/ become splits) or any records file or folder
        (published as the split "train").
    repo_id: ORG/NAME of the dataset repository.
    output: the Hub-ready folder to build (default: "<input>-hub" next to the input).
    # the card
    license: the Hub's license id (apache-2.0, mit, cc-by-4.0, other, ...).
    task_categories: the Hub's task categories.
    languages: ISO codes for the header; empty = the languages found in the data.
    tags: extra Hub tags.
    pretty_name: the card's title (default: the repository name).
    # the push
    private: create the repository private.
    branch: the branch to push to (created when missing).
    token_env: the environment variable holding the token.
    dry_run: build the folder only.
    # layout
    shard_rows: rows per Parquet shard.
    tokenizer: counts token lengths the records lack ("none" to skip).
    """

    input: str = ""
    repo_id: str = ""
    output: str | None = None
    # the card
    license: str = "apache-2.0"
    task_categories: list[str] = field(default_factory=lambda: list(TASK_CATEGORIES))
    languages: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=lambda: ["reasoning", "long-cot", "deepseek-r1", "r1data"])
    pretty_name: str | None = None
    # the push
    private: bool = True
    branch: str = "main"
    token_env: str = "HF_TOKEN"
    dry_run: bool = False
    # layout
    shard_rows: int = 100_000
    tokenizer: str = "smollm2-135m"

    def __post_init__(self) -> None:
        if not self.input:
            raise ValueError("publish needs an input folder or file")
        parts = self.repo_id.split("/")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"repo_id must look like ORG/NAME, got {self.repo_id!r}")
        if self.shard_rows < 1:
            raise ValueError("shard_rows must be at least 1")

    @property
    def folder(self) -> Path:
        if self.output:
            return Path(self.output)
        source = Path(self.input)
        return source.with_name(source.name.split(".")[0] + "-hub")


def size_category(rows: int) -> str:
    """The Hub's size_categories bucket.

    >>> size_category(999), size_category(800_000)
    ('n<1K', '100K<n<1M')
    """
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
              (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")]
    for bound, name in bounds:
        if rows < bound:
            return name
    return "n>1B" if rows > 1_000_000_000 else "100M<n<1B"


# -- data/ ---------------------------------------------------------------------------------


def _splits(source: Path) -> dict[str, Path]:
    found = report.split_folders(source)
    if found:
        return found
    return {"train": source / "kept" if (source / "kept").is_dir() else source}


def write_parquet_shards(records, folder: Path, split: str, shard_rows: int) -> tuple[int, list[Path]]:
    """Write `<split>-XXXXX-of-YYYYY.parquet` shards (the Hub's naming); returns (rows, files)."""
    import pyarrow as pa  # lazy: heavy import
    import pyarrow.parquet as pq  # lazy: heavy import

    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    batch: list[dict[str, Any]] = []
    rows = 0

    def flush() -> None:
        path = folder / f".{split}-{len(written):05d}.parquet.tmp"
        pq.write_table(pa.Table.from_pylist(batch), path)
        written.append(path)
        batch.clear()

    for record in records:
        batch.append(record.to_row())
        rows += 1
        if len(batch) >= shard_rows:
            flush()
    if batch:
        flush()
    final = []
    for i, tmp in enumerate(written):  # the total is known only now: rename into the Hub's names
        path = folder / f"{split}-{i:05d}-of-{len(written):05d}.parquet"
        os.replace(tmp, path)
        final.append(path)
    return rows, final


# -- the card ------------------------------------------------------------------------------


def _yaml_header(config: PublishConfig, splits: list[str], languages: list[str], rows: int) -> str:
    header = {
        "license": config.license,
        "task_categories": config.task_categories,
        "language": languages,
        "tags": config.tags,
        "size_categories": [size_category(rows)],
        "pretty_name": config.pretty_name or config.repo_id.split("/")[1],
        "configs": [{"config_name": "default", "data_files": [
            {"split": split, "path": f"data/{split}-*"} for split in splits]}],
    }
    return "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---\n"


def provenance_markdown(counts: dict[str, Counter]) -> str:
    """Teachers and sampling settings as found in the records' provenance."""
    parts = []
    if counts["teacher"]:
        parts.append(table(("teacher model", "backend", "samples"),
                            ((m, b, n) for (m, b), n in counts["teacher"].most_common())))
    if counts["sampling"]:
        parts.append(table(("sampling", "samples"), counts["sampling"].most_common()))
    if counts["template"]:
        parts.append(table(("template", "samples"), counts["template"].most_common()))
    return "\n\n".join(parts) or "The records carry no generation provenance (not generated here)."


def _count_provenance(record: Record, counts: dict[str, Counter]) -> None:
    prov = record.provenance or {}
    model = prov.get("teacher") or prov.get("model")
    if model:
        counts["teacher"][(str(model), str(prov.get("backend", "-")))] += 1
    sampling = prov.get("sampling")
    if isinstance(sampling, dict):
        keys = ("temperature", "top_p", "max_tokens", "n")
        counts["sampling"][", ".join(f"{k}={sampling[k]}" for k in keys if k in sampling)] += 1
    if prov.get("template"):
        counts["template"][str(prov["template"])] += 1


def portable_paths(value: Any, root: Path) -> Any:
    """`value` with every absolute path made portable, so a published card never shows the
    machine it was built on: relative to the run's folder `root` (the publish input's parent),
    `r1data://...` for files shipped in the package, else only the file's name.

    >>> portable_paths({"input": "/home/me/run/out/rs", "n": 2}, Path("/home/me/run/out"))
    {'input': 'rs', 'n': 2}
    """
    if isinstance(value, dict):
        return {k: portable_paths(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [portable_paths(v, root) for v in value]
    if not isinstance(value, str) or not value.startswith("/"):
        return value

    path = Path(value)
    package = Path(str(resources.files("r1data")))
    for base, prefix in ((package, "r1data://"), (root, ""), (Path.cwd(), "")):
        try:
            return prefix + path.relative_to(base).as_posix()
        except ValueError:
            continue
    return path.name


def card(config: PublishConfig, stats: dict[str, Any], splits: list[str],
         provenance: dict[str, Counter], images: dict[str, str]) -> str:
    """The dataset card (README.md) text."""
    languages = config.languages or list(stats["languages"])
    title = config.pretty_name or config.repo_id.split("/")[1]
    kinds = stats["kinds"]
    parts = [
        _yaml_header(config, splits, languages, stats["rows"]),
        f"# {title}\n",
        f"An SFT corpus in the style of DeepSeek-R1 (arXiv 2501.12948, section 2.3.3), built with "
        f"r1data: {kinds.get('reasoning', 0):,} reasoning and "
        f"{kinds.get('non_reasoning', 0):,} non-reasoning samples. Each row holds a chat "
        f"`messages` list whose last turn is the assistant's answer, with the chain of thought in "
        f"a `<think>` block, so it trains with any SFT trainer as is.\n",
        "```python\nfrom datasets import load_dataset\n\n"
        f"ds = load_dataset(\"{config.repo_id}\")\n```\n",
        "## How it was built\n",
    ]
    stages = lineage(Path(config.input))
    if stages:
        parts.append(report.stages_markdown(config.input) + "\n")
    parts.append("### Teachers and sampling\n\n" + provenance_markdown(provenance) + "\n")
    run_root = Path(config.input).resolve().parent
    for stage in stages:
        if stage.config:
            recipe = portable_paths({"stage": stage.stage, **stage.config}, run_root)
            parts.append(f"<details><summary>Recipe of stage <code>{stage.stage}</code></summary>\n\n"
                         "```yaml\n" + yaml.safe_dump(recipe,
                                                     sort_keys=False, allow_unicode=True)
                         + "```\n\n</details>\n")
    parts.append("## Statistics\n\n" + report.statistics_markdown(stats, images) + "\n")
    parts.append(
        "## Fields\n\n"
        "`messages` (the conversation), `prompt`, `reasoning` (the chain of thought, null for "
        "answers without one), `answer`, `domain`, `kind` (reasoning / non_reasoning), `language`, "
        "`source`, `prompt_id`, token counts, `finish_reason`; `gold`, `provenance`, `verdicts`, "
        "`filters` and `metadata` are JSON text (their shape varies per row).\n")
    parts.append(f"## Citation\n\n```bibtex\n{R1_CITATION}\n```\n")
    return "\n".join(parts)


# -- the stage -----------------------------------------------------------------------------


def build(config: PublishConfig, progress=None, read_options=None) -> StageSummary:
    """Write the Hub-ready folder (no network). `progress`: True for a progress bar, or a
    callable `(rows_done)`. `read_options`: how the input is laid out (the command's
    --columns, --schema; r1data's own records are read as they are whatever they say)."""
    source = Path(config.input)
    if not source.exists():
        raise InputError(f"no such file or directory: {source}")
    out = config.folder
    if out.resolve() == source.resolve() or source.resolve() in out.resolve().parents:
        raise PublishError(f"the output folder {out} must not be inside the input {source}")
    if (out / "data").is_dir():  # a rebuild replaces the data, never mixes two versions
        shutil.rmtree(out / "data")
    started = time.time()
    rejects = RejectLog(out / "rejected" / "rejected.jsonl")
    provenance: dict[str, Counter] = {"teacher": Counter(), "sampling": Counter(), "template": Counter()}
    split_rows: dict[str, int] = {}
    seen = 0

    def tap(records, split, report_progress):
        nonlocal seen
        for record in records:
            record.metadata = {**record.metadata, META_SPLIT: split}
            _count_provenance(record, provenance)
            seen += 1
            if report_progress is not None:
                report_progress(seen)
            yield record

    with progress_bar(progress, "writing Parquet shards") as report_progress:
        for split, folder in _splits(source).items():
            rows, files = write_parquet_shards(tap(read_records(folder, rejects, read_options), split, report_progress),
                                               out / "data", split, config.shard_rows)
            if rows:
                split_rows[split] = rows
            else:
                for f in files:
                    f.unlink()
    rejects.close()
    if not split_rows:
        raise PublishError(f"{source} holds no readable records: nothing to publish")

    # statistics from the written Parquet, exactly what the Hub will serve
    tokenizer = None
    if config.tokenizer and config.tokenizer != "none":
        tokenizer = models.load_tokenizer(config.tokenizer)
    df = _frame_of_parquet(out / "data", list(split_rows), tokenizer)
    stats = report.statistics(df)
    made = report.plots(df, out / "plots")
    images = {name: f"plots/{path.name}" for name, path in made.items()}
    (out / "README.md").write_text(card(config, stats, list(split_rows), provenance, images),
                                   encoding="utf-8")
    # publish drops nothing; unreadable input rows are in rejected/rejected.jsonl (not uploaded)
    summary = StageSummary(
        stage="publish", inputs=seen + rejects.count, kept=sum(split_rows.values()),
        dropped={"unreadable": rejects.count} if rejects.count else {},
        seconds=round(time.time() - started, 3), output=str(out), config=dataclasses.asdict(config),
        extra=dict(inputs=[str(source)], splits=split_rows, statistics=stats,
                   repo_id=config.repo_id, pushed=False),
    )
    summary.write(out)
    return summary


def _frame_of_parquet(folder: Path, splits: list[str], tokenizer):
    import polars as pl  # lazy: heavy import

    frames = []
    for split in splits:
        records = (row_to_record(row) for path in sorted(folder.glob(f"{split}-*.parquet"))
                   for row in iter_rows(path))
        frames.append(report.corpus_frame(records, tokenizer, split=split))
    return pl.concat(frames)


def push(config: PublishConfig, summary: StageSummary) -> StageSummary:
    """Upload the built folder. Raises PublishError (one line) without a token or network."""
    folder = config.folder
    token = os.environ.get(config.token_env)
    if not token:
        raise PublishError(f"no Hugging Face token in ${config.token_env}: set it, or use --dry-run; "
                           f"the dataset folder is ready at {folder}")
    from huggingface_hub import HfApi  # lazy: heavy import

    api = HfApi(token=token)
    try:
        url = api.create_repo(config.repo_id, repo_type="dataset", private=config.private,
                              exist_ok=True)
        if config.branch != "main":
            api.create_branch(config.repo_id, branch=config.branch, repo_type="dataset",
                              exist_ok=True)
        api.upload_folder(repo_id=config.repo_id, folder_path=str(folder), repo_type="dataset",
                          revision=config.branch, ignore_patterns=["rejected/*", "manifest.json", ".*"],
                          commit_message="Upload dataset built with r1data")
    # The Hub client raises many types for one cause (offline mode, DNS, HTTP 401/403, timeouts,
    # its own httpx fork): all of them mean the push did not happen and the folder is intact.
    except Exception as exc:  # noqa: BLE001
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        raise PublishError(f"push to {config.repo_id} failed ({type(exc).__name__}: {first}); "
                           f"the dataset folder is intact at {folder}") from None
    summary.extra.update(pushed=True, url=str(url), branch=config.branch, private=config.private)
    summary.write(folder)
    return summary


def run(config: PublishConfig, progress=None) -> StageSummary:
    """Build the folder, then push it unless `dry_run`."""
    summary = build(config, progress)
    return summary if config.dry_run else push(config, summary)
