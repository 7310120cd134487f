"""The long-lived collaborators a process needs, built once from the configuration.

An API process gets an `ApiContext` (asyncio database pool, queue and live-event hub; the
languages); a worker process a `WorkerContext` (the blocking `AppContext`, plus its claimed
sandbox box and the judging pipeline). The command line uses `AppContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from judge.config import Config
from judge.contract.languages import LanguageCatalog
from judge.event_hub import EventHub
from judge.judging.compile_cache import CompileCache
from judge.judging.pipeline import Compiled, Pipeline
from judge.judging.problems import ProblemJudge
from judge.language_reports import LanguageReports
from judge.problems.cache import TestDataCache
from judge.queue import AsyncJobQueue, JobQueue
from judge.sandbox import Sandbox, SandboxSettings, SandboxUnavailable, open_sandbox
from judge.sandbox.host import in_container
from judge.store.async_submissions import AsyncStorage
from judge.store.leases import Leases
from judge.store.problems import AsyncProblemStore, ProblemStore
from judge.store.submissions import Storage

if TYPE_CHECKING:
    from judge.contract.languages import Language
    from judge.sandbox.docker_backend import DockerSettings

log = logging.getLogger(__name__)
LANGUAGE_REFRESH_SECONDS = 2.0  # how stale /languages may be after a worker's report changes


@dataclass
class AppContext:
    config: Config
    storage: Storage
    queue: JobQueue
    languages: LanguageCatalog

    @classmethod
    def create(cls, config: Config, *, flush_commits: bool = True) -> AppContext:
        """``flush_commits``: see Storage (workers pass False)."""
        queue = JobQueue(config.redis_url, config.judge0_version)
        languages = LanguageCatalog.load(judge0_version=config.judge0_version)
        # Available = what the live workers' self-tests passed (judge/language_reports.py).
        languages.follow(LanguageReports(queue.redis, queue.name).available_ids)
        return cls(config, Storage(config.database_url, timeout=config.database_timeout,
                                   flush_commits=flush_commits), queue, languages)

    def close(self) -> None:
        self.storage.close()
        self.queue.close()


@dataclass
class ApiContext:
    """An API process's collaborators. Requests use the asyncio ones (`storage`, `queue`,
    `hub`, `problems`); the few endpoints built on libraries that only block (RQ's worker registry for
    /workers, the Prometheus collector, the statistics) run `admin`'s in a thread."""

    config: Config
    storage: AsyncStorage
    queue: AsyncJobQueue
    hub: EventHub
    languages: LanguageCatalog
    admin: AppContext
    problems: AsyncProblemStore  # on `storage`'s pool
    _refresher: asyncio.Task[None] | None = None
    _available: Any = None

    @classmethod
    def create(cls, config: Config) -> ApiContext:
        """Nothing connects yet: `open()` does, inside the serving event loop."""
        admin = AppContext(config, Storage(config.database_url, min_size=0, max_size=2,
                                           timeout=config.database_timeout, open=False),
                           JobQueue(config.redis_url, config.judge0_version),
                           LanguageCatalog.load(judge0_version=config.judge0_version))
        storage = AsyncStorage(config.database_url, timeout=config.database_timeout)
        context = cls(config, storage, AsyncJobQueue(config.redis_url, config.judge0_version),
                      EventHub(config.redis_url), admin.languages, admin,
                      AsyncProblemStore(storage))
        context.languages.follow(lambda: context._available)
        return context

    async def open(self) -> None:
        """Connect (the database pool fills in the background: an outage at start-up is a
        503 per request, not a process that cannot start) and start following the workers'
        language reports."""
        self.admin.storage.open()
        await self.storage.open()
        try:
            await self.queue.open()
        except redis.exceptions.RedisError as e:  # queued later (the reconciler), asked later
            log.warning("the queue is unavailable at start-up: %s", e)
        await self.hub.start()
        reports = LanguageReports(self.admin.queue.redis, self.admin.queue.name,
                                  cache_seconds=0)
        self._available = await asyncio.to_thread(reports.available_ids)
        self._refresher = asyncio.create_task(self._follow(reports), name="language-reports")

    async def _follow(self, reports: LanguageReports) -> None:
        while True:
            await asyncio.sleep(LANGUAGE_REFRESH_SECONDS)
            self._available = await asyncio.to_thread(reports.available_ids)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.hub.close()
        await self.queue.close()
        await self.storage.close()
        self.admin.close()


