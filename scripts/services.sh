#!/usr/bin/env bash
# Make sure a local PostgreSQL and Redis answer, unless DATABASE_URL / REDIS_URL point the engine
# at servers someone else runs (then this script leaves both alone).
#
# PostgreSQL: start the first cluster (creating one if there is none), then make sure the role
# `judge` (password `judge`) and the databases `judge` and `judge_test` exist. Administration
# goes through the `postgres` OS user over the Unix socket, which works with a stock Debian
# pg_hba.conf (peer) as well as with trust; the engine then logs in over TCP with the password,
# which works with both scram-sha-256 and trust on 127.0.0.1. That login is checked at the end.
#
# Redis: start a non-persistent server on 127.0.0.1:6379 if nothing answers there.
#
# Idempotent, and fast when everything already runs: a pg_isready, three catalogue queries, a
# login check and a redis-cli ping.
set -euo pipefail

PG_HOST=127.0.0.1
PG_PORT=5432
DB_ROLE=judge
DB_PASSWORD=judge
DATABASES=(judge judge_test)
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
WAIT_SECONDS=30

say() { echo "services: $*"; }
die() { echo "services: $*" >&2; exit 1; }

# Run a command as the postgres OS user, from a directory it can read (psql warns otherwise).
as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then
        (cd / && runuser -u postgres -- "$@")
    elif [ "$(id -un)" = postgres ]; then
        (cd / && "$@")
    elif command -v sudo >/dev/null 2>&1; then
        (cd / && sudo -u postgres -- "$@")
    else
        die "need root, sudo or the postgres user to create the '$DB_ROLE' role and databases"
    fi
}

# Run a command as root: directly, through sudo, or as is (it then fails with its own message).
as_root() {
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
        sudo -- "$@"
    else
        "$@"
    fi
}

admin_query() { as_postgres psql -X -q -A -t -v ON_ERROR_STOP=1 -d postgres -c "$1"; }

wait_for() {  # wait_for DESCRIPTION COMMAND...: poll until COMMAND succeeds
    local what=$1; shift
    local tries=$((WAIT_SECONDS * 5))
    until "$@" >/dev/null 2>&1; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || die "$what did not come up within ${WAIT_SECONDS}s"
        sleep 0.2
    done
}

pg_ready() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }

start_postgres() {
    command -v pg_lsclusters >/dev/null 2>&1 || die "PostgreSQL is not installed (run: make deps)"
    # Prefer the cluster configured for our port, else the first one listed.
    local cluster
    cluster=$(pg_lsclusters --no-header | awk -v port="$PG_PORT" '
        $3 == port { print $1, $2, $3, $4; found = 1; exit }
        NR == 1 { first = $1 " " $2 " " $3 " " $4 }
        END { if (!found && first != "") print first }')
    if [ -z "$cluster" ]; then
        local version
        version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null \
            | sort -V | tail -n 1 || true)
        [ -n "$version" ] || die "no PostgreSQL server binaries in /usr/lib/postgresql"
        say "creating PostgreSQL cluster $version/main on port $PG_PORT"
        as_root pg_createcluster --start --port "$PG_PORT" "$version" main
    else
        # shellcheck disable=SC2086  # "$cluster" is "<version> <name> <port> <status>"
        set -- $cluster
        if [ "$3" != "$PG_PORT" ]; then
            die "no PostgreSQL cluster uses port $PG_PORT (cluster $1/$2 uses $3);" \
                "change its port or set DATABASE_URL"
        fi
        case $4 in online*)
            die "cluster $1/$2 is running but does not answer on $PG_HOST:$PG_PORT;" \
                "check listen_addresses in its postgresql.conf or set DATABASE_URL" ;;
        esac
        say "starting PostgreSQL cluster $1/$2"
        as_root pg_ctlcluster --skip-systemctl-redirect "$1" "$2" start
    fi
    wait_for "PostgreSQL on $PG_HOST:$PG_PORT" pg_ready
}

ensure_role_and_databases() {
    if [ -z "$(admin_query "SELECT 1 FROM pg_roles WHERE rolname = '$DB_ROLE'")" ]; then
        admin_query "CREATE ROLE $DB_ROLE LOGIN PASSWORD '$DB_PASSWORD'"
        say "created PostgreSQL role $DB_ROLE"
    fi
    local db
    for db in "${DATABASES[@]}"; do
        if [ -z "$(admin_query "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]; then
            admin_query "CREATE DATABASE $db OWNER $DB_ROLE"
            say "created database $db"
        fi
    done
}

can_login() {
    PGPASSWORD=$DB_PASSWORD PGCONNECT_TIMEOUT=5 psql -X -q -A -t -h "$PG_HOST" -p "$PG_PORT" \
        -U "$DB_ROLE" -d "${DATABASES[0]}" -c 'SELECT 1' >/dev/null 2>&1
}

ensure_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        say "DATABASE_URL is set; not managing PostgreSQL"
        return
    fi
    if pg_ready; then
        say "PostgreSQL answers on $PG_HOST:$PG_PORT"
    else
        start_postgres
    fi
    ensure_role_and_databases
    if ! can_login; then
        # The role predates us with another password, or was created without LOGIN.
        admin_query "ALTER ROLE $DB_ROLE LOGIN PASSWORD '$DB_PASSWORD'"
        say "reset the password of PostgreSQL role $DB_ROLE"
        can_login || die "cannot log in as $DB_ROLE on $PG_HOST:$PG_PORT with a password;" \
            "pg_hba.conf must allow 'host all all 127.0.0.1/32 scram-sha-256' (or trust)"
    fi
    say "DATABASE_URL defaults to postgresql://$DB_ROLE:$DB_PASSWORD@$PG_HOST:$PG_PORT/${DATABASES[0]}"
}

redis_ready() { [ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

start_redis() {
    command -v redis-server >/dev/null 2>&1 || die "Redis is not installed (run: make deps)"
    local dir=/var/lib/redis logdir=/var/log/redis
    mkdir -p "$dir" "$logdir" 2>/dev/null || true
    if [ ! -w "$dir" ] || [ ! -w "$logdir" ]; then
        dir=${TMPDIR:-/tmp}/judge-redis
        logdir=$dir
        mkdir -p "$dir"
    fi
    say "starting Redis on $REDIS_HOST:$REDIS_PORT (log: $logdir/judge.log)"
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
        --appendonly no --dir "$dir" --logfile "$logdir/judge.log"
    wait_for "Redis on $REDIS_HOST:$REDIS_PORT" redis_ready
}

ensure_redis() {
    if [ -n "${REDIS_URL:-}" ]; then
        say "REDIS_URL is set; not managing Redis"
    elif redis_ready; then
        say "Redis answers on $REDIS_HOST:$REDIS_PORT"
    else
        start_redis
    fi
}

ensure_postgres
ensure_redis
