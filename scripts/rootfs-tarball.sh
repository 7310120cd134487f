#!/usr/bin/env bash
# A Debian root file system as a gzipped tarball, made by debootstrap (minbase) and cached:
# the registry-free stand-in for a Debian base image (`docker import` / `podman import` it),
# and the start of the VM lab's guest images.
#
#   scripts/rootfs-tarball.sh SUITE OUT.tar.gz [PACKAGES]
#
# PACKAGES: comma-separated extra packages (debootstrap --include). Does nothing when OUT
# exists. The tarball's apt sources name the suite, its updates and its security archive, so
# `apt-get update` in an image made from it works as in Debian's own images. Apt's caches and
# the contents of /dev, /proc and /sys are left out.
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR.
set -euo pipefail

SUITE=${1:?usage: scripts/rootfs-tarball.sh SUITE OUT.tar.gz [PACKAGES]}
OUT=${2:?usage: scripts/rootfs-tarball.sh SUITE OUT.tar.gz [PACKAGES]}
PACKAGES=${3:-}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

[ -s "$OUT" ] && exit 0
[ "$(id -u)" -eq 0 ] || { echo "rootfs-tarball: run as root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || {
    echo "rootfs-tarball: no debootstrap (apt-get install debootstrap)" >&2; exit 1; }

work=$(mktemp -d /var/tmp/judge-rootfs.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "rootfs-tarball: debootstrap $SUITE minbase${PACKAGES:+ with $PACKAGES} (a minute or two)"
debootstrap --variant=minbase ${PACKAGES:+--include="$PACKAGES"} "$SUITE" "$work/root" \
    "$MIRROR" > "$work/debootstrap.log" 2>&1 || {
    tail -20 "$work/debootstrap.log" >&2
    echo "rootfs-tarball: debootstrap $SUITE failed" >&2
    exit 1
}
rm -f "$work/root/etc/apt/sources.list.d/"*.sources
cat > "$work/root/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb $SECURITY_MIRROR $SUITE-security main
EOF
mkdir -p "$(dirname "$OUT")"
tar -C "$work/root" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . | gzip -1 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "rootfs-tarball: $OUT ($(du -h "$OUT" | cut -f1))"
