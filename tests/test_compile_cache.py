"""The compile cache against a real Redis: keys, the stored form and its validation, the size
bound with LRU eviction, and single flight (one compiles, the others wait, a dead holder's
lock expires). The end-to-end behaviour through workers is in tests/e2e/test_compile_cache.py."""

from __future__ import annotations

import os
import threading
import time
import zlib

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from judge.contract.languages import Language
from judge.judging.compile_artifact import Artifact, ArtifactError, decode, encode
from judge.judging.compile_cache import (
    COMPILATIONS,
    HITS,
    LRU,
    PREFIX,
    REJECTED,
    SIZES,
    CompileCache,
    artifact_key,
    toolchain_fingerprint,
)
from judge.sandbox import Outcome, RunResult

CPP = Language(id=54, name="C++ (GCC 12.2.0)", source_file="main.cpp",
               compile_cmd="/usr/bin/g++ %s main.cpp", run_cmd="./a.out")
KEY = "ab" * 32
FILES = [("a.out", 0o755, b"\x7fELF binary"), ("main.cpp", 0o644, b"int main(){}"),
         ("obj", 0o755, None), ("obj/x.o", 0o644, b"object")]
MB = 1024 * 1024


def make_cache(client: redis.Redis, max_bytes: int = 16 * MB, max_artifact: int = 4 * MB,
               lock_seconds: float = 5.0) -> CompileCache:
    return CompileCache(client, max_bytes, max_artifact, ttl=3600, lock_seconds=lock_seconds)


def counter(client: redis.Redis, name: str) -> int:
    return int(client.get(name) or 0)


def failed_compile(output: bytes = b"main.cpp:1: error") -> RunResult:
    return RunResult(Outcome.NONZERO_EXIT, exit_code=1, stdout=output)


# -- keys ------------------------------------------------------------------------------------

BASE = ("compile.sh", "run.sh", "Limits(cpu=15)", "Limits(extract)", b"int main(){}", None)


@pytest.mark.parametrize("index, other", [
    (0, "/usr/bin/g++ -O2 main.cpp"),  # compiler options end up in compile.sh
    (1, "./a.out --flag"),
    (2, "Limits(cpu=14)"),
    (3, "Limits(extract, bigger)"),
    (4, b"int main(){return 0;}"),
    (5, b"PK\x03\x04zip"),
])
def test_key_changes_with_every_input_the_compiler_sees(index, other):
    parts = list(BASE)
    parts[index] = other
    assert artifact_key(CPP, "gcc", *parts) != artifact_key(CPP, "gcc", *BASE)
    assert artifact_key(CPP, "gcc", *BASE) == artifact_key(CPP, "gcc", *BASE)


def test_key_changes_with_the_language_and_its_toolchain_build():
    base = artifact_key(CPP, "g++:1000:1", *BASE)
    assert artifact_key(Language(**{**CPP.__dict__, "id": 52}), "g++:1000:1", *BASE) != base
    assert artifact_key(Language(**{**CPP.__dict__, "compile_cmd": "/usr/bin/clang++ %s x"}),
                        "g++:1000:1", *BASE) != base
    assert artifact_key(CPP, "g++:1001:1", *BASE) != base


def test_key_fields_cannot_run_into_each_other_and_none_is_not_empty():
    assert artifact_key(CPP, "", "ab", "c") != artifact_key(CPP, "", "a", "bc")
    assert artifact_key(CPP, "", b"x", None) != artifact_key(CPP, "", b"x", b"")


def test_toolchain_fingerprint_follows_the_compiler_binary(tmp_path):
    compiler = tmp_path / "cc"
    compiler.write_bytes(b"#!/bin/sh\n")
    language = Language(id=1000, name="Test", source_file="x.c",
                        compile_cmd=f"{compiler} %s x.c", run_cmd="./a.out")
    before = toolchain_fingerprint(language)
    compiler.write_bytes(b"#!/bin/sh\n# rebuilt\n")
    assert toolchain_fingerprint(language) != before
    compiler.unlink()
    assert "missing" in toolchain_fingerprint(language)


# -- the stored form -------------------------------------------------------------------------

def test_encode_then_decode_gives_back_the_artifact():
    artifact = Artifact(Outcome.OK, b"warning: unused", FILES)
    assert decode(KEY, encode(KEY, artifact), MB) == artifact
    refused = Artifact(Outcome.NONZERO_EXIT, b"error: expected ';'")
    assert decode(KEY, encode(KEY, refused), MB) == refused


