"""`r1data stats`: polars scans r1data's own record files directly; every other input is read
through r1data.io; both ways give the same figures."""

import json

import polars as pl
import pytest

from r1data import models, stats
from r1data.io import RejectLog, read_records, write_records
from r1data.record import NON_REASONING, Record


def _records() -> list[Record]:
    out = []
    for i in range(30):
        prompt = Record.from_prompt(f"What is {i} + {i}?", domain=("math", "code", "chat")[i % 3],
                                    source=f"src{i % 2}", language="zh" if i % 5 == 0 else "en",
                                    kind=NON_REASONING if i % 3 == 2 else "reasoning")
        think = f"<think>\n{i} and {i} make {2 * i}.\n</think>\n\n" if i % 4 else ""
        record = prompt.with_completion(f"{think}The answer is {2 * i}.", sample_index=0,
                                        finish_reason="length" if i % 7 == 0 else "stop")
        if i % 2:  # half carry their counts, half need the tokenizer
            record.prompt_tokens, record.completion_tokens = 9, 12 + i
        out.append(record)
    out.append(Record.from_prompt("unanswered", domain="math"))
    return out


@pytest.fixture(scope="module")
def tokenizer():
    return models.load_tokenizer("smollm2-135m")


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_scan_of_own_records_equals_the_row_by_row_read(tmp_path, tokenizer, fmt):
    folder = tmp_path / "records"
    write_records(_records(), folder, shard_size=8, fmt=fmt)
    assert stats.scan(folder, tokenizer) is not None  # the lazy scan, not the row path
    scanned = stats.file_stats(folder, tokenizer)
    by_rows = stats.summarize(stats.frame(read_records(folder), tokenizer))
    assert {k: v for k, v in scanned.items() if k not in ("schema", "gold", "rejected")} == by_rows
    assert scanned["rows"] == 31 and scanned["schema"] == "record 31" and scanned["rejected"] == 0
    assert scanned["domains"] == {"math": 11, "chat": 10, "code": 10}
    assert scanned["kinds"] == {"reasoning": 21, "non_reasoning": 10}
    assert scanned["truncated"] == 5 and scanned["with_reasoning"] == 22
    assert scanned["completion_tokens"]["p100"] == 41  # 12 + 29, the largest stored count


def test_a_broken_line_falls_back_to_the_row_path(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(r.to_dict()) + "\n" for r in _records()) + "{not json\n")
    rejects = RejectLog(None)
    summary = stats.file_stats(path, None, rejects)
    assert summary["rows"] == 31 and summary["rejected"] == 1 and rejects.count == 1
    assert summary["schema"] == "record 31"


def test_other_layouts_are_read_through_io(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"hi {i}"},
                                                     {"role": "assistant", "content": "hello"}]}) + "\n"
                            for i in range(4)))
    assert stats.scan(path) is None
    summary = stats.file_stats(path)
    assert summary["rows"] == 4 and summary["schema"] == "chat 4" and summary["with_reasoning"] == 0


def test_summarize_takes_a_lazy_or_an_eager_frame():
    df = stats.frame(_records())
    assert stats.summarize(df) == stats.summarize(df.lazy())
    assert isinstance(stats.scan("missing-folder"), type(None))
    assert stats.summarize(stats.frame([]))["rows"] == 0
