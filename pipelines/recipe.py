"""`r1data run RECIPE.yaml`: a YAML recipe names its stage and maps one-to-one onto its config.

    stage: mix               # picks the config dataclass (and the stage's `run`)
    inputs: [out/rs, out/nr]
    reasoning_size: 600000   # every other key is a field of that config; unknown keys are errors

A recipe may instead hold `stages:`, a list of such mappings run in order (a whole R1 data run in
one file). A path may start with `r1data://` to name a file shipped inside the package, e.g.
`r1data://data/prompts/non_reasoning.jsonl`, so the bundled recipes work from any directory.

`dry_run` validates without running anything (configs built, every key checked), which is how the
R1-sized recipes are checked on a laptop. `plan` runs rejection sampling's pilot budget estimate
instead of the stage.
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from r1data.config import ConfigError, from_dict, load_yaml
from r1data.io import InputError, detect_format
from r1data.ownership import owned_output
from r1data.pipelines.summary import StageSummary

PACKAGE_PREFIX = "r1data://"

# stage name -> (module under r1data.pipelines, config class); modules load only when used
STAGES: dict[str, tuple[str, str]] = {
    "cold_start": ("cold_start", "ColdStartConfig"),
    "rejection_sampling": ("rejection_sampling", "RejectionSamplingConfig"),
    "non_reasoning": ("non_reasoning", "NonReasoningConfig"),
    "mix": ("mix", "MixConfig"),
    "publish": ("publish", "PublishConfig"),
}


@dataclass
class RecipeStage:
    """One stage of a recipe: its name, its built config and the module that runs it."""

    stage: str
    config: Any
    module: Any

    def run(self, progress=None) -> StageSummary:
        """Run the stage into its output folder, claimed first (see `r1data.ownership`): a folder
        that another stage or other settings wrote is refused rather than mixed into."""
        output = getattr(self.config, "output", None)
        if not output:
            return self.module.run(self.config, progress=progress)
        values = dataclasses.asdict(self.config)
        inputs = [p for key in ("input", "inputs", "refine_input") for p in _as_list(values.get(key))]
        with owned_output(output, self.stage.replace("_", "-"), values, inputs):
            return self.module.run(self.config, progress=progress)


def _as_list(value: Any) -> list[Any]:
    if not value:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def package_path(value: str) -> str:
    """`r1data://data/x.jsonl` -> the file's path inside the installed package; others as is."""
    if not value.startswith(PACKAGE_PREFIX):
        return value
    return str(Path(str(resources.files("r1data"))) / value[len(PACKAGE_PREFIX):])


def _resolve_paths(value: Any) -> Any:
    if isinstance(value, str):
        return package_path(value)
    if isinstance(value, list):
        return [_resolve_paths(v) for v in value]
    if isinstance(value, dict):
        return {k: _resolve_paths(v) for k, v in value.items()}
    return value


def build_step(data: dict[str, Any], where: str = "", source: str | None = None) -> RecipeStage:
    """A RecipeStage from one stage mapping; ConfigError names an unknown stage or key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'recipe'}: a stage must be a mapping")
    data = dict(data)
    stage = data.pop("stage", None)
    if stage is None:
        raise ConfigError(f"{where or 'recipe'}: missing the `stage:` key "
                          f"(one of {', '.join(STAGES)})")
    if stage not in STAGES:
        raise ConfigError(f"{where or 'recipe'}: unknown stage {stage!r} (known: {', '.join(STAGES)})")
    module_name, class_name = STAGES[stage]
    module = importlib.import_module(f"r1data.pipelines.{module_name}")
    config = from_dict(getattr(module, class_name), _resolve_paths(data), path=where, source=source)
    return RecipeStage(stage, config, module)


def load(recipe: str | Path | dict[str, Any]) -> list[RecipeStage]:
    """The steps of a recipe file (or an already loaded mapping), validated."""
    data = load_yaml(recipe) if not isinstance(recipe, dict) else recipe
    source = getattr(data, "source", None)  # the file, named in every ConfigError
    if "stages" in data:
        if set(data) != {"stages"}:
            raise ConfigError("a recipe with `stages:` holds nothing else at the top level; "
                              f"found {', '.join(sorted(set(data) - {'stages'}))}")
        if not isinstance(data["stages"], list) or not data["stages"]:
            raise ConfigError("`stages:` must be a non-empty list of stage mappings")
        return [build_step(item, f"stages[{i}]", source) for i, item in enumerate(data["stages"])]
    return [build_step(data, source=source)]


def missing_inputs(steps: list[RecipeStage]) -> list[str]:
    """The inputs of a recipe that cannot be read, each as `stage: path (why)`. An input that an
    earlier stage of the recipe writes (mix reading cold_start's output) counts as present."""
    produced: set[str] = set()
    problems = []
    for step in steps:
        values = dataclasses.asdict(step.config)
        for path in (p for key in ("input", "inputs", "refine_input") for p in _as_list(values.get(key))):
            if str(Path(path).resolve()) in produced:
                continue
            try:
                detect_format(path)
            except (InputError, OSError) as exc:
                problems.append(f"{step.stage}: {path} ({exc})")
        if getattr(step.config, "output", None):
            produced.add(str(Path(step.config.output).resolve()))
    return problems


def run(recipe: str | Path | dict[str, Any], *, progress=None) -> list[StageSummary]:
    """Run every stage of a recipe in order; returns their summaries."""
    return [step.run(progress) for step in load(recipe)]
