"""Running a command or a recipe stage into an output folder it owns: `owned_output` claims the
folder (`r1data.manifest.claim`), and when the run fails it gives back what it created.

This is the one place where both the CLI's commands (`r1data.commands.output_owner`) and recipe
stages (`r1data.pipelines.recipe`) meet it; the manifest itself stays a leaf module that knows no
exception types.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from r1data import manifest
from r1data.backends import BackendError, BackendUnavailable
from r1data.config import ConfigError
from r1data.io import InputError
from r1data.models import ModelError
from r1data.optional import MissingDependency

# Errors that stop a run before it has done any work worth resuming: bad input, a missing
# dependency, a server that does not answer. Samples that failed mid-run are not among them (what
# succeeded stays for the rerun), nor is publish's push error, raised once the folder is ready.
NOTHING_DONE: tuple[type[BaseException], ...] = (
    InputError, ConfigError, ModelError, FileNotFoundError, BackendError, MissingDependency,
    BackendUnavailable,
)


@contextmanager
def owned_output(output: str | Path, command: str, settings: dict[str, Any], inputs: list[str],
                 *, overwrite: bool = False) -> Iterator[None]:
    """Claim `output` for `command` with `settings` (refused when another command or other
    settings own it), run the body, and on failure remove the folder if this run created it:
    all of it when the run failed before any work, else only when nothing but the manifest is
    in it. A failure leaves nothing behind to be mistaken for output."""
    created = manifest.claim(output, command, settings, inputs, overwrite=overwrite)
    try:
        yield
    except BaseException as exc:
        if created:
            manifest.release(output, everything=isinstance(exc, NOTHING_DONE))
        raise
