"""The shell lines of a language's commands: the limits filled into their placeholders, the
programs they need on this host, and when a line is plain words that need no shell at all."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

# Placeholders allowed in compile_cmd / run_cmd, named after the submission attributes they come
# from (the compile step passes the compile-step limits under the same names).
_PLACEHOLDER = re.compile(r"\{(memory_limit|memory_limit_mb|stack_limit|max_processes_and_or_threads)\}")


def expand_placeholders(command: str, limits: Mapping[str, Any]) -> str:
    """Fill ``{memory_limit}`` (KB), ``{memory_limit_mb}``, ``{stack_limit}`` (KB) and
    ``{max_processes_and_or_threads}`` from ``limits`` (a submission row works).

    Only these exact names are replaced, so shell braces (``${HOME}``, ``{a,b}``) pass through.
    """

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        source = "memory_limit" if name == "memory_limit_mb" else name
        if limits.get(source) is None:
            raise ValueError(f"command needs {{{name}}} but no {source} was given: {command!r}")
        number = int(limits[source])
        return str(max(number // 1024, 1)) if name == "memory_limit_mb" else str(number)

    return _PLACEHOLDER.sub(value, command)


_SHELL_OPERATORS = {"&&", "||", ";", "|", "&"}
_SHELL_BUILTINS = {"trap", "cd", "export", "ulimit", "umask", "exec", ":"}


# Characters bash gives no meaning to inside a word: no quoting, expansion ($ ` ~ { }), globbing
# (* ? [ ]), comments (#), redirection, pipes or lists (< > | & ;), subshells (( )), history (!).
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_./:,+@%=-]+")


def plain_words(line: str) -> tuple[str, ...] | None:
    """The words bash would split `line` into and run as one program, when it would do
    nothing else with it: words separated by spaces only (a newline or tab may separate
    commands), each made of plain characters, the first a path (``/usr/bin/python3``,
    ``./a.out``: never a builtin, a keyword or a ``VAR=value`` assignment). None otherwise."""
    words = tuple(word for word in line.split(" ") if word)
    if not words or not all(_PLAIN_WORD.fullmatch(word) for word in words):
        return None
    program = words[0]
    if not program.startswith(("/", "./")) or "=" in program:
        return None
    return words


def programs_in(command: str) -> list[str]:
    """The programs and files a command line needs: the first word of every simple command
    (assignments, builtins and programs built in the box skipped) and every absolute path."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    needed: list[str] = []
    at_command_start = True
    for word in words:
        word = word.lstrip("`$(")  # a command substitution's program counts too
        if word in _SHELL_OPERATORS:
            at_command_start = True
            continue
        if at_command_start and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            continue  # VAR=value before the program
        if at_command_start and word in _SHELL_BUILTINS:
            at_command_start = False
            continue
        if word.startswith("/"):  # a path, or a class path of paths
            needed += [part for part in word.split(":") if part.startswith("/")]
        elif at_command_start and not word.startswith((".", "~")) and "/" not in word:
            needed.append(word)
        at_command_start = False
    return needed
