"""The long-lived collaborators a process needs, built once from the configuration.

The API process gets an `AppContext` (database pool, queue, languages); a worker process a
`WorkerContext`, which adds its claimed sandbox box and the judging pipeline.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .config import Config
from .language_reports import LanguageReports
from .languages import LanguageCatalog
from .leases import Leases
from .pipeline import Pipeline
from .queue import JobQueue
from .sandbox import NativeSandbox, SandboxSettings, SandboxUnavailable, open_sandbox
from .storage import Storage


@dataclass
class AppContext:
    config: Config
    storage: Storage
    queue: JobQueue
    languages: LanguageCatalog

    @classmethod
    def create(cls, config: Config | None = None) -> AppContext:
        config = config or Config.load()
        queue = JobQueue(config.redis_url, config.judge0_version)
        languages = LanguageCatalog.load()
        # Available = what the live workers' self-tests passed (judge/language_reports.py).
        languages.follow(LanguageReports(queue.redis, queue.name).available_ids)
        return cls(config, Storage(config.database_url, timeout=config.database_timeout),
                   queue, languages)

    def close(self) -> None:
        self.storage.close()
        self.queue.close()


def open_cli_sandbox(config: Config) -> NativeSandbox | None:
    """A sandbox for a one-off command (`judge run`, `judge languages check`), or None after
    telling the user on stderr why this host cannot run one."""
    try:
        return open_sandbox(sandbox_settings(config))
    except SandboxUnavailable as e:
        print(f"cannot run the sandbox: {e}", file=sys.stderr)
        return None


def sandbox_settings(config: Config) -> SandboxSettings:
    return SandboxSettings(boxes_dir=Path(config.sandbox_boxes_dir),
                           first_uid=config.sandbox_first_uid)


@dataclass
class WorkerContext(AppContext):
    sandbox: NativeSandbox
    pipeline: Pipeline
    leases: Leases

    @property
    def worker_id(self) -> str:
        """Unique among live workers: host, process and box."""
        return f"{self.config.hostname}:{os.getpid()}:box{self.sandbox.box.id}"

    @classmethod
    def create(cls, config: Config | None = None) -> WorkerContext:
        config = config or Config.load()
        sandbox = open_sandbox(sandbox_settings(config))  # refuses to start without isolation
        base = AppContext.create(config)
        return cls(base.config, base.storage, base.queue, base.languages, sandbox,
                   Pipeline(sandbox, config), Leases(base.storage, config.lease_seconds))

    def close(self) -> None:
        super().close()
        self.sandbox.close()
