"""Writers of records: resumable, atomic shards (`ShardWriter`), single Parquet files in
r1data's own columns or in verl's prompt layout, and the `datasets` bridge.

`ShardWriter` writes `part-00000.jsonl` (or `.parquet`, or verl Parquet) shards. The shard being
filled is an append-only `*.inprogress.jsonl` file flushed after every record; it becomes a
finished shard by an atomic rename (Parquet: converted when it is full). After a crash (SIGKILL
included) the next run recovers the complete lines of the in-progress file, drops a torn last
line, and skips every id already written: nothing is lost, nothing is written twice, finished
shards are never touched.

The filter chain writes through datatrove's own writers instead (`filters.adapters.RecordWriter`):
one file per task, whose completion datatrove records, which is how a rerun of the chain skips
finished tasks; the rows both write are `Record.to_dict()` / `Record.to_row()`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from r1data import atomic, schemas
from r1data.io.read import INPROGRESS, PARQUET_SUFFIXES, RejectLog, open_binary, read_records
from r1data.record import Record
from r1data.schemas import ReadOptions


def write_parquet(records: Iterable[Record], path: str | Path) -> int:
    import pyarrow as pa  # lazy: heavy import
    import pyarrow.parquet as pq  # lazy: heavy import

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
    import pyarrow as pa  # lazy: heavy import

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
    import pyarrow.parquet as pq  # lazy: heavy import

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
        import pyarrow.parquet as pq  # lazy: heavy import

        return [str(i) for i in pq.read_table(path, columns=["id"]).column("id").to_pylist()]
    ids = []
    with open_binary(path) as fh:
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
        atomic.write_bytes(path, bytes(good))
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
    import datasets  # lazy: heavy import

    return datasets.Dataset.from_list([r.to_row() for r in records])


def from_dataset(dataset) -> Iterator[Record]:
    for row in dataset:
        yield Record.from_row(row)
