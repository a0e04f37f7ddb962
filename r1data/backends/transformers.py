"""Local generation with a transformers model: batched, left-padded, n samples per prompt.

Each prompt is repeated n times and the rows are generated `batch_size` at a time, sorted by
prompt length so that a batch wastes little on padding. Chat prompts are rendered with the
model's own chat template; a template that pre-fills `<think>` has that part put back in front of
the completion (see `templates.think_prefill`).

Seeds: every row samples from its own `torch.Generator`, seeded with
`sample_seed(sampling.seed, key, i)`, through `PerRowSampler` (temperature, then top-p, then one
draw per row). So sample i of a prompt is the same whatever batch it lands in, whatever the batch
size and whatever else is generated beside it (up to the float noise that padding adds on some
kernels). `model.generate`'s own sampling draws from one global generator, so its samples depend
on the batch; the sampler replaces it (generate runs greedy over the sampler's one-hot scores).

A batch that runs out of memory is split in two and retried; a single row that still does not
fit becomes a Completion with finish_reason "error" (the run reports it and a rerun retries it).
Any other exception is a bug or a bad argument: it propagates and stops the run, and the samples
of that batch are not written.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from r1data import models
from r1data.backends.base import (
    Completion,
    LocalBackend,
    Prompt,
    SamplingConfig,
    first_stop,
    prompt_key,
    sample_seed,
)
from r1data.templates import think_prefill


class PerRowSampler:
    """A logits processor that samples each row from its own generator (temperature + top-p).

    It returns scores that are 0 at the drawn token and -inf elsewhere, so greedy decoding picks
    exactly the drawn token.
    """

    def __init__(self, seeds: list[int], temperature: float, top_p: float):
        import torch  # lazy: heavy import

        self.temperature = temperature
        self.top_p = top_p
        # CPU generators: the same draws on every device; one float per row per step crosses over.
        self.generators = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch  # lazy: heavy import

        logits = scores.float() / self.temperature
        order = None
        if self.top_p < 1.0:  # sample in vocabulary order sorted by probability, then map back
            logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = logits.softmax(dim=-1)
        if order is not None:
            # Drop a token when the tokens ranked above it already reach top_p (the first stays).
            probs = probs.masked_fill((probs.cumsum(dim=-1) - probs) >= self.top_p, 0.0)
        cdf = probs.cumsum(dim=-1)
        u = torch.cat([torch.rand(1, generator=g) for g in self.generators]).to(cdf.device)
        picked = torch.searchsorted(cdf, (u.unsqueeze(-1) * cdf[:, -1:]).contiguous(), right=True)
        picked = picked.clamp_(max=cdf.shape[-1] - 1)
        if order is not None:
            picked = order.gather(-1, picked)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(-1, picked, 0.0)


@dataclass(frozen=True)
class RowEnd:
    """Where one sampled row ends. `length`: the completion's tokens, its EOS included (what a
    trainer trains on and a record counts); `stopped`: an EOS or a stop string ended it, else
    max_tokens did (truncated); `eos`: that end was an EOS token."""

    length: int
    stopped: bool
    eos: bool


def ends_on_stop(tokenizer: Any, ids: list[int], stops: list[str]) -> bool:
    """Whether the last token of `ids` completed a stop string (generation's own test: the
    string occurs in the text and did not before that token)."""
    if not stops or not ids:
        return False
    text = tokenizer.decode(ids, skip_special_tokens=True)
    before = tokenizer.decode(ids[:-1], skip_special_tokens=True)
    return any(s in text and s not in before for s in stops)


def row_end(row: list[int], tokenizer: Any, eos_ids: set[int], pad_id: int,
            stops: list[str] | None = None) -> RowEnd:
    """The end of a row `model.generate` sampled (prompt cut off): at its first EOS, or where a
    stop string completed, or at max_tokens. The one rule for every local sampler (this backend,
    GRPO's rollouts). When pad == EOS (SmolLM2), an EOS right after a completed stop string is
    padding that generate wrote, not a sampled EOS; when pad != EOS, trailing pads are.

    >>> class T:  # a tokenizer whose token i decodes to chr(i)
    ...     def decode(self, ids, skip_special_tokens=True): return "".join(map(chr, ids))
    >>> row_end([65, 66, 2, 2], T(), {2}, 2), row_end([65, 10, 10, 2], T(), {2}, 2, ["\\n\\n"])
    (RowEnd(length=3, stopped=True, eos=True), RowEnd(length=3, stopped=True, eos=False))
    >>> row_end([65, 66, 67], T(), {2}, 2)
    RowEnd(length=3, stopped=False, eos=False)
    """
    stops = list(stops or [])
    first = next((k for k, token in enumerate(row) if token in eos_ids), None)
    padding_eos = first is not None and pad_id in eos_ids and ends_on_stop(tokenizer, row[:first], stops)
    if first is not None and not padding_eos:
        return RowEnd(first + 1, True, True)
    end = first if first is not None else len(row)
    while first is None and pad_id not in eos_ids and end and row[end - 1] == pad_id:
        end -= 1
    return RowEnd(end, padding_eos or ends_on_stop(tokenizer, row[:end], stops), False)


def generation_config(sampling: SamplingConfig, *, max_new: int, pad_id: int, eos_ids: set[int],
                      per_row_seeds: bool) -> Any:
    """The GenerationConfig of every local sampler: EOS ids and stop strings end a row. With
    `per_row_seeds`, `PerRowSampler` draws the tokens (generate runs greedy over its one-hot
    scores); otherwise generate samples at the temperature and top-p, no top-k."""
    from transformers import GenerationConfig  # lazy: heavy import

    drawn = {"do_sample": False} if per_row_seeds or sampling.temperature <= 0 else {
        "do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p, "top_k": 0}
    return GenerationConfig(max_new_tokens=max_new, num_beams=1, use_cache=True, pad_token_id=pad_id,
                            eos_token_id=sorted(eos_ids), stop_strings=list(sampling.stop) or None,
                            **drawn)


@contextmanager
def generating(lm: Any) -> Iterator[None]:
    """Eval mode and no autograd while generating. A policy being trained arrives in train mode:
    eval mode turns dropout and gradient checkpointing off (checkpointing would also disable the
    KV cache); its mode is restored afterwards."""
    import torch  # lazy: heavy import

    was_training = lm.training
    lm.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        lm.train(was_training)


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether an exception says the device ran out of memory: torch.OutOfMemoryError on CUDA,
    a RuntimeError from the CPU or MPS allocator, a MemoryError from Python."""
    import torch  # lazy: heavy import

    if isinstance(exc, (torch.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "out of memory" in text or "can't allocate memory" in text


def release_memory() -> None:
    import torch  # lazy: heavy import

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class TransformersBackend(LocalBackend):
    """A local transformers causal LM.

    model: a spec for `models.load_model` (the embedded `smollm2-135m`, a folder, a Hub id).
    batch_size: rows (prompt x sample) generated together.
    device / dtype: default the best available (cuda + bf16 where supported, else cpu + fp32).
    model_obj / tokenizer: an already loaded model and tokenizer to use instead (e.g. the GRPO
        policy being trained); then `model` only names it in provenance.
    """

    name = "transformers"

    def __init__(self, model: str | None = None, *, batch_size: int = 16, device: str | None = None,
                 dtype: str | None = None, model_obj: Any = None, tokenizer: Any = None):
        super().__init__(model or models.EMBEDDED)
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.batch_size = batch_size
        if model_obj is None:
            self.lm, self.tokenizer = models.load_model(self.model, device=device, dtype=dtype)
        else:
            if tokenizer is None:
                raise ValueError("model_obj needs its tokenizer")
            self.lm, self.tokenizer = model_obj, tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        eos = self.lm.generation_config.eos_token_id
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.max_positions = getattr(self.lm.config, "max_position_embeddings", None)

    def chunk_size(self, n: int) -> int:
        # One batch per call: records are written as each batch ends, so a crash loses one batch.
        return max(1, self.batch_size // n)

    def info(self) -> dict[str, Any]:
        import torch  # lazy: heavy import
        import transformers  # lazy: heavy import

        return {**super().info(), "device": str(self.lm.device), "dtype": str(self.lm.dtype).replace("torch.", ""),
                "transformers": transformers.__version__, "torch": torch.__version__,
                "batch_size": self.batch_size}

    def generate(self, prompts: list[Prompt], sampling: SamplingConfig,
                 keys: list[str] | None = None) -> list[list[Completion]]:
        keys = keys or [prompt_key(p) for p in prompts]
        texts = [self.render(p) for p in prompts]
        ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        rows = [(p, i) for p in range(len(prompts)) for i in range(sampling.n)]
        rows.sort(key=lambda r: -len(ids[r[0]]))  # long prompts first: similar lengths batch together
        results: dict[tuple[int, int], Completion] = {}
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start:start + self.batch_size]
            seeds = [sample_seed(sampling.seed, keys[p], i) for p, i in batch]
            for row, completion in zip(batch, self._generate_safely([ids[p] for p, _ in batch], seeds, sampling)):
                prefill = think_prefill(texts[row[0]])
                completion.text = prefill + completion.text
                results[row] = completion
        return [[results[(p, i)] for i in range(sampling.n)] for p in range(len(prompts))]

    def _generate_safely(self, ids: list[list[int]], seeds: list[int],
                         sampling: SamplingConfig) -> list[Completion]:
        try:
            return self._generate_batch(ids, seeds, sampling)
        except (RuntimeError, MemoryError) as exc:
            if not is_out_of_memory(exc):
                raise
            release_memory()
            if len(ids) > 1:
                half = len(ids) // 2
                return (self._generate_safely(ids[:half], seeds[:half], sampling)
                        + self._generate_safely(ids[half:], seeds[half:], sampling))
            return [Completion(text="", finish_reason="error", prompt_tokens=len(ids[0]),
                               completion_tokens=0, error=f"{type(exc).__name__}: {exc}")]

    def _generate_batch(self, ids: list[list[int]], seeds: list[int],
                        sampling: SamplingConfig) -> list[Completion]:
        import torch  # lazy: heavy import
        from transformers import LogitsProcessorList  # lazy: heavy import

        width = max(len(x) for x in ids)
        pad = self.tokenizer.pad_token_id
        # Left padding: every row's last prompt token sits at the same position, where generation starts.
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in ids], device=self.lm.device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=self.lm.device)
        max_new = sampling.max_tokens
        if self.max_positions:
            max_new = max(1, min(max_new, self.max_positions - width))
        config = generation_config(sampling, max_new=max_new, pad_id=pad, eos_ids=self.eos_ids,
                                   per_row_seeds=True)
        processors = LogitsProcessorList()
        if sampling.temperature > 0:
            processors.append(PerRowSampler(seeds, sampling.temperature, sampling.top_p))
        with generating(self.lm):
            out = self.lm.generate(
                input_ids=input_ids, attention_mask=mask, generation_config=config,
                logits_processor=processors, tokenizer=self.tokenizer if sampling.stop else None,
            )
        completions = []
        for row, prompt_ids in enumerate(ids):
            new = out[row, width:].tolist()
            end = row_end(new, self.tokenizer, self.eos_ids, pad, sampling.stop)
            text = self.tokenizer.decode(new[:end.length - end.eos], skip_special_tokens=False)
            finish = "stop" if end.stopped else "length"
            cut = first_stop(text, sampling.stop)
            if cut is not None:
                text, finish = text[:cut], "stop"
            completions.append(Completion(text=text, finish_reason=finish,
                                          prompt_tokens=len(prompt_ids), completion_tokens=end.length))
        return completions

    def close(self) -> None:
        self.lm = None

