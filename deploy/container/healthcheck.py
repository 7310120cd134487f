"""Container health checks: ``python3 healthcheck.py api|worker`` exits 0 when healthy.

api: the API answers HTTP on $PORT (the OpenAPI document is public, whatever AUTHN_TOKEN
and the IP filter say). worker: a worker of this container (its RQ name is its worker id,
`<HOSTNAME>:<pid>:box<n>`) is registered in Redis, which RQ keeps only while the worker sends
heartbeats.
"""

from __future__ import annotations

import socket
import sys
import urllib.request


def api() -> bool:
    from judge.config import Config

    url = f"http://127.0.0.1:{Config.load().port}/openapi.json"
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status == 200


def worker() -> bool:
    import redis
    import rq

    from judge.config import Config

    config = Config.load()
    connection = redis.Redis.from_url(config.redis_url, socket_timeout=5)
    prefix = config.hostname + ":"  # judge.context.WorkerContext.worker_id
    return any(w.name.startswith(prefix) for w in rq.Worker.all(connection=connection))


def main(argv: list[str]) -> int:
    checks = {"api": api, "worker": worker}
    if len(argv) != 2 or argv[1] not in checks:
        print(f"usage: {argv[0]} {'|'.join(checks)}", file=sys.stderr)
        return 2
    try:
        healthy = checks[argv[1]]()
    except Exception as e:  # noqa: BLE001 - any failure to check is "unhealthy", with the reason
        print(f"{argv[1]} unhealthy: {e}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"{argv[1]} unhealthy: no worker of {socket.gethostname()} is registered",
              file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
