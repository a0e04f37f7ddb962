"""Rule-based rewards (R1 section 2.2.2) as plain functions with TRL's reward signature:

    fn(completions, **columns) -> list[float | None]

`completions` are strings or TRL conversations (`[{"role": "assistant", "content": ...}]`);
columns are per-completion lists (`gold`, `domain`, `language`, `metadata`, ...); unknown columns
are ignored, so the same function plugs into TRL's GRPOTrainer, our GRPO trainer and filters.
`None` means "this reward does not apply" (no gold, or a gold nobody can parse): TRL and our
trainer then leave it out of the sum instead of counting it as 0.

Registry: `get(name)`, `names()`, `register(name)`. Built in:
- accuracy: the verifier routed by gold/domain (`r1data.verifiers.dispatch`), score in [0, 1];
- format: R1's `<think>\\n...\\n</think>` then an answer (1/0); format_r1_zero: think + answer tags;
- language_consistency: share of target-language words in the chain of thought (section 2.3.2),
  the target taken from the `language` column (default "en");
- cosine_length: accuracy scaled by length, clamped past its maximum (`cosine_length_reward`
  builds one with other settings);
- overlong: DAPO's soft punishment of outputs near or past the length cap (`overlong_reward`).

`combine("accuracy + format + 0.1 * language_consistency")` builds the weighted sum; its
`components(...)` also returns each term's values (the GRPO trainer logs them). A None term makes
the sum not applicable (None): see `CombinedReward`. `rm:PATH@summary|@full` in an expression is
a trained reward model (`model_reward`); `RewardRouter` picks an expression per prompt by
domain/kind (R1's RL for all scenarios).

Accuracy fans out over a thread pool: math checks run in worker processes and code in sandboxed
processes (see `r1data.verifiers`), so threads only wait and are safe here.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from r1data.record import split_completion
from r1data.reward_scoring import RewardModelScorer
from r1data.verifiers import check_format
from r1data.verifiers import language_consistency as consistency
from r1data.verifiers.dispatch import VerifyOptions, verify_answer

RewardFn = Callable[..., list]
_REGISTRY: dict[str, RewardFn] = {}
_NOT_APPLICABLE = ("no_gold", "gold_unparseable", "bad_gold")


def register(name: str) -> Callable[[RewardFn], RewardFn]:
    """Decorator: make a reward function available by `name`."""
    def wrap(fn: RewardFn) -> RewardFn:
        _REGISTRY[name] = fn
        return fn
    return wrap


def names() -> list[str]:
    return sorted(_REGISTRY)


def get(name: str) -> RewardFn:
    """The reward registered as `name`; KeyError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no reward named {name!r}; known: {', '.join(names())}") from None


def _text(completion: Any) -> str:
    if isinstance(completion, list):  # a TRL conversation: the last message is the completion
        return str(completion[-1].get("content", "")) if completion else ""
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return "" if completion is None else str(completion)


def _column(columns: dict[str, Any], name: str, n: int, default: Any = None) -> list[Any]:
    values = columns.get(name)
    if values is None:
        return [default] * n
    if len(values) != n:
        raise ValueError(f"column {name!r} has {len(values)} values for {n} completions")
    return list(values)


@register("accuracy")
def accuracy(completions: list, gold: list | None = None, **columns: Any) -> list[float | None]:
    """1.0 for a verified correct answer, 0.0 otherwise (timeouts included), None without a
    usable gold. Routed like `r1data.verifiers.dispatch.verify_record` (math, code, multiple choice).

    >>> accuracy(["<think>\\n2+2\\n</think>\\n\\n\\\\boxed{4}", "\\\\boxed{5}", "x"], gold=["4", "4", None])
    [1.0, 0.0, None]
    """
    n = len(completions)
    golds = _column({"gold": gold}, "gold", n)
    domains = _column(columns, "domain", n)
    metadata = _column(columns, "metadata", n, {})
    choices = _column(columns, "choices", n)
    options = columns.get("verify_options") or VerifyOptions()

    def one(i: int) -> float | None:
        meta = dict(metadata[i] or {})
        if choices[i]:
            meta["choices"] = choices[i]
        verdict = verify_answer(_text(completions[i]), golds[i], domain=domains[i],
                                metadata=meta, options=options)
        return None if verdict.reason in _NOT_APPLICABLE else verdict.score

    if n <= 1:
        return [one(i) for i in range(n)]
    with ThreadPoolExecutor(min(n, 2 * (os.cpu_count() or 1))) as pool:
        return list(pool.map(one, range(n)))


