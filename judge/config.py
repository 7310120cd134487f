"""Configuration: every Judge0 variable (§12 of docs/judge0-contract.md) under its Judge0
name, plus ours.

An operator must be able to bring an existing ``judge0.conf``, so the variable names, defaults
and the quirky parsing rules are Judge0's, taken from its code rather than its comments:

* a switch that defaults to false is turned on only by the exact string ``true``, and one that
  defaults to true is turned off only by the exact string ``false``;
* numbers use the default when blank, otherwise Ruby ``to_i``/``to_f`` (garbage gives 0);
* lists are split on whitespace.

Values come from an optional ``judge0.conf``-style file, overridden by the environment.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any
from urllib.parse import quote

from judge.conf_file import ConfigError, read_conf_file
from judge.contract.languages import version_key
from judge.contract.wire import ruby_to_f, ruby_to_i

__all__ = ["Config", "ConfigError", "read_conf_file"]

DEFAULT_DATABASE_URL = "postgresql://judge:judge@127.0.0.1:5432/judge"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

Parser = Callable[[str, Any], Any]


def _is_blank(raw: str) -> bool:
    return raw.strip() == ""


def _parse_flag(raw: str, default: bool) -> bool:
    return raw != "false" if default else raw == "true"


def _parse_int(raw: str, default: int) -> int:
    return default if _is_blank(raw) else ruby_to_i(raw)


def _parse_float(raw: str, default: float) -> float:
    return default if _is_blank(raw) else ruby_to_f(raw)


def _parse_text(raw: str, default: str | None) -> str | None:
    return default if raw == "" else raw


def _parse_list(raw: str, default: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(raw.split())


def _var(env: str, parse: Parser, default: Any = MISSING, *, factory: Any = MISSING,
         secret: bool = False, compare: bool = True) -> Any:
    """A dataclass field read from variable ``env``. Secrets stay out of repr()."""
    return field(default=default, default_factory=factory, repr=not secret, compare=compare,
                 metadata={"env": env, "parse": parse})


def _flag(env: str, default: bool) -> Any:
    return _var(env, _parse_flag, default)


def _int(env: str, default: Any = MISSING, *, factory: Any = MISSING) -> Any:
    return _var(env, _parse_int, default, factory=factory)


def _float(env: str, default: float) -> Any:
    return _var(env, _parse_float, default)


def _text(env: str, default: str | None, *, secret: bool = False) -> Any:
    return _var(env, _parse_text, default, secret=secret)


def _list(env: str, *, secret: bool = False) -> Any:
    return _var(env, _parse_list, (), secret=secret)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _parse_duration(raw: str, default: float) -> float:
    """Seconds from ``3600``, ``90s``, ``15m``, ``12h``, ``30d`` or ``2w``; blank, ``0`` or
    ``off`` give 0 (off). Anything else is an error: a typo must not purge or keep data."""
    text = raw.strip().lower()
    if text in ("", "off"):
        return default if text == "" else 0.0
    match = _DURATION.fullmatch(text)
    if not match:
        raise ConfigError(f"expected a duration such as 86400, 12h or 30d, got {raw!r}")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _parse_version(raw: str, default: str) -> str:
    """The Judge0 version to mirror: 1.13.1 or 1.14.0 (a later one serves 1.14.0's ids)."""
    text = raw.strip() or default
    try:
        version_key(text)
    except ValueError:
        raise ConfigError(f"JUDGE0_VERSION must be a version such as 1.14.0 or 1.13.1, "
                          f"got {raw!r}") from None
    return text


def _nproc() -> int:
    return os.cpu_count() or 1


@dataclass(frozen=True)
class Config:
    """The effective configuration; build it with :meth:`Config.load`."""

    # §12.1 Server
    judge0_telemetry_enable: bool = _flag("JUDGE0_TELEMETRY_ENABLE", True)
    restart_max_tries: int = _int("RESTART_MAX_TRIES", 10)
    maintenance_mode: bool = _flag("MAINTENANCE_MODE", False)
    maintenance_message: str = _text("MAINTENANCE_MESSAGE", "Judge0 is currently in maintenance.")
    enable_wait_result: bool = _flag("ENABLE_WAIT_RESULT", True)
    enable_compiler_options: bool = _flag("ENABLE_COMPILER_OPTIONS", True)
    allowed_languages_for_compiler_options: tuple[str, ...] = _list(
        "ALLOWED_LANGUAGES_FOR_COMPILER_OPTIONS")
    enable_command_line_arguments: bool = _flag("ENABLE_COMMAND_LINE_ARGUMENTS", True)
    enable_submission_delete: bool = _flag("ENABLE_SUBMISSION_DELETE", False)
    enable_batched_submissions: bool = _flag("ENABLE_BATCHED_SUBMISSIONS", True)
    max_submission_batch_size: int = _int("MAX_SUBMISSION_BATCH_SIZE", 20)
    enable_callbacks: bool = _flag("ENABLE_CALLBACKS", True)
    callbacks_max_tries: int = _int("CALLBACKS_MAX_TRIES", 3)
    callbacks_timeout: float = _float("CALLBACKS_TIMEOUT", 5.0)
    enable_additional_files: bool = _flag("ENABLE_ADDITIONAL_FILES", True)
    submission_cache_duration: float = _float("SUBMISSION_CACHE_DURATION", 1.0)
    use_docs_as_homepage: bool = _flag("USE_DOCS_AS_HOMEPAGE", False)
    # Project decision: default true, i.e. the released v1.13.1 behaviour (plain text unless
    # base64_encoded=true). DISABLE_IMPLICIT_BASE64_ENCODING=false gives Judge0 master's.
    disable_implicit_base64_encoding: bool = _flag("DISABLE_IMPLICIT_BASE64_ENCODING", True)

    # §12.2 Workers
    interval: float = _float("INTERVAL", 0.1)
    count: int = _int("COUNT", factory=lambda: 2 * _nproc())
    max_queue_size: int = _int("MAX_QUEUE_SIZE", 100)

    # §12.3 Access
    allow_origin: tuple[str, ...] = _list("ALLOW_ORIGIN")
    disallow_origin: tuple[str, ...] = _list("DISALLOW_ORIGIN")
    allow_ip: tuple[str, ...] = _list("ALLOW_IP")
    disallow_ip: tuple[str, ...] = _list("DISALLOW_IP")

    # §12.4 Authentication and authorization
    authn_header: str = _text("AUTHN_HEADER", "X-Auth-Token")
    authn_token: tuple[str, ...] = _list("AUTHN_TOKEN", secret=True)
    authz_header: str = _text("AUTHZ_HEADER", "X-Auth-User")
    authz_token: tuple[str, ...] = _list("AUTHZ_TOKEN", secret=True)

    # §12.5 Infrastructure; only used to build database_url / redis_url when those are unset.
    redis_host: str = _text("REDIS_HOST", "localhost")
    redis_port: int = _int("REDIS_PORT", 6379)
    redis_password: str | None = _text("REDIS_PASSWORD", None, secret=True)
    resque_namespace: str | None = _text("RESQUE_NAMESPACE", None)
    postgres_host: str = _text("POSTGRES_HOST", "localhost")
    postgres_port: int = _int("POSTGRES_PORT", 5432)
    postgres_db: str = _text("POSTGRES_DB", "postgres")
    postgres_user: str = _text("POSTGRES_USER", "postgres")
    postgres_password: str | None = _text("POSTGRES_PASSWORD", None, secret=True)
    rails_env: str = _text("RAILS_ENV", "production")
    rails_max_threads: int = _int("RAILS_MAX_THREADS", factory=_nproc)
    rails_server_processes: int = _int("RAILS_SERVER_PROCESSES", 2)
    # Random per process unless set, as in Judge0; not part of a Config's identity.
    secret_key_base: str = _var("SECRET_KEY_BASE", _parse_text,
                                factory=lambda: secrets.token_hex(64), secret=True, compare=False)

    # §12.6 Submission limits and defaults
    cpu_time_limit: float = _float("CPU_TIME_LIMIT", 5.0)
    max_cpu_time_limit: float = _float("MAX_CPU_TIME_LIMIT", 15.0)
    cpu_extra_time: float = _float("CPU_EXTRA_TIME", 1.0)
    max_cpu_extra_time: float = _float("MAX_CPU_EXTRA_TIME", 5.0)
    wall_time_limit: float = _float("WALL_TIME_LIMIT", 10.0)
    max_wall_time_limit: float = _float("MAX_WALL_TIME_LIMIT", 20.0)
    memory_limit: int = _int("MEMORY_LIMIT", 128000)
    max_memory_limit: int = _int("MAX_MEMORY_LIMIT", 512000)
    stack_limit: int = _int("STACK_LIMIT", 64000)
    max_stack_limit: int = _int("MAX_STACK_LIMIT", 128000)
    max_processes_and_or_threads: int = _int("MAX_PROCESSES_AND_OR_THREADS", 60)
    max_max_processes_and_or_threads: int = _int("MAX_MAX_PROCESSES_AND_OR_THREADS", 120)
    enable_per_process_and_thread_time_limit: bool = _flag(
        "ENABLE_PER_PROCESS_AND_THREAD_TIME_LIMIT", False)
    allow_enable_per_process_and_thread_time_limit: bool = _flag(
        "ALLOW_ENABLE_PER_PROCESS_AND_THREAD_TIME_LIMIT", True)
    enable_per_process_and_thread_memory_limit: bool = _flag(
        "ENABLE_PER_PROCESS_AND_THREAD_MEMORY_LIMIT", False)
    allow_enable_per_process_and_thread_memory_limit: bool = _flag(
        "ALLOW_ENABLE_PER_PROCESS_AND_THREAD_MEMORY_LIMIT", True)
    max_file_size: int = _int("MAX_FILE_SIZE", 1024)
    max_max_file_size: int = _int("MAX_MAX_FILE_SIZE", 4096)
    number_of_runs: int = _int("NUMBER_OF_RUNS", 1)
    max_number_of_runs: int = _int("MAX_NUMBER_OF_RUNS", 20)
    redirect_stderr_to_stdout: bool = _flag("REDIRECT_STDERR_TO_STDOUT", False)
    max_extract_size: int = _int("MAX_EXTRACT_SIZE", 10240)
    # Judge0 defaults to true; networking is off unless the operator allows it (docs/languages.md)
    allow_enable_network: bool = _flag("ALLOW_ENABLE_NETWORK", False)
    enable_network: bool = _flag("ENABLE_NETWORK", False)

    # Outside judge0.conf in Judge0 (§12.5 "Not in the conf file", §10.7)
    port: int = _int("PORT", 2358)
    hostname: str = _var("HOSTNAME", _parse_text, factory=socket.gethostname)
    # The Judge0 release whose contract is served (/about, the language ids; docs/compatibility)
    judge0_version: str = _var("JUDGE0_VERSION", _parse_version, "1.14.0")
    homepage: str = _text("JUDGE0_HOMEPAGE", "https://judge0.com")
    source_code: str = _text("JUDGE0_SOURCE_CODE", "https://github.com/judge0/judge0")
    maintainer: str = _text("JUDGE0_MAINTAINER",
                            "Herman Zvonimir Došilović <hermanz.dosilovic@gmail.com>")

    # Ours
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str = field(default=DEFAULT_REDIS_URL, repr=False)
    max_request_body: int = _int("MAX_REQUEST_BODY_SIZE", 10 * 1024 * 1024)
    wait_timeout: float = _float("WAIT_RESULT_TIMEOUT", 60.0)
    sandbox_boxes_dir: str = _text("SANDBOX_BOXES_DIR", "/var/lib/judge/boxes")
    sandbox_first_uid: int = _int("SANDBOX_FIRST_UID", 60000)
    # cgroup v2: the subtree the workers manage (default: their own, if delegated); and the
    # host-wide favordynmods remount: "auto" on a host, never in a container (judge/sandbox)
    sandbox_cgroup_root: str | None = _text("SANDBOX_CGROUP_ROOT", None)
    sandbox_favor_dynmods: str | None = _text("SANDBOX_FAVOR_DYNMODS", "auto")
    # Sandbox backend: "native" (bubblewrap + cgroups, the default) or "docker" (a fresh
    # container per run, judge/sandbox/docker_backend.py). DOCKER_HOST as for the docker CLI
    # (default: the local socket); DOCKER_RUNTIME e.g. runsc; DOCKER_DEFAULT_IMAGE for languages
    # without an `image:` in languages.yml; DOCKER_SANDBOX_USER the uid:gid programs run as.
    sandbox_backend: str = _text("SANDBOX_BACKEND", "native")
    docker_host: str | None = _text("DOCKER_HOST", None)
    docker_runtime: str | None = _text("DOCKER_RUNTIME", None)
    docker_default_image: str = _text("DOCKER_DEFAULT_IMAGE", "judge0-engine:latest")
    docker_sandbox_user: str = _text("DOCKER_SANDBOX_USER", "65534:65534")
    # Recovery (judge/store/leases.py, workers/reconciler.py): a worker holds a submission for
    # LEASE_SECONDS and renews it while judging; every RECONCILE_INTERVAL seconds the fleet
    # re-queues expired leases and In Queue submissions missing from the queue for longer than
    # RECONCILE_QUEUED_AFTER seconds.
    # Per-client limit on creating submissions (api/ratelimit.py): 0 requests = off.
    rate_limit_requests: int = _int("RATE_LIMIT_REQUESTS", 0)
    rate_limit_window: float = _float("RATE_LIMIT_WINDOW", 60.0)
    database_timeout: float = _float("DATABASE_TIMEOUT", 5.0)  # wait for a pooled connection
    lease_seconds: float = _float("LEASE_SECONDS", 30.0)
    reconcile_interval: float = _float("RECONCILE_INTERVAL", 10.0)
    reconcile_queued_after: float = _float("RECONCILE_QUEUED_AFTER", 15.0)
    # A pending callback whose owner stopped renewing its claim (LEASE_SECONDS) lost its
    # worker: send it again, though never sooner than this long after its verdict.
    callbacks_resend_after: float = _float("CALLBACKS_RESEND_AFTER", 120.0)
    # `fields=*` returns the 35 attributes of the released Judge0 1.13.1, which the official
    # SDKs expect (they set every key they receive on a model without the other five);
    # MASTER_STAR_FIELDS=true returns master's 40 (started_at, queued_at, updated_at,
    # queue_host, execution_host). Those five can always be named in `fields`.
    master_star_fields: bool = _flag("MASTER_STAR_FIELDS", False)
    # Callbacks (judge/callbacks.py): when CALLBACK_SIGNING_SECRET is set, every callback
    # carries `X-Judge0-Signature-256: sha256=<hex HMAC-SHA256 of the body>`. CALLBACKS_DENY
    # lists the address classes (link-local, loopback, private) or CIDR networks a callback
    # may not reach, checked on the resolved address of the URL and of every redirect; set it
    # empty to allow everything. An attempt, redirects included, has 3 × CALLBACKS_TIMEOUT.
    # CALLBACKS_THREADS deliveries run at once per worker, beside the judging.
    callback_signing_secret: str | None = _text("CALLBACK_SIGNING_SECRET", None, secret=True)
    callbacks_deny: tuple[str, ...] = _var("CALLBACKS_DENY", _parse_list, ("link-local",))
    callbacks_threads: int = _int("CALLBACKS_THREADS", 4)
    # Operations (docs/operations.md): logs of the API and worker processes, one JSON object
    # per line or text (judge/logs.py); finished submissions older than SUBMISSION_RETENTION
    # (a duration: 86400, 12h, 30d; 0 or unset = keep forever) are purged by the workers'
    # reconcilers (judge/store/retention.py).
    log_format: str = _text("LOG_FORMAT", "json")
    log_level: str = _text("LOG_LEVEL", "INFO")
    access_log: bool = _flag("ACCESS_LOG", True)  # the API's line per request
    submission_retention: float = _var("SUBMISSION_RETENTION", _parse_duration, 0.0)
    # Access (api/access.py): the client address is the peer's, or, when the peer is one of
    # these proxies (IPs or CIDR networks; default: loopback only, unlike Rails' private
    # ranges, which would let any client on a private network name its own address), the
    # last address in X-Forwarded-For that is not a trusted proxy.
    trusted_proxies: tuple[str, ...] = _var("TRUSTED_PROXIES", _parse_list,
                                            ("127.0.0.0/8", "::1/128"))
    # Slow clients (api/guard.py): headers within CLIENT_HEADER_TIMEOUT seconds, the body
    # within CLIENT_BODY_TIMEOUT and, after its first CLIENT_BODY_GRACE seconds, at
    # CLIENT_BODY_MIN_RATE bytes/s at least, else 408; an address (but a trusted proxy's) holds
    # at most MAX_CONNECTIONS_PER_CLIENT connections to one API process (0: no cap).
    client_header_timeout: float = _float("CLIENT_HEADER_TIMEOUT", 10.0)
    client_body_timeout: float = _float("CLIENT_BODY_TIMEOUT", 60.0)
    client_body_grace: float = _float("CLIENT_BODY_GRACE", 5.0)
    client_body_min_rate: int = _int("CLIENT_BODY_MIN_RATE", 1024)
    max_connections_per_client: int = _int("MAX_CONNECTIONS_PER_CLIENT", 256)
    # Compile cache (judge/judging/compile_cache.py): identical compilations share one artifact in
    # Redis. Sizes in KB like Judge0's: the cache's total and one artifact's largest (bigger
    # ones are not cached); COMPILE_CACHE_SIZE=0 turns it off. Unused artifacts expire after
    # COMPILE_CACHE_TTL seconds.
    compile_cache_size: int = _int("COMPILE_CACHE_SIZE", 256 * 1024)
    compile_cache_max_artifact: int = _int("COMPILE_CACHE_MAX_ARTIFACT", 8 * 1024)
    compile_cache_ttl: int = _int("COMPILE_CACHE_TTL", 86400)
    # Problems (docs/problems.md), in KB: one version's test data and files, and a worker
    # host's local copy of test data (<SANDBOX_BOXES_DIR>/test-data, least recently used out).
    problem_max_size: int = _int("PROBLEM_MAX_SIZE", 256 * 1024)
    test_data_cache_size: int = _int("TEST_DATA_CACHE_SIZE", 2 * 1024 * 1024)
    # The web playground at `/` for browsers (api/resources/playground.py); false: `/` is
    # Judge0's for every client.
    playground_enabled: bool = _flag("PLAYGROUND_ENABLED", True)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None,
             conf_file: str | os.PathLike[str] | None = None) -> Config:
        """Read ``conf_file`` (or the file named by ``JUDGE0_CONF``), then the environment,
        which wins over the file for every variable it sets."""
        environ = os.environ if environ is None else environ
        path = conf_file if conf_file is not None else environ.get("JUDGE0_CONF") or None
        variables = {**(read_conf_file(path) if path is not None else {}), **environ}
        values = {
            spec.name: spec.metadata["parse"](variables[spec.metadata["env"]], _default_of(spec))
            for spec in fields(cls)
            if "env" in spec.metadata and spec.metadata["env"] in variables
        }
        config = cls(**values)
        return replace(config, database_url=_database_url(variables, config),
                       redis_url=_redis_url(variables, config))

    def config_info(self) -> dict[str, Any]:
        """The body of ``GET /config_info`` (§10.4): Judge0's keys, order and JSON types
        (float settings stay floats, lists are lists)."""
        info: dict[str, Any] = {}
        for key in _CONFIG_INFO_KEYS:
            name = _CONFIG_INFO_RENAMES.get(key, key)
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = list(value)
            elif name in _FLOAT_FIELDS:
                value = float(value)
            info[key] = value
        return info


