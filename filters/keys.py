"""Compact per-sample keys: how the chain's corpus-wide decisions run without a copy of the corpus.

The parallel `filter` stage ends with `KeyWriter`: for each sample that passed the per-sample
filters it appends a fixed-size row to `<work>/keys/<rank>.keys` (its position in the task's
input, the hashes exact dedup compares, hashes of its prompt id and of its cap group), its
fuzzy-prompt band keys (`.bands`), its normalised prompt (`.prompts`, read back only for the
prompts that share a band) and, with the per-prompt cap, its trace's sketch (`.sketches`).
Datatrove's MinHash signature step follows it over the same samples in the same order, so that
MinHash's `.remove` files number samples as the key rows do.

`DedupDecisions` (one task) reads only these keys and the `.remove` files and decides in the
order the single-task stage used to: near-duplicate completions (MinHash), exact prompt and
completion dedup, fuzzy prompt dedup, the per-prompt cap. Exact dedup is a sort of the hash
columns; the fuzzy dedup and the cap run their filters' own logic (`PromptBuckets`,
`CorrectnessFilter.cap`) on the few samples that can be affected: prompts sharing a band key
with another prompt, prompts with several samples. It writes one byte per sample
(`<work>/decisions/<rank>.npy`: 0 kept, else an index into `DECISIONS`).

The `final` stage's tasks then read the input once more (the same rows per rank as the filter
stage), `Survivors` skips the samples the filter stage dropped and restores what a filter wrote
into a kept record's metadata (a decontamination suspect's flag), and `KeyedDecision` steps,
named after the filters whose decisions they apply, drop the rest with the same reasons, the
same datatrove counters and into the same dropped/ folders as the filters themselves would.

Memory of the decision task: the key columns (45 bytes a sample, plus 64 for the band keys of
each distinct prompt), a byte of decision a sample, and buckets only for band keys that two
prompts or more share; no Python object per sample or prompt.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep

from .base import (
    INDEX,
    INPUT_METADATA,
    NORMALIZED,
    RecordFilter,
    normalized,
    normalized_hashes,
    record_of,
    text_hash,
)
from .correctness_filter import CorrectnessFilter, sketch
from .exact_dedup import ExactDedupFilter
from .fuzzy_dedup import FuzzyPromptDedupFilter, PromptBuckets

DECISION = "__decision__"  # Document.metadata: its code in DECISIONS (final stage)
KEY = np.dtype([("index", "<u8"), ("pid", "<u8"), ("group", "<u8"), ("prompt", "<u8"),
                ("completion", "<u8"), ("has_completion", "u1"), ("text_at", "<u8")])
# decision codes: 0 is kept; the filter and reason of each other code
DECISIONS = (None, ("minhash_dedup", "near_duplicate"), ("exact_dedup", "duplicate_prompt"),
             ("exact_dedup", "duplicate_completion"),
             ("fuzzy_prompt_dedup", "near_duplicate_prompt"),
             ("correctness", "near_identical_sample"), ("correctness", "prompt_cap"))
CODE = {decision: code for code, decision in enumerate(DECISIONS) if decision}
_FLUSH = 4096  # rows buffered per file before they are appended


def _file(work: Path, rank: int, kind: str) -> Path:
    return Path(work) / "keys" / f"{rank:05d}.{kind}"


class KeyWriter(PipelineStep):
    """Writes each passing sample's keys (module docstring) and passes the document on."""

    type = "🔑 - KEYS"
    name = "keys"

    def __init__(self, work: str | Path, fuzzy: FuzzyPromptDedupFilter | None = None,
                 cap: bool = False):
        super().__init__()
        self.work, self.fuzzy, self.cap = str(work), fuzzy, cap

    def run(self, data, rank: int = 0, world_size: int = 1):
        kinds = ["keys", "prompts", "patches"] + ["bands"] * bool(self.fuzzy) + ["sketches"] * self.cap
        _file(self.work, rank, "keys").parent.mkdir(parents=True, exist_ok=True)
        files = {kind: open(_file(self.work, rank, kind), "wb") for kind in kinds}  # a rerun starts afresh
        buffers: dict[str, list] = {kind: [] for kind in kinds}
        text_at = 0
        try:
            for doc in data:
                record, norm = record_of(doc), normalized(doc, "prompt")
                hashes = normalized_hashes(doc)
                buffers["keys"].append((
                    doc.metadata[INDEX], text_hash(record.prompt_id or record.id),
                    text_hash(record.prompt_id or record.prompt), hashes["prompt"],
                    hashes["completion"] or 0, bool(record.completion), text_at))
                text = norm.encode("utf-8") + b"\n"  # normalised text holds no newline
                buffers["prompts"].append(text)
                text_at += len(text)
                if self.fuzzy:
                    buffers["bands"].append(self.fuzzy.band_keys(norm))
                if self.cap:
                    buffers["sketches"].append(sketch(record.reasoning or record.completion))
                if record.metadata != doc.metadata.get(INPUT_METADATA, record.metadata):
                    buffers["patches"].append(json.dumps(
                        {"index": doc.metadata[INDEX], "metadata": record.metadata},
                        ensure_ascii=False).encode("utf-8") + b"\n")
                doc.metadata.pop(NORMALIZED, None)  # the cache is done with: free it now
                if len(buffers["keys"]) >= _FLUSH:
                    _flush(files, buffers)
                yield doc
            _flush(files, buffers)
        finally:
            for fh in files.values():
                fh.close()


