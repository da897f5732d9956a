#!/usr/bin/env bash
# Project-local Redis and PostgreSQL for the test suite.
#
#   scripts/services.sh start   start both (only what is not already answering)
#   scripts/services.sh stop    stop both
#   scripts/services.sh status  say what answers
#   scripts/services.sh env     print `export HA_TEST_REDIS_URL=... HA_TEST_DATABASE_URL=...`
#
# Why project-local and on odd ports (6390, 5440): tests must not touch a developer's real Redis or
# Postgres on 6379/5432, and must not depend on them being configured in any particular way
# (auth, persistence). State lives in .test-services/ (git-ignored). Redis runs without any
# persistence; Postgres trusts 127.0.0.1 only and runs with fsync=off. Ports can be changed with
# HA_TEST_REDIS_PORT / HA_TEST_PG_PORT.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.test-services"
REDIS_PORT="${HA_TEST_REDIS_PORT:-6390}"
PG_PORT="${HA_TEST_PG_PORT:-5440}"
REDIS_URL="redis://127.0.0.1:${REDIS_PORT}/"
PG_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"

log() { printf '[services] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- Redis -------------------------------------------------------------------------------------

redis_answers() {
    [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == "PONG" ]]
}

redis_start() {
    command -v redis-server >/dev/null || die "redis-server not found (run scripts/install-deps.sh)"
    command -v redis-cli >/dev/null || die "redis-cli not found (run scripts/install-deps.sh)"
    if redis_answers; then
        log "redis: already answering on 127.0.0.1:$REDIS_PORT"
        return
    fi
    mkdir -p "$DIR/redis"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --save '' --appendonly no \
        --daemonize yes \
        --pidfile "$DIR/redis/redis.pid" --logfile "$DIR/redis/redis.log" --dir "$DIR/redis"
    for _ in $(seq 100); do
        redis_answers && { log "redis: started on 127.0.0.1:$REDIS_PORT"; return; }
        sleep 0.1
    done
    tail -n 20 "$DIR/redis/redis.log" >&2 || true
    die "redis did not answer on 127.0.0.1:$REDIS_PORT"
}

redis_stop() {
    if redis_answers; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        log "redis: stopped"
    else
        log "redis: not running"
    fi
}

# --- PostgreSQL --------------------------------------------------------------------------------

pg_bin_dir() {
    local d
    if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$d" && -x "$d/pg_ctl" ]] || die "PostgreSQL server binaries not found (run scripts/install-deps.sh)"
    echo "$d"
}

# initdb and postgres refuse to run as root: run them as an unprivileged user then.
PG_OS_USER=""
if [[ "$(id -u)" -eq 0 ]]; then
    if id -u postgres >/dev/null 2>&1; then PG_OS_USER=postgres; else PG_OS_USER=nobody; fi
fi
as_pg() {
    if [[ -n "$PG_OS_USER" ]]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# .test-services/pg holds data/ and postgres.log. When root and the repo is somewhere the postgres
# user cannot reach (e.g. under /root), it is a symlink to a directory under /var/tmp instead.
# Prints the resolved path: postgres must be given a path it can traverse.
pg_home() {
    local home="$DIR/pg"
    if [[ -e "$home" || -L "$home" ]]; then
        mkdir -p "$(readlink -f "$home")"
        readlink -f "$home"
        return
    fi
    mkdir -p "$DIR"
    if [[ -n "$PG_OS_USER" ]] && ! runuser -u "$PG_OS_USER" -- test -x "$DIR"; then
        local alt
        alt="/var/tmp/media-ha-test-services-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)/pg"
        mkdir -p "$alt"
        ln -s "$alt" "$home"
        log "postgres: $DIR is not reachable by user $PG_OS_USER; data lives in $alt"
    else
        mkdir -p "$home"
    fi
    if [[ -n "$PG_OS_USER" ]]; then chown "$PG_OS_USER": "$(readlink -f "$home")"; fi
    readlink -f "$home"
}

pg_answers() {
    local bin
    bin="$(pg_bin_dir)"
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres >/dev/null 2>&1
}

pg_start() {
    local bin home data
    bin="$(pg_bin_dir)"
    if pg_answers; then
        log "postgres: already answering on 127.0.0.1:$PG_PORT"
        return
    fi
    home="$(pg_home)"
    data="$home/data"
    if [[ ! -f "$data/PG_VERSION" ]]; then
        rm -rf "$data"
        log "postgres: initdb into $data"
        as_pg "$bin/initdb" -D "$data" -U postgres -A trust -E UTF8 --locale=C -N >"$DIR/pg-initdb.log" 2>&1 ||
            { cat "$DIR/pg-initdb.log" >&2; die "initdb failed"; }
        cat >>"$data/postgresql.conf" <<CONF

# --- media-ha test settings (scripts/services.sh) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
full_page_writes = off
max_connections = 300
CONF
    fi
    as_pg "$bin/pg_ctl" -D "$data" -l "$home/postgres.log" -o "-p $PG_PORT" -w -t 60 start >/dev/null ||
        { tail -n 30 "$home/postgres.log" >&2 || true; die "postgres did not start"; }
    for _ in $(seq 100); do
        pg_answers && { log "postgres: started on 127.0.0.1:$PG_PORT"; return; }
        sleep 0.1
    done
    die "postgres did not answer on 127.0.0.1:$PG_PORT"
}

pg_stop() {
    local bin data
    bin="$(pg_bin_dir)"
    data="$(readlink -f "$DIR/pg" 2>/dev/null || true)/data"
    if [[ -f "$data/postmaster.pid" ]]; then
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
        log "postgres: stopped"
    else
        log "postgres: not running"
    fi
}

# --- main --------------------------------------------------------------------------------------

case "${1:-}" in
    start)
        redis_start
        pg_start
        ;;
    stop)
        redis_stop
        pg_stop
        ;;
    status)
        if redis_answers; then log "redis: up at $REDIS_URL"; else log "redis: down"; fi
        if pg_answers; then log "postgres: up at $PG_URL"; else log "postgres: down"; fi
        ;;
    env)
        echo "export HA_TEST_REDIS_URL=$REDIS_URL"
        echo "export HA_TEST_DATABASE_URL=$PG_URL"
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
