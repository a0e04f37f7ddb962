import json

import pytest

from r1data import io
from r1data.record import Record, RecordError, assistant_content, content_id, split_completion


def full_record() -> Record:
    base = Record.from_prompt("What is 2+3?", id="q1", gold="5", domain="math", source="unit")
    rec = base.with_completion(
        assistant_content("2 plus 3 is 5. Wait, check: yes.", "The answer is \\boxed{5}."),
        sample_index=1, finish_reason="stop", prompt_tokens=12, completion_tokens=20,
        provenance={"model": "m", "sampling": {"temperature": 0.6, "top_p": 0.95}, "seed": 3},
    )
    rec.verdicts.append({"verifier": "math", "correct": True, "score": 1.0, "reason": "ok"})
    rec.filters.append({"filter": "LanguageMixFilter", "kept": True, "reason": None})
    rec.metadata["nested"] = {"list": [1, 2.5, None, "中文"]}
    return rec


def test_with_completion_splits_reasoning_and_answer():
    rec = full_record()
    assert rec.id == "q1/1" and rec.prompt_id == "q1"
    assert rec.reasoning == "2 plus 3 is 5. Wait, check: yes."
    assert rec.answer == "The answer is \\boxed{5}."
    assert rec.messages[-1]["role"] == "assistant"
    assert rec.completion.startswith("<think>\n") and "</think>\n\n" in rec.completion


def test_split_completion_edge_cases():
    assert split_completion("<think>\nx\n</think>\n\ny") == ("x", "y")
    assert split_completion("<think>cut off") == ("cut off", "")
    assert split_completion("no block") == (None, "no block")
    # a chat template that pre-filled <think>: the completion starts inside the block
    assert split_completion("reasoning</think>answer") == ("reasoning", "answer")


def test_content_id_is_stable_and_content_derived():
    assert content_id("a", "b") == content_id("a", "b")
    assert content_id("a", "b") != content_id("ab")
    assert Record.from_prompt("same").id == Record.from_prompt("same").id


def test_roundtrip_jsonl(tmp_path):
    rec = full_record()
    io.write_records([rec], tmp_path / "out")
    back = list(io.read_records(tmp_path / "out"))
    assert back == [rec]


def test_roundtrip_parquet(tmp_path):
    rec = full_record()
    code = Record.from_prompt("write f", id="c1", gold=["assert f() == 1"], domain="code")
    humaneval = Record.from_prompt("def g", id="c2", gold={"test": "x", "entry_point": "g"})
    io.write_records([rec, code, humaneval], tmp_path / "pq", fmt="parquet")
    assert [p.suffix for p in (tmp_path / "pq").iterdir()] == [".parquet"]
    back = list(io.read_records(tmp_path / "pq"))
    assert back == [rec, code, humaneval]


def test_roundtrip_datasets(tmp_path):
    records = [full_record(), Record.from_prompt("other", gold=None)]
    dataset = io.to_dataset(records)
    assert list(io.from_dataset(dataset)) == records
    dataset.save_to_disk(str(tmp_path / "ds"))
    assert list(io.read_records(tmp_path / "ds")) == records


@pytest.mark.parametrize("bad,reason", [
    ({"messages": [], "prompt": "x"}, "missing required field 'id'"),
    ({"id": "a", "prompt": 3}, "must be a string"),
    ({"id": "a"}, "neither 'prompt' nor 'messages'"),
    ({"id": "a", "prompt": "x", "kind": "poem"}, "field 'kind'"),
    ({"id": "a", "prompt": "x", "messages": [{"role": "user"}]}, "messages"),
])
def test_from_dict_rejects_with_reason(bad, reason):
    with pytest.raises(RecordError, match=reason):
        Record.from_dict(bad)


def test_unknown_keys_are_kept_in_metadata():
    rec = Record.from_dict({"id": "a", "prompt": "x", "difficulty": 3})
    assert rec.metadata["difficulty"] == 3
    assert json.loads(json.dumps(rec.to_dict()))["metadata"] == {"difficulty": 3}
