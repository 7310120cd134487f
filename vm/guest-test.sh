#!/usr/bin/env bash
# Runs INSIDE a VM lab guest, as root, started at boot by judge-vm.service (vm/build-image.sh)
# from the 9p share `lab` (the run's folder on the host, mounted at /mnt/lab). Every check
# appends one line to summary.txt (for people) and checks.tsv (result, name, seconds, detail:
# for vm/run-guest.sh), plus logs and junit XML next to them; `done` is written last. The guest
# powers off when this script returns.
#
# Steps (STEPS in params.env, comma-separated; run in this order). Each engine step runs in a
# transient `systemd-run --scope -p Delegate=yes`, as docs/deployment.md asks of a deployment,
# and is followed by a leftovers check.
#   info        kernel, systemd, cgroup2 with the memory and pids controllers, mirror reachability
#   judge-run   `judge run` on tiny C and Python programs and limit cases: memory, CPU, pids,
#               a double-forked daemon, CPU of children, a networked run (slirp4netns: the
#               host's mounts must survive it): 9 verdicts that must all be right
#   sandbox     pytest tests/sandbox -m "$MARKERS" (default "not cpu_tight": tests whose limits
#               an emulated CPU cannot meet)
#   e2e         PostgreSQL and Redis by scripts/services.sh, then each of E2E_FILES with pytest
#               -m "$MARKERS" (an API and two workers as real processes), one scope per file
#   nodelegate  `judge run` in a scope WITHOUT Delegate=yes must be refused with a message that
#               names Delegate=yes and must leave that scope's cgroup alone; with
#               SANDBOX_CGROUP_ROOT naming a directory of a delegated unit it must work there
#   up          `make up` as a user runs it (the playground built with npm, PostgreSQL and
#               Redis, migrate, the API and one worker per CPU, each worker in a delegated
#               scope of its own): Python and C submissions Accepted through the API, then
#               SIGTERM stops it all
#   docker      Docker Engine (Debian's docker.io with Compose v2 and buildx; trixie): the
#               image built from the Dockerfile on this suite's Debian, compose.yaml up,
#               Python/C/Java Accepted, TLE and MLE caught, --scale worker=3 all judging,
#               down -v leaving nothing (scripts/compose-test.sh ENGINE=docker); then
#               pytest tests/docker_backend against dockerd
#   docker-backend  Docker Engine and pytest tests/docker_backend only (no compose stack)
#   custom      custom.sh (run-guest.sh copies VM_CUSTOM there), from the engine's tree
# leftovers-*: no run cgroup (box*) anywhere under /sys/fs/cgroup, no live process of a sandbox
# uid (60000-69999), and every mount the guest had at the start still mounted.
set -uo pipefail

LAB=${LAB:-/mnt/lab}
ENGINE=/root/judge
SUITE=unknown
STEPS=info,judge-run,sandbox,e2e,nodelegate,up
MARKERS="not cpu_tight"
PYTEST_ARGS=""
E2E_FILES="tests/e2e/test_cross_user.py tests/e2e/test_verdicts.py"
SYNC_SRC=1
STEP_TIMEOUT=1800
[ -f "$LAB/params.env" ] && . "$LAB/params.env"
export LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export TEST_DATABASE_URL=postgresql://judge:judge@127.0.0.1:5432/judge_test
# npm trusts only its own CA list: the system store holds the host's extra CAs too
# (build-image.sh), which HTTPS through a TLS-intercepting egress proxy needs
export NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
JUDGE=$ENGINE/.venv/bin/judge