@register("format")
def format_r1(completions: list, **_: Any) -> list[float]:
    """1.0 when the completion is `<think>\\n...\\n</think>` then a non-empty answer.

    >>> format_r1(["<think>\\nadd\\n</think>\\n\\n4", "4"])
    [1.0, 0.0]
    """
    return [check_format(_text(c), style="r1").score for c in completions]


@register("format_r1_zero")
def format_r1_zero(completions: list, **_: Any) -> list[float]:
    """1.0 for `<think>...</think> <answer>...</answer>` with nothing after `</answer>`."""
    return [check_format(_text(c), style="r1-zero").score for c in completions]


@register("language_consistency")
def language_consistency(completions: list, language: list | None = None,
                         **_: Any) -> list[float]:
    """Share of the chain of thought's words in the target language (the `language` column,
    "en" by default). A completion without a think block is scored as a whole."""
    targets = _column({"language": language}, "language", len(completions), "en")
    scores = []
    for completion, target in zip(completions, targets):
        reasoning, answer = split_completion(_text(completion))
        scores.append(consistency(reasoning if reasoning is not None else answer, target or "en"))
    return scores


def cosine_length_reward(max_len: int = 4096, correct: tuple[float, float] = (1.0, 0.5),
                         wrong: tuple[float, float] = (-1.0, -0.5)) -> RewardFn:
    """A length-scaled accuracy reward (the cosine schedule of Yeo et al., 2025): a correct
    answer earns `correct[0]` at length 0 falling to `correct[1]` at `max_len`; a wrong one
    `wrong[0]` at length 0 rising to `wrong[1]` (a short wrong answer is the worst outcome: it
    did not try). Lengths past `max_len` are clamped to it: the cosine is periodic, and unclamped
    it would reward very long outputs again. Every correct value is above every wrong one.

    Length is `len(completion_ids[i])` when the trainer passes token ids (TRL does), else the
    number of whitespace-separated words. None where accuracy does not apply.
    """
    if max_len < 1 or min(correct) <= max(wrong) or correct[0] < correct[1] or wrong[0] > wrong[1]:
        raise ValueError("cosine length reward: need max_len >= 1, correct values above wrong "
                         "ones, correct falling and wrong rising with length")

    def value(start: float, end: float, length: int) -> float:
        progress = min(length, max_len) / max_len  # the clamp
        return end + 0.5 * (start - end) * (1.0 + math.cos(math.pi * progress))

    def cosine_length(completions: list, **columns: Any) -> list[float | None]:
        ids = columns.get("completion_ids")
        accuracies = accuracy(completions, **columns)
        scores: list[float | None] = []
        for i, acc in enumerate(accuracies):
            length = len(ids[i]) if ids is not None else len(_text(completions[i]).split())
            if acc is None:
                scores.append(None)
            else:
                start, end = correct if acc >= 1.0 else wrong
                scores.append(value(start, end, length))
        return scores

    return cosine_length


register("cosine_length")(cosine_length_reward())


