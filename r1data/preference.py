"""Preference pairs (a chosen and a rejected answer to one prompt), for reward-model training.

`read_pairs(path)` reads the four layouts of TRL's preference datasets, from any input
`r1data.io` reads (JSONL, Parquet, `datasets` folders, Hub datasets):

    explicit prompt, text            {"prompt": "...", "chosen": "...", "rejected": "..."}
    explicit prompt, conversational  {"prompt": [turns], "chosen": [turns], "rejected": [turns]}
    implicit prompt, conversational  {"chosen": [user, assistant], "rejected": [user, assistant]}
                                     (the shared leading turns are the prompt)
    implicit prompt, text            {"chosen": "...", "rejected": "..."} (Anthropic HH: the
                                     prompt is inside both texts; kept whole, prompt empty)

Other columns (`score_chosen`, `score_rejected`, `source`...) are kept in `metadata`. A row that
is not a pair goes to the reject log with its reason, as records do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1data.io import RejectLog, iter_rows
from r1data.record import content_id
from r1data.schemas import SchemaError

Messages = list[dict[str, str]]


@dataclass(slots=True)
class PreferencePair:
    """One comparison. `prompt`: the turns before the answers (may be empty for implicit text
    pairs); `chosen` / `rejected`: the turns of each answer (usually one assistant turn)."""

    id: str
    prompt: Messages
    chosen: Messages
    rejected: Messages
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_text(self) -> str:
        """The last user turn of the prompt ("" when the prompt is implicit in the answers)."""
        return next((m["content"] for m in reversed(self.prompt) if m["role"] == "user"), "")

    @property
    def chosen_messages(self) -> Messages:
        """The whole conversation ending with the chosen answer (what a reward model scores)."""
        return [*self.prompt, *self.chosen]

    @property
    def rejected_messages(self) -> Messages:
        return [*self.prompt, *self.rejected]


def _turns(value: Any, column: str, role: str) -> Messages:
    """A column as turns: a text is one `role` turn, a chat list is checked and kept."""
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, list) and all(isinstance(t, dict) and isinstance(t.get("role"), str)
                                       and isinstance(t.get("content"), str) for t in value):
        return [{"role": t["role"], "content": t["content"]} for t in value]
    raise SchemaError(f"invalid_pair: column {column!r} must be text or a list of "
                      f"{{role, content}} turns")


def pair_of_row(row: dict[str, Any], columns: dict[str, str] | None = None) -> PreferencePair:
    """The pair of one raw row. `columns` maps prompt/chosen/rejected/id to other column names."""
    columns = {"prompt": "prompt", "chosen": "chosen", "rejected": "rejected", "id": "id",
               **(columns or {})}
    visible = sorted(k for k in row if not k.startswith("__"))
    if columns["chosen"] not in row or columns["rejected"] not in row:
        raise SchemaError(f"not_a_pair: no {columns['chosen']!r}/{columns['rejected']!r} "
                          f"columns in {visible}")
    chosen_raw, rejected_raw = row[columns["chosen"]], row[columns["rejected"]]
    prompt_raw = row.get(columns["prompt"])
    if prompt_raw is not None:
        prompt = _turns(prompt_raw, columns["prompt"], "user")
        chosen = _turns(chosen_raw, columns["chosen"], "assistant")
        rejected = _turns(rejected_raw, columns["rejected"], "assistant")
    elif isinstance(chosen_raw, list) and isinstance(rejected_raw, list):
        full_chosen = _turns(chosen_raw, columns["chosen"], "assistant")
        full_rejected = _turns(rejected_raw, columns["rejected"], "assistant")
        shared = 0  # the leading turns both conversations share are the prompt
        while (shared < min(len(full_chosen), len(full_rejected)) - 1
               and full_chosen[shared] == full_rejected[shared]):
            shared += 1
        prompt, chosen, rejected = (full_chosen[:shared], full_chosen[shared:],
                                    full_rejected[shared:])
    else:
        prompt = []
        chosen = _turns(chosen_raw, columns["chosen"], "assistant")
        rejected = _turns(rejected_raw, columns["rejected"], "assistant")
    if not chosen or not rejected:
        raise SchemaError("invalid_pair: an empty chosen or rejected answer")
    given = row.get(columns["id"])
    pid = str(given) if given not in (None, "") else content_id(prompt, chosen, rejected)
    used = {columns[k] for k in ("prompt", "chosen", "rejected", "id")}
    metadata = {k: v for k, v in row.items() if k not in used and not k.startswith("__")}
    return PreferencePair(id=pid, prompt=prompt, chosen=chosen, rejected=rejected, metadata=metadata)


def read_pairs(path: str | Path, rejects=None, columns: dict[str, str] | None = None
               ) -> Iterator[PreferencePair]:
    """Stream the preference pairs of a file, folder or Hub dataset; rows that are not pairs go
    to `rejects` (an `io.RejectLog`) with their reason. `columns` names the pair's columns
    (prompt, chosen, rejected, id; a command's `--columns`); by default they are detected."""
    rejects = rejects if rejects is not None else RejectLog(None)
    columns = {k: v for k, v in (columns or {}).items() if k in ("prompt", "chosen", "rejected", "id")}
    for row in iter_rows(path, rejects):
        try:
            yield pair_of_row(row, columns)
        except SchemaError as exc:
            raw = {k: v for k, v in row.items() if not k.startswith("__")}
            rejects.add(row.get("__file__", str(path)), row.get("__line__"), str(exc), raw)