uptime_s() { cut -d. -f1 /proc/uptime; }
t0=$(uptime_s)
: > "$LAB/checks.tsv"
note() {  # a line for the summary, the log and the serial console
    local line
    line="[guest up $(uptime_s)s] $*"
    echo "$line"
    echo "$line" >> "$LAB/summary.txt"
    echo "$line" > /dev/ttyS0 2>/dev/null || true
}
check() {  # check PASS|FAIL NAME SECONDS DETAIL
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$LAB/checks.tsv"
    note "$(printf '%-4s %-32s %5s s  %s' "$1" "$2" "$3" "$4")"
}
detail() {  # an indented line under a check, in both files
    printf -- '-\t\t\t%s\n' "$*" >> "$LAB/checks.tsv"
    note "       $*"
}
section() { echo; echo "==================== $* ===================="; }
has_step() { case ",$STEPS," in *",$1,"*) return 0 ;; esac; return 1; }
in_scope() {  # in_scope UNIT yes|no COMMAND...: the command in a transient scope
    local unit=$1 delegate=$2; shift 2
    timeout --kill-after=30 "$STEP_TIMEOUT" systemd-run --quiet --scope --collect \
        --unit="$unit" -p Delegate="$delegate" -- "$@"
}

note "guest-test.sh starting on $SUITE (boot took ${t0}s to reach it); steps: $STEPS"

# -- the engine's tree: the host's working tree over the image's copy ---------------------------
if [ "$SYNC_SRC" = 1 ]; then
    start=$SECONDS
    mkdir -p /mnt/src
    if mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro src /mnt/src &&
        rsync -a --delete --exclude=/.venv --exclude=/playground/node_modules \
            --exclude=__pycache__ --exclude=/judge.egg-info --exclude=/.pytest_cache \
            --exclude=/.ruff_cache --exclude=/tests/artifacts /mnt/src/ "$ENGINE/"; then
        check PASS sync "$((SECONDS - start))" "engine tree synced from the host ($(git -C "$ENGINE" rev-parse --short HEAD 2>/dev/null || echo '?'), $(git -C "$ENGINE" status --porcelain 2>/dev/null | wc -l) changed files)"
    else
        check FAIL sync "$((SECONDS - start))" "cannot mount or rsync the 9p share src"
    fi
else
    note "testing the copy baked into the image ($(cat /root/judge.commit 2>/dev/null))"
fi
cd "$ENGINE" || exit 1

# -- leftovers: what a step may leave on the host -------------------------------------------------
# mount points that may come and go on their own (services' credentials, login sessions, boxes)
volatile_mounts='^/(run/credentials|run/user|var/lib/judge|tmp|mnt)(/|$)'
mount_points() { awk '{ print $5 }' /proc/self/mountinfo | grep -Ev "$volatile_mounts" | sort -u; }
mount_points > /tmp/mounts-at-start
leftovers() {
    local cg procs lost problems=()
    cg=$(find /sys/fs/cgroup -type d -name 'box[0-9]*' 2>/dev/null | head -20 | tr '\n' ' ')
    procs=$(ps -eo uid=,pid=,stat=,comm= | awk '$1 >= 60000 && $1 < 70000 && $3 !~ /^Z/' |
        head -20 | tr '\n' ';')
    lost=$(mount_points | comm -23 /tmp/mounts-at-start - | tr '\n' ' ')
    [ -n "$cg" ] && problems+=("run cgroups left: $cg")
    [ -n "$procs" ] && problems+=("box processes left: $procs")
    [ -n "$lost" ] && problems+=("host mounts lost: $lost")
    if [ "${#problems[@]}" -eq 0 ]; then
        check PASS "leftovers-$1" 0 "no run cgroup, no box process, every mount still there"
    else
        check FAIL "leftovers-$1" 0 "${problems[*]}"
    fi
    if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
        note "/sys/fs/cgroup is gone: remounting cgroup2 so that later steps can run"
        mount -t cgroup2 -o nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
    fi
}

pytest_summary() {  # the closing line of a pytest log, without its ==== decoration
    grep -E '[0-9]+ (passed|failed|error|errors|skipped|deselected)' "$1" | tail -1 |
        sed -E 's/^=+ //; s/ =+$//'
}
pytest_failures() {  # FAILED/ERROR lines of a pytest -ra log, as detail lines
    grep -E '^(FAILED|ERROR) ' "$1" | head -30 | while read -r line; do detail "$line"; done
}