def overlong_reward(max_len: int | None = None, cache_len: int | None = None) -> RewardFn:
    """DAPO's soft overlong punishment (arXiv 2503.14476, eq. 13), for L tokens in an output:
    0 while L <= max_len - cache_len, then falling linearly to -1 at L = max_len, and -1 past
    it. Added to the accuracy reward, it teaches the policy to finish before the cap instead of
    being cut off.

    Lengths are `len(completion_ids[i])` (the trainer and TRL pass the tokens; a word count
    would not be comparable with a token cap). `max_len` None takes the rollout's cap from the
    `max_tokens` column the GRPO trainer passes (DAPO: L_max is the generation limit, 20,480);
    `cache_len` None is a fifth of max_len (DAPO's 4,096 of 20,480).

    >>> overlong_reward(100, 20)(["a", "b", "c"], completion_ids=[[1] * 80, [1] * 90, [1] * 101])
    [0.0, -0.5, -1.0]
    """
    if (max_len is not None and max_len < 1) or (cache_len is not None and cache_len < 0) or \
            (max_len is not None and cache_len is not None and cache_len > max_len):
        raise ValueError("overlong reward: need max_len >= 1 and 0 <= cache_len <= max_len")

    def overlong(completions: list, completion_ids: list | None = None,
                 max_tokens: list | None = None, **_: Any) -> list[float]:
        n = len(completions)
        if completion_ids is None:
            raise ValueError("overlong counts tokens: pass completion_ids (the GRPO trainer and TRL do)")
        caps = [max_len] * n if max_len is not None else _column({"max_tokens": max_tokens}, "max_tokens", n)
        scores = []
        for ids, cap in zip(completion_ids, caps):
            if cap is None:
                raise ValueError("overlong needs max_len: build it with overlong_reward(max_len, "
                                 "cache_len), or let the GRPO trainer pass its max_tokens")
            cache = cache_len if cache_len is not None else cap // 5
            free = cap - cache  # the expected maximum length: no penalty up to here
            length = len(ids)
            scores.append(0.0 if length <= free else -1.0 if length > cap else (free - length) / cache)
        return scores

    return overlong


register("overlong")(overlong_reward())


# -- weighted combinations ------------------------------------------------------------------

_TERM = re.compile(r"^\s*(?:([+-]?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[+-]?\.\d+)\s*\*\s*)?"
                   r"(rm:[^\s+*]+|[A-Za-z_][\w.]*(?::\w+)?)\s*$")
MODEL_PREFIX = "rm:"
# Rewards that judge against the gold answer: a prompt without one cannot be scored by them.
NEEDS_GOLD = frozenset({"accuracy", "cosine_length"})


def parse_terms(expression: str) -> list[tuple[float, str]]:
    """The syntax alone: "accuracy + 0.1 * language_consistency" -> [(1.0, 'accuracy'),
    (0.1, 'language_consistency')]. A name may also be `module:function`, or `rm:PATH@summary` /
    `rm:PATH@full` (a trained reward model, see `model_reward`); nothing is looked up.

    >>> parse_terms("accuracy + 0.5 * my_rewards:length + rm:runs/rm/final@summary")
    [(1.0, 'accuracy'), (0.5, 'my_rewards:length'), (1.0, 'rm:runs/rm/final@summary')]
    """
    terms = []
    for part in expression.split("+"):
        match = _TERM.match(part)
        if not match:
            raise ValueError(f"cannot read reward term {part.strip()!r} in {expression!r}: "
                             "expected 'name' or 'weight * name', joined by '+'")
        terms.append((float(match.group(1) or 1.0), match.group(2)))
    if not terms:
        raise ValueError("empty reward expression")
    return terms


def parse_weights(expression: str) -> list[tuple[float, str]]:
    """Like `parse_terms`, but every plain name must be a registered reward.

    >>> parse_weights("accuracy + 0.5 * format")
    [(1.0, 'accuracy'), (0.5, 'format')]
    """
    terms = parse_terms(expression)
    for _, name in terms:
        if ":" not in name:
            get(name)  # unknown names fail here, with the list of known ones
    return terms