def _flush(files: dict, buffers: dict[str, list]) -> None:
    for kind, rows in buffers.items():
        if not rows:
            continue
        if kind in ("prompts", "patches"):
            files[kind].write(b"".join(rows))
        elif kind == "keys":
            np.array(rows, dtype=KEY).tofile(files[kind])
        else:
            np.asarray(rows, dtype=np.uint64).tofile(files[kind])
        rows.clear()


# -- the decisions ---------------------------------------------------------------------------


class DedupDecisions(PipelineStep):
    """The corpus-wide decisions from the keys of every rank, in one task (module docstring)."""

    type = "🔑 - KEYS"
    name = "dedup decisions"

    def __init__(self, work: str | Path, minhash_removed: str | Path | None = None,
                 exact: ExactDedupFilter | None = None, fuzzy: FuzzyPromptDedupFilter | None = None,
                 cap: CorrectnessFilter | None = None):
        super().__init__()
        self.work = str(work)
        self.minhash_removed = str(minhash_removed) if minhash_removed else None
        self.exact, self.fuzzy, self.cap = exact, fuzzy, cap

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        ranks = sorted(int(p.stem) for p in (Path(self.work) / "keys").glob("*.keys"))
        parts = [np.fromfile(_file(self.work, r, "keys"), dtype=KEY) for r in ranks]
        starts = np.cumsum([0] + [len(p) for p in parts])
        keys = np.concatenate(parts) if parts else np.zeros(0, dtype=KEY)
        del parts
        code = np.zeros(len(keys), dtype=np.uint8)
        if self.minhash_removed:
            for r, start in zip(ranks, starts):
                path = Path(self.minhash_removed) / f"{r:06d}.remove"
                if path.exists():
                    code[start + np.fromfile(path, dtype="<u4").astype(np.int64)] = CODE[DECISIONS[1]]
        if self.exact:
            exact_duplicates(keys, code, self.exact.prompt, self.exact.completion)
        if self.fuzzy:
            fuzzy_duplicates(keys, code, ranks, starts, self.fuzzy, self.work)
        if self.cap and self.cap.max_per_prompt:
            cap_duplicates(keys, code, ranks, starts, self.cap, self.work)
        out = Path(self.work) / "decisions"
        out.mkdir(parents=True, exist_ok=True)
        for i, r in enumerate(ranks):
            np.save(out / f"{r:05d}.npy", code[starts[i]:starts[i + 1]])
        for decision, count in zip(DECISIONS, np.bincount(code, minlength=len(DECISIONS))):
            self.stat_update("/".join(decision) if decision else "kept", value=int(count))
        return iter(())