@pytest.mark.parametrize("entries", [
    [("../x", 0o644, b"escape")],
    [("/etc/passwd", 0o644, b"root")],
    [("obj", 0o755, None), ("obj/../../x", 0o644, b"")],
    [("a//b", 0o644, b"")],
    [(".", 0o755, None)],
    [("", 0o644, b"")],
    [("obj/x.o", 0o644, b"")],  # its directory was never created
    [("obj", 0o755, None), ("obj", 0o755, None)],
    [("setuid", 0o4755, b"")],
    [("nul\0name", 0o644, b"")],
    [("n" * 256, 0o644, b"")],
], ids=["parent", "absolute", "nested-parent", "empty-component", "dot", "empty",
        "no-parent", "duplicate-directory", "setuid", "nul", "long-name"])
def test_decode_rejects_a_path_or_mode_the_box_must_not_create(entries):
    with pytest.raises(ArtifactError):
        decode(KEY, encode(KEY, Artifact(Outcome.OK, b"", entries)), MB)


def test_decode_rejects_another_keys_artifact_truncation_garbage_and_bombs():
    stored = encode(KEY, Artifact(Outcome.OK, b"", FILES))
    with pytest.raises(ArtifactError, match="key"):
        decode("cd" * 32, stored, MB)
    raw = zlib.decompress(stored)
    with pytest.raises(ArtifactError):
        decode(KEY, zlib.compress(raw[:-3]), MB)
    with pytest.raises(ArtifactError):
        decode(KEY, zlib.compress(raw + b"extra"), MB)
    with pytest.raises(ArtifactError):
        decode(KEY, b"not zlib at all", MB)
    with pytest.raises(ArtifactError, match="inflated"):
        decode(KEY, zlib.compress(b"\0" * (8 * MB)), MB)
    with pytest.raises(ArtifactError, match="no files"):
        decode(KEY, encode(KEY, Artifact(Outcome.NONZERO_EXIT, b"", FILES)), MB)


# -- storage and the size bound --------------------------------------------------------------

def test_put_then_get_returns_the_artifact_and_accounts_its_bytes(redis_conn):
    cache = make_cache(redis_conn)
    artifact = Artifact(Outcome.OK, b"", FILES)
    assert cache.get(KEY) is None
    assert cache.put(KEY, artifact)
    assert cache.get(KEY) == artifact
    assert cache.stored_bytes() == redis_conn.strlen(PREFIX + KEY) > 0
    assert cache.put(KEY, artifact)  # storing again replaces, never double counts
    assert cache.stored_bytes() == redis_conn.strlen(PREFIX + KEY)


def test_storing_past_the_bound_evicts_the_least_recently_used(redis_conn):
    cache = make_cache(redis_conn, max_bytes=2600, max_artifact=2000)
    keys = [f"{n:02x}" * 32 for n in range(4)]

    def store(key: str) -> None:
        assert cache.put(key, Artifact(Outcome.OK, b"", [("a.out", 0o755, os.urandom(1000))]))
        time.sleep(0.002)  # distinct last-use milliseconds, so the LRU order is the call order

    store(keys[0])
    store(keys[1])
    store(keys[2])  # three do not fit: the oldest goes
    assert [redis_conn.exists(PREFIX + k) for k in keys[:3]] == [0, 1, 1]
    assert cache.get(keys[1]) is not None  # used: now the newest
    time.sleep(0.002)
    store(keys[3])
    assert [redis_conn.exists(PREFIX + k) for k in keys] == [0, 1, 0, 1]
    remaining = sum(redis_conn.strlen(PREFIX + k) for k in keys)
    assert cache.stored_bytes() == remaining <= 2600
    assert sorted(redis_conn.zrange(LRU, 0, -1)) == sorted(k.encode() for k in keys[1::2])
    assert redis_conn.hlen(SIZES) == 2
    assert counter(redis_conn, "judge:stats:compile_cache_evictions") == 2


def test_an_artifact_over_the_per_artifact_bound_is_not_stored(redis_conn):
    cache = make_cache(redis_conn, max_artifact=4000)
    big = Artifact(Outcome.OK, b"", [("a.out", 0o755, os.urandom(5000))])
    assert not cache.put(KEY, big)
    assert cache.get(KEY) is None and cache.stored_bytes() == 0


