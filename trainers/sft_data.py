"""SFT data: conversations in, token batches with assistant-only labels out.

* `load_conversations`: the `messages` of every row of a folder/file of Records (what `r1data
  mix` writes), of any local dataset with a `messages` column (JSONL, Parquet, a `save_to_disk`
  folder), or of a Hub dataset id. Rows that cannot be used are returned aside with a reason.
* `tokenize_conversation`: renders the model's chat template and labels the tokens of the
  assistant turns only, *including the token that ends the turn*. With ChatML (SmolLM2, Qwen)
  the turn ends with `<|im_end|>`, which is also the EOS: it carries a label, so the student
  learns to stop. When a template ends the turn with something other than the EOS (a base
  model's template), the EOS is appended after the last assistant turn and trained. Labels come
  from character spans of the rendered turns, never from the pad id: SmolLM2's pad *is* its EOS.
* `plan_epoch`: the micro-batches of one epoch, deterministic from (seed, epoch):
    - packing: samples are packed first-fit into rows of `max_seq_len` tokens; each sample keeps
      its own position ids (0, 1, ...), from which transformers builds a block-diagonal causal
      mask (sdpa/eager) or variable-length attention (flash-attention), so no token attends
      across a sample boundary. `packing_is_exact` checks this on the actual model at start-up;
      the trainer falls back to padded batches where it fails.
    - no packing: length-grouped batches (samples of similar length share a batch; the batches
      are shuffled) so padding stays small.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from r1data import schemas
from r1data.io import RejectLog, read_records

IGNORE = -100


@dataclass
class Sample:
    """One tokenized conversation: `labels[i]` is `input_ids[i]` where trained, else -100."""

    input_ids: list[int]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.input_ids)


# -- loading ---------------------------------------------------------------------------------


def load_conversations(source: str, split: str = "train", limit: int | None = None,
                       read_options: Any = None
                       ) -> tuple[list[list[dict[str, str]]], list[dict[str, Any]]]:
    """(conversations, rejected rows with a `reason`) from a local path or a Hub dataset id, in
    any layout `r1data.schemas` reads (records, chat, ShareGPT, prompt/answer columns...): each
    record's `messages`, built in R1's form where a row has only fields. `read_options`: how
    the data is laid out (the command's --columns, --schema, --split)."""
    read_options = read_options or schemas.ReadOptions()
    options = dataclasses.replace(read_options, require_completion=True,
                                  split=read_options.split or split)
    log = RejectLog(None, keep=True)
    conversations = []
    records = read_records(Path(source).expanduser() if Path(source).expanduser().exists()
                           else source, log, options)
    for record in records:
        if limit is not None and len(conversations) >= limit:
            break
        conversations.append([{"role": m["role"], "content": m["content"]}
                              for m in record.messages])
    rejected = [{"reason": e["reason"].split(":")[0], "detail": e["reason"],
                 "row": e["raw"] if isinstance(e["raw"], dict) else None} for e in log.entries]
    return conversations, rejected


# -- tokenizing ------------------------------------------------------------------------------


def _render(tokenizer, messages, generation_prompt: bool = False) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation_prompt)


