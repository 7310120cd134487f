"""Compile once: identical compilations share one artifact, kept in Redis for every worker.

Submissions with the same language (and toolchain), compiler options, source, additional files
and compile limits compile to the same box, so the first one's box, right after compiling, is
stored and the others restore it instead of compiling again. Workers on different hosts share
only Postgres and Redis, so the artifacts live in Redis:

* ``judge:cc:<sha256>`` - the artifact: the compile outcome (success or Compilation Error), its
  output and, on success, the box's files (judge/judging/compile_artifact.py);
* ``judge:cc:lru`` (key -> last use, ms), ``judge:cc:sizes`` (key -> bytes) and
  ``judge:cc:bytes`` (their total): the size bound, kept by Lua scripts so that concurrent
  workers never miscount; storing evicts the least recently used until the total fits;
* ``judge:cc:lock:<sha256>`` and ``judge:cc:wake:<sha256>``: single flight. The first worker
  to miss takes the lock and compiles; the others block on the wake list until it has stored
  the artifact (or died: the lock expires and a waiter compiles);
* ``judge:stats:compilations``, ``judge:stats:compile_cache_hits``,
  ``judge:stats:compile_cache_rejected``, ``judge:stats:compile_cache_evictions``: counters.

Only outcomes that the submission alone decides are stored: a successful compile and a
compiler's refusal (Compilation Error). A compile that hit a time limit, or that the sandbox
failed, could be the machine's load; it is never stored. Correctness never depends on the
cache: a miss, a dead lock holder, a Redis error or an artifact that fails validation all end
in an ordinary compilation.

An artifact read back from Redis is untrusted input: it is validated (compile_artifact.decode)
before anything touches the box, and restored only into a freshly reset box with the box's own
no-follow, create-exclusive writes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import time
import uuid
import zlib
from collections.abc import Iterator

import redis

from judge.config import Config
from judge.contract.languages import Language
from judge.judging.compile_artifact import (
    Artifact,
    ArtifactError,
    Entries,
    decode,
    parse,
    serialize,
)
from judge.sandbox import BoxError, BoxFiles, Outcome, RunResult

log = logging.getLogger(__name__)

PREFIX = "judge:cc:"
LRU, SIZES, TOTAL = PREFIX + "lru", PREFIX + "sizes", PREFIX + "bytes"
COMPILATIONS = "judge:stats:compilations"
HITS = "judge:stats:compile_cache_hits"
REJECTED = "judge:stats:compile_cache_rejected"
EVICTIONS = "judge:stats:compile_cache_evictions"
KEY_VERSION = b"judge-compile-cache-1"
POLL_SECONDS = 1.0  # a waiter re-checks at least this often, even without a wake signal
CACHEABLE = (Outcome.OK, Outcome.NONZERO_EXIT)  # decided by the submission, not the machine
# The lock covers the compile's wall-time limit plus this: box set-up, extracting the
# additional files (4 s at most), snapshot and store.
LOCK_MARGIN_SECONDS = 15.0

# -- the key ---------------------------------------------------------------------------------

def _field(value: bytes | str | None) -> bytes:
    """Length-prefixed, so that no two different field lists encode alike; None != b''."""
    if value is None:
        return b"\xff" * 8
    data = value.encode() if isinstance(value, str) else value
    return len(data).to_bytes(8, "big") + data


def toolchain_fingerprint(language: Language) -> str:
    """Which build of the toolchain this host has: path, size and mtime of every program the
    language's commands name, so that hosts with different compiler builds never share
    artifacts (the version in the name alone would not notice a rebuilt package)."""
    parts = []
    for program in language.programs():
        path = program if program.startswith("/") else shutil.which(program)
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        real = os.path.realpath(path) if path else program
        parts.append(f"{real}:{st.st_size}:{st.st_mtime_ns}" if st else f"{program}:missing")
    return "\n".join(parts)


def artifact_key(language: Language, toolchain: str, *parts: bytes | str | None) -> str:
    """sha256 over the language's identity, the toolchain and `parts` (whatever else decides
    the compile: the scripts, the limits, the source, the additional files)."""
    identity = [KEY_VERSION, str(language.id), language.name, language.source_file,
                language.compile_cmd, language.run_cmd, "\n".join(language.mounts),
                repr(sorted(language.runtime.items())), toolchain]
    digest = hashlib.sha256()
    for value in (*identity, *parts):
        digest.update(_field(value))
    return digest.hexdigest()


# -- Redis scripts ---------------------------------------------------------------------------

# forget(member): drop one artifact and its accounting; returns the new total.
_FORGET = """
local function forget(member)
  local size = redis.call('HGET', KEYS[2], member)
  redis.call('ZREM', KEYS[1], member)
  redis.call('HDEL', KEYS[2], member)
  redis.call('DEL', ARGV[1] .. member)
  if size then return redis.call('DECRBY', KEYS[3], size) end
  return tonumber(redis.call('GET', KEYS[3]) or '0')