# GET /config_info keys, in Judge0's order.
_CONFIG_INFO_KEYS = (
    "maintenance_mode", "enable_wait_result", "enable_compiler_options",
    "allowed_languages_for_compile_options", "enable_command_line_arguments",
    "enable_submission_delete", "enable_callbacks", "callbacks_max_tries", "callbacks_timeout",
    "enable_additional_files", "max_queue_size", "cpu_time_limit", "max_cpu_time_limit",
    "cpu_extra_time", "max_cpu_extra_time", "wall_time_limit", "max_wall_time_limit",
    "memory_limit", "max_memory_limit", "stack_limit", "max_stack_limit",
    "max_processes_and_or_threads", "max_max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit", "allow_enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "allow_enable_per_process_and_thread_memory_limit", "max_file_size", "max_max_file_size",
    "number_of_runs", "max_number_of_runs", "redirect_stderr_to_stdout", "max_extract_size",
    "enable_batched_submissions", "max_submission_batch_size", "submission_cache_duration",
    "use_docs_as_homepage", "allow_enable_network", "enable_network",
    "disable_implicit_base64_encoding",
)
# Judge0 spells this key "compile", its variable "COMPILER".
_CONFIG_INFO_RENAMES = {
    "allowed_languages_for_compile_options": "allowed_languages_for_compiler_options",
}
_FLOAT_FIELDS = frozenset(spec.name for spec in fields(Config) if isinstance(spec.default, float))


