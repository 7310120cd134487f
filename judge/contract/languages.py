"""Languages: the Judge0 language table, loaded from ``languages.yml``.

Each language is data (DMOJ style): ids and names are what clients select by, the commands are
what the worker writes into ``compile.sh`` / ``run.sh``, and each carries its own self-test
programs (judge/judging/selftest.py). Whether a language can run is the ``available`` flag: guessed at
load time from the binaries its commands name, and replaced by what the live workers' self-tests
report once one of them has finished (:meth:`LanguageCatalog.follow`).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from judge.contract.collation import collation_keys, glibc_like_key
from judge.contract.commands import expand_placeholders, plain_words, programs_in
from judge.contract.wire import sanitize_shell_arg

__all__ = [
    "DEFAULT_LANGUAGES_FILE",
    "PROJECT_LANGUAGE_NAME",
    "Language",
    "LanguageCatalog",
    "LanguageFileError",
    "SelfTest",
    "expand_placeholders",
    "glibc_like_key",
    "plain_words",
    "sort_by_name",
    "version_key",
]

DEFAULT_LANGUAGES_FILE = Path(__file__).resolve().parents[2] / "languages.yml"

# Judge0 recognises the multi-file "project" language by this exact name (§9.2).
PROJECT_LANGUAGE_NAME = "Multi-file program"

_NAME_VERSION = re.compile(r"\([^()]*?(\d+(?:\.\d+)*)[^()]*\)")


class LanguageFileError(ValueError):
    """``languages.yml`` is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class SelfTest:
    """Programs proving that a language works on this host (DMOJ's executor self-tests).

    ``hello`` reads a line from stdin and prints ``hello, <line>``; it decides availability.
    ``compile_error`` must be refused by the compiler (compiled languages only) and
    ``runtime_error`` must fail at run time; ``judge languages check`` runs all three.
    ``files`` are sent as ``additional_files`` (a zip), which is how the multi-file program
    language is tested.
    """

    hello: str | None = None
    stdin: str | None = "world"
    expected: str = "hello, world"
    compile_error: str | None = None
    runtime_error: str | None = None
    files: Mapping[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_yaml(cls, record: Any, where: str) -> SelfTest:
        if not isinstance(record, dict) or set(record) - {spec.name for spec in fields(cls)}:
            raise LanguageFileError(f"{where}: self_test must be a mapping with keys among "
                                    f"{[spec.name for spec in fields(cls)]}")
        test = cls(**{**record, "files": MappingProxyType(dict(record.get("files") or {}))})
        if test.hello is None and not test.files:
            raise LanguageFileError(f"{where}: self_test needs a hello program or files")
        return test


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
    # Programs proving the language works here (see SelfTest).
    self_test: SelfTest | None = None
    # Read-only host paths (globs) the toolchain needs besides /usr and bwrap.DEFAULT_ETC_PATHS.
    mounts: tuple[str, ...] = ()
    # Free-form per-language runtime settings for the sandbox (see languages.yml).
    runtime: Mapping[str, Any] = field(default_factory=dict, hash=False)
    # Floors for the compile step's process and memory (KB) limits, for heavy compilers.
    compile_processes: int | None = None
    compile_memory_kb: int | None = None
    # The container image its runs use with SANDBOX_BACKEND=docker (None: DOCKER_DEFAULT_IMAGE).
    image: str | None = None
    # The Judge0 version that added this id (None: 1.13.1 or earlier, or not a Judge0 id).
    introduced: str | None = None
    available: bool = False

    @property
    def is_project(self) -> bool:
        """The multi-file program language: user-supplied compile/run scripts, no source file."""
        return self.name == PROJECT_LANGUAGE_NAME

    @property
    def is_compiled(self) -> bool:
        """Has a compile step, which is also what makes ``compiler_options`` acceptable."""
        return self.compile_cmd is not None

    @property
    def version(self) -> str | None:
        """The version the name advertises: the first number in its parentheses
        (``C++ (GCC 12.2.0, replaces GCC 7.4.0)`` -> ``12.2.0``)."""
        match = _NAME_VERSION.search(self.name)
        return match.group(1) if match else None

    @property
    def reserves_address_space(self) -> bool:
        """The runtime maps far more virtual memory than it uses (JVM, V8, BEAM, SBCL...), so
        a per-process address-space limit would kill it; only the cgroup limit applies."""
        return bool(self.runtime.get("reserves_address_space"))

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

    def run_argv(self, command_line_arguments: str | None,
                 limits: Mapping[str, Any]) -> tuple[str, ...] | None:
        """``run.sh``'s line as the program's own argv when bash would do nothing with it but
        split it at spaces and start the program it names (the common case: the sandbox then
        starts the program itself, without a shell's start-up and fork on every run). None
        when the line needs a shell (see :func:`plain_words`) and for the project language."""
        line = self.run_command(command_line_arguments, limits)
        return None if line is None else plain_words(line)

    def programs(self) -> list[str]:
        """Binaries and files the commands need on this host, used to guess ``available``:
        the first word of every simple command (env assignments and ``./`` programs built in
        the box skipped) and every absolute path."""
        needed: list[str] = []
        for command in (self.compile_cmd, self.run_cmd):
            if command:
                needed += programs_in(command)
        return needed

    def is_installed(self) -> bool:
        """True if every program from :meth:`programs` exists on this host."""
        return all(
            os.path.exists(program) if program.startswith("/") else shutil.which(program)
            for program in self.programs()
        )


_VERSION = re.compile(r"(\d+(?:\.\d+)*)(?:-[\w.]+)?")


def version_key(version: str) -> tuple[int, ...]:
    """``"1.14.0"`` -> ``(1, 14, 0)``, for comparing Judge0 versions; a suffix (``-extra``)
    is ignored. ValueError when it is not a version."""
    match = _VERSION.fullmatch(version.strip())
    if match is None:
        raise ValueError(f"not a version: {version!r} (expected e.g. 1.14.0)")
    return tuple(int(part) for part in match.group(1).split("."))


def sort_by_name(languages: Iterable[Language]) -> list[Language]:
    """Languages in the order of Judge0's list endpoints: ``ORDER BY name`` under PostgreSQL's
    ``en_US.UTF-8`` collation (§13.1), ties broken by id."""
    items = list(languages)
    keys = collation_keys(language.name for language in items)
    return sorted(items, key=lambda language: (keys[language.name], language.id))



_YAML_KEYS = {spec.name for spec in fields(Language)} - {"available"}


# Where the catalog learns which languages the live workers can run: the ids, or None while
# no worker has finished its self-test (then the load-time guess stands).
AvailabilitySource = Callable[[], Collection[int] | None]


class LanguageCatalog:
    """All languages, by id, with the orders the list endpoints need precomputed."""

    def __init__(self, languages: Iterable[Language]) -> None:
        self._by_id: dict[int, Language] = {}
        for language in languages:
            if language.id in self._by_id:
                raise LanguageFileError(f"language id {language.id} is declared twice")
            self._by_id[language.id] = language
        self._order = [language.id for language in sort_by_name(self._by_id.values())]
        self._source: AvailabilitySource | None = None
        self._overlay: tuple[Collection[int], dict[int, Language]] | None = None

    def follow(self, source: AvailabilitySource) -> None:
        """Take ``available`` from ``source`` (the workers' reports) whenever it has an answer;
        the API does this so that ``/languages`` and the submission check agree with what the
        workers can actually run."""
        self._source = source
        self._overlay = None

    def _reported(self) -> Collection[int] | None:
        return self._source() if self._source is not None else None

    def _view(self, language: Language, ids: Collection[int] | None) -> Language:
        if ids is None:
            return language
        if self._overlay is None or self._overlay[0] is not ids:
            self._overlay = (ids, {})  # a new report: forget the copies made for the old one
        copies = self._overlay[1]
        if language.id not in copies:
            copies[language.id] = replace(language, available=language.id in ids)
        return copies[language.id]

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None, *, detect_available: bool = True,
             judge0_version: str | None = None) -> LanguageCatalog:
        """Read ``languages.yml``; with ``detect_available`` each language's ``available`` is
        guessed from whether the binaries its commands name exist on this host. With
        ``judge0_version``, ids a later Judge0 version introduced are left out, as that
        version's server would not know them."""
        path = Path(path) if path is not None else DEFAULT_LANGUAGES_FILE
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            raise LanguageFileError(f"cannot load {path}: {error}") from error
        if not isinstance(document, dict) or not isinstance(document.get("languages"), list):
            raise LanguageFileError(f"{path}: expected a top-level 'languages:' list")
        languages = [_language_from_yaml(record, path) for record in document["languages"]]
        if judge0_version is not None:
            served = version_key(judge0_version)
            languages = [language for language in languages if language.introduced is None
                         or version_key(language.introduced) <= served]
        if detect_available:
            languages = [replace(language, available=language.is_installed())
                         for language in languages]
        return cls(languages)

    def get(self, language_id: int | None) -> Language | None:
        """The language with that id, archived ones included; None if unknown."""
        language = self._by_id.get(language_id) if language_id is not None else None
        return self._view(language, self._reported()) if language is not None else None

    def all(self) -> list[Language]:
        """Every language in ``GET /languages/all`` order."""
        ids = self._reported()
        return [self._view(self._by_id[language_id], ids) for language_id in self._order]

    def active(self) -> list[Language]:
        """Non-archived languages in ``GET /languages`` order."""
        return [language for language in self.all() if not language.is_archived]

    def set_available(self, language_id: int, available: bool) -> None:
        """Record the outcome of a worker's self-test for one language."""
        language = self._by_id.get(language_id)
        if language is None:
            raise KeyError(f"unknown language id {language_id}")
        self._by_id[language_id] = replace(language, available=available)
        self._overlay = None

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Language]:
        """Languages in ``GET /languages/all`` order."""
        return iter(self.all())