def resolve(name: str, functions: dict[str, RewardFn] | None = None) -> RewardFn:
    """A reward by name: one of `functions`, `rm:PATH@view` (a reward model), `module:function`
    (a user function), else the registry."""
    if functions and name in functions:
        return functions[name]
    if name.startswith(MODEL_PREFIX):
        return model_reward(name[len(MODEL_PREFIX):])
    if ":" in name:
        module, attr = name.split(":", 1)
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise KeyError(f"reward {name!r}: {exc}") from None
    return get(name)


class CombinedReward:
    """A weighted sum of rewards, itself a reward function (`__call__`): the one place where
    reward terms are added up (the GRPO trainer, TRL and filters all use it).

    A term that returns None for an output ("cannot judge": no gold, a gold nobody can parse)
    makes that output's sum **not applicable** (None), rather than being read as 0 or having the
    other weights stretched over it: a total must mean the same thing for every output it is
    compared with. The GRPO trainer leaves such outputs out of their group's mean and std and
    gives them no advantage; routing (`RewardRouter`) keeps gold-needing terms away from
    prompts without gold, so this only happens when a gold turns out to be unusable.
    """

    def __init__(self, expression: str, functions: dict[str, RewardFn] | None = None):
        self.expression = expression
        self.terms = [(w, name, resolve(name, functions)) for w, name in parse_terms(expression)]
        self.__name__ = "+".join(name for _, name, _ in self.terms)  # TRL logs rewards by name

    @property
    def names(self) -> list[str]:
        return [name for _, name, _ in self.terms]

    def components(self, completions: list, **columns: Any
                   ) -> tuple[list[float | None], dict[str, list[float | None]]]:
        """(totals, {name: values}); a total is None when any of its terms is None."""
        parts: dict[str, list[float | None]] = {}
        for _, name, fn in self.terms:
            values = list(fn(completions, **columns))
            if len(values) != len(completions):
                raise ValueError(f"reward {name!r} returned {len(values)} values for "
                                 f"{len(completions)} completions")
            parts[name] = values
        totals: list[float | None] = []
        for i in range(len(completions)):
            values = [(w, parts[name][i]) for w, name, _ in self.terms]
            totals.append(None if any(v is None for _, v in values)
                          else sum(w * float(v) for w, v in values))
        return totals, parts

    def __call__(self, completions: list, **columns: Any) -> list[float | None]:
        return self.components(completions, **columns)[0]


def combine(expression: str, functions: dict[str, RewardFn] | None = None) -> CombinedReward:
    return CombinedReward(expression, functions)


# -- per-prompt routing (R1 section 2.3.4) ---------------------------------------------------

DEFAULT_ROUTE = "default"