def _first_of_runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, first): a stable sort of `values` and, per sorted position, the sorted position
    of the first element of its run of equal values."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    first = np.repeat(starts, np.diff(np.r_[starts, len(ordered)]))
    return order, first


def exact_duplicates(keys: np.ndarray, code: np.ndarray, prompt: bool, completion: bool) -> None:
    """`ExactDedupFilter` over the samples still kept (`code == 0`) in order, by sorting: a
    prompt hash belongs to the prompt id of its first sample; a completion hash to its first
    sample among those left after the prompt check."""
    if prompt:
        alive = np.flatnonzero(code == 0)
        order, first = _first_of_runs(keys["prompt"][alive])
        pids = keys["pid"][alive][order]
        code[alive[order][pids != pids[first]]] = CODE["exact_dedup", "duplicate_prompt"]
    if completion:
        alive = np.flatnonzero((code == 0) & (keys["has_completion"] == 1))
        order, first = _first_of_runs(keys["completion"][alive])
        later = np.arange(len(order)) != first
        code[alive[order][later]] = CODE["exact_dedup", "duplicate_completion"]


class _Texts:
    """Normalised prompts read back from the ranks' `.prompts` files, by sample number."""

    def __init__(self, work: str, ranks: list[int], starts: np.ndarray, keys: np.ndarray):
        self.files = [open(_file(work, r, "prompts"), "rb") for r in ranks]
        self.maps = [mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if f.seek(0, 2) else b""
                     for f in self.files]
        self.starts, self.keys = starts, keys

    def __getitem__(self, sample: int) -> str:
        part = int(np.searchsorted(self.starts, sample, side="right")) - 1
        at = int(self.keys["text_at"][sample])
        data = self.maps[part]
        return data[at:data.find(b"\n", at)].decode("utf-8")

    def close(self):
        for data, fh in zip(self.maps, self.files):
            if isinstance(data, mmap.mmap):
                data.close()
            fh.close()


def fuzzy_duplicates(keys, code, ranks, starts, fuzzy: FuzzyPromptDedupFilter, work: str) -> None:
    """`FuzzyPromptDedupFilter` over the samples still kept: the first sample of each prompt id
    decides for all of them, in order. A band key that no other prompt has can neither find an
    earlier prompt nor be found by a later one, so only the keys two prompts or more share go
    into the filter's buckets (`PromptBuckets`), and only their prompts are read back."""
    alive = np.flatnonzero(code == 0)
    pids, first, inverse = np.unique(keys["pid"][alive], return_index=True, return_inverse=True)
    order = np.argsort(first)  # prompt ids in the order of their first sample
    samples = alive[first[order]]
    bands = np.empty((len(samples), fuzzy.bands), dtype=np.uint64)
    for i, r in enumerate(ranks):
        mine = (samples >= starts[i]) & (samples < starts[i + 1])
        if mine.any():
            columns = np.memmap(_file(work, r, "bands"), dtype=np.uint64, mode="r").reshape(-1, fuzzy.bands)
            bands[mine] = columns[samples[mine] - starts[i]]
    shared = _repeated(bands)
    buckets, texts, dropped = PromptBuckets(fuzzy.max_bucket), _Texts(work, ranks, starts, keys), []
    try:
        for p in np.flatnonzero(shared.any(axis=1)):
            prompt_keys = bands[p][shared[p]].tolist()
            norm = texts[samples[p]]
            if any(fuzzy.same_prompt(norm, texts[samples[q]]) for q in buckets.candidates(prompt_keys)):
                dropped.append(p)
            else:
                buckets.add(prompt_keys, int(p))
    finally:
        texts.close()
    is_dropped = np.zeros(len(pids), dtype=bool)
    is_dropped[order[np.asarray(dropped, dtype=np.int64)]] = True
    code[alive[is_dropped[inverse]]] = CODE["fuzzy_prompt_dedup", "near_duplicate_prompt"]


