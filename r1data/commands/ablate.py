from pathlib import Path

import typer


def command(
    spec: Path = typer.Argument(..., help="Ablation YAML: a base recipe and named variants "
                                "(AblationConfig, see r1data/pipelines/ablate.py)."),
    output: Path = typer.Option(None, "--output", "-o", help="Override the spec's output folder."),
    seeds: str = typer.Option(None, help="Override the spec's seeds: a comma list, e.g. 0,1,2."),
    executor: str = typer.Option(None, help="local, or slurm (one job per variant x seed)."),
    only: list[str] = typer.Option([], help="Run only VARIANT:SEED (repeatable; a Slurm job's own)."),
    collect: bool = typer.Option(False, "--collect", help="slurm: wait for the submitted jobs, "
                                 "then print and write the table."),
) -> None:
    """Distil the same student from each variant of a corpus recipe, on several seeds, and
    compare held-out accuracy: a table of accuracy ± SE per variant and the paired difference to
    the base, OUTPUT/ablation.json and OUTPUT/ablation.png. Rerun to resume.
    The task is the demo's: arithmetic word problems and their held-out set.
    """
    from rich.console import Console

    from r1data import config as cfg, demo
    from r1data.config import ConfigError
    from r1data.pipelines import ablate

    data = dict(cfg.load_yaml(spec))
    overrides = {"output": str(output) if output else None, "executor": executor,
                 "seeds": [int(s) for s in seeds.split(",")] if seeds else None}
    data.update({k: v for k, v in overrides.items() if v is not None})
    config = cfg.from_dict(ablate.AblationConfig, data, source=spec)
    pairs = []
    for item in only:
        variant, _, seed = item.rpartition(":")
        if variant not in config.recipes() or not seed.isdigit() or int(seed) not in config.seeds:
            raise ConfigError(f"--only {item}: not VARIANT:SEED of this spec "
                              f"({', '.join(config.recipes())}; seeds {config.seeds})")
        pairs.append((variant, int(seed)))
    task = ablate.Task(
        train=lambda seed: demo.arithmetic_problems(
            config.prompts, seed * 10 + 3, {p["problem"] for p in demo.heldout_problems(config.heldout_questions)}),
        heldout=demo.heldout_problems(config.heldout_questions),
        instruction=demo.INSTRUCTION, stop=demo.ONE_PARAGRAPH)
    console = Console(stderr=True)
    if collect:
        report = ablate.collect(config)
    elif config.executor == "slurm" and not pairs:
        jobs = ablate.submit(config, spec)
        console.print(f"submitted {len(jobs)} job(s) ({', '.join(j.job_id for j in jobs) or 'none pending'});"
                      f" then: r1data ablate {spec} --collect", highlight=False)
        return
    else:
        def on_run(variant, seed, index, total):
            console.rule(f"[bold]run {index + 1}/{total}: {variant}, seed {seed}")
        report = ablate.run(config, task, pairs or None, on_run=on_run)
    _print_table(report)
    console.print(f"-> {config.output}/ablation.json, {report.get('plot') or 'no plot'}", highlight=False)


def _print_table(report) -> None:
    from rich.console import Console
    from rich.table import Table

    def pm(value, se):
        return "-" if value is None else f"{value:.3f}" + ("" if se is None else f" ± {se:.3f}")

    table = Table(title=f"r1data ablate: held-out pass@1, {report['token_budget']:,}-token budget")
    for column in ("variant", "seeds", "answers", "accuracy ± SE", "vs base ± SE", ""):
        table.add_column(column)
    for row in report["table"]:
        diff = pm(row.get("diff"), row.get("diff_se")) if "diff" in row else ""
        flag = "" if "diff" not in row else ("> 2 SE" if row.get("significant") else "n.s.")
        table.add_row(row["variant"], str(row["seeds"]), f"{row.get('answers', 0):.0f}",
                      pm(row.get("accuracy"), row.get("se")), diff, flag)
    Console().print(table)
    if report.get("failed"):
        Console(stderr=True).print(f"failed: {'; '.join(report['failed'])}", highlight=False)
    if report.get("missing"):
        Console(stderr=True).print(f"not run yet: {', '.join(report['missing'])}", highlight=False)
