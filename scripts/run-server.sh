#!/usr/bin/env bash
# THE run command: the reference server on embedded defaults (in-process backends, no Redis or
# Postgres needed). Arguments are passed to the server.
#
#   ./scripts/run-server.sh [SERVER ARGS...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-deps.sh

CMD=(cargo run --release --example reference-server -- "$@")
if [[ ! -f examples/reference-server/main.rs ]]; then
    echo "[run-server] the reference server is still in progress (examples/reference-server/main.rs does not exist yet)."
    echo "[run-server] once it exists, this script runs: ${CMD[*]}"
    exit 0
fi
exec "${CMD[@]}"
