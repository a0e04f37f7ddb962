"""SFT data: assistant-only labels with a trained EOS (ChatML and Llama-3-style templates),
rejection reasons, packing plans, and loading `messages` datasets."""

import json

import pytest

from r1data import models
from r1data.trainers.sft_data import (IGNORE, collate, label_count, load_conversations, pack,
                                      plan_epoch, tokenize_all, tokenize_conversation)

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>\nadd\n</think>\n\n4"},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "6"},
]

# The Llama-3 Instruct template's structure (header tokens, <|eot_id|> ending every turn, BOS
# in front), written out here on SmolLM2's vocabulary with the special tokens added: no
# download, same mechanics as Meta's template.
LLAMA3_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>"
    "\n\n{{ m['content'] | trim }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

# DeepSeek-R1-Distill's template drops everything before </think> from assistant turns: a
# conversation rendered with it loses its reasoning, so it must be rejected, not trained.
STRIPPING_TEMPLATE = (
    "{% for m in messages %}{% if m['role'] == 'user' %}<|im_start|>user\n{{ m['content'] }}"
    "<|im_end|>\n{% else %}<|im_start|>assistant\n{{ m['content'].split('</think>')[-1] }}"
    "<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n<think>\n{% endif %}"
)


@pytest.fixture(scope="module")
def chatml():
    return models.load_tokenizer()


def _llama3(eos: str):
    tok = models.load_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": [
        "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
        "<|end_of_text|>"]})
    tok.bos_token, tok.eos_token = "<|begin_of_text|>", eos
    tok.chat_template = LLAMA3_TEMPLATE
    return tok


def _trained_text(tok, sample) -> list[str]:
    """The trained tokens as text, one string per contiguous labelled run."""
    runs, current = [], []
    for label in sample.labels + [IGNORE]:
        if label == IGNORE:
            if current:
                runs.append(tok.decode(current))
            current = []
        else:
            current.append(label)
    return runs


def test_chatml_labels_only_assistant_turns_and_their_eos(chatml):
    sample = tokenize_conversation(chatml, CONVERSATION)
    assert _trained_text(chatml, sample) == ["<think>\nadd\n</think>\n\n4<|im_end|>",
                                             "6<|im_end|>"]
    labelled = [i for i, label in enumerate(sample.labels) if label != IGNORE]
    # The last labelled token is the EOS (<|im_end|>, which is also SmolLM2's pad token).
    assert sample.input_ids[labelled[-1]] == chatml.eos_token_id == chatml.pad_token_id
    assert all(sample.labels[i] == sample.input_ids[i] for i in labelled)
    assert chatml.decode(sample.input_ids).count("<|im_end|>") == 5  # nothing appended


def test_llama3_template_trains_eot_as_eos():
    tok = _llama3("<|eot_id|>")
    sample = tokenize_conversation(tok, CONVERSATION)
    assert _trained_text(tok, sample) == ["<think>\nadd\n</think>\n\n4<|eot_id|>", "6<|eot_id|>"]
    assert sample.input_ids[0] == tok.convert_tokens_to_ids("<|begin_of_text|>")
    assert sample.labels[-1] == tok.eos_token_id


def test_base_model_eos_different_from_turn_end_is_appended_and_trained():
    # Llama-3.1 base: EOS is <|end_of_text|> while the template ends turns with <|eot_id|>.
    tok = _llama3("<|end_of_text|>")
    sample = tokenize_conversation(tok, CONVERSATION)
    assert _trained_text(tok, sample)[-1] == "6<|eot_id|><|end_of_text|>"
    assert sample.input_ids[-1] == sample.labels[-1] == tok.eos_token_id


def test_template_that_drops_reasoning_is_rejected(chatml):
    tok = models.load_tokenizer()
    tok.chat_template = STRIPPING_TEMPLATE
    samples, rejected = tokenize_all(tok, [CONVERSATION[1:3]], max_seq_len=512)
    assert samples == [] and rejected[0]["reason"] == "template_mismatch"


def test_too_long_and_no_assistant_are_set_aside_with_reasons(chatml):
    convs = [CONVERSATION, [{"role": "user", "content": "hi"}],
             [{"role": "user", "content": "x"}, {"role": "assistant", "content": "word " * 300}]]
    samples, rejected = tokenize_all(chatml, convs, max_seq_len=128)
    assert len(samples) == 1
    assert sorted(r["reason"] for r in rejected) == ["no_assistant_turn", "too_long"]


def test_pack_never_overflows_and_keeps_every_sample():
    lengths = [30, 10, 25, 5, 40, 15, 20, 35]
    rows = pack(lengths, list(range(8)), 50)
    assert sorted(i for row in rows for i in row) == list(range(8))
    assert all(sum(lengths[i] for i in row) <= 50 for row in rows)


@pytest.mark.parametrize("packing", [True, False])
def test_plan_epoch_covers_all_samples_and_fills_every_step(packing):
    lengths = [(7 * i) % 40 + 5 for i in range(53)]
    plan = plan_epoch(lengths, seed=1, epoch=0, packing=packing, max_seq_len=64,
                      micro_batch_size=2, group=4)
    assert len(plan) % 4 == 0
    assert set(i for batch in plan for row in batch for i in row) == set(range(53))
    assert plan == plan_epoch(lengths, seed=1, epoch=0, packing=packing, max_seq_len=64,
                              micro_batch_size=2, group=4)
    assert plan != plan_epoch(lengths, seed=1, epoch=1, packing=packing, max_seq_len=64,
                              micro_batch_size=2, group=4)


def test_length_grouping_keeps_padding_small():
    lengths = [5 + (i * 37) % 200 for i in range(256)]
    plan = plan_epoch(lengths, seed=0, epoch=0, packing=False, max_seq_len=512,
                      micro_batch_size=8, group=1)
    padded = sum(max(lengths[r[0]] for r in b) * len(b) for b in plan)
    assert padded < 1.1 * sum(lengths)  # random batches of 8 would pad ~60% here


def test_collate_packed_positions_restart_per_sample(chatml):
    samples, _ = tokenize_all(chatml, [CONVERSATION, CONVERSATION[1:3]], 512)
    batch = collate(samples, [[0, 1]], chatml.pad_token_id, packed=True)
    n0 = len(samples[0])
    assert batch["position_ids"][0, n0].item() == 0 and batch["position_ids"][0, n0 - 1] == n0 - 1
    assert "attention_mask" not in batch
    padded = collate(samples, [[0], [1]], chatml.pad_token_id, packed=False)
    assert padded["attention_mask"][1].sum() == len(samples[1])
    assert label_count(padded) == sum(sum(x != IGNORE for x in s.labels) for s in samples)


def test_load_conversations_from_messages_jsonl_and_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"messages": CONVERSATION[1:3]}, {"text": "no messages here"},
            {"messages": json.dumps(CONVERSATION[3:])}]
    path = tmp_path / "chat.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    convs, rejected = load_conversations(str(path))
    assert convs == [CONVERSATION[1:3], CONVERSATION[3:]]
    assert sorted(r["reason"] for r in rejected) == ["bad_json", "unknown schema"]

    pq.write_table(pa.Table.from_pylist([{"messages": CONVERSATION[1:3]}] * 3),
                   tmp_path / "chat.parquet")
    convs, rejected = load_conversations(str(tmp_path / "chat.parquet"), limit=2)
    assert convs == [CONVERSATION[1:3]] * 2 and rejected == []
