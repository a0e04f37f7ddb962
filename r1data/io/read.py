"""Streaming readers of records: memory does not grow with the input.

They read JSONL (plain, .gz, .zst), Parquet, CSV, `datasets.save_to_disk` folders, Hub datasets
(`ORG/NAME`) and folders of shards, and hand each raw row to the reading layer
(`r1data.schemas`), which recognises its layout. A row that cannot be read (bad JSON, invalid
UTF-8, not an object, a missing or mistyped field) never stops a run: it goes to a `RejectLog`
with its file, line number and reason, and the caller's summary reports the count.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import re
from collections.abc import Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import zstandard

from r1data import schemas
from r1data.manifest import record_globs
from r1data.record import Record, RecordError
from r1data.schemas import ReadOptions, ReadReport

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv",)  # read only: benchmarks such as GPQA are published as CSV
INPROGRESS = ".inprogress.jsonl"  # the shard a ShardWriter is filling (never read as data)
ROW = "__row__"  # a raw row's 0-based number in its file (rows_between)
DEFAULT_OPTIONS = ReadOptions()  # every layout detected per row
_log = logging.getLogger(__name__)


class InputError(Exception):
    """The input as a whole cannot be read (missing file, unknown format). The CLI prints it in
    one line and exits with code 2."""


_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_hub_name(path: str | Path) -> bool:
    """`ORG/NAME` that is not a local path and has no data-file suffix: a Hub dataset id."""
    text = str(path)
    return (bool(_HUB_NAME.fullmatch(text)) and not Path(text).exists()
            and not text.lower().endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES + CSV_SUFFIXES))


def detect_format(path: str | Path) -> str:
    """'jsonl', 'parquet', 'datasets' (a save_to_disk folder), 'shards' (a folder of files) or
    'hub' (`ORG/NAME`, a Hub dataset id that is not a local path)."""
    if is_hub_name(path):
        return "hub"
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or directory: {path}")
    if path.is_dir():
        if (path / "dataset_info.json").exists() or (path / "state.json").exists() or (
            path / "dataset_dict.json"
        ).exists():
            return "datasets"
        return "shards"
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise InputError(
        f"unknown format for {path}: expected .jsonl[.gz|.zst], .parquet, .csv, or a folder"
    )


def shard_files(folder: Path) -> list[Path]:
    """Readable data files of a folder of shards, in a stable order (rejected/, dropped/ and
    errors/ excluded). In a folder r1data wrote, only the record files its manifest names
    (`r1data.manifest.record_globs`): side files such as pass_rates.jsonl are not data."""
    globs = record_globs(folder)
    files = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if not path.is_file() or any(p.startswith(".") or p in ("rejected", "dropped", "errors") for p in rel):
            continue
        if globs is not None and not any(fnmatch("/".join(rel), g) for g in globs):
            continue
        name = path.name.lower()
        if name.endswith(INPROGRESS) or name.endswith(".tmp"):
            continue
        if name.endswith(JSONL_SUFFIXES + PARQUET_SUFFIXES) and name not in ("stats.json",):
            if name.endswith(".json") and not name.endswith(".jsonl"):
                continue  # .json files in an output folder are reports, not data
            files.append(path)
    return files


class RejectLog:
    """Rows that could not be read, appended to a JSONL file with where they came from and why.

    The file is created only when the first row is rejected.
    """

    def __init__(self, path: str | Path | None, keep: bool = False):
        self.path = Path(path) if path else None
        self.count = 0
        self.reasons: dict[str, int] = {}
        self.first: dict[str, str] = {}  # the first full reason of each kind, for a one-line report
        self.entries: list[dict[str, Any]] | None = [] if keep else None  # keep=True: in memory too
        self._fh = None

    def add(self, where: str, line: int | None, reason: str, raw: Any) -> None:
        self.count += 1
        key = reason.split(":")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1
        self.first.setdefault(key, reason)
        if self.entries is not None:
            self.entries.append({"file": where, "line": line, "reason": reason, "raw": raw})
        if self.path is None:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", errors="replace")
        entry = {"file": where, "line": line, "reason": reason, "raw": raw}
        self._fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def describe(self, most: int = 3) -> str:
        """The commonest reasons, each with its first full wording and count."""
        top = sorted(self.reasons.items(), key=lambda kv: -kv[1])[:most]
        return "; ".join(f"{self.first[k][:200]} ({n})" for k, n in top)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "RejectLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def open_binary(path: Path):
    """A binary stream of a file, decompressed (.gz, .zst), that iterates over lines."""
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.BufferedReader(reader)  # zstd's reader cannot iterate lines by itself
    return open(path, "rb")


def _iter_jsonl(path: Path, rejects: RejectLog, first: int = 0,
                stop: float = float("inf")) -> Iterator[dict[str, Any]]:
    """Rows `first` to `stop` (excluded) of a JSONL file; the lines before `first` are skipped
    without being parsed (a task of a sharded run reads only its own block)."""
    index = -1
    with open_binary(path) as stream:
        for lineno, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            index += 1
            if index < first:
                continue
            if index >= stop:
                return
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                rejects.add(str(path), lineno, f"invalid_utf8: byte {exc.start}", line)
                continue
            try:
                row = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.add(str(path), lineno, f"bad_json: {exc.msg} (column {exc.colno})", text)
                continue
            if not isinstance(row, dict):
                rejects.add(str(path), lineno, f"not_an_object: {type(row).__name__}", text)
                continue
            row["__line__"], row[ROW] = lineno, index
            yield row


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq  # lazy: heavy import

    parquet = pq.ParquetFile(path)
    lineno = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            lineno += 1
            row["__line__"] = lineno
            yield row


def _iter_csv(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.csv as pcsv  # lazy: heavy import

    lineno = 1  # the header is line 1
    for batch in pcsv.open_csv(path):  # streamed in blocks, never the whole file
        for row in batch.to_pylist():
            lineno += 1
            row["__line__"] = lineno
            yield row


def _iter_datasets(path: Path, split: str | None = None) -> Iterator[dict[str, Any]]:
    import datasets  # lazy: heavy import

    loaded = datasets.load_from_disk(str(path))
    splits = loaded.values() if isinstance(loaded, datasets.DatasetDict) else [loaded]
    if split and isinstance(loaded, datasets.DatasetDict):  # --split picks one of a DatasetDict
        if split not in loaded:
            raise InputError(f"{path} has no split {split!r}: it has {', '.join(loaded)}")
        splits = [loaded[split]]
    for split in splits:  # memory-mapped Arrow: iterating does not load the table
        for lineno, row in enumerate(split, start=1):
            row["__line__"] = lineno
            yield row


def _iter_hub(name: str, options: ReadOptions) -> Iterator[dict[str, Any]]:
    """Rows of a Hub dataset, streamed: nothing is downloaded whole. Offline
    (HF_DATASETS_OFFLINE=1) `datasets` reads the copy in the local cache instead."""
    import datasets  # lazy: heavy import

    split = options.split or "train"
    try:
        stream = datasets.load_dataset(name, options.config, split=split, streaming=True)
        for lineno, row in enumerate(stream, start=1):
            row["__line__"] = lineno
            yield row
    except (FileNotFoundError, ValueError, ConnectionError, OSError) as exc:
        # datasets' errors for a missing dataset, config or split, or no network and no cache
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read Hub dataset {name} (split {split}"
                         f"{', config ' + options.config if options.config else ''}): {detail}"
                         ) from None


def iter_rows(path: str | Path, rejects: RejectLog | None = None,
              options: ReadOptions | None = None) -> Iterator[dict[str, Any]]:
    """Raw rows of a file or folder (or a Hub dataset), each with `__file__` and `__line__`
    (1-based) added."""
    rejects = rejects if rejects is not None else RejectLog(None)
    fmt = detect_format(path)
    if fmt == "hub":
        for row in _iter_hub(str(path), options or DEFAULT_OPTIONS):
            row["__file__"] = str(path)
            yield row
        return
    path = Path(path)
    files = shard_files(path) if fmt == "shards" else [path]
    if fmt == "shards" and not files:
        raise InputError(f"no .jsonl or .parquet files in {path}")
    for file in files:
        if fmt == "datasets":
            rows = _iter_datasets(file, (options or DEFAULT_OPTIONS).split)
        elif file.name.lower().endswith(PARQUET_SUFFIXES):
            rows = _iter_parquet(file)
        elif file.name.lower().endswith(CSV_SUFFIXES):
            rows = _iter_csv(file)
        else:
            rows = _iter_jsonl(file, rejects)
        for row in rows:
            row["__file__"] = str(file)
            yield row


def rows_between(file: str | Path, first: int, stop: float, rejects: RejectLog | None = None,
                 options: ReadOptions | None = None) -> Iterator[dict[str, Any]]:
    """Raw rows number `first` to `stop` (excluded) of one input file, each with its number in
    `ROW`: the block of a file one task of a sharded run reads (`filters.adapters`). JSONL lines
    outside the block are skipped unparsed."""
    rejects = rejects if rejects is not None else RejectLog(None)
    if detect_format(file) == "jsonl":
        for row in _iter_jsonl(Path(file), rejects, first, stop):
            row["__file__"] = str(file)
            yield row
        return
    for index, row in enumerate(iter_rows(file, rejects, options)):
        if index >= stop:
            return
        if index >= first:
            row[ROW] = index
            yield row


def count_rows(file: str | Path, options: ReadOptions | None = None) -> int:
    """Rows of one input file, counted without parsing them where the format allows."""
    fmt = detect_format(file)
    if fmt == "jsonl":
        with open_binary(Path(file)) as fh:
            return sum(1 for line in fh if line.strip())
    if fmt == "parquet":
        import pyarrow.parquet as pq  # lazy: heavy import

        return pq.ParquetFile(file).metadata.num_rows
    return sum(1 for _ in iter_rows(file, None, options))  # a Hub dataset: streamed


def rows_to_records(row: dict[str, Any], options: ReadOptions | None = None,
                    report: ReadReport | None = None) -> list[Record]:
    """The records of one raw row, through the reading layer (`r1data.schemas`)."""
    return schemas.records_of_row(row, options or DEFAULT_OPTIONS, report)


def row_to_record(row: dict[str, Any], options: ReadOptions | None = None) -> Record:
    """The first record of a raw row (a `generations` row holds several: see rows_to_records)."""
    records = schemas.records_of_row(row, options or DEFAULT_OPTIONS)
    if not records:
        raise RecordError("the row holds no completion")
    return records[0]


def reject_reason(exc: Exception) -> str:
    """The reason written to `rejected/`: the layer's own reasons as they are, others prefixed."""
    return str(exc) if isinstance(exc, schemas.SchemaError) else f"invalid_record: {exc}"


def read_records(
    path: str | Path, rejects: RejectLog | None = None, options: ReadOptions | None = None,
    report: ReadReport | None = None,
) -> Iterator[Record]:
    """Stream records from any supported input; unreadable rows go to `rejects` with a reason.

    `options` says how the input is laid out (the command's `--columns`, `--schema`, `--split`,
    `--hub-config`); by default the layout of each row is detected (`r1data.schemas`). `report`
    counts the layouts seen and the long texts no field read; without one, those texts are
    reported here, on stderr, once the input has been read: no command drops a column of text
    without a word.
    """
    rejects = rejects if rejects is not None else RejectLog(None)
    options = options or DEFAULT_OPTIONS
    seen = report if report is not None else ReadReport()
    for row in iter_rows(path, rejects, options):
        try:
            yield from schemas.records_of_row(row, options, seen)
        except (RecordError, TypeError, ValueError) as exc:
            raw = {k: v for k, v in row.items() if not k.startswith("__")}
            rejects.add(row.get("__file__", str(path)), row.get("__line__"), reject_reason(exc), raw)
    if report is None:
        for line in seen.unread_lines():
            _log.warning("%s: input column %s", path, line)