def _repeated(values: np.ndarray) -> np.ndarray:
    """Whether each value occurs more than once in `values` (any shape): one sorted copy and the
    few repeated values searched in it, not `np.unique`'s inverse and counts, which would hold
    three times the corpus's band keys at once.

    >>> _repeated(np.array([[3, 1], [1, 2]], dtype=np.uint64)).tolist()
    [[False, True], [True, False]]
    """
    ordered = np.sort(values, axis=None)
    repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
    del ordered
    if not len(repeated):
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(repeated, values), len(repeated) - 1)
    return repeated[at] == values


def cap_duplicates(keys, code, ranks, starts, cap: CorrectnessFilter, work: str) -> None:
    """The per-prompt cap (`CorrectnessFilter.cap`) over the samples still kept, one cap group
    (prompt id, else prompt) at a time, each in order; a group of one sample is always kept."""
    alive = np.flatnonzero(code == 0)
    order, first = _first_of_runs(keys["group"][alive])
    sizes = np.bincount(first, minlength=len(order))[first]
    sketches = [np.memmap(_file(work, r, "sketches"), dtype=np.uint64, mode="r").reshape(-1, 32)
                if _file(work, r, "sketches").stat().st_size else None for r in ranks]
    kept: list[np.ndarray] = []
    for position in np.flatnonzero(sizes > 1):
        if first[position] == position:
            kept = []
        sample = int(alive[order[position]])
        part = int(np.searchsorted(starts, sample, side="right")) - 1
        reason = cap.cap(kept, np.array(sketches[part][sample - starts[part]]))
        if reason:
            code[sample] = CODE["correctness", reason]


# -- applying them ---------------------------------------------------------------------------


class Survivors(PipelineStep):
    """Passes on the documents the filter stage kept, each with its decision code, and puts
    back what the per-sample filters wrote into their metadata (see `KeyWriter`)."""

    type = "🔑 - KEYS"
    name = "survivors"

    def __init__(self, work: str | Path):
        super().__init__()
        self.work = str(work)

    def run(self, data, rank: int = 0, world_size: int = 1):
        keys_path = _file(self.work, rank, "keys")
        indices = np.fromfile(keys_path, dtype=KEY)["index"] if keys_path.exists() else np.zeros(0, np.uint64)
        codes = np.load(Path(self.work) / "decisions" / f"{rank:05d}.npy") if len(indices) else indices
        decision = np.full(int(indices.max()) + 1 if len(indices) else 0, 255, dtype=np.uint8)
        decision[indices.astype(np.int64)] = codes
        del indices, codes
        patches = {}
        if _file(self.work, rank, "patches").exists():
            with open(_file(self.work, rank, "patches"), encoding="utf-8") as fh:
                patches = {row["index"]: row["metadata"] for row in map(json.loads, fh)}
        for doc in data:
            index = doc.metadata[INDEX]
            if index >= len(decision) or decision[index] == 255:
                continue  # dropped in the filter stage, and written to dropped/ there
            doc.metadata[DECISION] = int(decision[index])
            if index in patches:
                record_of(doc).metadata = patches[index]
            yield doc


class KeyedDecision(RecordFilter):
    """Applies the decision of the filter `name` (made by `DedupDecisions`) to each document."""

    def __init__(self, name: str, exclusion_writer=None):
        self.name = name  # before the base class names the step's stats after it
        super().__init__(exclusion_writer)
        self.reasons = {code: decision[1] for code, decision in enumerate(DECISIONS)
                        if decision and decision[0] == name}

    def filter(self, doc):
        reason = self.reasons.get(doc.metadata[DECISION])
        return (False, reason) if reason else True
