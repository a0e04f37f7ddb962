"""A trained reward model as a scorer of (prompt, response) pairs: the text form a reward model
reads (the same for training and for scoring), its loading, and `RewardModelScorer`, which
`r1data.rewards.model_reward` serves as a GRPO reward. Training lives in
`r1data.trainers.reward_model`; this is the inference side, so rewards never import a trainer.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from r1data.models import best_device, load_tokenizer, resolve


def conversation_text(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """A conversation (prompt turns, then the response) rendered with the model's chat
    template (plain text when the tokenizer has none)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def encode(tokenizer: Any, texts: list[str], max_length: int, device: str | torch.device
           ) -> dict[str, torch.Tensor]:
    """Right-padded ids and mask; a sequence over `max_length` keeps its last tokens."""
    ids = [tokenizer(t, add_special_tokens=False)["input_ids"][-max_length:] for t in texts]
    width = max(len(i) for i in ids)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([i + [pad] * (width - len(i)) for i in ids], device=device)
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids], device=device)
    return {"input_ids": input_ids, "attention_mask": mask}


def load_reward_model(spec: str, dtype: torch.dtype = torch.float32):
    """(model, tokenizer): a one-label sequence-classification head on `spec`, with a pad id."""
    tokenizer = load_tokenizer(spec)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(resolve(spec), num_labels=1,
                                                               dtype=dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


class RewardModelScorer:
    """A trained reward model that scores (prompt, response) pairs in batches, no gradient."""

    def __init__(self, path: str, *, device: str = "auto", max_length: int = 2048):
        self.device = best_device(device)
        self.model, self.tokenizer = load_reward_model(path)
        self.model.to(self.device).eval().requires_grad_(False)
        self.max_length = max_length

    @torch.no_grad()
    def score(self, prompts: list[str], responses: list[str], batch_size: int = 16) -> list[float]:
        scores: list[float] = []
        for i in range(0, len(responses), batch_size):
            texts = [conversation_text(self.tokenizer, [{"role": "user", "content": p or ""},
                                                        {"role": "assistant", "content": r}])
                     for p, r in zip(prompts[i:i + batch_size], responses[i:i + batch_size])]
            batch = encode(self.tokenizer, texts, self.max_length, self.device)
            scores += self.model(**batch, use_cache=False).logits.squeeze(-1).float().tolist()
        return scores
