#!/bin/sh
# The image's entry point: one role per container (docs/deployment.md).
#
#   api        the HTTP API (gunicorn) on $PORT (2358); runs as any user, the image's is `judge`
#   worker     one judging worker (one sandbox box); must start as root, see below
#   migrate    create or upgrade the database schema, then exit
#   postgres   a PostgreSQL server from the image's Debian packages (deploy/container/postgres.sh),
#              for hosts that cannot pull the official postgres image
#   anything else is run as a command (`docker run IMAGE judge languages check`, `bash`)
set -eu

say() { echo "entrypoint: $*" >&2; }

# The sandbox creates one cgroup per run below the container's own cgroup. Container engines
# mount the cgroup filesystem read-only unless the container is privileged; with CAP_SYS_ADMIN
# the worker can make its own view writable again. That grants no more than its own subtree:
# the mounts (v1: one per controller) are rooted at the container's cgroup, and with a private
# cgroup namespace (compose `cgroup: private`, the default on cgroup v2) nothing above it is
# even visible.
writable_cgroups() {
    awk '($3 == "cgroup" || $3 == "cgroup2") && $4 ~ /(^|,)ro(,|$)/ { print $2 }' /proc/self/mounts |
    while read -r mountpoint; do
        if mount -o remount,bind,rw "$mountpoint" 2>/dev/null; then
            say "made $mountpoint writable"
        else
            say "cannot make $mountpoint writable (needs CAP_SYS_ADMIN and, on AppArmor hosts," \
                "apparmor=unconfined); the worker will say what is missing"
        fi
    done
}

# bubblewrap mounts a fresh /proc for each run's pid namespace, from inside its user
# namespace. The kernel allows that only when the mount namespace already holds a proc mount
# that nothing hides, and container engines hide parts of /proc (kcore, sysrq-trigger, a
# read-only /proc/sys...), so bwrap fails with "Can't mount proc on /newroot/proc". A proc
# instance of our own at /run/judge/proc, which the sandboxed programs never see, satisfies
# the kernel; and bwrap's --disable-userns writes the run's own user.max_user_namespaces, for
# which /proc/sys/user must be writable. This needs CAP_SYS_ADMIN (and AppArmor unconfined),
# and it gives the worker's root what `security_opt: systempaths=unconfined` (Docker) or
# `procMount: Unmasked` (Kubernetes, only with user namespaces) would give it.
visible_proc() {
    awk '$2 ~ "^/proc/" { found = 1 } END { exit !found }' /proc/self/mounts || return 0
    mkdir -p /run/judge/proc
    if mount -t proc -o nosuid,nodev,noexec proc /run/judge/proc 2>/dev/null &&
        mount --bind /run/judge/proc/sys/user /proc/sys/user 2>/dev/null; then
        say "mounted an unmasked proc at /run/judge/proc for bubblewrap"
    else
        say "cannot mount proc at /run/judge/proc (needs CAP_SYS_ADMIN and, on AppArmor" \
            "hosts, apparmor=unconfined); bubblewrap will fail to mount the runs' /proc"
    fi
}

role=${1:-api}
case $role in
    api)
        shift
        exec judge api "$@"
        ;;
    worker)
        shift
        if [ "$(id -u)" -ne 0 ]; then
            say "the worker must start as root (user: \"0:0\"): it switches every box to its own" \
                "uid, mounts the boxes' tmpfs and manages cgroups; the sandboxed programs never" \
                "run as root"
            exit 2
        fi
        writable_cgroups
        visible_proc
        exec judge worker "$@"
        ;;
    migrate)
        shift
        exec judge migrate "$@"
        ;;
    postgres)
        shift
        exec /opt/judge/deploy/container/postgres.sh "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
