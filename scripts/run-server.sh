#!/usr/bin/env bash
# THE run command: the reference server on embedded defaults (in-process backends, no Redis or
# Postgres needed). Arguments are passed to the server (see `./scripts/run-server.sh --help`).
#
#   ./scripts/run-server.sh [SERVER ARGS...]
#
# It is built with `--features full` so transcoding works and `--redis` / `--postgres` can simply
# be added to the arguments; HA_RUN_FEATURES overrides that (HA_RUN_FEATURES= builds without
# FFmpeg: direct play only).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

scripts/install-deps.sh

FEATURES="${HA_RUN_FEATURES-full}"
CMD=(cargo run --release)
if [[ -n "$FEATURES" ]]; then
    CMD+=(--features "$FEATURES")
fi
CMD+=(--example reference-server -- "$@")
if [[ ! -f examples/reference-server/main.rs ]]; then
    echo "[run-server] the reference server is still in progress (examples/reference-server/main.rs does not exist yet)."
    echo "[run-server] once it exists, this script runs: ${CMD[*]}"
    exit 0
fi
exec "${CMD[@]}"