# -- info ------------------------------------------------------------------------------------------
if has_step info; then
    section info
    start=$SECONDS
    uname -a; systemctl --version | head -1
    echo "fstype of /sys/fs/cgroup: $(stat -fc %T /sys/fs/cgroup)"
    echo "cgroup.controllers: $(cat /sys/fs/cgroup/cgroup.controllers 2>&1)"
    echo "root cgroup.subtree_control: $(cat /sys/fs/cgroup/cgroup.subtree_control 2>&1)"
    grep cgroup /proc/self/mounts
    echo "this script's cgroup: $(cat /proc/self/cgroup)"
    echo "LSMs: $(cat /sys/kernel/security/lsm 2>/dev/null)"
    bwrap --version; python3 --version; nproc; free -m
    fstype=$(stat -fc %T /sys/fs/cgroup)
    controllers=$(cat /sys/fs/cgroup/cgroup.controllers 2>/dev/null)
    if timeout 20 curl -fsS -o /dev/null "http://deb.debian.org/debian/dists/$SUITE/Release"; then
        mirror="reachable"
    else
        mirror="NOT reachable"
    fi
    facts="kernel $(uname -r), $(systemctl --version | head -1 | cut -d' ' -f1,2), $(bwrap --version), $(python3 --version); /sys/fs/cgroup: $fstype [$controllers]; Debian mirror $mirror"
    if [ "$fstype" = cgroup2fs ] && [[ " $controllers " == *" memory "* ]] &&
            [[ " $controllers " == *" pids "* ]]; then
        check PASS info "$((SECONDS - start))" "$facts"
    else
        check FAIL info "$((SECONDS - start))" "not a cgroup v2 host with memory and pids: $facts"
    fi
fi

# -- the programs judge-run and nodelegate submit ------------------------------------------------
progs=/root/judge-vm-progs
mkdir -p "$progs"
cat > "$progs/hello.c" <<'EOF'
#include <stdio.h>
int main(void) { char name[64]; if (scanf("%63s", name) != 1) return 1; printf("hello, %s\n", name); return 0; }
EOF
echo world > "$progs/in.txt"
printf 'print("hello, " + input())\n' > "$progs/hello.py"
cat > "$progs/mem.c" <<'EOF'
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
int main(void) { for (int i = 0; i < 64; i++) { char *p = malloc(16 << 20); if (!p) return 2; memset(p, 1, 16 << 20); } puts("survived 1 GB"); return 0; }
EOF
cat > "$progs/mem.py" <<'EOF'
blocks = [bytearray(16 << 20) for _ in range(64)]
print("survived 1 GB")
EOF
cat > "$progs/tle.c" <<'EOF'
int main(void) { volatile unsigned long n = 0; for (;;) n++; }
EOF
cat > "$progs/forks.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
#include <sys/wait.h>
int main(void) { int ok = 0; for (int i = 0; i < 64; i++) { pid_t p = fork(); if (p == 0) { sleep(2); _exit(0); } if (p > 0) ok++; } printf("forked %d of 64\n", ok); while (wait(NULL) > 0) ; return 0; }
EOF
cat > "$progs/daemon.c" <<'EOF'
#include <stdio.h>
#include <unistd.h>
int main(void) { if (fork() == 0) { setsid(); if (fork() == 0) { sleep(600); _exit(0); } _exit(0); } puts("parent done"); return 0; }
EOF
cat > "$progs/burn2.py" <<'EOF'
import os, time
pids = []
for _ in range(2):
    pid = os.fork()
    if pid == 0:
        end = time.process_time() + 0.5
        while time.process_time() < end:
            pass
        os._exit(0)
    pids.append(pid)
for pid in pids:
    os.waitpid(pid, 0)
print("two children burned 0.5 s each")
EOF
cat > "$progs/net.py" <<'EOF'
import socket
names = sorted(name for _, name in socket.if_nameindex())
print("interfaces:", " ".join(names))
raise SystemExit(0 if "tap0" in names else 1)
EOF

