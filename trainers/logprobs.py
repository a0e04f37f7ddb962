"""Per-token log-probabilities of sampled completions, in bounded memory.

A causal LM's forward returns logits for every position over the whole vocabulary; upcast to
fp32 that is micro-batch × length × vocabulary × 4 bytes (4 × 32,768 × 152K ≈ 80 GB for R1's
recipe on Qwen). Here the backbone returns hidden states only, and the output head runs over
the completion tokens that count (mask = 1) in chunks of `LOGIT_CHUNK` tokens: each chunk's
fp32 logits exist only while its log-softmax is taken, and backward recomputes them
(activation checkpointing) instead of keeping them. The entropy is computed from the same
chunk, without gradient, only when asked for.

`PolicyLogps` wraps a Hugging Face causal LM so that one `forward` returns these log-probs:
DistributedDataParallel and DeepSpeed engines wrap it whole, so their hooks (gradient
all-reduce, ZeRO-3 parameter gathering) see every call.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

LOGIT_CHUNK = 1024  # tokens whose fp32 logits exist at once: 1,024 × 152K vocabulary ≈ 0.6 GB


class PolicyLogps(torch.nn.Module):
    """A causal LM whose forward is `token_logps`: (N, C) log π(o_t | q, o_<t) and the entropy."""

    def __init__(self, lm: torch.nn.Module):
        super().__init__()
        self.lm = lm

    def forward(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                completion_ids: torch.Tensor, completion_mask: torch.Tensor,
                temperature: float = 1.0, with_entropy: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        return token_logps(self.lm, prompt_ids, prompt_mask, completion_ids, completion_mask,
                           temperature, with_entropy)


def token_logps(model: Any, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor,
                completion_ids: torch.Tensor, completion_mask: torch.Tensor, temperature: float,
                with_entropy: bool = False, chunk: int = LOGIT_CHUNK
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log π(o_t | q, o_<t) for every completion token (N, C), 0 where the mask is 0, and the
    entropy of π at those positions when `with_entropy` (else None).

    `model` is a Hugging Face causal LM, a `PolicyLogps`, or an engine/DDP wrapper around one
    (a wrapper is called through its forward so that its hooks run). Position ids follow the
    attention mask, so left-padded prompts get the positions generation gave them.
    """
    inner = getattr(model, "module", model)
    if isinstance(inner, PolicyLogps):
        return model(prompt_ids, prompt_mask, completion_ids, completion_mask, temperature,
                     with_entropy)
    input_ids = torch.cat([prompt_ids, completion_ids], 1)
    attention = torch.cat([prompt_mask, completion_mask], 1)
    positions = (attention.cumsum(1) - 1).clamp(min=0)
    backbone = getattr(inner, inner.base_model_prefix)
    hidden = backbone(input_ids=input_ids, attention_mask=attention, position_ids=positions,
                      use_cache=False).last_hidden_state
    n = completion_ids.size(1)
    keep = completion_mask.bool()
    h = hidden[:, -n - 1:-1][keep]  # the states that predict each kept completion token
    targets = completion_ids[keep]
    head = inner.get_output_embeddings()
    parts, entropies = [], []
    for start in range(0, targets.numel(), chunk):
        rows = slice(start, start + chunk)
        if torch.is_grad_enabled() and h.requires_grad:
            logp, ent = checkpoint(_chunk_logps, head, h[rows], targets[rows], temperature,
                                   with_entropy, use_reentrant=False)
        else:
            logp, ent = _chunk_logps(head, h[rows], targets[rows], temperature, with_entropy)
        parts.append(logp)
        entropies.append(ent)
    logps = torch.zeros(completion_ids.shape, dtype=torch.float32, device=hidden.device)
    if parts:
        logps = logps.masked_scatter(keep, torch.cat(parts))
    entropy = None
    if with_entropy:
        entropy = torch.zeros(completion_ids.shape, dtype=torch.float32, device=hidden.device)
        if entropies:
            entropy = entropy.masked_scatter(keep, torch.cat(entropies))
    return logps, entropy


def _chunk_logps(head: torch.nn.Module, h: torch.Tensor, targets: torch.Tensor,
                 temperature: float, with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor]:
    logits = head(h).float()
    if temperature not in (0, 1):
        logits = logits / temperature
    norm = logits.logsumexp(-1)
    logps = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - norm
    if not with_entropy:
        return logps, logps.new_zeros(0)
    with torch.no_grad():
        entropy = norm - (logits.softmax(-1) * logits).sum(-1)
    return logps, entropy
