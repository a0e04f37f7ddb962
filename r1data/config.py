"""YAML recipes map one-to-one onto config dataclasses, validated by pydantic at load time.

Configs stay plain stdlib dataclasses (grouped fields, one docstring, a short `__post_init__` that
rejects bad values), so Python code builds them without any validation layer. Loading a recipe
goes through `from_dict`, which validates the mapping with a pydantic `TypeAdapter` of the
dataclass: an unknown key at any depth, a value of the wrong type or a `__post_init__` refusal
raises one `ConfigError` line that names the key's path (`optim.lr`), the expected type and the
recipe file.

Coercion rule (pydantic's lax mode): a string that spells a number is read as that number, because
YAML 1.1 reads `lr: 3e-6` (no dot) as the string "3e-6"; a whole float is read as an int and
`true`/`false`/`yes`/`no` as booleans. Anything else of the wrong type is an error: `lr: fast`,
`max_steps: 1.5`, a scalar where a list is expected, a number where a string is expected.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

T = TypeVar("T")


class ConfigError(ValueError):
    """A config or recipe with an unknown key or a bad value (exit code 2 at the CLI)."""


# Forbid unknown keys in every dataclass a config nests; set on the classes themselves because a
# pydantic TypeAdapter refuses a `config=` for dataclass types.
_STRICT_KEYS = {"extra": "forbid"}


class Recipe(dict):
    """A recipe mapping that remembers the file it came from, for error messages."""

    source: str | None = None


def _nested_dataclasses(cls: type) -> list[type]:
    found, todo = [], [cls]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.append(current)
        for tp in typing.get_type_hints(current).values():
            for arg in (tp, *typing.get_args(tp)):
                if isinstance(arg, type) and dataclasses.is_dataclass(arg):
                    todo.append(arg)
    return found


@functools.lru_cache(maxsize=None)
def _adapter(cls: type):
    for dc in _nested_dataclasses(cls):
        if "__pydantic_config__" not in vars(dc):
            dc.__pydantic_config__ = _STRICT_KEYS
    return TypeAdapter(cls)


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _dataclass_in(tp: Any) -> type | None:
    """`tp` itself, or the dataclass inside `X | None`, if it is one."""
    return next((c for c in (tp, *typing.get_args(tp))
                 if isinstance(c, type) and dataclasses.is_dataclass(c)), None)


def _type_at(cls: type, loc: tuple) -> Any:
    """The declared type of the key at `loc` (a path of field names and list indexes) in `cls`."""
    tp: Any = cls
    for part in loc:
        if isinstance(part, int):  # a list index: the element type
            args = typing.get_args(tp)
            tp = args[0] if args else Any
            continue
        owner = _dataclass_in(tp)
        if owner is None:
            return Any
        tp = typing.get_type_hints(owner).get(part, Any)
    return tp


def _describe(cls: type, error: dict, prefix: str) -> str:
    """One pydantic error as `key: what was wrong`, with the key's full path."""
    loc = tuple(error["loc"])
    key = ".".join(([prefix] if prefix else []) + [f"[{p}]" if isinstance(p, int) else str(p)
                                                  for p in loc]).replace(".[", "[")
    kind, value = error["type"], error.get("input")
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        owner = _dataclass_in(_type_at(cls, loc[:-1]))
        known = sorted(f.name for f in dataclasses.fields(owner) if f.init) if owner else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown key {key} (known: {', '.join(known)}){hint}"
    if kind == "missing":
        return f"missing key {key} ({_type_name(_type_at(cls, loc))})"
    if kind in ("value_error", "assertion_error"):
        message = str(error.get("ctx", {}).get("error", error["msg"]))
        return f"{key}: {message}" if key and not message.startswith(key) else message
    return f"{key}: expected {_type_name(_type_at(cls, loc))}, got {value!r} ({type(value).__name__})"


def from_dict(cls: type[T], data: dict[str, Any] | None, path: str = "",
              source: str | Path | None = None) -> T:
    """Build dataclass `cls` from `data`, validated; any problem raises one ConfigError line.

    `path` prefixes key names (`stages[0]`); `source` names the recipe file, defaulting to the
    file a `Recipe` from `load_yaml` came from."""
    source = source or getattr(data, "source", None)
    where = f"{source}: " if source else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}{path or cls.__name__}: expected a mapping, "
                          f"got {type(data).__name__}")
    try:
        return _adapter(cls).validate_python(dict(data))
    except ValidationError as exc:
        errors = [_describe(cls, e, path) for e in exc.errors()]
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        raise ConfigError(f"{where}{'; '.join(errors[:3])}{more}") from None
    except (TypeError, ValueError) as exc:  # a __post_init__ that raises outside pydantic's reach
        raise ConfigError(f"{where}{path or cls.__name__}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (for provenance and for writing a recipe back)."""
    return dataclasses.asdict(config)


def load_yaml(path: str | Path) -> Recipe:
    """A recipe file's top-level mapping; it remembers its file for `from_dict`'s messages."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no such recipe: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping at the top level")
    recipe = Recipe(data)
    recipe.source = str(path)
    return recipe


def load(cls: type[T], path: str | Path) -> T:
    return from_dict(cls, load_yaml(path))