# judge_case NAME STATUS FILE LANGUAGE [judge run options...]: one `judge run`, its JSON
# reduced to a line `JUDGE-RUN ok|FAIL NAME ...`; ok when the status id is STATUS (and, for an
# Accepted run, the output is what the program prints)
judge_case() {
    local name=$1 expect=$2 file=$3 lang=$4; shift 4
    local out got verdict=FAIL
    out=$(timeout 300 "$JUDGE" run "$progs/$file" --language "$lang" "$@" 2>&1)
    echo "--- $name: judge run $file --language $lang $*"
    echo "$out"
    got=$(printf '%s' "$out" | python3 -c 'import json, sys
try:
    d = json.loads(sys.stdin.read())
except ValueError:
    print("no JSON"); sys.exit()
s = d.get("status") or {}
print("status=%s(%s) time=%s memory=%s exit_signal=%s message=%s stdout=%r" % (
    s.get("id"), s.get("description"), d.get("time"), d.get("memory"), d.get("exit_signal"),
    d.get("message"), (d.get("stdout") or "")[:40]))')
    case "$got" in "status=$expect("*) verdict=ok ;; esac
    echo "JUDGE-RUN $verdict $name (want status $expect): $got" | tee -a "$LAB/judge-run.txt"
}
judge_cases() {
    judge_case c-hello 3 hello.c 50 --stdin "$progs/in.txt"
    judge_case python-hello 3 hello.py 71 --stdin "$progs/in.txt"
    judge_case c-memory-limit 12 mem.c 50 --memory-limit 65536
    judge_case python-memory-limit 12 mem.py 71 --memory-limit 65536
    judge_case c-cpu-time-limit 5 tle.c 50 --cpu-time-limit 1 --wall-time-limit 5
    judge_case c-pids-limit 3 forks.c 50 --max-processes-and-or-threads 8
    judge_case c-background-daemon 3 daemon.c 50 --wall-time-limit 5
    judge_case python-cpu-of-children 3 burn2.py 71
    ALLOW_ENABLE_NETWORK=true judge_case python-network 3 net.py 71 --enable-network
}
show_tree() {  # the subtree the engine made in its delegated scope, while the scope exists
    local own
    own=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
    own=${own%/supervisor}
    echo "engine's cgroup root P=$own"
    echo "P/cgroup.controllers: $(cat "$own/cgroup.controllers")"
    echo "P/cgroup.subtree_control: $(cat "$own/cgroup.subtree_control" 2>&1)"
    find "$own" -maxdepth 2 -type d | sed "s|^$own|P|"
}
export -f judge_case judge_cases show_tree
export ENGINE LAB JUDGE progs

# -- judge-run -------------------------------------------------------------------------------------
if has_step judge-run; then
    section "judge-run (delegated scope)"
    : > "$LAB/judge-run.txt"
    start=$SECONDS
    in_scope judge-vm-judge-run yes bash -c 'cat /proc/self/cgroup; judge_cases; show_tree'
    ok=$(grep -c '^JUDGE-RUN ok' "$LAB/judge-run.txt")
    bad=$(grep -c '^JUDGE-RUN FAIL' "$LAB/judge-run.txt")
    result=FAIL
    [ "$ok" -eq 9 ] && [ "$bad" -eq 0 ] && result=PASS
    check "$result" judge-run "$((SECONDS - start))" "$ok of 9 verdicts right"
    grep '^JUDGE-RUN' "$LAB/judge-run.txt" | cut -d' ' -f2- | while read -r line; do detail "$line"; done
    leftovers judge-run
fi

