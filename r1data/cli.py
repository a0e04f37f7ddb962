"""The `r1data` command line. Each command lives in `r1data/commands/<name>.py` as one typer
function whose heavy imports sit inside its body, so `r1data --help` stays instant. A command
builds a config and calls the library; it holds no logic of its own.

To add a command: write its module with a function named `command`, then add one line to
COMMANDS (or TRAIN_COMMANDS for `r1data train ...`).
"""

from __future__ import annotations

import importlib
import sys

import typer

# (command name, module under r1data.commands): registered in this order in --help.
COMMANDS = [
    ("stats", "stats"),
    ("generate", "generate"),
    ("verify", "verify"),
    ("filter", "filter"),
    ("decontaminate", "decontaminate"),
    ("run", "run"),
    ("cold-start", "cold_start"),
    ("rejection-sampling", "rejection_sampling"),
    ("non-reasoning", "non_reasoning"),
    ("mix", "mix"),
    ("publish", "publish"),
    ("report", "report"),
    ("eval", "eval"),
    ("demo", "demo"),
]
TRAIN_COMMANDS: list[tuple[str, str]] = [
    ("sft", "train_sft"),
    ("grpo", "train_grpo"),
    ("rm", "train_rm"),
]

app = typer.Typer(
    name="r1data",
    help="The data side of DeepSeek-R1: generate, verify, filter, decontaminate, mix, publish, "
    "train (SFT, GRPO) and evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model: `sft` (distillation), `grpo` (RL) or `rm` (a reward "
                        "model for RL on general prompts).",
                        no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from r1data import __version__

        typer.echo(f"r1data {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit."),
          verbose: bool = typer.Option(False, "--verbose", "-v",
                                       help="Show the libraries' own output: model-loading bars, warnings.")) -> None:
    if not verbose:
        quiet_libraries()


def quiet_libraries() -> None:
    """Keep the libraries' own bars and advisories (transformers' `Loading weights` bar and its
    warnings, torch's and datasets' future-deprecation notes) out of a command's output, which
    shows our progress bars and tables; `r1data --verbose COMMAND` shows them. Set before the
    commands import those libraries (their imports sit inside the command functions)."""
    import logging
    import os
    import warnings

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' bars follow the Hub's switch
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    for name in ("datasets", "torch.distributed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # DeepSpeed sets its logger's level itself when imported (transformers imports it when it is
    # installed), so a level set here would be overwritten; a filter stays. It drops e.g.
    # "Setting accelerator to CPU", printed by every CPU run.
    logging.getLogger("DeepSpeed").addFilter(lambda record: record.levelno >= logging.ERROR)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|transformers|deepspeed)\.")


# Commands that write an OUTPUT folder: it gets a manifest and --overwrite (commands/output_owner.py).
OWNS_OUTPUT = {"generate", "verify", "filter", "decontaminate", "cold-start", "rejection-sampling",
               "non-reasoning", "mix", "publish", "eval"}


def _register(target: typer.Typer, name: str, module: str) -> None:
    mod = importlib.import_module(f"r1data.commands.{module}")
    command = mod.command
    if target is app and name in OWNS_OUTPUT:
        from r1data.commands.output_owner import owns_output

        command = owns_output(name, command)
    target.command(name, help=(command.__doc__ or "").strip().split("\n\n")[0])(command)


for _name, _module in COMMANDS:
    _register(app, _name, _module)
for _name, _module in TRAIN_COMMANDS:
    _register(train_app, _name, _module)
if TRAIN_COMMANDS:
    app.add_typer(train_app, name="train")


def main() -> None:
    """Entry point: expected errors end in one line, exit code 2 for bad input (a missing model,
    a missing optional dependency), 3 for a run that could not do all its work (see r1data.errors)."""
    import os

    from r1data.errors import FAILURES, USER_ERRORS

    if not sys.stdout.isatty():
        # Piped or logged output has no terminal width: rich would assume 80 columns and cut
        # table cells and help text. Let it be as wide as the content (COLUMNS still wins).
        os.environ.setdefault("COLUMNS", "160")
    try:
        app()
    except USER_ERRORS as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except FAILURES as exc:
        print(f"failed: {exc}", file=sys.stderr)
        sys.exit(3)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
