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

# The server package builds with every feature by default; HA_RUN_FEATURES= (empty) builds the
# direct-play-only server without FFmpeg.
CMD=(cargo run --release -p media-ha-server --bin media-ha-server)
if [[ "${HA_RUN_FEATURES-full}" != "full" ]]; then
    CMD+=(--no-default-features)
    [[ -n "${HA_RUN_FEATURES}" ]] && CMD+=(--features "$HA_RUN_FEATURES")
fi
exec "${CMD[@]}" -- "$@"
