#!/usr/bin/env bash
# Build, or reuse from the cache, the VM lab's guest image for one Debian suite: a root
# filesystem with systemd (cgroup v2), the suite's own kernel, the engine's Debian packages
# (deps/debian-core.txt) and a copy of the engine with its .venv, packed as a raw ext4 disk image
# plus the kernel and initrd to boot it with; where the suite has Compose v2 (trixie), Docker
# Engine too (docker.io, docker-compose, docker-buildx; started only by the docker step).
#
#   vm/build-image.sh bookworm        Debian 12, kernel 6.1, systemd 252
#   vm/build-image.sh trixie          Debian 13, kernel 6.12, systemd 257
#
# The image is reused while its inputs are unchanged: this script, the suite, the engine's
# Debian package list and Python dependencies (setup.cfg's install_requires, extras and entry
# points, pyproject.toml). The engine's source itself is not an input: run-guest.sh syncs the
# working tree into the guest at every boot.
#
# Everything is installed from the host side (debootstrap, then apt-get and pip in a chroot), so
# the guest needs no network to run the checks. Nothing is mounted on the host: the chroot steps
# run in a private mount + pid namespace (unshare), and the disk image is written by
# `mkfs.ext4 -d` (no loop device).
#
# Environment:
#   VM_DIR          images and runs (default /var/tmp/judge-vm)
#   IMAGE_CACHE     debootstrap tarballs, shared with scripts/compose-test.sh and
#                   scripts/podman-service.sh (default /var/cache/judge-images)
#   VM_SRC          the engine tree to copy in (default: the repository this script lives in)
#   VM_MIRROR       Debian mirror (default http://deb.debian.org/debian)
#   VM_SECURITY_MIRROR  (default http://deb.debian.org/debian-security)
#   VM_REBUILD=1    build even when the cached image is up to date
#   VM_IMAGE_SIZE   size of the sparse raw disk image (default 16G)
#   VM_BUILD_TIMEOUT  seconds for each of debootstrap, apt-get, pip (default 3600)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=${1:?usage: vm/build-image.sh SUITE (bookworm, trixie)}
VM_DIR=${VM_DIR:-/var/tmp/judge-vm}
VM_SRC=${VM_SRC:-$here/..}
MIRROR=${VM_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${VM_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
IMAGE_SIZE=${VM_IMAGE_SIZE:-16G}
BUILD_TIMEOUT=${VM_BUILD_TIMEOUT:-3600}

started=$SECONDS
say() { printf '[build-image %s +%4ds] %s\n' "$SUITE" "$((SECONDS - started))" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot)"
for tool in debootstrap mkfs.ext4 unshare chroot sha256sum; do
    command -v "$tool" >/dev/null || die "missing $tool: scripts/install-deps.sh deps/vm-lab.txt"
done
[ -f "$VM_SRC/deps/debian-core.txt" ] || die "VM_SRC=$VM_SRC is not the engine's tree"
VM_SRC=$(cd "$VM_SRC" && pwd)
[ -e "/usr/share/debootstrap/scripts/$SUITE" ] || die "debootstrap does not know the suite $SUITE"

image=$VM_DIR/$SUITE/image
cache=${IMAGE_CACHE:-/var/cache/judge-images}
mkdir -p "$image" "$cache"

# -- 0. up to date already? ------------------------------------------------------------------------
# a section of setup.cfg, from its [header] to the next one
cfg_section() { awk -v h="[$1]" '$0 == h { on = 1; next } /^\[/ { on = 0 } on' "$VM_SRC/setup.cfg"; }
inputs_key() {
    {
        echo "suite=$SUITE mirror=$MIRROR"
        cat "$here/build-image.sh" "$VM_SRC/deps/debian-core.txt" "$VM_SRC/pyproject.toml"
        cfg_section options | sed -n '/^install_requires/,/^[^ \t]/p'
        cfg_section options.extras_require
        cfg_section options.entry_points
    } | sha256sum | cut -d' ' -f1
}
key=$(inputs_key)
if [ "${VM_REBUILD:-0}" != 1 ] && [ -s "$image/root.img" ] && [ -s "$image/vmlinuz" ] &&
        [ -s "$image/initrd.img" ] && [ "$(cat "$image/inputs.sha256" 2>/dev/null)" = "$key" ]; then
    say "cached image is up to date: $image ($(grep '^kernel=' "$image/info.txt" 2>/dev/null))"
    exit 0
fi
say "building $image (inputs changed, missing, or VM_REBUILD=1)"

work=$(mktemp -d "$VM_DIR/$SUITE/build.XXXXXX")
root=$work/rootfs
log=$work/build.log
trap 'rm -rf "$work"' EXIT
fail() {
    tail -40 "$log" >&2
    cp "$log" "$VM_DIR/$SUITE/build-failed.log"
    die "$* (log: $VM_DIR/$SUITE/build-failed.log)"
}

# Run a command in the chroot, in a private mount and pid namespace: /proc and /dev are mounted
# there only, and any daemon a package starts dies with the namespace.
in_root() {
    timeout "$BUILD_TIMEOUT" unshare --mount --pid --fork --propagation private \
        /bin/sh -c 'root=$1; shift
            mount -t proc proc "$root/proc" && mount --bind /dev "$root/dev" &&
            mount -t devpts devpts "$root/dev/pts" -o newinstance,ptmxmode=0666 2>/dev/null
            exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
                LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"' sh "$root" "$@"
}

# -- 1. the base: debootstrap minbase, cached as a tarball ---------------------------------------
base=$cache/debian-$SUITE-minbase.tar.gz
DEBIAN_MIRROR=$MIRROR DEBIAN_SECURITY_MIRROR=$SECURITY_MIRROR timeout "$BUILD_TIMEOUT" \
    "$VM_SRC/scripts/rootfs-tarball.sh" "$SUITE" "$base" >> "$log" 2>&1 || fail "debootstrap failed"
mkdir -p "$root"
tar -C "$root" -xzf "$base"
mkdir -p "$root/dev/pts" "$root/proc" "$root/sys"

# -- 2. packages, installed from the host side (the tarball names the suite's archives) ---------
cp /etc/resolv.conf "$root/etc/resolv.conf"
# no daemon starts in the chroot
printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/90nonrecommends"
# no PostgreSQL cluster from the package: the chroot shares the host's network namespace, so
# pg_createcluster would pick 5433 when the host's own PostgreSQL holds 5432; the engine's
# scripts/services.sh creates the cluster on 5432 in the guest
mkdir -p "$root/etc/postgresql-common/createcluster.d"
echo 'create_main_cluster = false' > "$root/etc/postgresql-common/createcluster.d/judge-vm.conf"

read_list() { sed -e 's/#.*//' "$1" | awk 'NF { print $1 }'; }
engine_pkgs=$(read_list "$VM_SRC/deps/debian-core.txt" | sort -u | tr '\n' ' ')
# what a stock Debian install has (systemd, udev, dbus, AppArmor, the kernel) and what the
# checks use (rsync for the sync, curl for the mirror probe, psmisc/procps for the leak checks,
# npm for `make up`'s playground: installing its ~400 packages in an emulated guest is slow)
guest_pkgs="systemd-sysv udev kmod dbus initramfs-tools linux-image-amd64 apparmor iproute2
    iputils-ping make git rsync curl psmisc less e2fsprogs util-linux sudo python3-venv npm"
in_root apt-get update -q >> "$log" 2>&1 || fail "apt-get update failed"
# trixie ships systemd-networkd in a package of its own; bookworm has it in systemd
if in_root apt-cache show systemd-networkd > /dev/null 2>&1; then
    guest_pkgs="$guest_pkgs systemd-networkd"
fi
# Docker Engine for the docker step, where the suite packages Compose v2 and BuildKit's client
# (trixie: docker.io 26, docker-compose 2, docker-buildx; the `docker` command is docker-cli,
# only recommended by docker.io); bookworm's Compose is v1, which compose.yaml does not support
docker_pkgs=""
compose_version=$(in_root apt-cache policy docker-compose 2>/dev/null | sed -n 's/^ *Candidate: //p')
if [ "${compose_version%%.*}" = 2 ] && in_root apt-cache show docker-buildx docker-cli > /dev/null 2>&1; then
    docker_pkgs="docker.io docker-cli docker-compose docker-buildx"
fi
say "apt-get install: $(echo $guest_pkgs $engine_pkgs $docker_pkgs)"
# shellcheck disable=SC2086
in_root apt-get install -y -q $guest_pkgs $engine_pkgs $docker_pkgs >> "$log" 2>&1 ||
    fail "apt-get install failed"
in_root apt-get clean >> "$log" 2>&1
# The guest's HTTPS leaves through this host's network: a host that trusts extra CAs (a
# TLS-intercepting egress proxy) gets them into the guest's store too, for pip, npm and curl
if compgen -G "/usr/local/share/ca-certificates/*.crt" > /dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
    in_root update-ca-certificates >> "$log" 2>&1 || fail "update-ca-certificates failed"
fi

# -- 3. the guest's configuration ------------------------------------------------------------------
echo "judge-vm-$SUITE" > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 judge-vm-%s\n::1 localhost\n' "$SUITE" > "$root/etc/hosts"
echo '/dev/vda / ext4 defaults,errors=remount-ro 0 1' > "$root/etc/fstab"
# QEMU user-mode networking: DHCP on the virtio NIC, slirp's DNS forwarder
mkdir -p "$root/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' > "$root/etc/systemd/network/20-qemu.network"
rm -f "$root/etc/resolv.conf"
echo 'nameserver 10.0.2.3' > "$root/etc/resolv.conf"
in_root systemctl enable systemd-networkd.service >> "$log" 2>&1 || fail "no systemd-networkd"
# the engine's data stores are started by its own scripts/services.sh
in_root systemctl disable postgresql.service redis-server.service >> "$log" 2>&1 || true
# Docker Engine starts only in the docker step (its networks and cgroups stay out of the others)
if [ -n "$docker_pkgs" ]; then
    in_root systemctl disable docker.service docker.socket containerd.service >> "$log" 2>&1 || true
fi
# root: no password on the serial console (the guest has no network listener of its own)
in_root passwd -d root >> "$log" 2>&1
mkdir -p "$root/etc/systemd/system/serial-getty@ttyS0.service.d"
cat > "$root/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 %I $TERM
EOF
# The lab's unit: when the kernel command line says judge-vm.run=1, mount the 9p share `lab`
# (the run's folder on the host, where run-guest.sh put guest-test.sh), run the script, power
# off. It runs in system.slice, not delegated: the script starts each engine step in a scope
# of its own with Delegate=yes (systemd-run), as a deployment would.
cat > "$root/usr/local/sbin/judge-vm-boot" <<'EOF'
#!/bin/sh
modprobe 9pnet_virtio 2>/dev/null
mkdir -p /mnt/lab
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 lab /mnt/lab; then
    echo "judge-vm: cannot mount the 9p share 'lab'" > /dev/ttyS0
    systemctl poweroff
    exit 1
fi
bash /mnt/lab/guest-test.sh > /mnt/lab/guest.log 2>&1
echo "judge-vm: guest-test.sh exited $?" > /dev/ttyS0
sync
systemctl poweroff
EOF
chmod 755 "$root/usr/local/sbin/judge-vm-boot"
cat > "$root/etc/systemd/system/judge-vm.service" <<'EOF'
[Unit]
Description=judge VM lab: run guest-test.sh from the 9p share and power off
ConditionKernelCommandLine=judge-vm.run=1
After=multi-user.target network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=/usr/local/sbin/judge-vm-boot
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
in_root systemctl enable judge-vm.service >> "$log" 2>&1
mkdir -p "$root/var/log/journal"  # keep the journal on the disk for post-mortems

# -- 4. the engine: a copy of the tree and its .venv ---------------------------------------------
say "copying $VM_SRC into /root/judge and building its .venv"
mkdir -p "$root/root/judge"
if git -C "$VM_SRC" rev-parse --git-dir > /dev/null 2>&1; then
    ( cd "$VM_SRC" && git ls-files -z --cached --others --exclude-standard |
        tar --null -T - -c --ignore-failed-read ) | tar -C "$root/root/judge" -x
else
    tar -C "$VM_SRC" --exclude=./.venv --exclude=./playground/node_modules \
        --exclude=__pycache__ --exclude='*.egg-info' -c . | tar -C "$root/root/judge" -x
fi
# pip reaches PyPI from the chroot, trusting the system store (with the host's extra CAs)
in_root /bin/sh -c 'cd /root/judge && python3 -m venv .venv &&
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 \
    .venv/bin/pip install -q -e ".[test]" && touch .venv/.installed' >> "$log" 2>&1 ||
    fail "pip install failed"
git -C "$VM_SRC" rev-parse HEAD > "$root/root/judge.commit" 2>/dev/null || echo unknown > "$root/root/judge.commit"

# -- 5. the disk image, kernel and initrd ------------------------------------------------------
rm -f "$root/usr/sbin/policy-rc.d"
in_root dpkg-query -W -f '${Package} ${Version}\n' > "$image/packages.txt"
kver=$(ls "$root/lib/modules" | sort -V | tail -1)
say "kernel $kver; writing the ext4 image ($IMAGE_SIZE sparse)"
cp "$root/boot/vmlinuz-$kver" "$image/vmlinuz.tmp"
cp "$root/boot/initrd.img-$kver" "$image/initrd.img.tmp"
rm -f "$image/root.img.tmp"
truncate -s "$IMAGE_SIZE" "$image/root.img.tmp"
mkfs.ext4 -q -F -L judge-vm -d "$root" "$image/root.img.tmp" >> "$log" 2>&1 || fail "mkfs.ext4 -d"
for f in root.img vmlinuz initrd.img; do mv "$image/$f.tmp" "$image/$f"; done
{
    echo "suite=$SUITE"
    echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "build_seconds=$((SECONDS - started))"
    echo "kernel=$kver"
    echo "systemd=$(awk '$1 == "systemd" { print $2 }' "$image/packages.txt")"
    echo "python=$(awk '$1 == "python3" { print $2 }' "$image/packages.txt")"
    echo "docker=$(awk '$1 == "docker.io" { print $2 }' "$image/packages.txt")"
    echo "compose=$(awk '$1 == "docker-compose" { print $2 }' "$image/packages.txt")"
    echo "engine_commit=$(cat "$root/root/judge.commit")"
    echo "rootfs_used=$(du -sh "$root" | cut -f1)"
} > "$image/info.txt"
echo "$key" > "$image/inputs.sha256"
sed 's/^/  /' "$image/info.txt"
say "done in $((SECONDS - started)) s: $image/{root.img,vmlinuz,initrd.img}"