def _default_of(spec: Field[Any]) -> Any:
    if spec.default is not MISSING:
        return spec.default
    return spec.default_factory()  # type: ignore[misc]


def _database_url(variables: Mapping[str, str], config: Config) -> str:
    """``DATABASE_URL``, else a URL built from Judge0's ``POSTGRES_*`` variables if any is
    set (missing parts take Judge0's defaults), else our local default."""
    if variables.get("DATABASE_URL"):
        return variables["DATABASE_URL"]
    names = ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD")
    if not any(variables.get(name) for name in names):
        return DEFAULT_DATABASE_URL
    credentials = quote(config.postgres_user, safe="")
    if config.postgres_password:
        credentials += ":" + quote(config.postgres_password, safe="")
    return (f"postgresql://{credentials}@{config.postgres_host}:{config.postgres_port}/"
            f"{quote(config.postgres_db, safe='')}")


def _redis_url(variables: Mapping[str, str], config: Config) -> str:
    """``REDIS_URL``, else one built from ``REDIS_HOST``/``REDIS_PORT``/``REDIS_PASSWORD`` if
    any is set, else our local default."""
    if variables.get("REDIS_URL"):
        return variables["REDIS_URL"]
    if not any(variables.get(name) for name in ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD")):
        return DEFAULT_REDIS_URL
    credentials = f":{quote(config.redis_password, safe='')}@" if config.redis_password else ""
    return f"redis://{credentials}{config.redis_host}:{config.redis_port}/0"