def assistant_spans(tokenizer, messages: list[dict[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans to train: each assistant turn from the end of
    the generation prompt to the end of its turn terminator (trailing whitespace excluded).

    A turn whose rendering is not a continuation of the conversation before it (templates that
    rewrite earlier turns, e.g. strip their reasoning) is not trained; the last turn always is,
    or the conversation is rejected.
    """
    text = _render(tokenizer, messages)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = _render(tokenizer, messages[:i], generation_prompt=True)
        upto = _render(tokenizer, messages[:i + 1])
        consistent = text.startswith(upto) and upto.startswith(prompt)
        if not consistent:
            if i == len(messages) - 1 or all(m["role"] != "assistant" for m in messages[i + 1:]):
                raise ValueError("template_mismatch: the chat template does not render the "
                                 "assistant turn after its generation prompt")
            continue
        end = len(upto.rstrip())
        spans.append((len(prompt), end))
    if not spans:
        raise ValueError("no_assistant_turn: nothing to train on")
    return text, spans


def tokenize_conversation(tokenizer, messages: list[dict[str, str]]) -> Sample:
    """Token ids and assistant-only labels of one conversation (see the module docstring)."""
    text, spans = assistant_spans(tokenizer, messages)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    labels = [IGNORE] * len(ids)
    span_index = 0
    for t, (start, _end) in enumerate(offsets):
        while span_index < len(spans) and start >= spans[span_index][1]:
            span_index += 1
        if span_index == len(spans):
            break
        if spans[span_index][0] <= start < spans[span_index][1]:
            labels[t] = ids[t]
    eos = tokenizer.eos_token_id
    last = max(t for t, label in enumerate(labels) if label != IGNORE) if any(
        label != IGNORE for label in labels) else None
    if last is None:
        raise ValueError("no_assistant_turn: the assistant turns render to no tokens")
    if ids[last] != eos:
        # The template ends the turn with something else (or nothing): teach the EOS explicitly.
        ids = ids[:last + 1] + [eos] + ids[last + 1:]
        labels = labels[:last + 1] + [eos] + labels[last + 1:]
    return Sample(ids, labels)


def tokenize_all(tokenizer, conversations, max_seq_len: int
                 ) -> tuple[list[Sample], list[dict[str, Any]]]:
    """Tokenized samples and the rejected ones with their reason. A sample longer than
    `max_seq_len` is rejected (`too_long`), not truncated: a truncated answer loses its EOS and
    teaches the student never to stop."""
    samples, rejected = [], []
    for messages in conversations:
        try:
            sample = tokenize_conversation(tokenizer, messages)
        except ValueError as exc:
            rejected.append({"reason": str(exc).split(":")[0], "detail": str(exc),
                             "row": {"messages": messages}})
            continue
        if len(sample) > max_seq_len:
            rejected.append({"reason": "too_long", "detail": f"{len(sample)} tokens > "
                             f"max_seq_len {max_seq_len}", "row": {"messages": messages}})
            continue
        samples.append(sample)
    return samples, rejected


# -- batching --------------------------------------------------------------------------------


def pack(lengths: list[int], order: list[int], max_seq_len: int) -> list[list[int]]:
    """First-fit packing of samples (taken in `order`) into rows of at most `max_seq_len`.

    >>> pack([5, 4, 3, 2], [0, 1, 2, 3], 8)
    [[0, 2], [1, 3]]
    """
    rows: list[list[int]] = []
    room: list[int] = []
    for i in order:
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(max_seq_len - lengths[i])
    return rows


def plan_epoch(lengths: list[int], *, seed: int, epoch: int, packing: bool, max_seq_len: int,
               micro_batch_size: int, group: int) -> list[list[list[int]]]:
    """The micro-batches of one epoch: each a list of rows, each row a list of sample indices
    (one sample per row without packing). Padded by repeating its first micro-batches so that
    the count divides `group` (= gradient accumulation x data-parallel ranks): every optimizer
    step sees a full batch, and every rank the same number of micro-batches.
    """
    rng = random.Random(seed * 100_003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if packing:
        rows = pack(lengths, order, max_seq_len)
        rng.shuffle(rows)
        batches = [rows[i:i + micro_batch_size] for i in range(0, len(rows), micro_batch_size)]
    else:
        # Sort within windows of 64 batches: similar lengths together, order still random.
        window = 64 * micro_batch_size
        batches = []
        for w in range(0, len(order), window):
            chunk = sorted(order[w:w + window], key=lambda i: lengths[i])
            batches += [[[i] for i in chunk[b:b + micro_batch_size]]
                        for b in range(0, len(chunk), micro_batch_size)]
        rng.shuffle(batches)
    missing = -len(batches) % group
    return batches + batches[:missing] if batches else batches


def collate(samples: list[Sample], rows: list[list[int]], pad_id: int,
            packed: bool) -> dict[str, torch.Tensor]:
    """Tensors for one micro-batch. Packed rows get per-sample position ids and no attention
    mask (transformers derives the block-diagonal mask from the position ids); padded rows get
    a 2-D attention mask. Padding is labelled -100 either way."""
    width = max(sum(len(samples[i]) for i in row) for row in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, row in enumerate(rows):
        at = 0
        for i in row:
            n = len(samples[i])
            ids[r, at:at + n] = torch.tensor(samples[i].input_ids)
            labels[r, at:at + n] = torch.tensor(samples[i].labels)
            positions[r, at:at + n] = torch.arange(n)
            mask[r, at:at + n] = 1
            at += n
        # Padding continues the positions so it forms one more "sample" of its own.
        positions[r, at:] = torch.arange(width - at)
    batch = {"input_ids": ids, "labels": labels}
    if packed:
        batch["position_ids"] = positions
    else:
        batch["attention_mask"] = mask
    return batch


def label_count(batch: dict[str, torch.Tensor]) -> int:
    """Trained tokens of a batch (labels shift by one: the first position predicts nothing)."""
    return int((batch["labels"][:, 1:] != IGNORE).sum())