# Paths the sandbox builds itself; a language cannot have the host's bound over them.
_SANDBOX_OWNED = ("", "/box", "/tmp", "/proc", "/dev", "/etc", "/usr")


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
    values["mounts"] = tuple(values.get("mounts") or ())
    if values.get("self_test") is not None:
        values["self_test"] = SelfTest.from_yaml(values["self_test"], where)
    for mount in values["mounts"]:
        if not mount.startswith("/") or mount.rstrip("/") in _SANDBOX_OWNED:
            raise LanguageFileError(f"{where}: mounts must be absolute host paths outside "
                                    f"{', '.join(_SANDBOX_OWNED)}: {mount!r}")
    language = Language(**values)
    if not isinstance(language.id, int) or not isinstance(language.name, str) or not language.name:
        raise LanguageFileError(f"{where}: id must be an integer and name a non-empty string")
    if not language.is_project and not (language.source_file and language.run_cmd):
        raise LanguageFileError(f"{where}: source_file and run_cmd are required")
    if language.compile_cmd is not None and language.compile_cmd.count("%s") != 1:
        raise LanguageFileError(f"{where}: compile_cmd must contain exactly one %s")
    if language.introduced is not None:
        try:
            version_key(language.introduced)
        except (ValueError, AttributeError) as error:
            raise LanguageFileError(f"{where}: introduced: {error}") from error
    return language
