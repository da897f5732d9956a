#!/usr/bin/env bash
# A media-ha cluster on one machine, laid out like deploy/kubernetes: three replicas of
# media-ha-server with the manifests' environment, Redis (primary + replica) behind three
# sentinels with passwords on both, PostgreSQL primary + streaming replica on one multi-host URL
# with target_session_attrs=read-write, and HAProxy with the README's settings in front.
# Everything listens on 127.0.0.1 and lives under one run directory.
#
#   deploy/local-cluster/cluster.sh up            # start what is not running (idempotent)
#   deploy/local-cluster/cluster.sh status        # every process, the store roles, the LB's view
#   deploy/local-cluster/cluster.sh env           # URLs and passwords as shell assignments
#   deploy/local-cluster/cluster.sh redis-failover  # SENTINEL FAILOVER (the primary is demoted)
#   deploy/local-cluster/cluster.sh pg-promote    # stop the PostgreSQL primary, promote the standby
#   deploy/local-cluster/cluster.sh down          # stop everything, delete the run directory
#
# Settings (environment): MEDIA_HA_CLUSTER_DIR (run directory, default <repo>/.local-cluster),
# MEDIA_HA_CLUSTER_PORT_BASE (default 18000; ports base .. base+41 are used, see `ports` below),
# MEDIA_HA_SERVER_BIN (the server binary; default target/{release,debug}/media-ha-server),
# MEDIA_HA_CLUSTER_CLIP_SECS (length of the generated clip, default 60) or MEDIA_HA_CLUSTER_MEDIA
# (a library directory to serve instead), MEDIA_HA_CLUSTER_ADMIN_PASSWORD (default: generated),
# MEDIA_HA_CLUSTER_TRANSCODES (node-local, the base manifests' default, or shared).
# Anything else in the caller's environment reaches the replicas (e.g. RUST_LOG).
#
# After `pg-promote` the old primary is retired; the next `up` makes it a streaming replica of
# the new primary again (fresh pg_basebackup), so `pg-promote` can be repeated. After
# `redis-failover` Sentinel has already turned the old Redis primary into a replica.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
run="${MEDIA_HA_CLUSTER_DIR:-$repo/.local-cluster}"
base="${MEDIA_HA_CLUSTER_PORT_BASE:-18000}"
clip_secs="${MEDIA_HA_CLUSTER_CLIP_SECS:-60}"
transcodes="${MEDIA_HA_CLUSTER_TRANSCODES:-node-local}"
service=mymaster

# Ports: the load balancer and its stats, three replicas, two Redis, three sentinels, two
# PostgreSQL.
lb_port=$base
stats_port=$((base + 1))
replica_port() { echo $((base + 10 + $1)); }      # r1..r3
redis_port() { echo $((base + 20 + $1)); }        # redis1 (first primary), redis2
sentinel_port() { echo $((base + 30 + $1)); }     # s1..s3
pg_port() { echo $((base + 40 + $1)); }           # pg1 (first primary), pg2

say() { printf '%s\n' "$*" >&2; }
die() { say "cluster.sh: $*"; exit 1; }

