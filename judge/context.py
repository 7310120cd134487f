"""The long-lived collaborators a process needs, built once from the configuration.

The API process gets an `AppContext` (database pool, queue, languages); a worker process a
`WorkerContext`, which adds its claimed sandbox box and the judging pipeline.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from judge.config import Config
from judge.contract.languages import LanguageCatalog
from judge.judging.compile_cache import CompileCache
from judge.judging.pipeline import Pipeline
from judge.language_reports import LanguageReports
from judge.queue import JobQueue
from judge.sandbox import Sandbox, SandboxSettings, SandboxUnavailable, open_sandbox
from judge.sandbox.host import in_container
from judge.store.leases import Leases
from judge.store.submissions import Storage

if TYPE_CHECKING:
    from judge.contract.languages import Language
    from judge.sandbox.docker_backend import DockerSettings


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

    def judge(self, row: dict[str, Any], language: Language) -> dict[str, Any]:
        self.sandbox.select_image(language.image)
        return super().judge(row, language)


@dataclass
class WorkerContext(AppContext):
    sandbox: Sandbox
    pipeline: Pipeline
    leases: Leases

    @property
    def worker_id(self) -> str:
        """Unique among live workers: host, process and box."""
        return f"{self.config.hostname}:{os.getpid()}:box{self.sandbox.box.id}"

    @classmethod
    def create(cls, config: Config) -> WorkerContext:
        sandbox = open_configured_sandbox(config)  # refuses to start without isolation
        base = AppContext.create(config, flush_commits=False)  # verdicts can be redone
        cache = CompileCache.from_config(base.queue.redis, config)
        pipeline = (ImagePipeline if config.sandbox_backend == "docker" else Pipeline)
        return cls(base.config, base.storage, base.queue, base.languages, sandbox,
                   pipeline(sandbox, config, cache), Leases(base.storage, config.lease_seconds))

    def close(self) -> None:
        super().close()
        self.sandbox.close()
