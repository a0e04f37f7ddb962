"""Records in and out of datatrove pipelines.

`RecordReader` streams r1data Records (any input `r1data.io` reads) as datatrove Documents whose
text is the completion (what MinHash compares) and whose metadata holds the Record itself.
`RecordWriter` and `DroppedRecordWriter` are datatrove Jsonl/Parquet writers whose adapter writes
the Record back, so kept and dropped output is readable by `r1data.io.read_records`. A dropped
Record carries `metadata[META_DROP_REASON]`, `metadata[META_DROP_FILTER]` and a `filters` entry.

Sharding: with `per_rank_files=False` (the first stage), task `rank` of `world_size` takes the
`rank`-th of `world_size` contiguous blocks of the input rows (JSONL lines not its own are
skipped unparsed), so lower ranks hold earlier rows. With
`per_rank_files=True` a task reads `<folder>/<rank:05d>.jsonl`, the file the same rank wrote in
the previous stage: MinHash's filter step relies on each rank seeing its documents in the same
order as its signature step did. With `merge_ranks=True` one task reads every rank's file merged
back into input order, so the whole-corpus filters (first seen is kept) decide the same way
whatever the number of tasks: intermediate files carry each row's input position as
`__order__`, a key `r1data.io` drops when it reads a row. They also carry the exact-dedup hashes
(`base.normalized_hashes`), computed in the parallel stages, as `__text_hashes__`.
"""

from __future__ import annotations

import heapq
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter

from r1data import io
from r1data.record import META_DROP_FILTER, META_DROP_REASON, META_SCHEMA, Record, RecordError

from .base import RECORD_KEY, TEXT_HASHES, normalized_hashes, record_of

FORMATS = ("jsonl", "parquet")
# what a chain may write kept/ as: verl is written as JSONL and converted once the chain has
# finished (`io.convert_to_verl`), as datatrove's writers need one Parquet schema per file
OUTPUT_FORMATS = (*FORMATS, "verl")
ORDER = "__order__"  # a row's input position [file number, row number], in intermediate files
# the reader's counters of input text no field read (see RecordReader._report)
UNREAD, UNREAD_CHARS, SOLUTION_AS = "unread_text_", "unread_chars_", "solution_as_"


def document_of(record: Record) -> Document:
    return Document(text=record.completion, id=record.id, metadata={RECORD_KEY: record})


class RecordReader(PipelineStep):
    """Reads Records from a file or folder; unreadable rows go to `rejected_folder` with a reason."""

    type = "📖 - READER"
    name = "records"

    def __init__(self, path: str | Path, per_rank_files: bool = False, merge_ranks: bool = False,
                 rejected_folder: str | Path | None = None, options: io.ReadOptions | None = None):
        super().__init__()
        self.path = str(path)
        # pickled with the step: a task on another process or node reads the user's input
        # with the command's --columns/--schema (r1data.schemas)
        self.options = options or io.DEFAULT_OPTIONS
        self.per_rank_files = per_rank_files
        self.merge_ranks = merge_ranks
        self.rejected_folder = str(rejected_folder) if rejected_folder else None

    def _files(self, rank: int) -> list[Path]:
        path = Path(self.path)
        if self.merge_ranks:
            return sorted(path.glob("*.jsonl"))
        if self.per_rank_files:
            own = path / f"{rank:05d}.jsonl"
            return [own] if own.exists() else []
        if io.detect_format(path) == "shards":
            files = io.shard_files(path)
            if not files:
                raise io.InputError(f"no .jsonl or .parquet files in {path}")
            return files
        return [path]

    def _file_rows(self, file: Path, file_no: int, first: int, stop: float,
                   rejects: io.RejectLog):
        """Raw rows number `first` to `stop` (excluded) of one file, with their input position
        (other ranks' JSONL lines are skipped unparsed: `io.rows_between`)."""
        for row in io.rows_between(file, first, stop, rejects, self.options):
            row[ORDER] = [file_no, row[io.ROW]]
            yield row

    def _rows(self, files: list[Path], rank: int, world_size: int, rejects: io.RejectLog):
        """This rank's raw rows: a contiguous block of the input, so that lower ranks hold
        earlier rows and "keep the first" (MinHash keeps the lowest rank's copy) means the
        first in input order, whatever the number of tasks."""
        if self.per_rank_files:
            for file in files:
                yield from io.iter_rows(file, rejects)
            return
        if self.merge_ranks:
            streams = [io.iter_rows(file, rejects) for file in files]
            yield from heapq.merge(*streams, key=lambda row: row[ORDER])
            return
        if world_size == 1:
            for file_no, file in enumerate(files):
                yield from self._file_rows(file, file_no, 0, float("inf"), rejects)
            return
        counts = [io.count_rows(file, self.options) for file in files]
        total = sum(counts)
        low, high = total * rank // world_size, total * (rank + 1) // world_size
        start = 0
        for file_no, (file, count) in enumerate(zip(files, counts)):
            if start < high and start + count > low:
                yield from self._file_rows(file, file_no, max(0, low - start), high - start, rejects)
            start += count

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        rejected = (Path(self.rejected_folder) / f"{rank:05d}.jsonl") if self.rejected_folder else None
        report = io.ReadReport()  # what no field read reaches the chain's stats (_report)
        with io.RejectLog(rejected) as rejects:
            for row in self._rows(self._files(rank), rank, world_size, rejects):
                try:
                    records = io.rows_to_records(row, self.options, report)
                except (RecordError, TypeError, ValueError) as exc:
                    raw = {k: v for k, v in row.items() if not k.startswith("__")}
                    rejects.add(row.get("__file__", self.path), row.get("__line__"),
                                io.reject_reason(exc), raw)
                    continue
                for record in records:  # a `generations` row holds several samples
                    self.stat_update("documents",
                                     f"schema_{record.metadata.get(META_SCHEMA, 'record')}")
                    doc = document_of(record)
                    doc.metadata[ORDER] = row.get(ORDER)
                    if row.get(TEXT_HASHES) and len(records) == 1:
                        doc.metadata[TEXT_HASHES] = row[TEXT_HASHES]  # from an earlier stage
                    yield doc
            if rejects.count:
                self.stat_update("rejected", value=rejects.count)
        self._report(report)

    def _report(self, report: io.ReadReport) -> None:
        """The long texts no field read, and what a `solution` beside a gold was read as, as
        this step's counters (`chain.collect_stats` turns them into the summary's lines)."""
        for column, (rows, chars) in report.unread.items():
            self.stat_update(f"{UNREAD}{column}", value=rows)
            self.stat_update(f"{UNREAD_CHARS}{column}", value=chars)
        for role, count in report.solution_as.items():
            self.stat_update(f"{SOLUTION_AS}{role}", value=count)


