"""Streaming readers and resumable, atomic sharded writers for records.

Readers stream JSONL (plain, .gz, .zst), Parquet, CSV, `datasets.save_to_disk` folders, Hub
datasets (`ORG/NAME`) and folders of shards: memory does not grow with the file. A row that cannot be read (bad JSON, invalid UTF-8,
not an object, a missing or mistyped field) never stops a run: it goes to a `RejectLog` with its
file, line number and reason, and the caller's summary reports the count.

`ShardWriter` writes `part-00000.jsonl` (or `.parquet`) shards. The shard being filled is an
append-only `*.inprogress.jsonl` file flushed after every record; it becomes a finished shard by an
atomic rename. After a crash (SIGKILL included) the next run recovers the complete lines of the
in-progress file, drops a torn last line, and skips every id already written: nothing is lost,
nothing is written twice, finished shards are never touched.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from r1data import schemas
from r1data.record import Record, RecordError
from r1data.schemas import ReadOptions, ReadReport

JSONL_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".json.gz", ".jsonl.zst", ".json.zst", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv",)  # read only: benchmarks such as GPQA are published as CSV
INPROGRESS = ".inprogress.jsonl"
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
    from fnmatch import fnmatch

    from r1data.manifest import record_globs

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
        self.entries: list[dict[str, Any]] | None = [] if keep else None  # keep=True: in memory too
        self._fh = None

    def add(self, where: str, line: int | None, reason: str, raw: Any) -> None:
        self.count += 1
        key = reason.split(":")[0]
        self.reasons[key] = self.reasons.get(key, 0) + 1
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

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "RejectLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _open_binary(path: Path):
    name = path.name.lower()
    if name.endswith(".gz"):
        return gzip.open(path, "rb")
    if name.endswith(".zst"):
        import zstandard

        reader = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
        return io.BufferedReader(reader)  # zstd's reader cannot iterate lines by itself
    return open(path, "rb")


def _iter_jsonl(path: Path, rejects: RejectLog) -> Iterator[dict[str, Any]]:
    with _open_binary(path) as stream:
        for lineno, line in enumerate(stream, start=1):
            if not line.strip():
                continue
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
            row["__line__"] = lineno
            yield row


def _iter_parquet(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    lineno = 0
    for batch in parquet.iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            lineno += 1
            row["__line__"] = lineno
            yield row


def _iter_csv(path: Path) -> Iterator[dict[str, Any]]:
    import pyarrow.csv as pcsv

    lineno = 1  # the header is line 1
    for batch in pcsv.open_csv(path):  # streamed in blocks, never the whole file
        for row in batch.to_pylist():
            lineno += 1
            row["__line__"] = lineno
            yield row


def _iter_datasets(path: Path, split: str | None = None) -> Iterator[dict[str, Any]]:
    import datasets

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
    import datasets

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


# -- writing ---------------------------------------------------------------------------------


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any) -> None:
    """Write a JSON report atomically (a crash leaves the old file or the new, never half)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write_bytes(path, json.dumps(data, ensure_ascii=False, indent=2, default=str).encode())


def write_parquet(records: Iterable[Record], path: str | Path) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.to_row() for r in records]
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist(rows), tmp)
    os.replace(tmp, path)
    return len(rows)


OUTPUT_FORMATS = ("jsonl", "parquet", "verl")  # verl: Parquet in verl's prompt layout


def verl_table(records: Iterable[Record]):
    """A pyarrow table of records in verl's prompt layout (`schemas.to_verl`). Parquet needs one
    type per column: a gold that is not text (a list of answers, test cases) is stored as JSON
    text, as Skywork-OR1 does, and `extra_info` too when its values differ in type across rows;
    the reader decodes both."""
    import pyarrow as pa

    rows = [schemas.to_verl(r) for r in records]
    for row in rows:
        truth = row["reward_model"]["ground_truth"]
        if truth is not None and not isinstance(truth, str):
            row["reward_model"]["ground_truth"] = json.dumps(truth, ensure_ascii=False)
        if not row["extra_info"]:
            row["extra_info"] = None  # Parquet cannot store an object with no keys
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        for row in rows:
            row["extra_info"] = json.dumps(row["extra_info"], ensure_ascii=False, default=str)
        return pa.Table.from_pylist(rows)


def write_verl(records: Iterable[Record], path: str | Path) -> int:
    """Write records as one verl Parquet file (atomically); returns how many."""
    import pyarrow.parquet as pq

    table = verl_table(records)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return table.num_rows


def convert_to_verl(folder: str | Path) -> list[Path]:
    """Rewrite every record JSONL file of `folder` as a verl Parquet file of the same name (for
    writers that can only append JSONL, e.g. the filter chain's); returns the new files."""
    written = []
    for file in sorted(Path(folder).glob("*.jsonl")):
        target = file.with_suffix(".parquet")
        write_verl(read_records(file, RejectLog(None), ReadOptions()), target)
        file.unlink()
        written.append(target)
    return written


