"""Reading and writing records: `r1data.io.read` streams any input through the reading layer
(`r1data.schemas`), `r1data.io.write` writes resumable shards and single files. Everything is
importable from `r1data.io` itself, as it was before the split."""

from r1data.atomic import write_json
from r1data.io.read import (CSV_SUFFIXES, DEFAULT_OPTIONS, INPROGRESS, JSONL_SUFFIXES,
                            PARQUET_SUFFIXES, ROW, InputError, RejectLog, count_rows,
                            detect_format, is_hub_name, iter_rows, open_binary, read_records,
                            reject_reason, row_to_record, rows_between, rows_to_records,
                            shard_files)
from r1data.io.write import (OUTPUT_FORMATS, ShardWriter, convert_to_verl, from_dataset,
                             to_dataset, verl_table, write_parquet, write_records, write_verl)
from r1data.schemas import ReadOptions, ReadReport

__all__ = [
    "CSV_SUFFIXES", "DEFAULT_OPTIONS", "INPROGRESS", "JSONL_SUFFIXES", "OUTPUT_FORMATS",
    "PARQUET_SUFFIXES", "ROW", "InputError", "ReadOptions", "ReadReport", "RejectLog",
    "ShardWriter", "convert_to_verl", "count_rows", "detect_format", "from_dataset",
    "is_hub_name", "iter_rows", "open_binary", "read_records", "reject_reason", "row_to_record",
    "rows_between", "rows_to_records", "shard_files", "to_dataset", "verl_table", "write_json",
    "write_parquet", "write_records", "write_verl",
]
