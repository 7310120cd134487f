#!/usr/bin/env bash
# The container deployment, for real (`make compose-test`; slow, not part of `make test`):
# build the image from the Dockerfile, bring compose.yaml up, judge real submissions through
# the API (Python, C, Java Accepted; a time limit and a memory limit caught), scale the workers
# to three and see every one of them judge, then `down -v` and check that nothing of the
# project is left (containers, volumes, networks).
#
#   scripts/compose-test.sh                       Podman + podman-compose on this host
#   ENGINE=docker scripts/compose-test.sh         Docker Engine + Compose v2 (`docker compose`;
#                                                 vm/guest-test.sh's docker step, Debian 13 guest)
#   BASE_SUITE=trixie scripts/compose-test.sh     the image on Debian 13 instead of Debian 12
#   LANGUAGES=all scripts/compose-test.sh         every toolchain of languages.yml (much slower)
#   KEEP=1 scripts/compose-test.sh                leave the stack running (tear down: see the end)
#
# No registry but Debian's and PyPI's is needed: the base image is a debootstrap minbase of
# BASE_SUITE (scripts/rootfs-tarball.sh, cached in IMAGE_CACHE), PostgreSQL and Redis run from
# the engine image's own Debian packages (deploy/compose.podman.yaml). Host fixes for Podman on
# this kind of machine: scripts/podman-service.sh. Podman schedules healthchecks with systemd
# timers, and there may be no systemd, so with Podman this script runs them itself
# (`podman healthcheck run`); Docker runs its own.
#
# Environment: ENGINE (podman|docker), LANGUAGES (core|all), BASE_SUITE (bookworm|trixie),
# WORKERS (replicas to scale to, default 3), JUDGE_PORT (host port, default the first free one
# from 12358), PROJECT (compose project name, default judgecomposetest<pid>), IMAGE_CACHE
# (default /var/cache/judge-images), CA_BUNDLE (handed to pip in the image build), CONF_EXTRA
# (lines appended to the env file, e.g. "MAX_CPU_TIME_LIMIT=60"), DEBIAN_MIRROR, KEEP,
# HEALTH_TIMEOUT (seconds, default 300), SUBMIT_TIMEOUT (seconds per submission, default 120).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

ENGINE=${ENGINE:-podman}
LANGUAGES=${LANGUAGES:-core}
BASE_SUITE=${BASE_SUITE:-bookworm}
WORKERS=${WORKERS:-3}
# a project (containers, volumes, network) and a host port of its own: two runs at once on one
# machine must not take over or tear down each other's stack
PROJECT=${PROJECT:-judgecomposetest$$}
free_port() {
    python3 -c 'import socket, sys
for port in range(int(sys.argv[1]), int(sys.argv[1]) + 100):
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            continue
        print(port)
        break' "$1"
}
PORT=${JUDGE_PORT:-$(free_port 12358)}
KEEP=${KEEP:-0}
HEALTH_TIMEOUT=${HEALTH_TIMEOUT:-300}
SUBMIT_TIMEOUT=${SUBMIT_TIMEOUT:-120}
CACHE_DIR=${IMAGE_CACHE:-/var/cache/judge-images}
BASE_TARBALL=$CACHE_DIR/debian-$BASE_SUITE-minbase.tar.gz
BASE_IMAGE=localhost/judge-base:$BASE_SUITE
IMAGE=localhost/judge:compose-test-$LANGUAGES-$BASE_SUITE
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}

started=$SECONDS
say() { printf '[compose-test +%3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (rootful containers, debootstrap)"
case $LANGUAGES in core|all) ;; *) die "LANGUAGES must be core or all" ;; esac
case $ENGINE in
    podman) label=io.podman.compose.project ;;
    docker) label=com.docker.compose.project ;;
    *) die "ENGINE must be podman or docker" ;;
esac

work=$(mktemp -d /var/tmp/judge-compose-test.XXXXXX)
export JUDGE_IMAGE=$IMAGE JUDGE_PORT=$PORT JUDGE0_CONF_FILE=$work/judge0.conf \
    WORKER_REPLICAS=1 LANGUAGES
