#!/usr/bin/env bash
# THE run command: the reference server on embedded defaults (in-process backends, no Redis or
# Postgres needed). Arguments are passed to the server (see `./scripts/run-server.sh --help`).
#
#   ./scripts/run-server.sh [SERVER ARGS...]
#
# The Jellyfin web client is served at /web/ when one is configured: `--web-dir DIR` or
# MEDIA_HA_WEB_DIR=DIR (a jellyfin-web build, see examples/reference-server/README.md); without
# one, http://127.0.0.1:8096/ explains how to get it.
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
