"""`--overwrite` and the output manifest for every command that writes an OUTPUT folder, added
in one place (cli.py wraps those commands) instead of in each command: the command's own options
are its settings, `r1data.ownership.owned_output` checks them against the folder's owner before
the command runs, and a run that fails before doing any work (bad input, no server) removes the
folder it created."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import typer

INPUT_PARAMS = ("input", "inputs", "folder", "refine_input", "benchmark_file")
# Options under which a command writes nothing into OUTPUT.
NO_WRITE = ("compare", "dry_run")


def owns_output(name: str, command: Callable[..., Any]) -> Callable[..., Any]:
    """`command` with an `--overwrite` option that claims its `output` folder first."""
    signature = inspect.signature(command)
    overwrite = inspect.Parameter(
        "overwrite", inspect.Parameter.KEYWORD_ONLY, annotation=bool,
        default=typer.Option(False, "--overwrite", help="Replace OUTPUT when another command, or "
                             "this one with other settings, wrote it (default: refuse, or resume "
                             "the same command and settings)."))

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        # Lazy for start-up time: cli.py wraps every command at import, and ownership loads the
        # readers and the backends, which `r1data --help` should not pay for.
        from r1data.ownership import owned_output

        replace = kwargs.pop("overwrite", False)
        values = signature.bind(*args, **kwargs).arguments
        output = values.get("output")
        if output is None or any(values.get(k) for k in NO_WRITE):
            return command(*args, **kwargs)
        inputs = [str(v) for k in INPUT_PARAMS for v in _as_list(values.get(k))]
        with owned_output(output, name, values, inputs, overwrite=replace):
            return command(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), overwrite])
    return wrapper


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]