def _record_schema():
    import pyarrow as pa  # lazy: heavy import

    text, count = pa.string(), pa.int64()
    message = pa.struct([("role", text), ("content", text)])
    columns = [("id", text), ("messages", pa.list_(message)), ("prompt", text), ("reasoning", text),
               ("answer", text), ("gold", text), ("domain", text), ("kind", text),
               ("language", text), ("source", text), ("prompt_id", text),
               ("prompt_tokens", count), ("completion_tokens", count), ("finish_reason", text),
               ("provenance", text), ("verdicts", text), ("filters", text), ("metadata", text)]
    return pa.schema(columns)


def _kept_adapter(writer, doc: Document) -> dict:
    record = record_of(doc)
    if writer.intermediate:  # for a later stage: the input position (and the dedup hashes)
        extra = {TEXT_HASHES: normalized_hashes(doc)} if writer.text_hashes else {}
        return {ORDER: doc.metadata.get(ORDER), **extra, **record.to_dict()}
    return record.to_row() if writer.fmt == "parquet" else record.to_dict()


def _dropped_adapter(writer, doc: Document) -> dict:
    record = record_of(doc)
    reason = doc.metadata.get("filter_reason") or writer.reason
    record.metadata[META_DROP_REASON] = reason
    record.metadata[META_DROP_FILTER] = writer.filter_name
    record.filters.append({"filter": writer.filter_name, "kept": False, "reason": reason})
    return record.to_row() if writer.fmt == "parquet" else record.to_dict()


class _JsonlRecords(JsonlWriter):
    fmt = "jsonl"


class _ParquetRecords(ParquetWriter):
    fmt = "parquet"


def RecordWriter(folder: str | Path, fmt: str = "jsonl", filename: str = "${rank}",
                 intermediate: bool = False, text_hashes: bool = False):
    """A datatrove writer of kept Records: `<folder>/<rank:05d>.jsonl` (or `.parquet`).
    `intermediate` files (between stages) also keep each row's input position, and with
    `text_hashes` the exact-dedup hashes of a later stage."""
    writer = _writer(folder, "jsonl" if intermediate else fmt, filename, _kept_adapter)
    writer.intermediate, writer.text_hashes = intermediate, intermediate and text_hashes
    return writer


def DroppedRecordWriter(folder: str | Path, filter_name: str, reason: str, fmt: str = "jsonl",
                        filename: str = "${rank}"):
    """A datatrove writer for one filter's dropped Records, marked with the filter and reason
    (`reason` is used when the step gives none, as datatrove's dedup steps do)."""
    writer = _writer(folder, fmt, filename, _dropped_adapter)
    writer.filter_name, writer.reason, writer.intermediate = filter_name, reason, False
    return writer


def _writer(folder, fmt, filename, adapter):
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}: use jsonl or parquet")
    if fmt == "jsonl":
        return _JsonlRecords(str(folder), output_filename=f"{filename}.jsonl", compression=None,
                             adapter=adapter)
    return _ParquetRecords(str(folder), output_filename=f"{filename}.parquet", adapter=adapter, schema=_record_schema(), batch_size=256)
