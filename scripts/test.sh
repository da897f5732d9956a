#!/usr/bin/env bash
# THE test command: everything CI runs, in the same order.
#
#   ./scripts/test.sh            deps, services, fmt, clippy, all tests (incl. doc tests)
#   ./scripts/test.sh --quick    skip fmt and clippy
#   ./scripts/test.sh -- FILTER  pass FILTER (and anything after --) to the test binaries
#
# Redis and PostgreSQL come from scripts/services.sh (project-local, ports 6390/5440) through
# HA_TEST_REDIS_URL / HA_TEST_DATABASE_URL; already-set values are kept, so you can point the
# suite at other servers. Exits non-zero on the first failing step and says which one it was.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

QUICK=0
TEST_ARGS=()
while (($#)); do
    case "$1" in
        --quick) QUICK=1 ;;
        --) shift; TEST_ARGS=("$@"); break ;;
        -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "test.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

STEP="(none)"
START=$SECONDS
on_exit() {
    local rc=$?
    if ((rc != 0)); then
        printf '\n[test.sh] FAILED at step: %s (exit %d)\n' "$STEP" "$rc" >&2
    else
        printf '\n[test.sh] all steps passed in %ds\n' "$((SECONDS - START))"
    fi
}
trap on_exit EXIT

step() {
    STEP="$1"
    printf '\n[test.sh] ==> %s\n' "$STEP"
}

step "install dependencies (scripts/install-deps.sh)"
scripts/install-deps.sh

step "start test services (scripts/services.sh start)"
scripts/services.sh start
eval "$(scripts/services.sh env | sed 's/^export \([A-Z_]*\)=\(.*\)$/export \1="${\1:-\2}"/')"
echo "HA_TEST_REDIS_URL=$HA_TEST_REDIS_URL"
echo "HA_TEST_DATABASE_URL=$HA_TEST_DATABASE_URL"

step "deploy: container image and Kubernetes manifests (scripts/validate-deploy.sh)"
scripts/validate-deploy.sh

step "package the publishable crates in dependency order (scripts/package-crates.sh)"
scripts/package-crates.sh

if ((QUICK == 0)); then
    step "format check (cargo fmt --all -- --check)"
    cargo fmt --all -- --check

    step "lint (cargo clippy --workspace --all-targets --all-features -- -D warnings)"
    cargo clippy --workspace --all-targets --all-features -- -D warnings
fi

step "tests (cargo test --workspace --all-features)"
cargo test --workspace --all-features -- "${TEST_ARGS[@]}"
STEP="(done)"
