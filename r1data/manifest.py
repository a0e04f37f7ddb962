"""Output folders know their owner: `OUT/manifest.json` names the command that writes the folder,
a hash of the settings that decide its content, its inputs, and which files in it are records.

    {"command": "generate", "config_hash": "3f2a...", "settings": {...}, "inputs": ["p.jsonl"],
     "records": ["part-*"], "r1data": "0.1.0", "created": "2026-..."}

`claim` is called before a command writes: a folder that another command wrote, or the same
command with other settings, is refused in one line that names the owner and the two ways out
(a new --output, or --overwrite to replace it); the same command and settings resume. Settings
that only change how fast or how much is done (the limit, the server URL, batch sizes, workers)
are left out of the hash, so a resumed run may change them. A folder without a manifest (older
versions, data made elsewhere) is adopted as it is.

`record_globs` tells readers (`io.shard_files`) which files of a folder are its records, so side
files (pass_rates.jsonl, errors/) are never read as data.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from r1data import __version__
from r1data.atomic import write_json

MANIFEST = "manifest.json"
KEPT = ["kept/*"]
# The commands that write an OUTPUT folder (each gets a manifest and --overwrite, see
# r1data/commands/output_owner.py), and where each keeps its records relative to that folder. A
# recipe stage claims its folder under its command's name (`cold_start` -> `cold-start`).
RECORDS: dict[str, list[str]] = {
    "generate": ["part-*"], "verify": ["part-*"], "filter": KEPT, "decontaminate": KEPT,
    "cold-start": KEPT, "rejection-sampling": KEPT, "non-reasoning": KEPT,
    "mix": ["train/*", "test/*"], "publish": ["data/*"], "eval": ["generations/*/part-*"],
    "select": KEPT,
}
# Settings that change how a run goes, not what it writes: a resumed run may change them.
UNHASHED = {
    "output", "overwrite", "limit", "progress", "base_url", "concurrency", "batch_size", "device",
    "dtype", "workers", "tasks", "executor", "max_error_rate", "plan", "pilot_prompts", "target",
    "collect", "wait", "verbose", "judge_base_url", "num_shards", "shard_index", "shard_size",
    "verify_timeout", "pass_k", "api_key_env", "timeout", "max_retries", "backoff",
}


class OutputOwned(ValueError):
    """The output folder belongs to another command, or to other settings (exit code 2)."""


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def settings_of(values: dict[str, Any]) -> dict[str, Any]:
    """The settings that decide a folder's content (see UNHASHED, at any depth: a stage's
    `teacher.options.base_url` is left out too), as plain JSON data."""
    return {k: settings_of(v) if isinstance(v, dict) else _plain(v)
            for k, v in sorted(values.items()) if k not in UNHASHED}


def config_hash(settings: dict[str, Any]) -> str:
    """>>> config_hash({"a": 1}) == config_hash({"a": 1}) != config_hash({"a": 2})
    True"""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def read(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "command" in data else None


def record_globs(folder: str | Path) -> list[str] | None:
    """The record file patterns of a folder that r1data wrote, or None (no manifest)."""
    data = read(folder)
    if not (data and data.get("records")):
        return None
    globs = list(data["records"])
    # A sharded run (r1data.sharding) writes each shard's records into OUT/shard-<i>-of-<N>/.
    return globs + [f"shard-*-of-*/{g}" for g in globs]


def _refusal(folder: Path, owner: dict[str, Any], command: str, settings: dict[str, Any]) -> str:
    choices = "use a new --output, or --overwrite to replace it"
    if owner["command"] != command:
        return f"{folder} belongs to `r1data {owner['command']}`, not `r1data {command}`: {choices}"
    before = owner.get("settings", {})
    changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
    return (f"{folder} holds `r1data {command}` output made with other settings "
            f"({', '.join(changed) or 'config hash'}): {choices}, or the same settings to resume")


def claim(folder: str | Path, command: str, values: dict[str, Any], inputs: list[str] | None = None,
          *, overwrite: bool = False) -> bool:
    """Make `folder` the output of `command` with these settings (see the module docstring);
    returns True when the folder did not exist before (so a failed run may remove it)."""
    folder = Path(folder)
    settings = settings_of(values)
    digest = config_hash(settings)
    owner = read(folder)
    if owner and overwrite:
        shutil.rmtree(folder)
        owner = None
    elif overwrite and folder.is_dir() and any(folder.iterdir()):
        raise OutputOwned(f"--overwrite replaces only a folder r1data wrote, and {folder} has no "
                          f"{MANIFEST}: remove it yourself, or use a new --output")
    if owner and (owner["command"] != command or owner.get("config_hash") != digest):
        raise OutputOwned(_refusal(folder, owner, command, settings))
    created = not folder.exists()
    if owner is None:
        folder.mkdir(parents=True, exist_ok=True)
        write_json(folder / MANIFEST, {
            "command": command, "config_hash": digest, "settings": settings,
            "inputs": [str(p) for p in inputs or []], "records": RECORDS.get(command, ["*"]),
            "r1data": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
    return created


def release(folder: str | Path, *, everything: bool = False) -> None:
    """Remove a folder that a failed run created: always when `everything` (it failed before any
    work worth resuming: bad input, no server), else only when it holds no file but its manifest.
    A failure leaves nothing behind to be mistaken for output."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    if everything or not any(p.is_file() and p.name != MANIFEST for p in folder.rglob("*")):
        shutil.rmtree(folder)
