#!/usr/bin/env bash
# Boot one VM lab guest (built by vm/build-image.sh) under QEMU, let it run vm/guest-test.sh,
# print its summary, and exit 0 only when every check it ran passed.
#
#   vm/run-guest.sh bookworm                          the default checks (see guest-test.sh)
#   VM_STEPS=sandbox VM_PYTEST_ARGS="-x -k memory" vm/run-guest.sh trixie
#   VM_CUSTOM=my-check.sh VM_STEPS=custom vm/run-guest.sh bookworm   any script, as root
#   VM_INTERACTIVE=1 vm/run-guest.sh trixie           a root shell on the console (Ctrl-a x quits)
#
# Each run gets a folder VM_DIR/SUITE/runs/<date>-<pid>/ (VM_DIR/SUITE/last points at the
# latest), shared with the guest over 9p (tag `lab`): summary.txt (one line per check),
# checks.tsv (the same, for vm-test.sh), guest.log (everything), serial.log (the console),
# pytest logs and junit XML. The guest writes to a qcow2 overlay of the image, removed at the
# end (VM_KEEP_DISK=1 keeps it), so every run starts from the same disk. The engine tree VM_SRC
# is shared read-only (tag `src`) and synced over the image's copy before the checks.
#
# Environment (defaults in brackets):
#   VM_DIR [/var/tmp/judge-vm]   VM_SRC [this repository]
#   VM_STEPS [info,judge-run,sandbox,e2e,nodelegate,up, and docker on trixie]  (also:
#                docker-backend: the docker step's backend tests without the compose stack; custom,
#                                with VM_CUSTOM=file)
#   IMAGE_CACHE [/var/cache/judge-images]  debootstrap tarballs (the docker step's base images)
#   VM_MARKERS ["not cpu_tight"] pytest -m for tests/sandbox and the e2e files
#   VM_PYTEST_ARGS []            more arguments for the tests/sandbox run
#   VM_E2E_FILES ["tests/e2e/test_cross_user.py tests/e2e/test_verdicts.py"]
#   VM_SYNC_SRC [1]              0 tests the copy baked into the image
#   VM_MEM [4G, at most 6G]  VM_SMP [2]  VM_ACCEL [auto: kvm, or tcg on a PVM or no-KVM host]
#   VM_CPU [host,-arch-capabilities with kvm; max with tcg]
#   VM_GUEST_TIMEOUT [5400 s for the whole guest]  VM_STEP_TIMEOUT [1800 s per step]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITE=${1:?usage: vm/run-guest.sh SUITE (bookworm, trixie)}
VM_DIR=${VM_DIR:-/var/tmp/judge-vm}
VM_SRC=${VM_SRC:-$here/..}
# the docker step where the image has Docker Engine with Compose v2 (build-image.sh)
default_steps=info,judge-run,sandbox,e2e,nodelegate,up
grep -q '^compose=2' "$VM_DIR/$SUITE/image/info.txt" 2>/dev/null && default_steps=$default_steps,docker
STEPS=${VM_STEPS:-$default_steps}
MARKERS=${VM_MARKERS-not cpu_tight}
PYTEST_ARGS=${VM_PYTEST_ARGS:-}
E2E_FILES=${VM_E2E_FILES:-tests/e2e/test_cross_user.py tests/e2e/test_verdicts.py}
SYNC_SRC=${VM_SYNC_SRC:-1}
MEM=${VM_MEM:-4G}
SMP=${VM_SMP:-2}
GUEST_TIMEOUT=${VM_GUEST_TIMEOUT:-5400}
IMAGE_CACHE=${IMAGE_CACHE:-/var/cache/judge-images}
STEP_TIMEOUT=${VM_STEP_TIMEOUT:-1800}
INTERACTIVE=${VM_INTERACTIVE:-0}

# Acceleration: KVM, unless this host's /dev/kvm is PVM (the kvm_pvm module: software nested
# virtualization that runs only PVM-enabled guest kernels; Debian's kernels hang right after
# their real-mode set-up there) or unusable; then TCG, QEMU's emulator: slower, but the guest
# kernel, its cgroups, systemd and the engine are the real thing.
ACCEL=${VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
    if [ -d /sys/module/kvm_pvm ] || [ ! -w /dev/kvm ]; then ACCEL=tcg; else ACCEL=kvm; fi
fi
case $ACCEL in
    # under nested KVM, QEMU 7.2's plain `-cpu host` aborts at start ("failed to set MSR
    # 0x10a", IA32_ARCH_CAPABILITIES, which the outer hypervisor does not let the guest set)
    kvm) accel=(-enable-kvm); CPU=${VM_CPU:-host,-arch-capabilities} ;;
    tcg) accel=(-accel tcg,thread=multi); CPU=${VM_CPU:-max} ;;
    *) echo "VM_ACCEL must be auto, kvm or tcg" >&2; exit 1 ;;
esac

started=$SECONDS
say() { printf '[run-guest %s +%4ds] %s\n' "$SUITE" "$((SECONDS - started))" "$*"; }
die() { say "FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (9p shares of root-owned files)"
command -v qemu-system-x86_64 >/dev/null || die "no QEMU: scripts/install-deps.sh deps/vm-lab.txt"
image=$VM_DIR/$SUITE/image
for f in root.img vmlinuz initrd.img; do
    [ -s "$image/$f" ] || die "$image/$f missing: run vm/build-image.sh $SUITE first"
done
case $MEM in [1-6]G) ;; *) die "VM_MEM must be 1G..6G" ;; esac
VM_SRC=$(cd "$VM_SRC" && pwd)

