"""Languages: the Judge0 language table, loaded from ``languages.yml``.

Each language is data (DMOJ style): ids and names are what clients select by, the commands are
what the worker writes into ``compile.sh`` / ``run.sh``. Whether a language can actually run on
this host is the ``available`` flag: guessed at load time from the binaries its commands name,
and later confirmed or refuted by the workers' self-tests (:meth:`LanguageCatalog.set_available`).
"""

from __future__ import annotations

import locale
import os
import re
import shlex
import shutil
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from judge.wire import sanitize_shell_arg

__all__ = [
    "DEFAULT_LANGUAGES_FILE",
    "PROJECT_LANGUAGE_NAME",
    "Language",
    "LanguageCatalog",
    "LanguageFileError",
    "expand_placeholders",
    "sort_by_name",
]

DEFAULT_LANGUAGES_FILE = Path(__file__).resolve().parent.parent / "languages.yml"

# Judge0 recognises the multi-file "project" language by this exact name (§9.2).
PROJECT_LANGUAGE_NAME = "Multi-file program"

# Placeholders allowed in compile_cmd / run_cmd, named after the submission attributes they come
# from (the compile step passes the compile-step limits under the same names).
_PLACEHOLDER = re.compile(r"\{(memory_limit|memory_limit_mb|stack_limit|max_processes_and_or_threads)\}")

_COLLATION_LOCALE = "en_US.UTF-8"
_locale_lock = threading.Lock()


class LanguageFileError(ValueError):
    """``languages.yml`` is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Language:
    """One language record; the first six fields are Judge0's, the rest are ours."""

    id: int
    name: str
    is_archived: bool = False
    source_file: str | None = None
    compile_cmd: str | None = None
    run_cmd: str | None = None
    # Debian packages that provide the toolchain (read by the installer and the Dockerfile).
    packages: tuple[str, ...] = ()
    # A command whose output contains the version that the name advertises.
    version_cmd: str | None = None
    # A program that prints exactly "hello, world"; the workers' self-test.
    self_test: str | None = None
    # Free-form per-language runtime settings for the sandbox (see languages.yml).
    runtime: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Floors for the compile step's process and memory (KB) limits, for heavy compilers.
    compile_processes: int | None = None
    compile_memory_kb: int | None = None
    available: bool = False

    @property
    def is_project(self) -> bool:
        """The multi-file program language: user-supplied compile/run scripts, no source file."""
        return self.name == PROJECT_LANGUAGE_NAME

    @property
    def is_compiled(self) -> bool:
        """Has a compile step, which is also what makes ``compiler_options`` acceptable."""
        return self.compile_cmd is not None

    def as_json(self) -> dict[str, Any]:
        """The body of ``GET /languages/:id``: Judge0's six keys, in Judge0's order."""
        return {
            "id": self.id,
            "name": self.name,
            "is_archived": self.is_archived,
            "source_file": self.source_file,
            "compile_cmd": self.compile_cmd,
            "run_cmd": self.run_cmd,
        }

    def compile_command(self, compiler_options: str | None, limits: Mapping[str, Any]) -> str | None:
        """The line for ``compile.sh``: placeholders filled from ``limits``, then the single
        ``%s`` replaced by the sanitised ``compiler_options`` (§6.3). None if not compiled."""
        if self.compile_cmd is None:
            return None
        command = expand_placeholders(self.compile_cmd, limits)
        return command.replace("%s", sanitize_shell_arg(compiler_options), 1)

    def run_command(self, command_line_arguments: str | None, limits: Mapping[str, Any]) -> str | None:
        """The line for ``run.sh``: ``run_cmd``, a space, the sanitised arguments (§6.3).
        None for the project language, which runs the user's own script."""
        if self.run_cmd is None:
            return None
        command = expand_placeholders(self.run_cmd, limits)
        return f"{command} {sanitize_shell_arg(command_line_arguments)}"

    def programs(self) -> list[str]:
        """Binaries and files the commands need on this host, used to guess ``available``:
        the first word of every simple command (env assignments and ``./`` programs built in
        the box skipped) and every absolute path."""
        needed: list[str] = []
        for command in (self.compile_cmd, self.run_cmd):
            if command:
                needed += _programs_in(command)
        return needed

    def is_installed(self) -> bool:
        """True if every program from :meth:`programs` exists on this host."""
        return all(
            os.path.exists(program) if program.startswith("/") else shutil.which(program)
            for program in self.programs()
        )


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


def _programs_in(command: str) -> list[str]:
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    needed: list[str] = []
    at_command_start = True
    for word in words:
        if word in _SHELL_OPERATORS:
            at_command_start = True
            continue
        if at_command_start and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", word):
            continue  # VAR=value before the program
        if word.startswith("/"):
            needed.append(word)
        elif at_command_start and not word.startswith((".", "~", "`")) and "/" not in word:
            needed.append(word)
        at_command_start = False
    return needed


