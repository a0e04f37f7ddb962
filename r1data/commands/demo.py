from pathlib import Path

import typer


def command(
    quick: bool = typer.Option(False, "--quick", help="A few prompts per stage (~3 min): the CI-sized run."),
    output: Path = typer.Option(None, help="Where the stages write (default runs/demo or runs/demo-quick)."),
    seed: int = typer.Option(0, help="Seeds the prompts, sampling and training."),
) -> None:
    """Run the whole DeepSeek-R1 data loop on the embedded model, on a CPU, and print a summary.

    Cold start, SFT, GRPO, rejection sampling, the non-reasoning half, mix + publish --dry-run,
    distillation, and evaluation before/after, each stage with a progress bar.
    """
    from r1data import demo

    if quick:
        config = demo.DemoConfig.quick(output=str(output or "runs/demo-quick"), seed=seed)
    else:
        config = demo.DemoConfig(output=str(output or "runs/demo"), seed=seed)
    demo.run(config)
