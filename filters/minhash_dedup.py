"""Near-duplicate dedup of completions with datatrove's four MinHash steps.

Signatures (at the end of the chain's filter stage, one task per shard, over the documents that
stage writes) -> buckets (one task per bucket) -> clusters (one task) -> filter (one task per
shard, reading the shard the filter stage wrote, in the same order: the `.remove` files name
documents by their index in that shard). The filter step's dropped
documents go to an exclusion writer as records with the reason `near_duplicate`.

Defaults are datatrove's (5-word shingles, 14 buckets of 8 hashes: pairs with Jaccard similarity
0.8 are caught with probability 1 - (1 - 0.8^8)^14 = 0.92, 0.9 with 0.9996); long chains of
thought share many 5-grams only when one is a copy of the other.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)

from . import minhash
from .adapters import RecordReader, RecordWriter

MINHASH_NAME = "minhash_dedup"


class MinhashRecordSignature(MinhashDedupSignature):
    """datatrove's MinHash signature step with the filters' shared shingles (`filters/minhash.py`).

    datatrove's own step costs ~20 ms per 4,000-word trace, most of it Python: `simplify_text`
    (several regex passes) and one xxhash call on a joined string per 5-gram; its default word
    tokenizer for English (spaCy) also takes ~7 s to load per task. Here each distinct word is
    hashed once (with datatrove's configured hash function) and the 5-gram hashes are combined in
    numpy: about 10x cheaper on 4,000-word traces, with the same Jaccard estimates (checked in
    tests/filters/test_dedup_filters.py). Buckets, clusters and the filter are datatrove's.
    """

    def get_shingles(self, text: str) -> np.ndarray:
        return minhash.shingles(text, self.config.n_grams, self._hash_func).reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        a, b = self.parameters
        values = minhash.signature(shingles.ravel(), a | np.uint64(1), b)
        if self.config.hash_config.precision == 32:
            values = values >> np.uint64(32)  # the well-mixed high half
        return [x.tolist() for x in np.split(values.astype(self.config.hash_config.np_dtype),
                                             self.config.num_buckets)]


class MinhashRecordFilter(MinhashDedupFilter):
    """datatrove's MinHash filter step, named for the chain's stats."""

    name = MINHASH_NAME


def minhash_config(settings: dict) -> MinhashConfig:
    """A datatrove MinhashConfig from the chain config's `minhash` mapping (n_grams,
    num_buckets, hashes_per_bucket, seed); unknown keys raise ValueError."""
    allowed = {"n_grams", "num_buckets", "hashes_per_bucket", "seed"}
    unknown = set(settings) - allowed
    if unknown:
        raise ValueError(f"minhash: unknown key(s) {', '.join(sorted(unknown))} "
                         f"(known: {', '.join(sorted(allowed))})")
    config = MinhashConfig(**settings)
    if min(config.n_grams, config.num_buckets, config.hashes_per_bucket) < 1:
        raise ValueError("minhash: n_grams, num_buckets and hashes_per_bucket must be positive")
    return config


def minhash_stages(records: Path, work: Path, output: Path, config: MinhashConfig,
                   exclusion_writer, fmt: str, intermediate: bool,
                   tasks: int, text_hashes: bool = False) -> tuple[PipelineStep, list[tuple[str, list, int]]]:
    """The signature step, which ends the stage that writes the per-rank record files in
    `records` (after its writer, which passes each document on once written, so the signature
    step numbers the documents in the order they are in the file: a second pass over the
    corpus would cost more than the signatures themselves), and (stage name, pipeline, tasks)
    of the three later MinHash stages; kept records go to `output` as <rank>.jsonl (or .parquet;
    `intermediate`: for a later stage)."""
    sigs, buckets, clusters = work / "signatures", work / "buckets", work / "remove"
    return MinhashRecordSignature(str(sigs), config=config), [
        ("minhash_buckets", [MinhashDedupBuckets(str(sigs), str(buckets), config=config)],
         config.num_buckets),
        ("minhash_clusters", [MinhashDedupCluster(str(buckets), str(clusters), config=config)], 1),
        ("minhash", [RecordReader(records, per_rank_files=True),
                     MinhashRecordFilter(str(clusters), exclusion_writer=exclusion_writer),
                     RecordWriter(output, fmt, intermediate=intermediate,
                                  text_hashes=text_hashes)], tasks),
    ]
