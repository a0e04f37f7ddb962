"""The benchmark files shipped for decontamination: documented, complete, and no Alpaca."""

import hashlib
from importlib import resources

from r1data import benchmark_sets

FOLDER = resources.files("r1data") / "data" / "benchmarks"


def test_every_shipped_file_is_documented_with_its_checksum():
    provenance = (FOLDER / "PROVENANCE.md").read_text(encoding="utf-8")
    files = sorted(p.name for p in FOLDER.iterdir() if p.name.endswith(".jsonl"))
    assert files
    for name in files:
        digest = hashlib.sha256((FOLDER / name).read_bytes()).hexdigest()[:16]
        assert f"`{name}`" in provenance and f"{name}" in provenance.split("## Checksums")[1]
        assert digest in provenance, f"{name} changed without its PROVENANCE entry"


def test_alpaca_is_not_shipped():
    assert not [p.name for p in FOLDER.iterdir() if "alpaca" in p.name.lower()]


def test_every_benchmark_loads_for_decontamination():
    for name in benchmark_sets.BENCHMARKS:
        items = benchmark_sets.load(name)
        assert items and all(item["prompt"].strip() for item in items)
