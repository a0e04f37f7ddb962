"""Atomic file writes: a crash leaves the old file or the new one, never half of one.

Imports nothing of the project, so that every layer (the manifest, the readers and writers, the
stages, the trainers) can use it without an import circle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, flush it to disk, then rename it over."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: str | Path, data: Any) -> None:
    """Write a JSON report atomically, creating its folder; values JSON lacks are written as
    their `str`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, json.dumps(data, ensure_ascii=False, indent=2, default=str).encode())