def test_an_artifact_that_reading_back_would_reject_is_never_stored(redis_conn):
    cache = make_cache(redis_conn)
    deep = [("d", 0o755, None), ("d/" + "x" * 5000, 0o644, b"")]  # longer than PATH_MAX
    assert not cache.put(KEY, Artifact(Outcome.OK, b"", deep))
    assert cache.get(KEY) is None and cache.stored_bytes() == 0


def test_a_tampered_artifact_is_rejected_deleted_and_counted(redis_conn):
    cache = make_cache(redis_conn)
    assert cache.put(KEY, Artifact(Outcome.OK, b"", FILES))
    redis_conn.set(PREFIX + KEY, encode(KEY, Artifact(Outcome.OK, b"", [("../x", 0o644, b"")])))
    assert cache.get(KEY) is None
    assert not redis_conn.exists(PREFIX + KEY)
    assert cache.stored_bytes() == 0 and redis_conn.zcard(LRU) == 0
    assert counter(redis_conn, REJECTED) == 1


def test_a_disabled_cache_stores_nothing_but_counts_compilations(redis_conn):
    cache = make_cache(redis_conn, max_bytes=0)
    for _ in range(3):
        with cache.flight(KEY) as flight:
            assert flight.restore(None) is None  # type: ignore[arg-type]  # never touches it
            flight.publish(failed_compile(), None)  # type: ignore[arg-type]
    assert counter(redis_conn, COMPILATIONS) == 3
    assert redis_conn.keys(PREFIX + "*") == []


def test_an_unreachable_redis_means_compiling_not_failing():
    cache = make_cache(redis.Redis(port=1, retry=Retry(NoBackoff(), 0)))
    with cache.flight(KEY) as flight:
        assert flight.restore(None) is None  # type: ignore[arg-type]
        flight.publish(failed_compile(), None)  # type: ignore[arg-type]


# -- single flight ---------------------------------------------------------------------------

def wait_for_blocked_client(client: redis.Redis) -> None:
    """Until some client is blocked in BLPOP (the waiter): a state, not a duration."""
    deadline = time.monotonic() + 30
    while not any(c.get("cmd") == "blpop" for c in client.client_list()):
        assert time.monotonic() < deadline, "the waiter never blocked"
        time.sleep(0.01)


def test_a_second_judging_waits_for_the_first_compile_and_uses_its_artifact(redis_conn):
    cache = make_cache(redis_conn)
    found: list[RunResult | None] = []

    def second() -> None:
        with cache.flight(KEY) as flight:
            assert flight.lock_token is None
            found.append(flight.restore(None))  # type: ignore[arg-type]  # a refusal: no box

    with cache.flight(KEY) as first:
        assert first.artifact is None and first.lock_token is not None  # it compiles
        waiter = threading.Thread(target=second)
        waiter.start()
        wait_for_blocked_client(redis_conn)
        first.publish(failed_compile(b"error: x"), None)  # type: ignore[arg-type]
    waiter.join(30)
    assert len(found) == 1 and found[0].outcome is Outcome.NONZERO_EXIT
    assert found[0].stdout == b"error: x"
    assert counter(redis_conn, COMPILATIONS) == 1 and counter(redis_conn, HITS) == 1


def test_a_waiter_compiles_itself_when_the_lock_holder_died(redis_conn):
    cache = make_cache(redis_conn, lock_seconds=5)
    redis_conn.set(f"{PREFIX}lock:{KEY}", "a worker that died", px=300)  # never released
    with cache.flight(KEY) as flight:
        assert flight.artifact is None
        assert flight.lock_token is not None  # took over the expired lock: compiles
    assert not redis_conn.exists(f"{PREFIX}lock:{KEY}")


def test_after_an_uncacheable_compile_others_compile_without_waiting(redis_conn):
    cache = make_cache(redis_conn)
    with cache.flight(KEY) as first:
        first.publish(RunResult(Outcome.TIME_LIMIT_WALL), None)  # type: ignore[arg-type]
    assert cache.get(KEY) is None  # a time limit may be the machine's load: never stored
    redis_conn.set(f"{PREFIX}lock:{KEY}", "another compiling worker", px=60000)
    with cache.flight(KEY) as second:  # does not queue behind the other worker's lock
        assert second.artifact is None and second.lock_token is None
