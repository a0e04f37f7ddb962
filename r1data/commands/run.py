from pathlib import Path

import typer


def command(
    recipe: Path = typer.Argument(..., help="A YAML recipe: `stage:` plus its config, or `stages:` (a list)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate the recipe, check that its inputs can be read, and print it; run nothing."),
    plan: bool = typer.Option(False, "--plan", help="Rejection-sampling stages: print the budget from a pilot."),
) -> None:
    """Run a YAML recipe: one stage (`stage: mix`, ...) or several in order (`stages:`).

    Every key maps onto the stage's config; an unknown key is an error. --dry-run checks a
    recipe (e.g. an R1-sized one) without loading a model.
    """
    import dataclasses

    import yaml
    from rich.console import Console

    from r1data.config import ConfigError
    from r1data.io import InputError
    from r1data.pipelines import recipe as recipes
    from r1data.pipelines.summary import render

    steps = recipes.load(recipe)
    console = Console()
    if dry_run:
        for step in steps:
            console.print(f"[bold]stage {step.stage}[/bold]: valid")
            console.print(yaml.safe_dump(dataclasses.asdict(step.config), sort_keys=False, allow_unicode=True))
        missing = recipes.missing_inputs(steps)
        if missing:
            raise InputError(f"{recipe}: the keys are valid but {len(missing)} input(s) cannot be read: "
                             + "; ".join(missing))
        console.print(f"every input of {recipe} is readable")
        return
    if plan:
        planned = [s for s in steps if s.stage == "rejection_sampling"]
        if not planned:
            raise ConfigError("--plan needs a rejection_sampling stage in the recipe")
        for step in planned:
            console.print(step.module.plan_table(step.module.plan(step.config, progress=True)))
        return
    summaries = [step.run(progress=True) for step in steps]  # each stage shows its own progress
    console.print(render(summaries, title=f"r1data run {recipe.name}"))
