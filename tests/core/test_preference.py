"""Preference pairs in the four layouts of TRL's preference datasets, from JSONL and Parquet."""

import json

import pytest

from r1data import io
from r1data.preference import read_pairs

USER = {"role": "user", "content": "What colour is the sky?"}
GOOD = {"role": "assistant", "content": "Blue, on a clear day."}
BAD = {"role": "assistant", "content": "Green."}

ROWS = [
    # explicit prompt, text (+ UltraFeedback-style scores kept in metadata)
    {"prompt": USER["content"], "chosen": GOOD["content"], "rejected": BAD["content"],
     "score_chosen": 9.0, "score_rejected": 2.0},
    # explicit prompt, conversational
    {"prompt": [USER], "chosen": [GOOD], "rejected": [BAD]},
    # implicit prompt, conversational: the shared first turn is the prompt
    {"chosen": [USER, GOOD], "rejected": [USER, BAD]},
    # implicit prompt, text (Anthropic HH)
    {"chosen": "\n\nHuman: What colour is the sky?\n\nAssistant: Blue.",
     "rejected": "\n\nHuman: What colour is the sky?\n\nAssistant: Green."},
    # not a pair
    {"prompt": "p", "response": "r"},
]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_every_trl_layout_reads_into_a_pair(tmp_path, fmt):
    if fmt == "jsonl":
        path = tmp_path / "pairs.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    else:  # one file per layout: Parquet needs one column type per file
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "pairs"
        path.mkdir()
        for i, row in enumerate(ROWS):
            pq.write_table(pa.Table.from_pylist([row]), path / f"part-{i:05d}.parquet")
    with io.RejectLog(None, keep=True) as rejects:
        pairs = list(read_pairs(path, rejects))
    assert len(pairs) == len(ROWS) - 1
    for pair in pairs[:3]:
        assert pair.prompt == [USER] and pair.prompt_text == USER["content"]
        assert pair.chosen == [GOOD] and pair.rejected == [BAD]
        assert pair.chosen_messages == [USER, GOOD] and pair.rejected_messages == [USER, BAD]
    assert pairs[0].metadata["score_chosen"] == 9.0
    assert len({p.id for p in pairs[:3]}) == 1  # the same pair, the same content id
    hh = pairs[3]
    assert hh.prompt == [] and hh.chosen[0]["content"].endswith("Assistant: Blue.")
    assert [e["reason"].split(":")[0] for e in rejects.entries] == ["not_a_pair"]


def test_other_column_names_are_mapped(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"question": "Q?", "response_j": "good", "response_k": "bad"}) + "\n")
    [pair] = read_pairs(path, columns={"prompt": "question", "chosen": "response_j",
                                       "rejected": "response_k"})
    assert (pair.prompt_text, pair.chosen[0]["content"], pair.rejected[0]["content"]) == (
        "Q?", "good", "bad")


def test_command_line_columns_name_the_pair_columns(tmp_path):
    from r1data import schemas

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"q": "Q?", "good": "yes", "bad": "no"}) + "\n")
    options = schemas.ReadOptions(columns=schemas.parse_columns("prompt=q,chosen=good,rejected=bad"))
    [pair] = read_pairs(path, columns=options.columns)
    assert (pair.prompt_text, pair.chosen[0]["content"], pair.rejected[0]["content"]) == (
        "Q?", "yes", "no")
