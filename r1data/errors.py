"""Temporary: ConfigError moved to r1data.config; the CLI's exit-code table to r1data.cli."""

from r1data.config import ConfigError  # noqa: F401