# -- tests/sandbox -----------------------------------------------------------------------------------
if has_step sandbox; then
    section "pytest tests/sandbox -m '$MARKERS' (delegated scope)"
    start=$SECONDS
    # shellcheck disable=SC2086
    in_scope judge-vm-sandbox yes .venv/bin/python -m pytest tests/sandbox -m "$MARKERS" \
        -q -ra -p no:cacheprovider --junitxml="$LAB/sandbox-junit.xml" $PYTEST_ARGS \
        > "$LAB/sandbox-pytest.log" 2>&1
    rc=$?
    cat "$LAB/sandbox-pytest.log"
    result=FAIL
    [ "$rc" -eq 0 ] && result=PASS
    check "$result" sandbox "$((SECONDS - start))" "pytest exit $rc: $(pytest_summary "$LAB/sandbox-pytest.log")"
    pytest_failures "$LAB/sandbox-pytest.log"
    leftovers sandbox
fi

# -- end to end: the API, two workers, PostgreSQL and Redis -------------------------------------
if has_step e2e; then
    section "e2e: scripts/services.sh, then ${E2E_FILES}"
    start=$SECONDS
    # the data stores first, outside the engine's scopes, as a host's own services would be
    if timeout 300 scripts/services.sh > "$LAB/services.log" 2>&1; then
        check PASS services "$((SECONDS - start))" "PostgreSQL and Redis up (scripts/services.sh)"
        for file in $E2E_FILES; do
            name=e2e-$(basename "$file" .py | sed 's/^test_//; s/_/-/g')
            section "pytest $file (delegated scope)"
            start=$SECONDS
            # The engines' compile limit is MAX_CPU_TIME_LIMIT: javac alone takes ~12 s of an
            # emulated CPU against the default 15 s, so the guests' engines get more room; and
            # their APIs more than 30 s to start (a verdicts run once failed every test at set-up).
            in_scope "judge-vm-$name" yes env MAX_CPU_TIME_LIMIT=60 MAX_WALL_TIME_LIMIT=150 \
                TEST_E2E_START_TIMEOUT=180 \
                .venv/bin/python -m pytest "$file" -m "$MARKERS" -q -ra \
                -p no:cacheprovider --junitxml="$LAB/$name-junit.xml" > "$LAB/$name-pytest.log" 2>&1
            rc=$?
            cat "$LAB/$name-pytest.log"
            result=FAIL
            [ "$rc" -eq 0 ] && result=PASS
            check "$result" "$name" "$((SECONDS - start))" "pytest exit $rc: $(pytest_summary "$LAB/$name-pytest.log")"
            pytest_failures "$LAB/$name-pytest.log"
            leftovers "$name"
        done
    else
        cat "$LAB/services.log"
        check FAIL services "$((SECONDS - start))" "scripts/services.sh failed: $(tail -1 "$LAB/services.log")"
    fi
fi

