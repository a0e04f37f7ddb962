"""Split prompts over independent processes or nodes: shard i of N takes the prompts whose id
hashes to i.

The split depends only on the prompt id (sha256, not Python's salted `hash()`), so every task of a
Slurm array or a Ray job computes the same partition without talking to the others, a prompt
lands in the same shard on every rerun, and a sample seeded by (seed, prompt id, index) is the
same sample whichever shard draws it. Shard i of N writes to `OUTPUT/shard-<i>-of-<N>/`, a folder
resumable on its own; every reader (`io.read_records`, the filter chain) takes OUTPUT, the folder
of shard folders, as one dataset.

>>> [shard_of("gsm8k/1", 2), shard_of("gsm8k/2", 2)] == [shard_of("gsm8k/1", 2), shard_of("gsm8k/2", 2)]
True
>>> shard_folder("out", 2, 1).as_posix(), shard_folder("out", 1, 0).as_posix()
('out/shard-00001-of-00002', 'out')
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from r1data.record import Record


def check(num_shards: int, shard_index: int) -> None:
    if num_shards < 1:
        raise ValueError("num_shards must be at least 1")
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index must be in 0..{num_shards - 1}, got {shard_index}")


@dataclass(kw_only=True)
class Sharded:
    """The sharding fields of every generating command's config (generate, eval and the three
    stages), declared and checked once. `num_shards`: how many shards the prompts are split into;
    `shard_index`: which one this run does. A subclass's `__post_init__` calls this one first."""

    num_shards: int = 1
    shard_index: int = 0

    def __post_init__(self) -> None:
        check(self.num_shards, self.shard_index)


def shard_of(key: str, num_shards: int) -> int:
    """The shard of the prompt with id `key`."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def prompt_key(record: Record) -> str:
    """The id a prompt is sharded (and its samples seeded) by."""
    return record.prompt_id or record.id


def select(records: Iterable[Record], num_shards: int, shard_index: int) -> Iterator[Record]:
    """The records of shard `shard_index` of `num_shards`, in their input order."""
    for record in records:
        if num_shards == 1 or shard_of(prompt_key(record), num_shards) == shard_index:
            yield record


def shard_folder(output: str | Path, num_shards: int, shard_index: int) -> Path:
    """Where shard `shard_index` writes (OUTPUT itself when there is one shard)."""
    output = Path(output)
    if num_shards == 1:
        return output
    return output / f"shard-{shard_index:05d}-of-{num_shards:05d}"


def take(records: Iterable[Record], limit: int | None, num_shards: int,
         shard_index: int) -> Iterator[Record]:
    """A run's own prompts: the first `limit` of the input, then shard `shard_index` of them (so
    N shards of a limited run cover exactly the prompts of the unsharded run)."""
    return select(islice(records, limit), num_shards, shard_index)
