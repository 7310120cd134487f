#!/usr/bin/env bash
# The container deployment, for real, on this host (`make compose-test`; slow, not part of
# `make test`): build the image, run compose.yaml with podman-compose, judge real submissions
# through the API, scale the workers to two, tear everything down.
#
#   scripts/compose-test.sh                 the core-language image (deps/debian-core.txt)
#   LANGUAGES=all scripts/compose-test.sh   every toolchain of languages.yml (much slower)
#   KEEP=1 scripts/compose-test.sh          leave the stack running (tear down: see the end)
#
# No registry but Debian's and PyPI's is needed: the base image is a debootstrap bookworm
# (cached in /var/cache/judge-images), PostgreSQL and Redis run from the engine image's own
# Debian packages (deploy/compose.podman.yaml). Host fixes for Podman on this kind of machine
# (runc instead of crun, default_ulimits no higher than the hard limits): see
# scripts/podman-service.sh. Healthchecks are run by this script through
# `podman healthcheck run` because Podman schedules them with systemd timers, and there may be
# no systemd.
#
# Environment: LANGUAGES (core|all), JUDGE_PORT (host port, default the first free one from
# 12358), PROJECT (compose project name, default judgecomposetest<pid>), DEBIAN_MIRROR, KEEP,
# HEALTH_TIMEOUT (seconds, default 300).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

LANGUAGES=${LANGUAGES:-core}
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
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE_DIR=/var/cache/judge-images
BASE_TARBALL=$CACHE_DIR/debian-bookworm-minbase.tar.gz
BASE_IMAGE=localhost/judge-base:bookworm
IMAGE=localhost/judge:compose-test-$LANGUAGES
CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt

started=$SECONDS
say() { printf '[compose-test +%3ds] %s\n' "$((SECONDS - started))" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (rootful podman, /etc/containers, debootstrap)"
case $LANGUAGES in core|all) ;; *) die "LANGUAGES must be core or all" ;; esac

work=$(mktemp -d /var/tmp/judge-compose-test.XXXXXX)
export JUDGE_IMAGE=$IMAGE JUDGE_PORT=$PORT JUDGE0_CONF_FILE=$work/judge0.conf \
    WORKER_REPLICAS=1 LANGUAGES
compose() {
    podman-compose -p "$PROJECT" -f compose.yaml -f deploy/compose.podman.yaml "$@"
}

# -- the host ---------------------------------------------------------------------------------

# A registry-free stand-in for debian:bookworm-slim: debootstrap's minbase with the same apt
# sources, imported as $BASE_IMAGE. The tarball is cached; the image is reused.
base_image() {
    if podman image exists "$BASE_IMAGE"; then
        say "base image $BASE_IMAGE present"
        return
    fi
    if [ ! -s "$BASE_TARBALL" ]; then
        say "debootstrap bookworm minbase (a minute or two)"
        local root=$work/rootfs
        debootstrap --variant=minbase bookworm "$root" "$MIRROR" > "$work/debootstrap.log" 2>&1 ||
            { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
        cat > "$root/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
        mkdir -p "$CACHE_DIR"
        tar -C "$root" --exclude='./var/cache/apt/archives/*.deb' \
            --exclude='./var/lib/apt/lists/*' --exclude='./dev/*' --exclude='./proc/*' \
            --exclude='./sys/*' -c . | gzip -1 > "$BASE_TARBALL.tmp"
        mv "$BASE_TARBALL.tmp" "$BASE_TARBALL"
        rm -rf "$root"
    fi
    say "importing $BASE_TARBALL as $BASE_IMAGE"
    podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
}

build_image() {
    local secret=()
    # pip in the builder stage must trust whatever CA this host's HTTPS goes through
    [ -s "$CA_BUNDLE" ] && secret=(--secret "id=ca-certificates,src=$CA_BUNDLE")
    say "podman build $IMAGE (LANGUAGES=$LANGUAGES)"
    local t=$SECONDS
    podman build --build-arg "BASE=$BASE_IMAGE" --build-arg "LANGUAGES=$LANGUAGES" \
        "${secret[@]}" -t "$IMAGE" . > "$work/build.log" 2>&1 ||
        { tail -40 "$work/build.log" >&2; die "podman build failed (log: $work/build.log)"; }
    say "built $IMAGE in $((SECONDS - t)) s ($(podman image inspect --format '{{.Size}}' "$IMAGE" |
        awk '{ printf "%.0f MB", $1 / 1e6 }'))"
}

# -- the stack ---------------------------------------------------------------------------------

write_env_file() {
    # the documented example, with a fresh password and a box uid range of its own (this
    # host's test suites use 60000+)
    sed -e "s/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')/" \
        -e 's/^SANDBOX_FIRST_UID=.*/SANDBOX_FIRST_UID=160000/' \
        judge0.conf.example > "$JUDGE0_CONF_FILE"
}