class RewardRouter:
    """Reward expressions chosen per prompt, as R1's last RL stage mixes rule rewards for
    reasoning prompts with reward models for general ones.

    `routes` is one expression for every prompt, or a mapping from a route key to an expression:
    `{reasoning: "accuracy + format", general: "rm:A@summary + rm:B@full"}`. A record takes the
    first key that matches, in order: its `domain` (other than the default "general"), its
    `kind` ("reasoning"/"non_reasoning"), "general" for any non-reasoning record, then
    "default".
    """

    def __init__(self, routes: str | dict[str, str], functions: dict[str, RewardFn] | None = None):
        self.routes = {DEFAULT_ROUTE: routes} if isinstance(routes, str) else dict(routes)
        if not self.routes:
            raise ValueError("rewards: no route")
        self.combined = {key: CombinedReward(expr, functions) for key, expr in self.routes.items()}

    @staticmethod
    def parse(routes: str | dict[str, str]) -> None:
        """Check the syntax of every expression (no function is loaded)."""
        items = {DEFAULT_ROUTE: routes} if isinstance(routes, str) else routes
        if not isinstance(items, dict) or not items:
            raise ValueError("rewards must be an expression or a mapping of route -> expression")
        for key, expression in items.items():
            if not isinstance(expression, str):
                raise ValueError(f"rewards.{key}: expected an expression string")
            parse_terms(expression)

    @staticmethod
    def route_of(routes: dict[str, Any], record: Any) -> str | None:
        kind = getattr(record, "kind", "reasoning")
        domain = getattr(record, "domain", None)
        # "general" is also the record's default domain: as a key it means non-reasoning data.
        for key in (domain if domain != "general" else None, kind,
                    "general" if kind != "reasoning" else None, DEFAULT_ROUTE):
            if key is not None and key in routes:
                return key
        return None

    def key(self, record: Any) -> str | None:
        return self.route_of(self.routes, record)

    @staticmethod
    def rejection(routes: str | dict[str, str], record: Any) -> str | None:
        """Why `record` cannot be scored under `routes` (None when it can): no route applies,
        or it has no gold and its route needs one or has no model reward."""
        items = {DEFAULT_ROUTE: routes} if isinstance(routes, str) else routes
        key = RewardRouter.route_of(items, record)
        if key is None:
            return f"no_reward_route: no rewards for domain {record.domain!r} / kind {record.kind!r}"
        if record.gold in (None, "", []):
            names = [name for _, name in parse_terms(items[key])]
            if any(n in NEEDS_GOLD for n in names):
                return f"no_gold: rewards[{key}] need a gold answer"
            if not any(n.startswith(MODEL_PREFIX) for n in names):
                return f"no_gold: rewards[{key}] have no model reward to judge a gold-less prompt"
        return None

    def score(self, completions: list, records: list[Any], **columns: Any
              ) -> tuple[list[float | None], dict[str, list[float | None]]]:
        """Totals and per-term values for completions whose prompt is `records[i]`; each
        route's terms are called once on its own outputs (batched), None elsewhere."""
        n = len(completions)
        totals: list[float | None] = [None] * n
        parts: dict[str, list[float | None]] = {}
        by_route: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            key = self.key(record)
            if key is not None:
                by_route.setdefault(key, []).append(i)
        for key, rows in by_route.items():
            sub = {name: [values[i] for i in rows] for name, values in columns.items()}
            sub_totals, sub_parts = self.combined[key].components([completions[i] for i in rows], **sub)
            for j, i in enumerate(rows):
                totals[i] = sub_totals[j]
            for name, values in sub_parts.items():
                column = parts.setdefault(name, [None] * n)
                for j, i in enumerate(rows):
                    column[i] = values[j]
        return totals, parts


# -- reward models (R1 section 2.3.4: helpfulness on the summary, harmlessness on all) --------

_MODELS: dict[tuple[str, str], Any] = {}


def model_reward(spec: str, *, device: str = "auto", batch_size: int = 16) -> RewardFn:
    """A reward from a trained reward model (`r1data train rm`): `PATH@summary` scores only the
    answer after the think block (R1's helpfulness), `PATH@full` the whole response, reasoning
    included (R1's harmlessness). Scores are the model's scalar outputs, in batches of
    `batch_size`, on `device`; the model is loaded once per (path, device) and shared.
    """
    path, _, view = spec.rpartition("@")
    if not path:
        path, view = spec, "full"
    if view not in ("summary", "full"):
        raise ValueError(f"rm:{spec}: the view must be @summary or @full")

    def score(completions: list, prompt: list | None = None, **_: Any) -> list[float]:
        # Lazy: torch and transformers load only when a reward model is used.

        key = (path, device)
        if key not in _MODELS:
            _MODELS[key] = RewardModelScorer(path, device=device)
        texts = [_text(c) for c in completions]
        if view == "summary":
            texts = [split_completion(t)[1] for t in texts]
        prompts = _column({"prompt": prompt}, "prompt", len(texts), "")
        return _MODELS[key].score(prompts, texts, batch_size=batch_size)

    score.__name__ = f"rm:{spec}"
    return score