# -- without delegation ---------------------------------------------------------------------------
if has_step nodelegate; then
    section "judge run in a scope WITHOUT Delegate=yes: must be refused, naming the fix"
    start=$SECONDS
    in_scope judge-vm-nodelegate no bash -c '
        own=/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)
        echo "scope cgroup: $own (controllers: $(cat "$own/cgroup.controllers"))"
        "$JUDGE" run "$progs/hello.py" --language 71 --stdin "$progs/in.txt"
        echo "judge-run-exit=$?"
        echo "scope cgroup afterwards: $(cd "$own" && find . -mindepth 1 -maxdepth 1 -type d | tr "\n" " ")"
        [ -d "$own/supervisor" ] && echo "TAKEN-OVER: $own/supervisor exists"
        echo "processes still in the scope cgroup: $(wc -l < "$own/cgroup.procs")"' \
        > "$LAB/nodelegate.txt" 2>&1
    cat "$LAB/nodelegate.txt"
    exit_code=$(sed -n 's/^judge-run-exit=//p' "$LAB/nodelegate.txt")
    message=$(grep -m1 'cannot run the sandbox' "$LAB/nodelegate.txt")
    problems=()
    [ -n "$exit_code" ] && [ "$exit_code" != 0 ] || problems+=("judge run exited ${exit_code:-?}, not refused")
    grep -q 'Delegate=yes' "$LAB/nodelegate.txt" || problems+=("the message does not mention Delegate=yes")
    grep -q '^TAKEN-OVER' "$LAB/nodelegate.txt" && problems+=("the undelegated scope was taken over")
    grep -q '"Accepted"' "$LAB/nodelegate.txt" && problems+=("it judged the program anyway")
    if [ "${#problems[@]}" -eq 0 ]; then
        check PASS nodelegate-refused "$((SECONDS - start))" "judge run exit $exit_code, the scope's cgroup left alone, the message names Delegate=yes"
    else
        check FAIL nodelegate-refused "$((SECONDS - start))" "${problems[*]}"
    fi
    [ -n "$message" ] && detail "$message"
    leftovers nodelegate-refused

    section "judge run in a scope WITHOUT Delegate=yes, SANDBOX_CGROUP_ROOT in a delegated unit"
    start=$SECONDS
    # The operator's side: a delegated unit (a service holding a sleep), its process moved to a
    # leaf of its own, memory/pids/cpu enabled for its children, an empty directory for the engine.
    systemctl stop judge-vm-cgroot.service 2>/dev/null
    systemd-run --quiet --collect --unit=judge-vm-cgroot -p Delegate=yes sleep 3600
    for _ in $(seq 50); do systemctl is-active -q judge-vm-cgroot.service && break; sleep 0.2; done
    unit_cg=/sys/fs/cgroup$(systemctl show -p ControlGroup --value judge-vm-cgroot.service)
    engine_cg=$unit_cg/engine
    {
        echo "delegated unit's cgroup: $unit_cg (controllers: $(cat "$unit_cg/cgroup.controllers"))"
        mkdir -p "$unit_cg/holder" "$engine_cg"
        for pid in $(cat "$unit_cg/cgroup.procs"); do echo "$pid" > "$unit_cg/holder/cgroup.procs"; done
        echo "+memory +pids +cpu" > "$unit_cg/cgroup.subtree_control"
        echo "SANDBOX_CGROUP_ROOT=$engine_cg (controllers: $(cat "$engine_cg/cgroup.controllers"))"
    } > "$LAB/cgroup-root.txt" 2>&1
    in_scope judge-vm-cgroot-run no env SANDBOX_CGROUP_ROOT="$engine_cg" bash -c '
        own=/sys/fs/cgroup$(sed -n "s/^0:://p" /proc/self/cgroup)
        echo "judge run from the undelegated scope $own"
        judge_case cgroup-root-python-hello 3 hello.py 71 --stdin "$progs/in.txt"
        [ -d "$own/supervisor" ] && echo "TAKEN-OVER: $own/supervisor exists"
        echo "the engine subtree afterwards:"; find "$SANDBOX_CGROUP_ROOT" -type d' \
        >> "$LAB/cgroup-root.txt" 2>&1
    cat "$LAB/cgroup-root.txt"
    problems=()
    grep -q '^JUDGE-RUN ok' "$LAB/cgroup-root.txt" ||
        problems+=("not Accepted: $(grep -m1 -E '^JUDGE-RUN|cannot run' "$LAB/cgroup-root.txt")")
    grep -q "^$engine_cg/boxes\$" "$LAB/cgroup-root.txt" ||
        problems+=("no boxes cgroup under SANDBOX_CGROUP_ROOT")
    grep -q '^TAKEN-OVER' "$LAB/cgroup-root.txt" && problems+=("the undelegated scope was taken over")
    if [ "${#problems[@]}" -eq 0 ]; then
        check PASS nodelegate-cgroup-root "$((SECONDS - start))" "Accepted, its run cgroup in $engine_cg/boxes: $(grep -m1 '^JUDGE-RUN' "$LAB/cgroup-root.txt" | sed 's/^[^:]*: //')"
    else
        check FAIL nodelegate-cgroup-root "$((SECONDS - start))" "${problems[*]}"
        grep -m1 'cannot run the sandbox' "$LAB/cgroup-root.txt" | while read -r line; do detail "$line"; done
    fi
    leftovers nodelegate-cgroup-root
    systemctl stop judge-vm-cgroot.service
fi

