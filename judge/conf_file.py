"""The ``judge0.conf`` file format: what an operator brings from Judge0."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ConfigError", "read_conf_file"]


class ConfigError(ValueError):
    """The configuration file cannot be read or parsed."""


def read_conf_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a ``judge0.conf``-style file: ``KEY=VALUE`` lines, ``#`` comments, blank lines,
    an optional ``export`` prefix, values optionally wrapped in single or double quotes.

    An unquoted value ends at `` #`` (a comment after whitespace), as in shell and dotenv.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read configuration file {path}: {error.strerror}") from error
    variables: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "").isalnum():
            raise ConfigError(f"{path}:{number}: expected KEY=VALUE, got {line!r}")
        variables[key] = _unquote(value.strip())
    return variables


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    comment = value.find(" #")
    return value[:comment].rstrip() if comment >= 0 else value