# VM_RUN: the run folder to use (vm-test.sh names it, so that it never reads another run's)
run=${VM_RUN:-$VM_DIR/$SUITE/runs/$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$run"
ln -sfn "$run" "$VM_DIR/$SUITE/last"
cp "$here/guest-test.sh" "$run/guest-test.sh"
if [ -n "${VM_CUSTOM:-}" ]; then
    cp "$VM_CUSTOM" "$run/custom.sh"
    case ",$STEPS," in *,custom,*) ;; *) STEPS=$STEPS,custom ;; esac
fi
printf 'SUITE=%q\nSTEPS=%q\nMARKERS=%q\nPYTEST_ARGS=%q\nE2E_FILES=%q\nSYNC_SRC=%q\nSTEP_TIMEOUT=%q\n' \
    "$SUITE" "$STEPS" "$MARKERS" "$PYTEST_ARGS" "$E2E_FILES" "$SYNC_SRC" "$STEP_TIMEOUT" \
    > "$run/params.env"
cp "$image/info.txt" "$run/image-info.txt" 2>/dev/null || true

# the guest's disk: a fresh overlay of the image
disk=$run/overlay.qcow2
qemu-img create -q -f qcow2 -b "$image/root.img" -F raw "$disk"
[ "${VM_KEEP_DISK:-0}" = 1 ] || trap 'rm -f "$disk"' EXIT

shares=(-virtfs "local,path=$run,mount_tag=lab,security_model=none,id=lab")
# The docker step imports base images from debootstrap tarballs (no Docker Hub): the engine
# image's base (this suite's minbase) and the docker backend tests' image (bookworm with
# python3, gcc and unzip, as `make podman` makes it).
case ",$STEPS," in *,docker,*|*,docker-backend,*)
    "$here/../scripts/rootfs-tarball.sh" "$SUITE" "$IMAGE_CACHE/debian-$SUITE-minbase.tar.gz"
    "$here/../scripts/rootfs-tarball.sh" bookworm "$IMAGE_CACHE/judge-test-base-bookworm.tar.gz" \
        python3,gcc,libc6-dev,unzip
    shares+=(-virtfs "local,path=$IMAGE_CACHE,mount_tag=cache,security_model=none,readonly=on,id=cache")
    ;;
esac
if [ "$SYNC_SRC" = 1 ]; then
    shares+=(-virtfs "local,path=$VM_SRC,mount_tag=src,security_model=none,readonly=on,id=src")
fi
qemu=(qemu-system-x86_64 "${accel[@]}" -cpu "$CPU" -m "$MEM" -smp "$SMP" -nographic -no-reboot
      -kernel "$image/vmlinuz" -initrd "$image/initrd.img"
      -drive "file=$disk,if=virtio,format=qcow2,cache=writeback,discard=unmap"
      "${shares[@]}"
      -netdev user,id=net0 -device virtio-net-pci,netdev=net0)
append="console=ttyS0 root=/dev/vda rw panic=10"

if [ "$INTERACTIVE" = 1 ]; then
    say "interactive: root shell on the console; for the checks:"
    say "  mount -t 9p -o trans=virtio,version=9p2000.L lab /mnt/lab && bash /mnt/lab/guest-test.sh"
    "${qemu[@]}" -append "$append"
    exit 0
fi

say "run folder: $run"
say "steps: $STEPS; source: $VM_SRC; accel $ACCEL, -cpu $CPU, $SMP vCPUs, $MEM"
t=$SECONDS
: > "$run/summary.txt"
timeout --kill-after=30 "$GUEST_TIMEOUT" "${qemu[@]}" -serial "file:$run/serial.log" \
    -monitor none -append "$append judge-vm.run=1" < /dev/null > "$run/qemu.out" 2>&1 &
qemu_pid=$!
# the guest's summary lines as they come (summary.txt is on the 9p share)
tail -n +1 -F --pid="$qemu_pid" "$run/summary.txt" 2>/dev/null | sed -u "s/^/[$SUITE] /" &
tail_pid=$!
status=0
wait "$qemu_pid" || status=$?
wait "$tail_pid" 2>/dev/null || true
guest_seconds=$((SECONDS - t))
echo "$guest_seconds" > "$run/guest-seconds"
say "guest stopped after $guest_seconds s (qemu exit $status$([ "$status" = 124 ] && echo ': VM_GUEST_TIMEOUT'))"

# Verdict: the guest finished (it writes `done` last) and no check failed.
if [ ! -f "$run/done" ]; then
    say "the guest did not finish its checks; the tail of its console:"
    tail -30 "$run/serial.log" 2>/dev/null | sed 's/^/  | /'
    printf 'FAIL\tguest-finished\t%s\tno `done` from guest-test.sh (qemu exit %s)\n' \
        "$guest_seconds" "$status" >> "$run/checks.tsv"
fi
failed=$(awk -F'\t' '$1 == "FAIL"' "$run/checks.tsv" 2>/dev/null | wc -l)
passed=$(awk -F'\t' '$1 == "PASS"' "$run/checks.tsv" 2>/dev/null | wc -l)
if [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]; then
    say "PASS: $passed checks passed (results: $run)"
    exit 0
fi
say "FAIL: $failed of $((passed + failed)) checks failed (results: $run)"
exit 1
