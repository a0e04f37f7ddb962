"""Records in and out of datatrove pipelines.

`RecordReader` streams r1data Records (any input `r1data.io` reads) as datatrove Documents whose
text is the completion (what MinHash compares) and whose metadata holds the Record itself.
`RecordWriter` and `DroppedRecordWriter` are datatrove Jsonl/Parquet writers whose adapter writes
the Record back, so kept and dropped output is readable by `r1data.io.read_records`. A dropped
Record carries `metadata[META_DROP_REASON]`, `metadata[META_DROP_FILTER]` and a `filters` entry.

Sharding: task `rank` of `world_size` takes the `rank`-th of `world_size` contiguous blocks of
the input rows (JSONL lines not its own are skipped unparsed), so lower ranks hold earlier rows
and the ranks' documents one after the other are the input's order. Each document carries its
number in its task's input (`base.INDEX`): the chain's final stage reads the input again and
finds each document's decision by it (`keys`).
"""

from __future__ import annotations

from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.writers.jsonl import JsonlWriter
from datatrove.pipeline.writers.parquet import ParquetWriter

from r1data import io
from r1data.record import META_DROP_FILTER, META_DROP_REASON, META_SCHEMA, Record, RecordError

from .base import INDEX, INPUT_METADATA, RECORD_KEY, record_of

FORMATS = ("jsonl", "parquet")
# what a chain may write kept/ as: verl is written as JSONL and converted once the chain has
# finished (`io.convert_to_verl`), as datatrove's writers need one Parquet schema per file
OUTPUT_FORMATS = (*FORMATS, "verl")
# the reader's counters of input text no field read (see RecordReader._report)
UNREAD, UNREAD_CHARS, SOLUTION_AS = "unread_text_", "unread_chars_", "solution_as_"


def document_of(record: Record) -> Document:
    return Document(text=record.completion, id=record.id, metadata={RECORD_KEY: record})


class RecordReader(PipelineStep):
    """Reads Records from a file or folder; unreadable rows go to `rejected_folder` with a reason."""

    type = "📖 - READER"
    name = "records"

    def __init__(self, path: str | Path, rejected_folder: str | Path | None = None,
                 options: io.ReadOptions | None = None):
        super().__init__()
        self.path = str(path)
        # pickled with the step: a task on another process or node reads the user's input
        # with the command's --columns/--schema (r1data.schemas)
        self.options = options or io.DEFAULT_OPTIONS
        self.rejected_folder = str(rejected_folder) if rejected_folder else None

    def _files(self, rank: int) -> list[Path]:
        path = Path(self.path)
        if io.detect_format(path) == "shards":
            files = io.shard_files(path)
            if not files:
                raise io.InputError(f"no .jsonl or .parquet files in {path}")
            return files
        return [path]

    def _rows(self, files: list[Path], rank: int, world_size: int, rejects: io.RejectLog):
        """This rank's raw rows: a contiguous block of the input, so that lower ranks hold
        earlier rows and "keep the first" (MinHash keeps the lowest rank's copy) means the
        first in input order, whatever the number of tasks. Other ranks' JSONL lines are
        skipped unparsed (`io.rows_between`)."""
        if world_size == 1:
            for file in files:
                yield from io.rows_between(file, 0, float("inf"), rejects, self.options)
            return
        counts = [io.count_rows(file, self.options) for file in files]
        total = sum(counts)
        low, high = total * rank // world_size, total * (rank + 1) // world_size
        start = 0
        for file, count in zip(files, counts):
            if start < high and start + count > low:
                yield from io.rows_between(file, max(0, low - start), high - start, rejects,
                                           self.options)
            start += count

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        rejected = (Path(self.rejected_folder) / f"{rank:05d}.jsonl") if self.rejected_folder else None
        report = io.ReadReport()  # what no field read reaches the chain's stats (_report)
        index = 0
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
                    # what the chain's later stages know the document by (`keys`), and its
                    # metadata as read, to find what the filters wrote into it
                    doc.metadata[INDEX], doc.metadata[INPUT_METADATA] = index, dict(record.metadata)
                    index += 1
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


def RecordWriter(folder: str | Path, fmt: str = "jsonl", filename: str = "${rank}"):
    """A datatrove writer of kept Records: `<folder>/<rank:05d>.jsonl` (or `.parquet`)."""
    return _writer(folder, fmt, filename, _kept_adapter)


def DroppedRecordWriter(folder: str | Path, filter_name: str, reason: str, fmt: str = "jsonl",
                        filename: str = "${rank}"):
    """A datatrove writer for one filter's dropped Records, marked with the filter and reason
    (`reason` is used when the step gives none, as datatrove's dedup steps do)."""
    writer = _writer(folder, fmt, filename, _dropped_adapter)
    writer.filter_name, writer.reason = filter_name, reason
    return writer


def _writer(folder, fmt, filename, adapter):
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}: use jsonl or parquet")
    if fmt == "jsonl":
        return _JsonlRecords(str(folder), output_filename=f"{filename}.jsonl", compression=None,
                             adapter=adapter)
    return _ParquetRecords(str(folder), output_filename=f"{filename}.parquet", adapter=adapter, schema=_record_schema(), batch_size=256)
