"""Near-duplicate dedup of completions with datatrove's four MinHash steps.

Signatures (one task per shard) -> buckets (one task per bucket) -> clusters (one task) ->
filter (one task per shard, reading the shard its signature task read, in the same order: the
`.remove` files name documents by their index in that shard). The filter step's dropped
documents go to an exclusion writer as records with the reason `near_duplicate`.

Defaults are datatrove's (5-word shingles, 14 buckets of 8 hashes: pairs with Jaccard similarity
0.8 are caught with probability 1 - (1 - 0.8^8)^14 = 0.92, 0.9 with 0.9996); long chains of
thought share many 5-grams only when one is a copy of the other.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from datatrove.pipeline.dedup.minhash import (
    MinhashConfig,
    MinhashDedupBuckets,
    MinhashDedupCluster,
    MinhashDedupFilter,
    MinhashDedupSignature,
)

from .adapters import RecordReader, RecordWriter
from .base import words

MINHASH_NAME = "minhash_dedup"
_DIGITS = re.compile(r"\d+")


class MinhashRecordSignature(MinhashDedupSignature):
    """datatrove's MinHash signature step with a vectorised shingle hash and permutation.

    datatrove's own step costs ~20 ms per 4,000-word trace, most of it Python: `simplify_text`
    (several regex passes), one xxhash call on a joined string per 5-gram, and a `% (2^61 - 1)`
    over a (shingles x 112) uint64 array. Here:
    - words: `base.words` on the lower-cased text (same word boundaries as datatrove's simplified
      text for MinHash's purpose; CJK split into characters, which spaCy's English tokenizer
      leaves as one token), digits mapped to 0 as datatrove's `norm_numbers` does;
    - each distinct word is hashed once (xxhash, as datatrove), and a 5-gram's hash is a fixed
      polynomial of its words' hashes over uint64 (wrapping), computed for all 5-grams at once;
    - the permutations are multiply-add over uint64 (wrapping), without the modulo: the
      minimum is decided by the high bits, which multiply-shift hashing mixes well, so the
      collision probability of two signatures still estimates the Jaccard similarity.
    Buckets, clusters and the filter are datatrove's, unchanged.
    """

    _MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                     0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
                     0x2545F4914F6CDD1D, 0x94D049BB133111EB], dtype=np.uint64)

    def get_shingles(self, text: str) -> np.ndarray:
        tokens = words(_DIGITS.sub("0", text.lower()))
        n = self.config.n_grams
        if len(tokens) < n:
            return np.zeros((0, 1), dtype=np.uint64)
        ids: dict[str, int] = {}
        index = np.fromiter((ids.setdefault(t, len(ids)) for t in tokens), dtype=np.int64, count=len(tokens))
        vocab = np.fromiter((self._hash_func(t) for t in ids), dtype=np.uint64, count=len(ids))
        hashes = vocab[index]
        mix = self._MIX[np.arange(n) % len(self._MIX)]
        with np.errstate(over="ignore"):  # uint64 arithmetic wraps by design
            shingles = hashes[: len(hashes) - n + 1] * mix[0]
            for j in range(1, n):
                shingles += hashes[j: len(hashes) - n + 1 + j] * mix[j]
        return shingles.reshape((-1, 1))

    def get_signature(self, shingles: np.ndarray) -> list[list[int]]:
        a, b = self.parameters
        with np.errstate(over="ignore"):
            phv = shingles * (a | np.uint64(1)) + b
        if self.config.hash_config.precision == 32:
            phv = phv >> np.uint64(32)  # the well-mixed high half
        minimum = phv.min(axis=0) if len(phv) else np.full(a.shape[1], np.iinfo(np.uint64).max, np.uint64)
        return [x.tolist() for x in np.split(minimum.astype(self.config.hash_config.np_dtype),
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
                   tasks: int) -> list[tuple[str, list, int]]:
    """(stage name, pipeline, tasks) of the four MinHash stages over the per-rank record files
    in `records`; kept records go to `output` as <rank>.jsonl (or .parquet; `intermediate`:
    for a later stage)."""
    sigs, buckets, clusters = work / "signatures", work / "buckets", work / "remove"
    return [
        ("minhash_signatures", [RecordReader(records, per_rank_files=True),
                                MinhashRecordSignature(str(sigs), config=config)], tasks),
        ("minhash_buckets", [MinhashDedupBuckets(str(sigs), str(buckets), config=config)],
         config.num_buckets),
        ("minhash_clusters", [MinhashDedupCluster(str(buckets), str(clusters), config=config)], 1),
        ("minhash", [RecordReader(records, per_rank_files=True),
                     MinhashRecordFilter(str(clusters), exclusion_writer=exclusion_writer),
                     RecordWriter(output, fmt, intermediate=intermediate)], tasks),
    ]