teardown() {
    local status=$?
    if [ "$KEEP" = 1 ]; then
        say "KEEP=1: the stack stays up on port $PORT; tear it down with:"
        say "  JUDGE_IMAGE=$IMAGE JUDGE0_CONF_FILE=$JUDGE0_CONF_FILE podman-compose -p $PROJECT" \
            "-f compose.yaml -f deploy/compose.podman.yaml down -v"
        return
    fi
    if [ "$status" -ne 0 ]; then
        say "logs of the failed run:"
        for c in $(containers); do
            echo "---- $c"; podman logs --tail 30 "$c" 2>&1 || true
        done
    fi
    say "tearing down"
    compose down -v > "$work/down.log" 2>&1 || true
    # whatever podman-compose left: containers, volumes and the network of the project
    podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | xargs -r podman rm -f >/dev/null
    podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" |
        xargs -r podman volume rm -f >/dev/null
    podman network ls -q --filter "label=io.podman.compose.project=$PROJECT" |
        xargs -r podman network rm -f >/dev/null
    rm -rf "$work"
    say "done ($([ "$status" -eq 0 ] && echo passed || echo failed), $((SECONDS - started)) s)"
}

containers() {
    podman ps -a --filter "label=io.podman.compose.project=$PROJECT" --format '{{.Names}}' | sort
}

# Run every running container's healthcheck until all pass.
wait_healthy() {
    local deadline=$((SECONDS + HEALTH_TIMEOUT)) pending c
    while :; do
        pending=()
        for c in $(podman ps --filter "label=io.podman.compose.project=$PROJECT" \
                --format '{{.Names}}'); do
            podman healthcheck run "$c" >/dev/null 2>&1 || pending+=("$c")
        done
        [ "${#pending[@]}" -eq 0 ] && return
        [ "$SECONDS" -lt "$deadline" ] || die "not healthy after ${HEALTH_TIMEOUT}s: ${pending[*]}"
        sleep 2
    done
}

# POST a submission with wait=true and check its verdict and stdout.
judge_one() {
    local name=$1 body=$2 expected=$3 t=$SECONDS answer
    answer=$(curl -sS --max-time 120 -X POST -H 'Content-Type: application/json' \
        "http://127.0.0.1:$PORT/submissions?wait=true" -d "$body")
    say "$name: $answer"
    python3 - "$answer" "$expected" <<'EOF' || die "$name: not Accepted with the expected output"
import json, sys
answer, expected = json.loads(sys.argv[1]), sys.argv[2]
assert answer["status"]["id"] == 3, answer["status"]
assert answer["stdout"] == expected, (answer["stdout"], expected)
EOF
    say "$name: Accepted with the expected output ($((SECONDS - t)) s)"
}

submissions() {
    judge_one "Python 3 with stdin" \
        '{"language_id": 71, "source_code": "print(\"hello, \" + input())", "stdin": "world"}' \
        $'hello, world\n'
    judge_one "C (GCC)" \
        '{"language_id": 50, "source_code": "#include <stdio.h>\nint main(void) { int a, b; scanf(\"%d %d\", &a, &b); printf(\"%d\\n\", a + b); return 0; }", "stdin": "40 2"}' \
        $'42\n'
}

worker_count() {
    curl -sf "http://127.0.0.1:$PORT/workers" 2>/dev/null |
        python3 -c 'import json, sys; print(sum(q["available"] for q in json.load(sys.stdin)))' 2>/dev/null ||
        echo 0
}

wait_workers() {
    local want=$1 deadline=$((SECONDS + 120)) n
    while n=$(worker_count); [ "$n" -lt "$want" ]; do
        [ "$SECONDS" -lt "$deadline" ] || die "$n worker(s) registered, expected $want"
        sleep 2
    done
    say "/workers reports $n worker(s)"
}

# -- the run -----------------------------------------------------------------------------------

"$repo/scripts/podman-service.sh" configure  # podman installed, host fixes applied
base_image
build_image
write_env_file
trap teardown EXIT

say "compose up (project $PROJECT, API on 127.0.0.1:$PORT)"
compose up -d > "$work/up.log" 2>&1 || { cat "$work/up.log" >&2; die "compose up failed"; }
wait_healthy
say "healthy: $(containers | tr '\n' ' ')"
say "migrate: $(podman logs "${PROJECT}_migrate_1" 2>&1 | tail -n 1)"
wait_workers 1
submissions

say "scaling the workers to 2"
WORKER_REPLICAS=2 compose up -d worker > "$work/scale.log" 2>&1 ||
    { cat "$work/scale.log" >&2; die "scaling failed"; }
wait_healthy
wait_workers 2
submissions
say "all checks passed"