# --- processes ----------------------------------------------------------------------------

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Whether something answers on 127.0.0.1:$1.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # wait_for <seconds> <what> <command...>
    local secs=$1 what=$2; shift 2
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what not ready after ${secs}s (logs: $run/*/*.log)"
        sleep 0.2
    done
}

# Stops the processes (groups) whose pids are in the files given: SIGTERM to all, then SIGKILL
# to those still running after <grace> seconds.
stop_pids() {
    local grace=$1 f pid pids=()
    shift
    for f in "$@"; do
        [[ -f $f ]] || continue
        pid=$(cat "$f")
        rm -f "$f"
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    done
    local deadline=$((SECONDS + grace))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

# PostgreSQL refuses to run as root: run its tools as the `postgres` user then.
pg_user=""
if [[ $(id -u) == 0 ]]; then
    if id postgres >/dev/null 2>&1; then pg_user=postgres; else pg_user=nobody; fi
fi
as_pg() { if [[ -n $pg_user ]]; then runuser -u "$pg_user" -- "$@"; else "$@"; fi; }

pg_bin() {
    local name=$1 dir
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return; fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
        [[ -x "$dir/$name" ]] && { echo "$dir/$name"; return; }
    done
    die "$name not found (Debian: apt-get install postgresql; or scripts/install-deps.sh)"
}

# --- secrets and URLs ---------------------------------------------------------------------

secrets() {
    if [[ ! -f "$run/secrets.env" ]]; then
        mkdir -p "$run"
        rnd() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
        umask 077
        cat >"$run/secrets.env" <<EOF
REDIS_PASSWORD=$(rnd)
SENTINEL_PASSWORD=$(rnd)
PG_PASSWORD=$(rnd)
PG_SUPERUSER_PASSWORD=$(rnd)
CLUSTER_SECRET=$(rnd)$(rnd)
ADMIN_PASSWORD=${MEDIA_HA_CLUSTER_ADMIN_PASSWORD:-$(rnd)}
EOF
        umask 022
    fi
    # shellcheck disable=SC1091
    source "$run/secrets.env"
}

urls() {
    secrets
    local s
    sentinels=""
    for s in 1 2 3; do sentinels+="${sentinels:+,}127.0.0.1:$(sentinel_port $s)"; done
    redis_url="redis+sentinel://:$REDIS_PASSWORD@$sentinels/$service?sentinel_password=$SENTINEL_PASSWORD"
    postgres_url="postgres://media:$PG_PASSWORD@127.0.0.1:$(pg_port 1),127.0.0.1:$(pg_port 2)/media?target_session_attrs=read-write"
}

cmd_env() {
    urls
    cat <<EOF
MEDIA_HA_CLUSTER_DIR='$run'
MEDIA_HA_CLUSTER_URL='http://127.0.0.1:$lb_port'
MEDIA_HA_CLUSTER_STATS='http://127.0.0.1:$stats_port/stats'
MEDIA_HA_REDIS='$redis_url'
MEDIA_HA_POSTGRES='$postgres_url'
MEDIA_HA_ADMIN_USER='admin'
MEDIA_HA_ADMIN_PASSWORD='$ADMIN_PASSWORD'
REDIS_PASSWORD='$REDIS_PASSWORD'
SENTINEL_PASSWORD='$SENTINEL_PASSWORD'
SENTINEL_PORTS='$(sentinel_port 1) $(sentinel_port 2) $(sentinel_port 3)'
REPLICA_PORTS='$(replica_port 1) $(replica_port 2) $(replica_port 3)'
PG_PORTS='$(pg_port 1) $(pg_port 2)'
EOF
}

# --- Redis and Sentinel -------------------------------------------------------------------

rcli() { # rcli <port> <password> args...: one command, the answer on stdout
    local port=$1 pass=$2; shift 2
    REDISCLI_AUTH="$pass" redis-cli -h 127.0.0.1 -p "$port" --no-auth-warning "$@"
}

start_redis() {
    local i=$1 dir="$run/redis$i" port
    port=$(redis_port "$i")
    alive "$dir/pid" && return 0
    mkdir -p "$dir"
    if [[ ! -f "$dir/redis.conf" ]]; then
        # What the README asks of a production Redis: no eviction of leases, an append-only file.
        # Sentinel rewrites `replicaof` here on a failover (CONFIG REWRITE).
        cat >"$dir/redis.conf" <<EOF
bind 127.0.0.1
port $port
dir $dir
requirepass $REDIS_PASSWORD
masterauth $REDIS_PASSWORD
appendonly yes
maxmemory-policy noeviction
save ""
EOF
        if ((i != 1)); then echo "replicaof 127.0.0.1 $(redis_port 1)" >>"$dir/redis.conf"; fi
    fi
    redis-server "$dir/redis.conf" --daemonize yes --pidfile "$dir/pid" --logfile "$dir/redis.log"
    wait_for 15 "redis$i" rcli "$port" "$REDIS_PASSWORD" ping
}

start_sentinel() {
    local i=$1 dir="$run/sentinel$i" port primary
    port=$(sentinel_port "$i")
    alive "$dir/pid" && return 0
    mkdir -p "$dir"
    if [[ ! -f "$dir/sentinel.conf" ]]; then
        # Quorum 2 of 3. The sentinels sign in to the data nodes (auth-pass) and to one another
        # (sentinel-pass), and require a password themselves (requirepass).
        cat >"$dir/sentinel.conf" <<EOF
bind 127.0.0.1
port $port
dir $dir
sentinel monitor $service 127.0.0.1 $(redis_port 1) 2
sentinel auth-pass $service $REDIS_PASSWORD
sentinel down-after-milliseconds $service 2000
sentinel failover-timeout $service 10000
sentinel parallel-syncs $service 1
requirepass $SENTINEL_PASSWORD
sentinel sentinel-pass $SENTINEL_PASSWORD
EOF
    fi
    redis-server "$dir/sentinel.conf" --sentinel --daemonize yes --pidfile "$dir/pid" \
        --logfile "$dir/sentinel.log"
    wait_for 15 "sentinel$i" sentinel_knows "$port"
}

sentinel_knows() {
    primary=$(rcli "$1" "$SENTINEL_PASSWORD" sentinel get-master-addr-by-name "$service" | tr '\n' ' ')
    [[ -n ${primary// /} ]]
}

# The primary's port as the first sentinel that answers names it.
redis_primary_port() {
    local s out
    for s in 1 2 3; do
        out=$(rcli "$(sentinel_port $s)" "$SENTINEL_PASSWORD" sentinel get-master-addr-by-name "$service" 2>/dev/null | sed -n 2p) || true
        [[ -n $out ]] && { echo "$out"; return; }
    done
    return 1
}

# --- PostgreSQL ---------------------------------------------------------------------------

pg_ctl_() { as_pg "$(pg_bin pg_ctl)" "$@"; }

pg_start() {
    local i=$1 dir="$run/pg$i"
    pg_ctl_ -D "$dir/data" -l "$dir/postgres.log" -w -t 60 -o "-p $(pg_port "$i") -k $dir" start >/dev/null
}

pg_is_up() { as_pg "$(pg_bin pg_isready)" -q -h 127.0.0.1 -p "$(pg_port "$1")"; }

psql_() { # psql_ <node> sql: as the superuser over the node's unix socket
    as_pg "$(pg_bin psql)" -X -q -At -h "$run/pg$1" -p "$(pg_port "$1")" -U postgres -d postgres -c "$2"
}

pg_primary() { cat "$run/pg-primary" 2>/dev/null || echo 1; }

init_pg_primary() {
    local dir="$run/pg1"
    mkdir -p "$dir"
    [[ -n $pg_user ]] && chown -R "$pg_user" "$dir"
    printf '%s\n' "$PG_SUPERUSER_PASSWORD" >"$dir/pwfile"
    [[ -n $pg_user ]] && chown "$pg_user" "$dir/pwfile"
    as_pg "$(pg_bin initdb)" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log"
    rm -f "$dir/pwfile"
    cat >>"$dir/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 5
hot_standby = on
shared_buffers = 32MB
max_connections = 200
EOF
    # The replication role signs in over TCP with a password, like a real standby.
    echo "host replication replicator 127.0.0.1/32 scram-sha-256" >>"$dir/data/pg_hba.conf"
    pg_start 1
    psql_ 1 "CREATE ROLE replicator LOGIN REPLICATION PASSWORD '$PG_PASSWORD'"
    psql_ 1 "CREATE ROLE media LOGIN PASSWORD '$PG_PASSWORD'"
    psql_ 1 "CREATE DATABASE media OWNER media"
    echo 1 >"$run/pg-primary"
}

# A streaming replica of the current primary: pg_basebackup -R (standby.signal + primary_conninfo).
init_pg_standby() {
    local i=$1 from dir="$run/pg$1"
    from=$(pg_primary)
    rm -rf "$dir"
    mkdir -p "$dir"
    [[ -n $pg_user ]] && chown -R "$pg_user" "$dir"
    PGPASSWORD="$PG_PASSWORD" as_pg env PGPASSWORD="$PG_PASSWORD" "$(pg_bin pg_basebackup)" \
        -D "$dir/data" -R -X stream -c fast \
        -d "host=127.0.0.1 port=$(pg_port "$from") user=replicator application_name=pg$i" \
        >"$dir/basebackup.log" 2>&1 || die "pg_basebackup failed: $(cat "$dir/basebackup.log")"
    rm -f "$dir/retired"
}

start_pg() {
    local i=$1 dir="$run/pg$1"
    pg_is_up "$i" 2>/dev/null && [[ -f "$dir/data/postmaster.pid" ]] && return 0
    if [[ ! -d "$dir/data" ]]; then
        if ((i == 1)) && [[ ! -f "$run/pg-primary" ]]; then init_pg_primary; return; fi
        init_pg_standby "$i"
    elif [[ -f "$dir/retired" ]]; then
        # A primary that was replaced must not come back as a second primary.
        init_pg_standby "$i"
    fi
    pg_start "$i"
}

# --- media, replicas, load balancer -------------------------------------------------------

server_bin() {
    local c
    for c in "${MEDIA_HA_SERVER_BIN:-}" \
        "${CARGO_TARGET_DIR:-$repo/target}/release/media-ha-server" \
        "${CARGO_TARGET_DIR:-$repo/target}/debug/media-ha-server"; do
        [[ -n $c && -x $c ]] && { echo "$c"; return; }
    done
    die "no media-ha-server binary: cargo build --release -p media-ha-server (or set MEDIA_HA_SERVER_BIN)"
}

media_dir() { echo "${MEDIA_HA_CLUSTER_MEDIA:-$run/media}"; }

make_media() {
    local clip="$run/media/Clip.mkv"
    [[ -n ${MEDIA_HA_CLUSTER_MEDIA:-} ]] && return 0
    [[ -f $clip ]] && return 0
    mkdir -p "$run/media"
    # MPEG-2/MP2 in Matroska: no client direct-plays it, so every play is a transcode.
    ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=25" \
        -f lavfi -i "sine=frequency=440:sample_rate=48000" -t "$clip_secs" \
        -c:v mpeg2video -q:v 4 -c:a mp2 -f matroska "$clip.partial"
    mv "$clip.partial" "$clip"
}

start_replica() {
    local i=$1 dir="$run/r$1" port bin
    port=$(replica_port "$i")
    alive "$dir/pid" && return 0
    bin=$(server_bin)
    mkdir -p "$dir/config" "$dir/tmp"
    local tdir="$run/transcodes"
    [[ $transcodes == node-local ]] && tdir="$dir/transcodes"
    mkdir -p "$tdir"
    # The Deployment's environment (deploy/kubernetes/base/deployment.yaml), with the pod name
    # as node id and 127.0.0.1:<port> as the pod IP. setsid: a process group of its own, so
    # `down` takes its transcode workers too.
    (
        cd "$dir"
        export MEDIA_HA_NODE_ID="r$i" \
            MEDIA_HA_ADVERTISE="http://127.0.0.1:$port" \
            MEDIA_HA_LISTEN="127.0.0.1:$port" \
            MEDIA_HA_REDIS="$redis_url" \
            MEDIA_HA_POSTGRES="$postgres_url" \
            MEDIA_HA_NAMESPACE=media_ha \
            MEDIA_HA_ADMIN_USER=admin \
            MEDIA_HA_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
            MEDIA_HA_WAIT_FOR_STORES=90s \
            MEDIA_HA_SHUTDOWN_DRAIN="${MEDIA_HA_SHUTDOWN_DRAIN:-10s}" \
            MEDIA_HA_LEASE_TTL=5s \
            MEDIA_HA_TRANSCODE_DIR="$tdir" \
            MEDIA_HA_TRANSCODE_STORAGE="$transcodes" \
            MEDIA_HA_CLUSTER_SECRET="$CLUSTER_SECRET" \
            MEDIA_HA_DATA="$dir/config" \
            MEDIA_HA_MEDIA="$(media_dir)" \
            RUST_LOG="${RUST_LOG:-info}" \
            TMPDIR="$dir/tmp"
        setsid "$bin" </dev/null >>"$dir/server.log" 2>&1 &
        echo $! >"$dir/pid"
    )
}

replica_ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(replica_port "$1")/health/ready") == 200 ]]; }

start_haproxy() {
    local dir="$run/haproxy" i
    alive "$dir/pid" && return 0
    mkdir -p "$dir"
    # deploy/load-balancer/haproxy.cfg, the README's settings as a whole file (`/health/ready`
    # checks, a dead connection retried elsewhere, never a 503), with only the bind address and
    # the server lines changed, and a stats listener added.
    local servers="" template="$repo/deploy/load-balancer/haproxy.cfg"
    for i in 1 2 3; do servers+="    server r$i 127.0.0.1:$(replica_port $i) check"$'\n'; done
    LB_BIND="    bind 127.0.0.1:$lb_port" LB_SERVERS="$servers" awk '
        /^    bind / { print ENVIRON["LB_BIND"]; next }
        /^    server / { if (!done) { printf "%s", ENVIRON["LB_SERVERS"]; done = 1 }; next }
        { print }' "$template" >"$dir/haproxy.cfg"
    grep -q "^    bind 127.0.0.1:$lb_port\$" "$dir/haproxy.cfg" && grep -q "^    server r3 " "$dir/haproxy.cfg" ||
        die "$template no longer has the bind and server lines this script replaces"
    cat >>"$dir/haproxy.cfg" <<EOF

listen stats
    bind 127.0.0.1:$stats_port
    stats enable
    stats uri /stats
EOF
    haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy refused $dir/haproxy.cfg"
    haproxy -D -p "$dir/pid" -f "$dir/haproxy.cfg" >>"$dir/haproxy.log" 2>&1
}

# --- commands -----------------------------------------------------------------------------

check_tools() {
    local t missing=()
    for t in redis-server redis-cli haproxy ffmpeg curl; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    ((${#missing[@]} == 0)) || die "missing ${missing[*]} (scripts/install-deps.sh installs them)"
    pg_bin initdb >/dev/null
}

cmd_up() {
    check_tools
    urls
    mkdir -p "$run"
    [[ -n $pg_user ]] && { runuser -u "$pg_user" -- test -x "$run" ||
        die "$run is not reachable for the $pg_user user (PostgreSQL); set MEDIA_HA_CLUSTER_DIR"; }
    make_media
    local i
    for i in 1 2; do start_redis "$i"; done
    for i in 1 2 3; do start_sentinel "$i"; done
    start_pg "$(pg_primary)"
    for i in 1 2; do start_pg "$i"; done
    for i in 1 2 3; do start_replica "$i"; done
    for i in 1 2 3; do wait_for 120 "replica r$i" replica_ready "$i"; done
    start_haproxy
    wait_for 30 "haproxy" curl -sf "http://127.0.0.1:$lb_port/health/ready"
    say "up: http://127.0.0.1:$lb_port (admin / \$MEDIA_HA_ADMIN_PASSWORD from \`$0 env\`)"
}

cmd_status() {
    [[ -d $run ]] || { say "down (no $run)"; return 0; }
    urls
    local i p
    for i in 1 2 3; do
        p=$(replica_port "$i")
        printf 'r%s      127.0.0.1:%s  %s  ready=%s\n' "$i" "$p" "$(alive "$run/r$i/pid" && echo running || echo stopped)" \
            "$(curl -s -m 2 "http://127.0.0.1:$p/health/ready" 2>/dev/null || echo -)"
    done
    for i in 1 2; do
        p=$(redis_port "$i")
        printf 'redis%s  127.0.0.1:%s  %s  %s\n' "$i" "$p" "$(alive "$run/redis$i/pid" && echo running || echo stopped)" \
            "$(rcli "$p" "$REDIS_PASSWORD" info replication 2>/dev/null | grep -m1 '^role:' | tr -d '\r' || true)"
    done
    for i in 1 2 3; do
        p=$(sentinel_port "$i")
        printf 'sentinel%s 127.0.0.1:%s  %s  primary=%s\n' "$i" "$p" "$(alive "$run/sentinel$i/pid" && echo running || echo stopped)" \
            "$(rcli "$p" "$SENTINEL_PASSWORD" sentinel get-master-addr-by-name "$service" 2>/dev/null | tr '\n' ':' | sed 's/:$//' || true)"
    done
    for i in 1 2; do
        p=$(pg_port "$i")
        printf 'pg%s     127.0.0.1:%s  %s  %s\n' "$i" "$p" "$(pg_is_up "$i" 2>/dev/null && echo running || echo stopped)" \
            "$( [[ -f $run/pg$i/retired ]] && echo retired || { psql_ "$i" 'SELECT CASE WHEN pg_is_in_recovery() THEN $$standby$$ ELSE $$primary$$ END' 2>/dev/null || true; })"
    done
    printf 'haproxy  127.0.0.1:%s  %s\n' "$lb_port" "$(alive "$run/haproxy/pid" && echo running || echo stopped)"
    curl -s -m 2 "http://127.0.0.1:$stats_port/stats;csv" 2>/dev/null |
        awk -F, '$1 == "media_ha" && $2 != "BACKEND" && $2 != "FRONTEND" { printf "  lb %s %s\n", $2, $18 }' || true
}

cmd_redis_failover() {
    urls
    local before after
    before=$(redis_primary_port) || die "no sentinel answers"
    rcli "$(sentinel_port 1)" "$SENTINEL_PASSWORD" sentinel failover "$service" >/dev/null
    wait_for 30 "the failover" bash -c "[[ \$(REDISCLI_AUTH='$SENTINEL_PASSWORD' redis-cli -h 127.0.0.1 -p $(sentinel_port 1) --no-auth-warning sentinel get-master-addr-by-name $service | sed -n 2p) != $before ]]"
    after=$(redis_primary_port)
    say "redis primary: 127.0.0.1:$before -> 127.0.0.1:$after"
}

cmd_pg_promote() {
    urls
    local old new
    old=$(pg_primary)
    new=$((3 - old))
    pg_is_up "$new" || die "pg$new (the standby) is not running: $0 up"
    # A fast shutdown, then the standby's promotion: what Patroni or CloudNativePG do when the
    # primary's node goes away.
    pg_ctl_ -D "$run/pg$old/data" -m fast -w stop >/dev/null || true
    touch "$run/pg$old/retired"
    pg_ctl_ -D "$run/pg$new/data" -w -t 60 promote >/dev/null
    echo "$new" >"$run/pg-primary"
    say "postgres primary: pg$old (retired; \`up\` makes it a standby) -> pg$new"
}

cmd_down() {
    [[ -d $run ]] || { say "already down"; return 0; }
    local i pid
    # Two SIGTERMs to each replica: the first starts the drain, the second ends it at once
    # (exit 130); a replica still there after 3 s loses its whole process group (workers too).
    for i in 1 2 3; do
        pid=$(cat "$run/r$i/pid" 2>/dev/null) || continue
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    stop_pids 3 "$run"/r{1,2,3}/pid "$run/haproxy/pid"
    for i in 1 2; do
        [[ -f $run/pg$i/data/postmaster.pid ]] && pg_ctl_ -D "$run/pg$i/data" -m immediate -w stop >/dev/null 2>&1 || true
    done
    stop_pids 10 "$run"/sentinel{1,2,3}/pid "$run"/redis{1,2}/pid
    rm -rf "$run"
    say "down"
}

case "${1:-}" in
up) cmd_up ;;
status) cmd_status ;;
env) cmd_env ;;
redis-failover) cmd_redis_failover ;;
pg-promote) cmd_pg_promote ;;
down) cmd_down ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
