"""Compile once, through the live engine: identical submissions share one compilation across
workers (judge/judging/compile_cache.py), counted in Redis by the workers themselves."""

from __future__ import annotations

import base64
import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis

from judge.judging.compile_artifact import Artifact, encode
from judge.judging.compile_cache import COMPILATIONS, HITS, PREFIX, REJECTED
from judge.sandbox import Outcome

from .conftest import BOXES, E2E_REDIS_URL, Engine, isolated_database, start_engine, stop_engine
from .test_submissions import CPP, b64, wait_final

HELLO = ("#include <iostream>\n#include <string>\nint main(){std::string n;std::cin>>n;"
         'std::cout<<"hello, "<<n<<std::endl;}\n')


def unique_hello() -> str:
    """Hello world no other test compiled: a fresh cache key."""
    return f"// {uuid.uuid4()}\n{HELLO}"


class Counters:
    """The engine's compile counters, read as differences from when it was made."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.start = self.read()

    def read(self) -> dict[str, int]:
        return {name: int(self.client.get(name) or 0) for name in (COMPILATIONS, HITS, REJECTED)}

    def since(self) -> dict[str, int]:
        now = self.read()
        return {"compilations": now[COMPILATIONS] - self.start[COMPILATIONS],
                "hits": now[HITS] - self.start[HITS],
                "rejected": now[REJECTED] - self.start[REJECTED]}


@contextlib.contextmanager
def cache_engine(database_url: str, redis_db: int, env: dict[str, str], workers: int,
                 schema: str) -> Iterator[tuple[Engine, redis.Redis]]:
    """An engine on its own tables and its own Redis database (on the e2e Redis server; 2 and
    3 are used by no other test), so that its counters count only this module's
    submissions."""
    redis_url = urlparse(E2E_REDIS_URL)._replace(path=f"/{redis_db}").geturl()
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    with isolated_database(database_url, schema) as url:
        engine, procs = start_engine(url, redis_url, env, workers=workers)
        try:
            yield engine, client
        finally:
            stop_engine(procs)
            client.flushdb()
            client.close()


@pytest.fixture(scope="module")
def cached(database_url, storage) -> Iterator[tuple[Engine, redis.Redis]]:
    """Two workers sharing the cache, as two hosts would: only Redis in common."""
    with cache_engine(database_url, 2, {}, workers=2, schema="compile_cache_on") as pair:
        yield pair


def judge(engine: Engine, source: str, stdin: str = "world", **attrs) -> dict:
    return engine.run({"source_code": source, "language_id": CPP, "stdin": stdin, **attrs},
                      fields="status,stdout,compile_output")


def judge_base64(engine: Engine, source: str) -> dict:
    """With base64 on the wire (gcc's messages quote with non-ASCII characters), decoded."""
    body = engine.run({"source_code": b64(source), "language_id": CPP},
                      fields="status,compile_output", base64_encoded="true")
    return {**body, "compile_output": base64.b64decode(body["compile_output"] or "")}


def artifact_keys(client: redis.Redis) -> set[bytes]:
    return {key for key in client.keys(PREFIX + "*") if len(key) == len(PREFIX) + 64}


def test_twenty_identical_cpp_sources_with_different_stdin_compile_exactly_once(cached):
    engine, client = cached
    counters = Counters(client)
    source = unique_hello()
    items = [{"source_code": source, "language_id": CPP, "stdin": f"n{i}"} for i in range(20)]
    resp = engine.http.post(f"{engine.url}/submissions/batch", json={"submissions": items},
                            timeout=60)
    assert resp.status_code == 201, resp.text
    tokens = [item["token"] for item in resp.json()]
    for i, token in enumerate(tokens):
        body = wait_final(engine, token, timeout=120)
        assert body["status"]["id"] == 3, body
        assert body["stdout"] == f"hello, n{i}\n"
    assert counters.since() == {"compilations": 1, "hits": 19, "rejected": 0}


def test_different_compiler_options_compile_to_different_artifacts(cached):
    engine, client = cached
    counters, before = Counters(client), artifact_keys(client)
    source = unique_hello()
    for options in (None, "-O2", None, "-O2"):
        assert judge(engine, source, compiler_options=options)["stdout"] == "hello, world\n"
    assert counters.since() == {"compilations": 2, "hits": 2, "rejected": 0}
    assert len(artifact_keys(client) - before) == 2


def test_a_compile_error_is_cached_and_reported_identically(cached):
    engine, client = cached
    counters = Counters(client)
    source = f"// {uuid.uuid4()}\nint main() {{ return missing; }}\n"
    first, second = judge_base64(engine, source), judge_base64(engine, source)
    assert first["status"] == {"id": 6, "description": "Compilation Error"}
    assert b"missing" in first["compile_output"]
    assert second == first
    assert counters.since() == {"compilations": 1, "hits": 1, "rejected": 0}


def test_a_cached_program_is_restored_for_every_one_of_several_runs(cached):
    engine, client = cached
    counters = Counters(client)
    source = unique_hello()
    for stdin in ("a", "b"):
        body = judge(engine, source, stdin=stdin, number_of_runs=3)
        assert body["status"]["id"] == 3 and body["stdout"] == f"hello, {stdin}\n"
    assert counters.since() == {"compilations": 1, "hits": 1, "rejected": 0}


def test_a_tampered_artifact_is_rejected_and_the_submission_compiled(cached):
    engine, client = cached
    source = unique_hello()
    before = artifact_keys(client)
    judge(engine, source)
    (stored,) = artifact_keys(client) - before
    key = stored.decode().removeprefix(PREFIX)
    escape = Path(BOXES) / f"escaped-{key[:8]}"
    client.set(stored, encode(key, Artifact(Outcome.OK, b"", [
        (f"../{escape.name}", 0o755, b"#!/bin/sh\necho pwned\n"),
        ("a.out", 0o755, b"#!/bin/sh\necho pwned\n")])))
    counters = Counters(client)
    assert judge(engine, source, stdin="again")["stdout"] == "hello, again\n"
    assert counters.since() == {"compilations": 1, "hits": 0, "rejected": 1}
    assert not escape.exists()
    assert judge(engine, source, stdin="third")["stdout"] == "hello, third\n"  # stored anew
    assert counters.since() == {"compilations": 1, "hits": 1, "rejected": 1}


def test_with_the_cache_disabled_every_submission_compiles(database_url, storage):
    with cache_engine(database_url, 3, {"COMPILE_CACHE_SIZE": "0"}, workers=1,
                      schema="compile_cache_off") as (engine, client):
        counters = Counters(client)
        source = unique_hello()
        for stdin in ("a", "b", "c"):
            assert judge(engine, source, stdin=stdin)["stdout"] == f"hello, {stdin}\n"
        assert counters.since() == {"compilations": 3, "hits": 0, "rejected": 0}
        assert artifact_keys(client) == set()
