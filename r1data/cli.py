"""The `r1data` command line. Each command lives in `r1data/commands/<name>.py` as one typer
function whose heavy imports sit inside its body, so `r1data --help` stays instant. A command
builds a config and calls the library; it holds no logic of its own.

To add a command: write its module with a function named `command`, then add one line to
COMMANDS (or TRAIN_COMMANDS for `r1data train ...`).
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

from r1data.manifest import RECORDS

# (command name, module under r1data.commands): registered in this order in --help.
COMMANDS = [
    ("stats", "stats"),
    ("generate", "generate"),
    ("verify", "verify"),
    ("filter", "filter"),
    ("decontaminate", "decontaminate"),
    ("select", "select"),
    ("ablate", "ablate"),
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
                                       help="Show the libraries' own output: model-loading bars, warnings, "
                                       "datatrove's log lines.")) -> None:
    if verbose:
        # read where datatrove's executors are built: they carry it to every worker process
        os.environ["R1DATA_VERBOSE"] = "1"  # r1data.launch.executors.VERBOSE_VARIABLE
    else:
        quiet_libraries()


def quiet_libraries() -> None:
    """Keep the libraries' own bars and advisories (transformers' `Loading weights` bar and its
    warnings, torch's and datasets' future-deprecation notes) out of a command's output, which
    shows our progress bars and tables; `r1data --verbose COMMAND` shows them. Set before the
    commands import those libraries (their imports sit inside the command functions)."""
    import logging
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
OWNS_OUTPUT = set(RECORDS)


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


def exit_code_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """The exceptions the CLI turns into one line instead of a traceback, each defined next to the
    code that raises it: (exit code 2, exit code 3).

    Exit code 2: the user's input is wrong, or the asked-for feature needs an optional dependency
    that is not installed. Exit code 3: the input was fine but the run could not do all its work
    (a server that does not answer, samples that failed after the backend's retries); rerunning
    the same command resumes and retries.
    """
    # Imported here, not at the top, for start-up time: these modules load the readers, the
    # backends and the hub client, which `r1data --help` should not pay for.
    from r1data.backends import BackendError, BackendUnavailable
    from r1data.config import ConfigError
    from r1data.failures import GenerationFailed
    from r1data.io import InputError
    from r1data.manifest import OutputOwned
    from r1data.models import ModelError
    from r1data.optional import MissingDependency
    from r1data.pipelines.publish import PublishError
    from r1data.record import RecordError
    from r1data.templates import TemplateError
    from r1data.verifiers.sandbox import SandboxUnavailable

    user = (InputError, ModelError, RecordError, ConfigError, FileNotFoundError, PublishError,
            BackendError, TemplateError, SandboxUnavailable, MissingDependency, OutputOwned)
    return user, (GenerationFailed, BackendUnavailable)


def main() -> None:
    """Entry point: expected errors end in one line, exit code 2 for bad input (a missing model,
    a missing optional dependency), 3 for a run that could not do all its work."""
    user_errors, failures = exit_code_errors()
    if not sys.stdout.isatty():
        # Piped or logged output has no terminal width: rich would assume 80 columns and cut
        # table cells and help text. Let it be as wide as the content (COLUMNS still wins).
        os.environ.setdefault("COLUMNS", "160")
    try:
        app()
    except user_errors as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except failures as exc:
        print(f"failed: {exc}", file=sys.stderr)
        sys.exit(3)
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to resume", file=sys.stderr)
        sys.exit(130)