end
"""
_NOW = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"""
# KEYS lru sizes total evictions; ARGV prefix hex data ttl max_total
_PUT = _FORGET + _NOW + """
local hex, data, ttl, max_total = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
for _, stale in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - ttl * 1000,
                                  'LIMIT', 0, 100)) do
  forget(stale)  -- unused for a whole TTL: its artifact has expired
end
forget(hex)
redis.call('SET', ARGV[1] .. hex, data, 'EX', ttl)
redis.call('HSET', KEYS[2], hex, #data)
redis.call('ZADD', KEYS[1], now, hex)
local total = redis.call('INCRBY', KEYS[3], #data)
local evicted = 0
while total > max_total do
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if not oldest then break end
  total = forget(oldest)
  evicted = evicted + 1
end
if evicted > 0 then redis.call('INCRBY', KEYS[4], evicted) end
return evicted
"""
# KEYS lru sizes total; ARGV prefix hex
_DELETE = _FORGET + "return forget(ARGV[2])"
# KEYS lru; ARGV prefix hex ttl: the artifact, its last use and its TTL refreshed.
_GET = _NOW + """
local data = redis.call('GET', ARGV[1] .. ARGV[2])
if data then
  redis.call('ZADD', KEYS[1], 'XX', now_ms(), ARGV[2])
  redis.call('EXPIRE', ARGV[1] .. ARGV[2], ARGV[3])
end
return data
"""
# KEYS lock wake uncacheable; ARGV token ms -> LOCKED, UNCACHEABLE (compile without waiting)
# or the ms left on another holder's lock.
_LOCK = """
if redis.call('EXISTS', KEYS[3]) == 1 then return -2 end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  return -1
end
return math.max(redis.call('PTTL', KEYS[1]), 0)
"""
LOCKED, UNCACHEABLE = -1, -2
# KEYS lock wake uncacheable; ARGV token published ms
_UNLOCK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == '0' then redis.call('SET', KEYS[3], '1', 'PX', ARGV[3]) end
redis.call('RPUSH', KEYS[2], '1')
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1
"""
# KEYS lock wake; ARGV ms: a woken waiter wakes the next one, unless a new holder compiles.
_PASS = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('RPUSH', KEYS[2], '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
"""


# -- the cache -------------------------------------------------------------------------------

