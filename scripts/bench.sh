#!/usr/bin/env bash
# The side-by-side performance harness (issue 9): builds in release mode, then runs every
# comparison and writes benches/RESULTS.md and benches/results.json.
#
#   scripts/bench.sh            full run (10 s per load phase, 30 s clip, 3 transcode runs; < 20 min)
#   scripts/bench.sh --quick    a few seconds per figure (12 s clip, 1 run); CI-like time
#   scripts/bench.sh [--quick] --only redis,pg,transcode,viewers,failover,player,api,rss   a subset (the other
#                               rows of RESULTS.md are kept, each naming the run that measured it)
#   scripts/bench.sh --failover-runs N   runs of each failover scenario (default 5; --quick: 2)
#   scripts/bench.sh --out DIR  write the results somewhere else
#
# Services: the harness starts its own private redis-server and postgres (ha-testkit) on free
# ports, because the shared test servers (scripts/services.sh) carry other people's test load,
# which would add noise to one side only and pollute the INFO commandstats deltas. Peers:
# redis-benchmark (redis-tools), pgbench (postgresql-client), ffmpeg, wrk (items 7-8 run the
# release build of examples/reference-server as separate processes). docs/BENCHMARKS.md says
# what each figure measures and why.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[bench] %s\n' "$*" >&2; }

if [[ "${HA_SKIP_INSTALL:-}" != 1 && -x scripts/install-deps.sh ]]; then
    bash scripts/install-deps.sh
fi
for tool in redis-server redis-benchmark redis-cli pgbench ffmpeg wrk; do
    command -v "$tool" >/dev/null || { log "error: $tool not found (scripts/install-deps.sh)"; exit 1; }
done
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"

# The kernel's autogroup scheduling (on by default on Debian/Ubuntu) puts every session in a
# scheduling group of its own, and every PostgreSQL backend is a session of its own (postmaster
# children call setsid). A backend that sleeps most of the time then competes, with the tiny
# weight of its idle group, against the group of the replicas and wrk, which keep both cores
# busy: measured here, a query needing 2 ms of CPU waited 1-3 s on the run queue, and the
# progress row's p99 went from 2.6 ms to seconds (docs/BENCHMARKS.md, "Autogroup"). A server
# runs its services in cgroups, where autogroup does not apply; so the run turns it off, and
# puts it back afterwards. HA_BENCH_KEEP_AUTOGROUP=1 leaves it alone (RESULTS.md says which).
AUTOGROUP=/proc/sys/kernel/sched_autogroup_enabled
if [[ "${HA_BENCH_KEEP_AUTOGROUP:-}" != 1 && -w "$AUTOGROUP" && "$(cat "$AUTOGROUP")" == 1 ]]; then
    log "turning kernel.sched_autogroup_enabled off for the run (restored on exit)"
    echo 0 >"$AUTOGROUP"
    trap 'echo 1 >"$AUTOGROUP"' EXIT
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log "building the worker, the reference server and the harness (release) into $CARGO_TARGET_DIR"
cargo build --release -q -p ha-transcode --bin ha-transcode-worker
# Items 7-8 (failover, wrk, RSS) run replicas of the release reference server.
cargo build --release -q -p ha-test-support --bin ha-test-server
export HA_BENCH_WORKER="$CARGO_TARGET_DIR/release/ha-transcode-worker"
started=$(date +%s)
cargo bench -q --features full --bench compare -- "$@"
log "done in $(( $(date +%s) - started )) s: benches/RESULTS.md, benches/results.json"