ctr() { "$ENGINE" "$@"; }
compose() {
    local files=(-p "$PROJECT" -f compose.yaml -f deploy/compose.podman.yaml)
    case $ENGINE in
        podman) podman-compose "${files[@]}" "$@" ;;
        docker) docker compose "${files[@]}" "$@" ;;
    esac
}
containers() {  # containers of the project, by name; running only with --running
    local all=-a
    [ "${1:-}" = --running ] && all=
    ctr ps $all --filter "label=$label=$PROJECT" --format '{{.Names}}' | sort
}

# -- the image ---------------------------------------------------------------------------------

# A registry-free stand-in for debian:$BASE_SUITE-slim: debootstrap's minbase with the same apt
# sources, imported as $BASE_IMAGE. The tarball is cached; the image is reused.
base_image() {
    if ctr image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        say "base image $BASE_IMAGE present"
        return
    fi
    "$repo/scripts/rootfs-tarball.sh" "$BASE_SUITE" "$BASE_TARBALL"
    say "importing $BASE_TARBALL as $BASE_IMAGE"
    ctr import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
}

build_image() {
    local secret=() t=$SECONDS
    # pip in the builder stage must trust whatever CA this host's HTTPS goes through
    [ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca-certificates,src=$CA_BUNDLE")
    say "$ENGINE build $IMAGE (LANGUAGES=$LANGUAGES, on Debian $BASE_SUITE)"
    ctr build --build-arg "BASE=$BASE_IMAGE" --build-arg "LANGUAGES=$LANGUAGES" \
        "${secret[@]}" -t "$IMAGE" . > "$work/build.log" 2>&1 ||
        { tail -40 "$work/build.log" >&2; die "$ENGINE build failed (log: $work/build.log)"; }
    say "built $IMAGE in $((SECONDS - t)) s ($(ctr image inspect --format '{{.Size}}' "$IMAGE" |
        awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# -- the stack ---------------------------------------------------------------------------------

write_env_file() {
    # the documented example, with a fresh password and a box uid range of its own (this
    # host's test suites use 60000+), then CONF_EXTRA's lines
    sed -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')/" \
        -e 's/^SANDBOX_FIRST_UID=.*/SANDBOX_FIRST_UID=160000/' \
        judge0.conf.example > "$JUDGE0_CONF_FILE"
    [ -n "${CONF_EXTRA:-}" ] && printf '%s\n' "$CONF_EXTRA" >> "$JUDGE0_CONF_FILE"
    return 0
}

# What `down -v` must have removed: any container, volume or network of the project.
leftovers() {
    {
        ctr ps -aq --filter "label=$label=$PROJECT" | sed 's/^/container /'
        ctr volume ls -q --filter "label=$label=$PROJECT" | sed 's/^/volume /'
        ctr network ls -q --filter "label=$label=$PROJECT" | sed 's/^/network /'
    } | tr '\n' ' '
}

teardown() {
    local status=$? left
    if [ "$KEEP" = 1 ]; then
        say "KEEP=1: the stack stays up on port $PORT; tear it down with:"
        say "  JUDGE_IMAGE=$IMAGE JUDGE0_CONF_FILE=$JUDGE0_CONF_FILE $([ "$ENGINE" = docker ] &&
            echo 'docker compose' || echo podman-compose) -p $PROJECT" \
            "-f compose.yaml -f deploy/compose.podman.yaml down -v"
        return
    fi
    if [ "$status" -ne 0 ]; then
        say "logs of the failed run:"
        for c in $(containers); do
            echo "---- $c"; ctr logs --tail 30 "$c" 2>&1 || true
        done
    fi
    say "compose down -v"
    # podman-compose removes only the replicas the file declares: tell it how many there are
    WORKER_REPLICAS=$replicas compose down -v > "$work/down.log" 2>&1 ||
        { cat "$work/down.log" >&2; status=1; }
    if [ "$ENGINE" = podman ]; then  # podman-compose 1.0.3's down leaves the network
        ctr network ls -q --filter "label=$label=$PROJECT" | xargs -r podman network rm >/dev/null
    fi
    left=$(leftovers)
    if [ -n "$left" ]; then
        say "FAILED: left after down -v: $left"
        status=1
        ctr ps -aq --filter "label=$label=$PROJECT" | xargs -r "$ENGINE" rm -f >/dev/null
        ctr volume ls -q --filter "label=$label=$PROJECT" | xargs -r "$ENGINE" volume rm -f >/dev/null
        ctr network ls -q --filter "label=$label=$PROJECT" | xargs -r "$ENGINE" network rm >/dev/null
    else
        say "down -v left no container, volume or network of $PROJECT"
    fi
    rm -rf "$work"
    say "done ($([ "$status" -eq 0 ] && echo passed || echo failed), $((SECONDS - started)) s)"
    exit "$status"
}

# Every running container that has a healthcheck is healthy.
wait_healthy() {
    local deadline=$((SECONDS + HEALTH_TIMEOUT)) pending c health
    while :; do
        pending=()
        for c in $(containers --running); do
            if [ "$ENGINE" = podman ]; then
                podman healthcheck run "$c" >/dev/null 2>&1 || pending+=("$c")
            else
                health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$c")
                [ -z "$health" ] || [ "$health" = healthy ] || pending+=("$c")
            fi
        done
        [ "${#pending[@]}" -eq 0 ] && return
        [ "$SECONDS" -lt "$deadline" ] || die "not healthy after ${HEALTH_TIMEOUT}s: ${pending[*]}"
        sleep 2
    done
}

# judge_one NAME STATUS_ID JSON [STDOUT]: POST with wait=true; the verdict must be STATUS_ID
# and, when given, the output STDOUT
judge_one() {
    local name=$1 status=$2 body=$3 expected=${4-} t=$SECONDS answer
    answer=$(curl -sS --max-time "$SUBMIT_TIMEOUT" -X POST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$PORT/submissions?wait=true" -d "$body")
    python3 - "$answer" "$status" "$expected" <<'EOF' || die "$name: $answer"
import json, sys
answer, status, expected = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
assert answer["status"]["id"] == status, answer["status"]
assert not expected or answer["stdout"] == expected, (answer["stdout"], expected)
EOF
    say "$name: $(python3 -c 'import json, sys; d = json.loads(sys.argv[1])
print("%s, time %s s, memory %s KB" % (d["status"]["description"], d["time"], d["memory"]))' "$answer") ($((SECONDS - t)) s)"
}

submissions() {
    judge_one "Python 3 with stdin" 3 \
        '{"language_id": 71, "source_code": "print(\"hello, \" + input())", "stdin": "world"}' \
        $'hello, world\n'
    judge_one "C (GCC)" 3 \
        '{"language_id": 50, "source_code": "#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); return 0; }", "stdin": "40 2"}' \
        $'42\n'
    judge_one "Java" 3 \
        '{"language_id": 62, "source_code": "public class Main { public static void main(String[] a) { System.out.println(\"hello, \" + new java.util.Scanner(System.in).next()); } }", "stdin": "java"}' \
        $'hello, java\n'
    judge_one "C busy loop, cpu_time_limit 1" 5 \
        '{"language_id": 50, "cpu_time_limit": 1, "source_code": "int main(void) { volatile unsigned long n = 0; for (;;) n++; }"}'
    judge_one "C touching 1 GB, memory_limit 64 MB" 12 \
        '{"language_id": 50, "memory_limit": 65536, "source_code": "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (int i = 0; i < 64; i++) { char *p = malloc(16 << 20); if (!p) return 2; memset(p, 1, 16 << 20); } return 0; }"}'
}

worker_count() {
    curl -sf "http://127.0.0.1:$PORT/workers" 2>/dev/null |
        python3 -c 'import json, sys; print(sum(q["available"] for q in json.load(sys.stdin)))' 2>/dev/null ||
        echo 0
}

wait_workers() {
    local want=$1 deadline=$((SECONDS + HEALTH_TIMEOUT)) n
    while n=$(worker_count); [ "$n" -lt "$want" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$n worker(s) registered, expected $want"
        sleep 2
    done
    say "/workers reports $n worker(s)"
}

judged_by() { ctr logs "$1" 2>&1 | grep -c 'judged: status' || true; }

# Every worker replica judges: 2 x WORKERS submissions that each sleep 5 s, queued at once; a
# worker takes one at a time, so each replica must take some. Their logs say so.
all_workers_judge() {
    local workers=() before=() c i tokens body answer pending deadline idle=()
    mapfile -t workers < <(containers --running | grep -E '[-_]worker[-_]')
    [ "${#workers[@]}" -eq "$WORKERS" ] || die "${#workers[@]} worker containers, expected $WORKERS"
    for c in "${workers[@]}"; do before+=("$(judged_by "$c")"); done
    body=$(python3 -c 'import json, sys
print(json.dumps({"submissions": [{"language_id": 71, "wall_time_limit": 20,
    "source_code": "import time\ntime.sleep(5)\nprint(\"slept\")"}] * int(sys.argv[1])}))' \
        "$((2 * WORKERS))")
    tokens=$(curl -sS -X POST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$PORT/submissions/batch" -d "$body" |
        python3 -c 'import json, sys; print(",".join(s["token"] for s in json.load(sys.stdin)))')
    deadline=$((SECONDS + 3 * SUBMIT_TIMEOUT))
    while :; do
        answer=$(curl -sS "http://127.0.0.1:$PORT/submissions/batch?tokens=$tokens&fields=status_id")
        pending=$(python3 -c 'import json, sys
print(sum(s["status_id"] in (1, 2) for s in json.loads(sys.argv[1])["submissions"]))' "$answer")
        [ "$pending" -eq 0 ] && break
        [ "$SECONDS" -lt "$deadline" ] || die "$pending of $((2 * WORKERS)) submissions not judged"
        sleep 2
    done
    python3 -c 'import json, sys
assert all(s["status_id"] == 3 for s in json.loads(sys.argv[1])["submissions"]), sys.argv[1]' \
        "$answer" || die "not every sleeping submission was Accepted: $answer"
    for i in "${!workers[@]}"; do
        c=${workers[$i]}
        n=$(( $(judged_by "$c") - ${before[$i]} ))
        say "$c judged $n of them"
        [ "$n" -gt 0 ] || idle+=("$c")
    done
    [ "${#idle[@]}" -eq 0 ] || die "worker(s) that judged none: ${idle[*]}"
}

replicas=1  # worker replicas up
scale_workers() {
    replicas=$1
    case $ENGINE in
        podman) WORKER_REPLICAS=$1 compose up -d worker ;;
        docker) compose up -d --no-recreate --scale "worker=$1" worker ;;
    esac
}

# -- the run -----------------------------------------------------------------------------------

if [ "$ENGINE" = podman ]; then
    "$repo/scripts/podman-service.sh" configure  # podman installed, host fixes applied
else
    docker compose version > /dev/null 2>&1 || die "no Compose v2 (docker compose)"
    say "$(docker version --format 'Docker Engine {{.Server.Version}}'), $(docker compose version)"
fi
base_image
build_image
write_env_file
trap teardown EXIT

say "compose up (project $PROJECT, API on 127.0.0.1:$PORT)"
compose up -d > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "compose up failed"; }
wait_healthy
say "healthy: $(containers --running | tr '\n' ' ')"
say "migrate: $(ctr logs "$(containers | grep -m1 migrate)" 2>&1 | tail -n 1)"
for c in $(containers --running | grep -E '[-_]worker[-_]'); do
    say "$c: $(ctr inspect -f 'privileged={{.HostConfig.Privileged}} cgroupns={{.HostConfig.CgroupnsMode}} cap_add={{.HostConfig.CapAdd}}' "$c")"
    [ "$(ctr inspect -f '{{.HostConfig.Privileged}}' "$c")" = false ] || die "$c runs privileged"
done
wait_workers 1
say "$(ctr logs "$(containers --running | grep -E -m1 '[-_]worker[-_]')" 2>&1 |
    grep -o 'languages this worker runs[^"]*' | tail -1)"
submissions

say "scaling the workers to $WORKERS"
scale_workers "$WORKERS" > "$work/scale.log" 2>&1 || { cat "$work/scale.log" >&2; die "scaling failed"; }
wait_healthy
wait_workers "$WORKERS"
all_workers_judge
submissions
say "all checks passed"
