from pathlib import Path

import typer


def command(
    config: Path = typer.Option(..., "--config", "-c",
                                help="Reward-model recipe (YAML), e.g. trainers/recipes/rm_smollm2_135m_cpu.yaml."),
    pairs: str = typer.Option(None, help="Override pairs: TRL-style chosen/rejected preference pairs."),
    output: Path = typer.Option(None, help="Override output.dir."),
    model: str = typer.Option(None, help="Override the base model spec."),
    max_steps: int = typer.Option(None, help="Override max_steps (0 = run the recipe's epochs)."),
) -> None:
    """Train a Bradley-Terry reward model (R1 section 2.3.4) on preference pairs.

    A one-output head on a causal LM learns to score the chosen response above the rejected
    one. Writes OUTPUT/final (load it as a GRPO reward: `rm:OUTPUT/final@summary` or `@full`),
    OUTPUT/log.jsonl, OUTPUT/eval.json (held-out pair accuracy before and after) and
    OUTPUT/rejected.jsonl.
    """
    from rich.console import Console
    from rich.table import Table

    from r1data.config import from_dict, load_yaml
    from r1data.trainers.reward_model import RMConfig, train

    raw = load_yaml(config)
    overrides = {"model": model, "max_steps": max_steps, "pairs": pairs}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    for key in ("pairs", "eval_pairs"):  # a data path may be relative to the recipe
        value = raw.get(key)
        if value and not Path(value).exists() and (config.parent / value).exists():
            raw[key] = str(config.parent / value)
    if output is not None:
        raw["output"] = {**(raw.get("output") or {}), "dir": str(output)}
    cfg = from_dict(RMConfig, raw)

    result = train(cfg)
    table = Table(title=f"r1data train rm: {cfg.model}")
    table.add_column("")
    table.add_column("", justify="right")
    last = result.history[-1] if result.history else {}
    rows = [
        ("pairs trained / held out", f"{result.train_pairs} / {result.eval_pairs}"),
        ("optimizer steps", result.steps),
        ("final loss", f"{last.get('loss', float('nan')):.4f}"),
        ("held-out pair accuracy", f"{result.eval_accuracy_before:.3f} -> {result.eval_accuracy:.3f}"),
        ("wall time", f"{result.seconds:.1f} s"),
        ("model", str(result.model_dir)),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
