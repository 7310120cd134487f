#!/usr/bin/env bash
# `make vm-test`: the engine on real systemd + cgroup v2 hosts, one QEMU guest per Debian suite.
# For each suite of VM_SUITES: build the guest image unless the cached one is up to date
# (vm/build-image.sh), boot it with this working tree synced in and run the checks
# (vm/run-guest.sh, vm/guest-test.sh), then print one summary for all guests. Exits non-zero
# when an image cannot be built, a guest does not finish, or any check fails.
#
#   make vm-test                                   bookworm and trixie, every check
#   VM_SUITES=trixie VM_STEPS=info,nodelegate make vm-test
#
# Environment: VM_SUITES (default "bookworm trixie"), VM_DIR (default /var/tmp/judge-vm), and
# everything vm/build-image.sh and vm/run-guest.sh read (VM_SRC, VM_STEPS, VM_MEM, ...).
# The host's packages come first (make vm-test: scripts/install-deps.sh deps/vm-lab.txt).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SUITES=${VM_SUITES:-bookworm trixie}
export VM_DIR=${VM_DIR:-/var/tmp/judge-vm}

[ "$(id -u)" -eq 0 ] || { echo "vm-test: run as root (debootstrap, chroot, QEMU's 9p shares)" >&2; exit 1; }
mkdir -p "$VM_DIR"
started=$SECONDS
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
failed=0

for suite in $SUITES; do
    echo "==================== vm-test: $suite ===================="
    t=$SECONDS
    if ! "$here/build-image.sh" "$suite"; then
        printf '%s: FAIL (the image could not be built: %s)\n\n' "$suite" \
            "$VM_DIR/$suite/build-failed.log" >> "$summary"
        failed=1
        continue
    fi
    build_s=$((SECONDS - t))
    t=$SECONDS
    result=PASS
    # the run folder is named here: VM_DIR/SUITE/last may point at someone else's run meanwhile
    run=$VM_DIR/$suite/runs/$(date +%Y%m%d-%H%M%S)-$$
    VM_RUN=$run "$here/run-guest.sh" "$suite" || { result=FAIL; failed=1; }
    kernel=$(sed -n 's/^kernel=//p' "$run/image-info.txt" 2>/dev/null)
    {
        printf '%s: %s  (kernel %s; image %d s%s, guest %s s of which boot %s s, wall %d s)\n' \
            "$suite" "$result" "${kernel:-?}" "$build_s" \
            "$([ "$build_s" -lt 10 ] && echo ' cached')" "$(cat "$run/guest-seconds" 2>/dev/null)" \
            "$(sed -n 's/.*boot took \([0-9]*\)s.*/\1/p' "$run/summary.txt" | head -1)" \
            "$((SECONDS - t + build_s))"
        # one line per check, its detail lines (failed tests, messages) indented below
        awk -F'\t' '$1 == "-" { printf "         %s\n", substr($4, 1, 300); next }
                    { printf "  %-4s %-32s %5s s  %s\n", $1, $2, $3, substr($4, 1, 200) }' \
            "$run/checks.tsv" 2>/dev/null
        echo "  results: $run"
        echo
    } >> "$summary"
done

echo
echo "==================== vm-test summary ($((SECONDS - started)) s) ===================="
cat "$summary"
if [ "$failed" -ne 0 ]; then
    echo "vm-test: FAILED"
    exit 1
fi
echo "vm-test: every check passed on: $SUITES"