# -- make up ---------------------------------------------------------------------------------------
if has_step up; then
    section "make up: the API and a worker per CPU, each worker in a delegated scope"
    start=$SECONDS
    problems=()
    # the compile limit for javac on an emulated CPU, as in the e2e step
    MAX_CPU_TIME_LIMIT=60 MAX_WALL_TIME_LIMIT=150 setsid make up > "$LAB/make-up.log" 2>&1 &
    make_pid=$!
    workers=0
    for _ in $(seq 450); do
        kill -0 "$make_pid" 2>/dev/null || { problems+=("make up exited: $(tail -1 "$LAB/make-up.log")"); break; }
        workers=$(curl -sf http://127.0.0.1:2358/workers 2>/dev/null |
            python3 -c 'import json, sys; print(sum(q["available"] for q in json.load(sys.stdin)))' 2>/dev/null)
        [ "${workers:-0}" -ge "$(nproc)" ] && break
        sleep 2
    done
    [ "${workers:-0}" -ge "$(nproc)" ] || problems+=("${workers:-0} of $(nproc) workers registered after 900 s")
    scopes=$(systemctl list-units --type=scope --no-legend | grep -c 'judge worker')
    [ "$scopes" -eq "$(nproc)" ] || problems+=("$scopes worker scopes, not $(nproc)")
    for pair in "python 71 hello.py" "c 50 hello.c"; do
        read -r name lang file <<< "$pair"
        body=$(python3 -c 'import json, sys
print(json.dumps({"language_id": int(sys.argv[1]), "source_code": open(sys.argv[2]).read(),
                  "stdin": "world"}))' "$lang" "$progs/$file")
        answer=$(curl -sS --max-time 300 -X POST -H 'Content-Type: application/json' \
            'http://127.0.0.1:2358/submissions?wait=true' -d "$body")
        echo "$name: $answer"
        verdict=$(printf '%s' "$answer" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("ok" if d["status"]["id"] == 3 and d["stdout"] == "hello, world\n" else "wrong")' 2>/dev/null)
        [ "$verdict" = ok ] || problems+=("$name not Accepted: $(printf '%s' "$answer" | cut -c1-200)")
    done
    pkill -TERM -f '\.venv/bin/judge up'
    for _ in $(seq 60); do pgrep -f '\.venv/bin/judge up' > /dev/null || break; sleep 1; done
    pgrep -f '\.venv/bin/judge up' > /dev/null && problems+=("judge up still running 60 s after SIGTERM")
    left=$(systemctl list-units --type=scope --no-legend | grep -c 'judge worker')
    [ "$left" -eq 0 ] || problems+=("$left worker scope(s) left after the stop")
    tail -40 "$LAB/make-up.log"
    if [ "${#problems[@]}" -eq 0 ]; then
        check PASS up "$((SECONDS - start))" "make up: $workers workers in $scopes delegated scopes, Python and C Accepted, stopped by SIGTERM"
    else
        check FAIL up "$((SECONDS - start))" "${problems[*]}"
    fi
    leftovers up
fi

# -- Docker Engine: the compose stack and the docker sandbox backend -----------------------------
if has_step docker || has_step docker-backend; then
    section "docker: Docker Engine, compose.yaml, the docker sandbox backend"
    start=$SECONDS
    mkdir -p /mnt/cache
    if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro cache /mnt/cache; then
        check FAIL docker-engine 0 "no 9p share cache (run-guest.sh shares IMAGE_CACHE)"
    elif ! systemctl start containerd.service docker.service || ! docker version > /dev/null; then
        journalctl -u docker.service --no-pager | tail -30
        check FAIL docker-engine "$((SECONDS - start))" "dockerd did not start, or no docker command"
    else
        docker info 2>/dev/null | grep -iE 'server version|cgroup|storage driver|security|runtime'
        check PASS docker-engine "$((SECONDS - start))" "$(docker version --format 'Docker Engine {{.Server.Version}}'), Compose $(docker compose version --short), $(docker buildx version | cut -d' ' -f1,2), cgroup $(docker info --format '{{.CgroupVersion}} ({{.CgroupDriver}})')"

        if has_step docker; then  # docker-backend alone skips the compose stack
            section "scripts/compose-test.sh with ENGINE=docker"
            start=$SECONDS
            # the engine's compile limit is MAX_CPU_TIME_LIMIT (javac on an emulated CPU: see e2e)
            ENGINE=docker BASE_SUITE=$SUITE IMAGE_CACHE=/mnt/cache \
                CONF_EXTRA=$'MAX_CPU_TIME_LIMIT=60\nMAX_WALL_TIME_LIMIT=150' SUBMIT_TIMEOUT=300 \
                HEALTH_TIMEOUT=900 timeout --kill-after=30 3600 scripts/compose-test.sh \
                > "$LAB/docker-compose.log" 2>&1
            rc=$?
            cat "$LAB/docker-compose.log"
            result=FAIL
            [ "$rc" -eq 0 ] && result=PASS
            check "$result" docker-compose "$((SECONDS - start))" "scripts/compose-test.sh exit $rc: $(grep -m1 -E 'FAILED|all checks passed' "$LAB/docker-compose.log")"
            grep -E '\] (built|.*: (Accepted|Time|Memory)|.*judged [0-9]+ of them|down -v|.*privileged=)' \
                "$LAB/docker-compose.log" | sed 's/^\[compose-test +[ 0-9]*s\] //' |
                while read -r line; do detail "$line"; done
        fi

        section "pytest tests/docker_backend against dockerd"
        start=$SECONDS
        docker image inspect localhost/judge-test-base:bookworm > /dev/null 2>&1 ||
            docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
                /mnt/cache/judge-test-base-bookworm.tar.gz localhost/judge-test-base:bookworm > /dev/null
        # CI=true: a test that cannot reach the engine fails instead of skipping
        CI=true TEST_DOCKER_HOST=unix:///run/docker.sock \
            TEST_DOCKER_IMAGE=localhost/judge-test-base:bookworm \
            timeout --kill-after=30 "$STEP_TIMEOUT" .venv/bin/python -m pytest tests/docker_backend \
            -q -ra -p no:cacheprovider --junitxml="$LAB/docker-backend-junit.xml" \
            > "$LAB/docker-backend-pytest.log" 2>&1
        rc=$?
        cat "$LAB/docker-backend-pytest.log"
        result=FAIL
        [ "$rc" -eq 0 ] && result=PASS
        check "$result" docker-backend "$((SECONDS - start))" "pytest exit $rc: $(pytest_summary "$LAB/docker-backend-pytest.log")"
        pytest_failures "$LAB/docker-backend-pytest.log"
        left=$(docker ps -aq | wc -l)
        [ "$left" -eq 0 ] || check FAIL docker-containers-left 0 "$left container(s) still exist"
        systemctl stop docker.service docker.socket containerd.service
    fi
    leftovers docker
fi

# -- a script of your own (VM_CUSTOM=file for run-guest.sh) -------------------------------------
if has_step custom; then
    section custom
    start=$SECONDS
    timeout --kill-after=30 "$STEP_TIMEOUT" bash "$LAB/custom.sh" > "$LAB/custom.log" 2>&1
    rc=$?
    cat "$LAB/custom.log"
    result=FAIL
    [ "$rc" -eq 0 ] && result=PASS
    check "$result" custom "$((SECONDS - start))" "custom.sh exit $rc (custom.log)"
    leftovers custom
fi

section "kernel messages (OOM kills, warnings)"
dmesg | grep -iE 'oom|killed process|cgroup|bwrap|warn' | tail -40
journalctl -b -p warning --no-pager 2>/dev/null | tail -60 > "$LAB/journal-warnings.txt"
note "guest-test.sh done after $(( $(uptime_s) - t0 )) s: $(grep -c '^PASS' "$LAB/checks.tsv") passed, $(grep -c '^FAIL' "$LAB/checks.tsv") failed"
touch "$LAB/done"
