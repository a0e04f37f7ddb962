"""Near-duplicate dedup of completions with datatrove's MinHash steps.

Signatures (at the end of the chain's filter stage, one task per shard, over the documents that
pass its filters) -> buckets (one task per bucket) -> clusters (one task), which writes per
shard the numbers of the documents to drop (`.remove`). Datatrove's fourth step, which would
read the records again to drop them, is replaced by the chain's keyed decisions (`keys`): the
`.remove` files are one input of `DedupDecisions`, and the final stage drops those documents as
`minhash_dedup` with the reason `near_duplicate`.

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
    MinhashDedupSignature,
)

from . import minhash

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


def minhash_stages(work: Path, config: MinhashConfig) -> tuple[PipelineStep, list[tuple[str, list, int]], Path]:
    """The signature step, which ends the chain's filter stage (after its key writer, which passes
    each document on, so the signatures number the documents as the key rows do), the (stage
    name, pipeline, tasks) of the buckets and clusters stages, and the folder of the `.remove`
    files (per rank, the numbers of the documents to drop) that the decisions read."""
    sigs, buckets, removed = work / "signatures", work / "buckets", work / "remove"
    return MinhashRecordSignature(str(sigs), config=config), [
        ("minhash_buckets", [MinhashDedupBuckets(str(sigs), str(buckets), config=config)],
         config.num_buckets),
        ("minhash_clusters", [MinhashDedupCluster(str(buckets), str(removed), config=config)], 1),
    ], removed
