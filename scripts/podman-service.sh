#!/usr/bin/env bash
# A Docker-compatible engine on this host, for the docker sandbox backend and its tests:
# rootful Podman serving the Docker REST API on a unix socket, plus a small local base image.
#
#   scripts/podman-service.sh          install, configure, build/import the image, start
#   scripts/podman-service.sh stop     stop the service this script started
#   scripts/podman-service.sh configure  only install podman and apply the host fixes
#
# Idempotent: each step is skipped when already done, so `make podman` is cheap the second
# time. Why each host fix is needed: crun rejects hybrid cgroup layouts -> runc; podman's default nofile/nproc exceed what root may set without
# CAP_SYS_RESOURCE -> default_ulimits at our hard limits). Docker Hub may be unreachable, so
# the image is built with debootstrap and `podman import`; its root filesystem tarball is
# cached under $CACHE_DIR and re-imported from there next time.
#
# Environment: JUDGE_PODMAN_DIR (socket, pid and log; default /run/judge-podman),
# JUDGE_TEST_IMAGE (default localhost/judge-test-base:bookworm), DEBIAN_MIRROR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${JUDGE_PODMAN_DIR:-/run/judge-podman}
SOCK=$RUN_DIR/podman.sock
IMAGE=${JUDGE_TEST_IMAGE:-localhost/judge-test-base:bookworm}
CACHE_DIR=/var/cache/judge-images
TARBALL=$CACHE_DIR/judge-test-base-bookworm.tar.gz
# bash + coreutils come with minbase; unzip unpacks additional_files like the native backend
IMAGE_PACKAGES=python3,gcc,libc6-dev,unzip
CONF=/etc/containers/containers.conf
MARK="# written by judge scripts/podman-service.sh"

log() { echo "podman-service: $*"; }

answers() {
    [ -S "$SOCK" ] && curl -fsS --max-time 2 --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1
}

stop_service() {
    if [ -f "$RUN_DIR/service.pid" ]; then
        kill "$(cat "$RUN_DIR/service.pid")" 2>/dev/null || true
        rm -f "$RUN_DIR/service.pid" "$SOCK"
        log "stopped"
    fi
}

configure() {
    if [ -e "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        log "$CONF exists and is not ours; leaving it alone (it needs runtime = \"runc\" and" \
            "default_ulimits no higher than the hard limits, see podman-research.md)"
        return
    fi
    local nofile nproc
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
    mkdir -p "$(dirname "$CONF")"
    cat > "$CONF.tmp" <<CONF
$MARK
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"

[network]
network_backend = "netavark"
CONF
    mv "$CONF.tmp" "$CONF"
}

image() {
    if podman image exists "$IMAGE"; then
        return
    fi
    "$repo/scripts/rootfs-tarball.sh" bookworm "$TARBALL" "$IMAGE_PACKAGES"
    log "importing $TARBALL as $IMAGE"
    podman import -q --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' "$TARBALL" "$IMAGE" >/dev/null
}

start_service() {
    if answers; then
        log "already serving on unix://$SOCK"
        return
    fi
    stop_service
    rm -f "$SOCK"
    setsid nohup podman system service --time=0 "unix://$SOCK" \
        > "$RUN_DIR/service.log" 2>&1 < /dev/null &
    echo $! > "$RUN_DIR/service.pid"
    for _ in $(seq 100); do
        answers && break
        sleep 0.1
    done
    answers || { cat "$RUN_DIR/service.log" >&2; log "the service did not answer"; exit 1; }
    log "serving on unix://$SOCK (pid $(cat "$RUN_DIR/service.pid"))"
}

if [ "$(id -u)" -ne 0 ]; then
    echo "podman-service: run as root (rootful podman, /etc/containers)" >&2
    exit 1
fi
mkdir -p "$RUN_DIR"
if [ "${1:-}" = stop ]; then
    stop_service
    exit 0
fi
"$repo/scripts/install-deps.sh" "$repo/deps/podman.txt"
configure
if [ "${1:-}" = configure ]; then  # podman installed and fixed for this host; nothing else
    exit 0
fi
image
start_service
log "DOCKER_HOST=unix://$SOCK; test image $IMAGE"