def open_configured_sandbox(config: Config) -> Sandbox:
    """The sandbox of the SANDBOX_BACKEND setting; raises SandboxUnavailable naming the fix."""
    if config.sandbox_backend == "docker":
        from judge.sandbox.docker_backend import open_docker_sandbox  # the docker SDK only if used

        return open_docker_sandbox(docker_settings(config))
    if config.sandbox_backend != "native":
        raise SandboxUnavailable(f"SANDBOX_BACKEND must be native or docker, not "
                                 f"{config.sandbox_backend!r}")
    return open_sandbox(sandbox_settings(config))


def open_cli_sandbox(config: Config) -> Sandbox | None:
    """A sandbox for a one-off command (`judge run`, `judge languages check`), or None after
    telling the user on stderr why this host cannot run one."""
    try:
        return open_configured_sandbox(config)
    except SandboxUnavailable as e:
        print(f"cannot run the sandbox: {e}", file=sys.stderr)
        return None


def sandbox_settings(config: Config) -> SandboxSettings:
    favor = config.sandbox_favor_dynmods
    return SandboxSettings(boxes_dir=Path(config.sandbox_boxes_dir),
                           first_uid=config.sandbox_first_uid,
                           cgroup_root=config.sandbox_cgroup_root,
                           favor_dynmods=not in_container() if favor == "auto" else favor == "true")


def docker_settings(config: Config) -> DockerSettings:
    from judge.sandbox.docker_backend import DockerSettings

    return DockerSettings(base_url=config.docker_host, image=config.docker_default_image,
                          runtime=config.docker_runtime, user=config.docker_sandbox_user,
                          allow_network=config.allow_enable_network)


class ImagePipeline(Pipeline):
    """With the docker backend, each language's runs use its own image (`image:` in
    languages.yml, else DOCKER_DEFAULT_IMAGE)."""

    def compile(self, row: dict[str, Any], language: Language) -> Compiled:
        self.sandbox.select_image(language.image)
        return super().compile(row, language)


def configured_pipeline(sandbox: Sandbox, config: Config, cache: CompileCache | None
                        ) -> Pipeline:
    return (ImagePipeline if config.sandbox_backend == "docker" else Pipeline)(
        sandbox, config, cache)


@dataclass
class WorkerContext(AppContext):
    sandbox: Sandbox
    pipeline: Pipeline
    leases: Leases
    problems: ProblemJudge
    helper: HelperPipeline

    @property
    def worker_id(self) -> str:
        """Unique among live workers: host, process and box."""
        return f"{self.config.hostname}:{os.getpid()}:box{self.sandbox.box.id}"

    @classmethod
    def create(cls, config: Config) -> WorkerContext:
        sandbox = open_configured_sandbox(config)  # refuses to start without isolation
        base = AppContext.create(config, flush_commits=False)  # verdicts can be redone
        cache = CompileCache.from_config(base.queue.redis, config)
        pipeline = configured_pipeline(sandbox, config, cache)
        store = ProblemStore(base.storage)
        helper = HelperPipeline(config, cache)
        problems = ProblemJudge(
            pipeline, helper.get, store,
            TestDataCache(Path(config.sandbox_boxes_dir) / "test-data", store,
                          config.test_data_cache_size * 1024),
            base.languages, config)
        return cls(base.config, base.storage, base.queue, base.languages, sandbox,
                   pipeline, Leases(base.storage, config.lease_seconds), problems, helper)

    def close(self) -> None:
        super().close()
        self.sandbox.close()
        self.helper.close()


class HelperPipeline:
    """A worker's second sandbox, for problems' checkers and interactors (another box and
    uid than the contestants'), opened when first needed and kept for the worker's life."""

    def __init__(self, config: Config, cache: CompileCache | None):
        self.config, self.cache = config, cache
        self._pipeline: Pipeline | None = None

    def get(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = configured_pipeline(open_configured_sandbox(self.config),
                                                 self.config, self.cache)
        return self._pipeline

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.sandbox.close()