def glibc_like_key(name: str) -> tuple[str, str, tuple[bool, ...], str]:
    """An approximation of glibc's ``en_US.UTF-8`` collation (ISO 14651) for when that locale
    is not installed: letters and digits compared case- and accent-insensitively with
    punctuation and spaces ignored, then accents, then lowercase before uppercase, and the raw
    string last. It reproduces Judge0's documented orders (§13.1) for all 89 CE names."""
    decomposed = unicodedata.normalize("NFKD", name)
    base = [char for char in decomposed if char.isalnum()]
    primary = "".join(char.casefold() for char in base)
    accents = "".join(char for char in decomposed if unicodedata.combining(char))
    case = tuple(char.isupper() for char in base)
    return (primary, accents, case, name)


def _collation_keys(names: Iterable[str]) -> dict[str, Any]:
    """Sort keys for ``names`` under glibc ``en_US.UTF-8`` if the locale exists, else the
    approximation. setlocale() is process-wide, so it is switched under a lock and restored;
    this runs once per catalog load, not per request."""
    names = list(names)
    with _locale_lock:
        previous = locale.setlocale(locale.LC_COLLATE)
        try:
            locale.setlocale(locale.LC_COLLATE, _COLLATION_LOCALE)
        except locale.Error:
            return {name: glibc_like_key(name) for name in names}
        try:
            return {name: (locale.strxfrm(name), name) for name in names}
        finally:
            locale.setlocale(locale.LC_COLLATE, previous)


def sort_by_name(languages: Iterable[Language]) -> list[Language]:
    """Languages in the order of Judge0's list endpoints: ``ORDER BY name`` under PostgreSQL's
    ``en_US.UTF-8`` collation (§13.1), ties broken by id."""
    items = list(languages)
    keys = _collation_keys(language.name for language in items)
    return sorted(items, key=lambda language: (keys[language.name], language.id))


_YAML_KEYS = {spec.name for spec in fields(Language)} - {"available"}


class LanguageCatalog:
    """All languages, by id, with the orders the list endpoints need precomputed."""

    def __init__(self, languages: Iterable[Language]) -> None:
        self._by_id: dict[int, Language] = {}
        for language in languages:
            if language.id in self._by_id:
                raise LanguageFileError(f"language id {language.id} is declared twice")
            self._by_id[language.id] = language
        self._order = [language.id for language in sort_by_name(self._by_id.values())]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *,
             detect_available: bool = True) -> LanguageCatalog:
        """Read ``languages.yml``; with ``detect_available`` each language's ``available`` is
        guessed from whether the binaries its commands name exist on this host."""
        path = Path(path) if path is not None else DEFAULT_LANGUAGES_FILE
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise LanguageFileError(f"cannot load {path}: {error}") from error
        if not isinstance(document, dict) or not isinstance(document.get("languages"), list):
            raise LanguageFileError(f"{path}: expected a top-level 'languages:' list")
        languages = [_language_from_yaml(record, path) for record in document["languages"]]
        if detect_available:
            languages = [replace(language, available=language.is_installed())
                         for language in languages]
        return cls(languages)

    def get(self, language_id: int | None) -> Language | None:
        """The language with that id, archived ones included; None if unknown."""
        return self._by_id.get(language_id) if language_id is not None else None

    def all(self) -> list[Language]:
        """Every language in ``GET /languages/all`` order."""
        return [self._by_id[language_id] for language_id in self._order]

    def active(self) -> list[Language]:
        """Non-archived languages in ``GET /languages`` order."""
        return [language for language in self.all() if not language.is_archived]

    def set_available(self, language_id: int, available: bool) -> None:
        """Record the outcome of a worker's self-test for one language."""
        language = self._by_id.get(language_id)
        if language is None:
            raise KeyError(f"unknown language id {language_id}")
        self._by_id[language_id] = replace(language, available=available)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Language]:
        """Languages in ``GET /languages/all`` order."""
        return iter(self.all())


def _language_from_yaml(record: Any, path: Path) -> Language:
    """Build and check one record: Judge0's model rules (§14.9) plus exactly one ``%s``."""
    if not isinstance(record, dict) or "id" not in record or "name" not in record:
        raise LanguageFileError(f"{path}: every language needs at least an id and a name: {record!r}")
    where = f"{path}: language {record['id']}"
    unknown = set(record) - _YAML_KEYS
    if unknown:
        raise LanguageFileError(f"{where}: unknown keys {sorted(unknown)}")
    values = dict(record)
    values["packages"] = tuple(values.get("packages") or ())
    values["runtime"] = MappingProxyType(dict(values.get("runtime") or {}))
    language = Language(**values)
    if not isinstance(language.id, int) or not isinstance(language.name, str) or not language.name:
        raise LanguageFileError(f"{where}: id must be an integer and name a non-empty string")
    if not language.is_project and not (language.source_file and language.run_cmd):
        raise LanguageFileError(f"{where}: source_file and run_cmd are required")
    if language.compile_cmd is not None and language.compile_cmd.count("%s") != 1:
        raise LanguageFileError(f"{where}: compile_cmd must contain exactly one %s")
    return language
