"""The options that say how the user's input is laid out, declared once for every command that
reads input: `--columns`, `--schema`, `--split`, `--hub-config` (a Hub dataset's
configuration; `--config` already names the YAML recipe of several commands) and `--solution`.

A command takes them with one decorator, `@reads_input`: the decorator adds the options to
the command's signature (typer reads `__signature__`) and hands the command's body one
`ReadOptions` as its `read_options` argument, which the command passes to the library that reads
its input (no state in between: what reads the input is told how, as an argument). The options
never remap r1data's own records (intermediate folders read the same).
"""

from __future__ import annotations

import functools
import inspect
from typing import Annotated, Any, Callable

import typer

Columns = Annotated[str, typer.Option(
    "--columns", help="Map input columns to record fields, e.g. prompt=question,reasoning="
    "deepseek_thinking_trajectory,answer=deepseek_attempt,gold=solution; a column may be a "
    "nested path: gold=reward_model.ground_truth, prompt=turns.0.text (default: detected; "
    "preference data: chosen=COL,rejected=COL).")]
Schema = Annotated[str, typer.Option(
    "--schema", help="Force the input layout: record, generations, chat, sharegpt, columns, s1k, "
    "verl, openrlhf (default: detected per row).")]
Split = Annotated[str, typer.Option(
    "--split", help="Split of a Hub dataset given as ORG/NAME (default: train).")]
HubConfig = Annotated[str, typer.Option(
    "--hub-config", help="Configuration (subset) of a Hub dataset given as ORG/NAME.")]

Solution = Annotated[str, typer.Option(
    "--solution", help="A `solution` column beside a gold answer is a reference (kept in "
    "metadata) or a sample to train on (read as the completion): reference or sample "
    "(default: reference; `r1data stats` says which was read).")]

_OPTIONS = {"columns": Columns, "schema": Schema, "split": Split, "hub_config": HubConfig,
            "solution": Solution}


def read_options(columns: str | None = None, schema: str | None = None, split: str | None = None,
                 hub_config: str | None = None, solution: str | None = None,
                 require_completion: bool = False):
    """`ReadOptions` from the command-line values (a bad value is a one-line SchemaError)."""
    from r1data import schemas

    return schemas.ReadOptions(schema=schema, columns=schemas.parse_columns(columns), split=split,
                               config=hub_config, require_completion=require_completion,
                               solution=solution or "reference")


def reads_input(command: Callable[..., Any] | None = None, *, require_completion: bool = False):
    """Decorate a command so that it takes the input options and gets them, as one
    `ReadOptions`, in its `read_options` argument.

    `require_completion`: rows without an assistant answer are rejected (SFT data) instead of
    being read as prompts.
    """

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name, None) for name in _OPTIONS}
            options = read_options(**values, require_completion=require_completion)
            return func(*args, read_options=options, **kwargs)

        signature = inspect.signature(func)
        extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=annotation) for name, annotation in _OPTIONS.items()]
        params = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  if p.kind == inspect.Parameter.POSITIONAL_ONLY else p
                  for p in signature.parameters.values() if p.name != "read_options"]
        wrapper.__signature__ = signature.replace(parameters=[*params, *extra])
        annotations = {k: v for k, v in getattr(func, "__annotations__", {}).items()
                       if k != "read_options"}
        wrapper.__annotations__ = {**annotations, **_OPTIONS}
        return wrapper

    return decorate(command) if command is not None else decorate