def _read_ids(path: Path) -> list[str]:
    if path.name.endswith(PARQUET_SUFFIXES):
        import pyarrow.parquet as pq

        return [str(i) for i in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    ids = []
    with _open_binary(path) as fh:
        for line in fh:
            if line.strip():
                ids.append(str(json.loads(line)["id"]))
    return ids


class ShardWriter:
    """Resumable sharded record writer (see the module docstring).

    >>> import tempfile
    >>> out = tempfile.mkdtemp()
    >>> with ShardWriter(out, shard_size=2) as w:
    ...     _ = [w.write(Record.from_prompt(p)) for p in ["a", "b", "c"]]
    >>> sorted(p.name for p in Path(out).iterdir())
    ['part-00000.jsonl', 'part-00001.jsonl']
    """

    def __init__(self, folder: str | Path, *, shard_size: int = 10_000, fmt: str = "jsonl",
                 prefix: str = "part"):
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"unknown output format {fmt!r}: use {', '.join(OUTPUT_FORMATS)}")
        if shard_size < 1:
            raise ValueError("shard_size must be at least 1")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.shard_size = shard_size
        self.fmt = fmt
        self.prefix = prefix
        self.done_ids: set[str] = set()
        self.written = 0  # records written by this writer (not counting resumed ones)
        self._finished = sorted(
            p for p in self.folder.glob(f"{prefix}-*") if p.name.endswith((".jsonl", ".parquet"))
            and not p.name.endswith(INPROGRESS)
        )
        for shard in self._finished:
            self.done_ids.update(_read_ids(shard))
        self._index = len(self._finished)
        self._fh = None
        self._in_shard = 0
        self._recover_inprogress()

    @property
    def _inprogress_path(self) -> Path:
        return self.folder / f"{self.prefix}-{self._index:05d}{INPROGRESS}"

    def _recover_inprogress(self) -> None:
        path = self._inprogress_path
        if not path.exists():
            return
        good = bytearray()
        with open(path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # torn write from a crash: the record will be produced again
                try:
                    rid = str(json.loads(line)["id"])
                except (json.JSONDecodeError, KeyError, UnicodeDecodeError):
                    break
                if rid in self.done_ids:
                    continue
                self.done_ids.add(rid)
                good.extend(line)
                self._in_shard += 1
        _atomic_write_bytes(path, bytes(good))
        if self._in_shard >= self.shard_size:
            self._finish_shard()

    def __contains__(self, rid: str) -> bool:
        return rid in self.done_ids

    def write(self, record: Record) -> bool:
        """Append a record; returns False (and writes nothing) when its id is already written."""
        if record.id in self.done_ids:
            return False
        if self._fh is None:
            self._fh = open(self._inprogress_path, "ab")
        line = json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n"
        self._fh.write(line.encode("utf-8"))
        self._fh.flush()
        self.done_ids.add(record.id)
        self.written += 1
        self._in_shard += 1
        if self._in_shard >= self.shard_size:
            self._finish_shard()
        return True

    def write_many(self, records: Iterable[Record]) -> int:
        return sum(self.write(r) for r in records)

    def _finish_shard(self) -> None:
        if self._fh is not None:
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        src = self._inprogress_path
        if not src.exists() or self._in_shard == 0:
            return
        suffix = "jsonl" if self.fmt == "jsonl" else "parquet"
        final = self.folder / f"{self.prefix}-{self._index:05d}.{suffix}"
        if self.fmt == "jsonl":
            os.replace(src, final)
        else:
            records = [Record.from_dict(json.loads(line)) for line in open(src, encoding="utf-8")]
            (write_verl if self.fmt == "verl" else write_parquet)(records, final)
            src.unlink()
        self._finished.append(final)
        self._index += 1
        self._in_shard = 0

    def close(self) -> None:
        """Finish the last, partly filled shard."""
        self._finish_shard()

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        # On an exception the in-progress shard stays as it is: the next run resumes from it.
        if exc_type is None:
            self.close()
        elif self._fh is not None:
            self._fh.close()
            self._fh = None

    @property
    def shards(self) -> list[Path]:
        return list(self._finished)


def write_records(records: Iterable[Record], folder: str | Path, **kwargs: Any) -> int:
    """Write records to a fresh or resumed shard folder; returns how many were newly written."""
    with ShardWriter(folder, **kwargs) as writer:
        return writer.write_many(records)


def to_dataset(records: Iterable[Record]):
    """A `datasets.Dataset` with one column per record field (JSON_FIELDS as JSON text)."""
    import datasets

    return datasets.Dataset.from_list([r.to_row() for r in records])


def from_dataset(dataset) -> Iterator[Record]:
    for row in dataset:
        yield Record.from_row(row)
