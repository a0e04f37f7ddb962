"""YAML recipes map one-to-one onto config dataclasses; an unknown key is an error.

Configs are plain dataclasses (grouped fields, one docstring, a short `__post_init__` that rejects
bad values). `from_dict` builds one from a mapping, recursing into nested dataclass fields, and
raises `ConfigError` naming the unknown or mistyped key with its path (`sampling.temprature`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from r1data.errors import ConfigError

T = TypeVar("T")


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _unwrap_optional(tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def from_dict(cls: type[T], data: dict[str, Any] | None, path: str = "") -> T:
    """Build dataclass `cls` from `data`; unknown keys raise ConfigError with their path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f"{path}." if path else ""
        raise ConfigError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(where + k for k in unknown)} "
            f"for {cls.__name__} (known: {', '.join(sorted(fields))})"
        )
    values = {}
    for name, value in data.items():
        tp = _unwrap_optional(hints[name])
        key = f"{path}.{name}" if path else name
        if _is_dataclass_type(tp) and isinstance(value, dict):
            values[name] = from_dict(tp, value, key)
        else:
            values[name] = value
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path or cls.__name__}: {exc}") from None


def to_dict(config: Any) -> dict[str, Any]:
    """A config as plain data (for provenance and for writing a recipe back)."""
    return dataclasses.asdict(config)


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no such recipe: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a recipe must be a mapping at the top level")
    return data


def load(cls: type[T], path: str | Path) -> T:
    return from_dict(cls, load_yaml(path))