class CompileCache:
    """The shared artifact store. `max_bytes` = 0 turns caching off (compilations are still
    counted); `max_artifact` bounds one artifact's inflated size; `lock_seconds` must cover
    preparing the box, compiling and storing."""

    def __init__(self, client: redis.Redis, max_bytes: int, max_artifact: int,
                 ttl: int = 86400, lock_seconds: float = 60.0):
        self.redis = client
        self.max_bytes = max_bytes
        self.max_artifact = min(max_artifact, max_bytes)
        self.ttl = max(int(ttl), 1)
        self.lock_ms = max(int(lock_seconds * 1000), 1)
        self._toolchains: dict[int, str] = {}
        self._put = client.register_script(_PUT)
        self._delete = client.register_script(_DELETE)
        self._get = client.register_script(_GET)
        self._lock = client.register_script(_LOCK)
        self._unlock = client.register_script(_UNLOCK)
        self._pass = client.register_script(_PASS)

    @classmethod
    def from_config(cls, client: redis.Redis, config: Config) -> CompileCache:
        return cls(client, config.compile_cache_size * 1024,
                   config.compile_cache_max_artifact * 1024, config.compile_cache_ttl,
                   lock_seconds=config.max_wall_time_limit + LOCK_MARGIN_SECONDS)

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0 and self.max_artifact > 0

    def key(self, language: Language, *parts: bytes | str | None) -> str:
        if language.id not in self._toolchains:
            self._toolchains[language.id] = toolchain_fingerprint(language)
        return artifact_key(language, self._toolchains[language.id], *parts)

    # -- storage -------------------------------------------------------------------------

    def get(self, key: str) -> Artifact | None:
        """The artifact, or None if absent or invalid (an invalid one is deleted)."""
        stored = self._get(keys=[LRU], args=[PREFIX, key, self.ttl])
        if stored is None:
            return None
        try:
            return decode(key, stored, self.max_artifact)
        except ArtifactError as e:
            self.reject(key, str(e))
            return None

    def put(self, key: str, artifact: Artifact) -> bool:
        """Store the artifact unless it is bigger than `max_artifact`; evicts as needed."""
        if sum(len(data or b"") for _, _, data in artifact.entries) > self.max_artifact:
            return False
        raw = serialize(key, artifact)
        if len(raw) > self.max_artifact:  # the bound `decode` applies when reading it back
            return False
        try:
            parse(key, raw)  # never store what reading it back would reject
        except ArtifactError as e:
            log.info("compile cache: %s not cached: %s", key, e)
            return False
        stored = zlib.compress(raw, 1)
        self._put(keys=[LRU, SIZES, TOTAL, EVICTIONS],
                  args=[PREFIX, key, stored, self.ttl, self.max_bytes])
        return True

    def reject(self, key: str, why: str) -> None:
        log.warning("compile cache: artifact %s rejected (%s); compiling instead", key, why)
        self._delete(keys=[LRU, SIZES, TOTAL], args=[PREFIX, key])
        self.redis.incr(REJECTED)

    def stored_bytes(self) -> int:
        return int(self.redis.get(TOTAL) or 0)

    # -- single flight ---------------------------------------------------------------------

    @contextlib.contextmanager
    def flight(self, key: str) -> Iterator[Flight]:
        """One judging's pass: enter with the artifact found (possibly after waiting for the
        worker compiling it) or with the duty to compile; leave to let waiters go on."""
        flight = Flight(self, key)
        try:
            if self.enabled:
                flight.artifact = self._find_or_lead(flight)
        except redis.RedisError as e:  # the cache is an optimisation: judge without it
            log.warning("compile cache unavailable (%s); compiling", e)
        try:
            yield flight
        finally:
            if flight.lock_token is not None:
                with contextlib.suppress(redis.RedisError):
                    self._unlock(keys=self._lock_keys(key),
                                 args=[flight.lock_token, int(flight.published), self.lock_ms])

    def _lock_keys(self, key: str) -> list[str]:
        return [f"{PREFIX}lock:{key}", f"{PREFIX}wake:{key}", f"{PREFIX}uncacheable:{key}"]

    def _find_or_lead(self, flight: Flight) -> Artifact | None:
        """The artifact, or None with `flight.lock_token` set (we compile, others wait), or
        None without it (compile unlocked: the last compile of this key was not cacheable,
        or waiting took too long)."""
        keys = self._lock_keys(flight.key)
        deadline = time.monotonic() + 2 * self.lock_ms / 1000
        while True:
            artifact = self.get(flight.key)
            if artifact is not None:
                return artifact
            token = uuid.uuid4().hex
            state = self._lock(keys=keys, args=[token, self.lock_ms])
            if state == UNCACHEABLE:
                return None
            if state == LOCKED:
                artifact = self.get(flight.key)  # stored between our look and our lock?
                if artifact is None:
                    flight.lock_token = token
                    return None
                self._unlock(keys=keys, args=[token, 1, self.lock_ms])
                return artifact
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning("compile cache: gave up waiting for %s; compiling", flight.key)
                return None
            # Woken by the holder's unlock; else look again when its lock would expire.
            timeout = max(min(left, POLL_SECONDS, state / 1000 + 0.01), 0.01)
            if self.redis.blpop([keys[1]], timeout=timeout) is not None:
                self._pass(keys=keys[:2], args=[self.lock_ms])

    def count(self, counter: str) -> None:
        with contextlib.suppress(redis.RedisError):
            self.redis.incr(counter)


class Flight:
    """A judging's use of the cache: `restore` what was found, or `publish` what it compiled.
    Without a cache (``Flight(None, "")``) both are no-ops."""

    def __init__(self, cache: CompileCache | None, key: str):
        self.cache, self.key = cache, key
        self.artifact: Artifact | None = None
        self.lock_token: str | None = None
        self.published = False

    def restore(self, box: BoxFiles) -> RunResult | None:
        """The compile result from the cache, the box reset to what compiling left (for a
        success); None on a miss or if the artifact cannot be restored."""
        artifact, self.artifact = self.artifact, None
        if artifact is None or self.cache is None:
            return None
        if artifact.outcome is Outcome.OK:
            box.reset()  # a box that cannot be reset fails the judging, cache or not
            try:
                box.restore(artifact.entries)
            except (OSError, BoxError) as e:
                with contextlib.suppress(redis.RedisError):
                    self.cache.reject(self.key, f"restore failed: {e}")
                return None
        self.cache.count(HITS)
        return RunResult(artifact.outcome, stdout=artifact.output)

    def publish(self, compiled: RunResult | None, box: BoxFiles) -> None:
        """Count a compilation that ran and store its result if the submission alone decided
        it (the box right after a successful compile, or the compiler's refusal)."""
        cache = self.cache
        if cache is None or compiled is None:
            return
        cache.count(COMPILATIONS)
        if not cache.enabled or compiled.outcome not in CACHEABLE:
            return
        entries: Entries = []
        try:
            if compiled.outcome is Outcome.OK:
                # Strict: a box holding a symlink, FIFO... cannot be reproduced from a snapshot.
                entries = box.snapshot(cache.max_artifact, strict=True)
            self.published = cache.put(self.key, Artifact(compiled.outcome, compiled.stdout,
                                                          entries))
        except BoxError:
            pass  # too big to cache, or not only files and directories
        except Exception as e:  # noqa: BLE001 - storing is an optimisation: judging goes on without it
            log.warning("compile cache: cannot store %s: %s", self.key, e)


def uncached() -> contextlib.AbstractContextManager[Flight]:
    """The flight of a compile that bypasses the cache (no cache, or nothing to compile)."""
    return contextlib.nullcontext(Flight(None, ""))
