#!/usr/bin/env bash
# Installs what building and testing media-ha needs, and only what is missing.
#
# Debian 12 / Ubuntu. Idempotent: a second run installs nothing and does not touch apt at all.
# Runs apt-get directly as root, through sudo otherwise. Set HA_SKIP_INSTALL=1 to skip (offline
# machines where everything is already there).
set -euo pipefail

log() { printf '[install-deps] %s\n' "$*"; }

if [[ "${HA_SKIP_INSTALL:-0}" == "1" ]]; then
    log "HA_SKIP_INSTALL=1: skipping"
    exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
    SUDO=(sudo)
fi

# "package[:command]": a package counts as present if dpkg has it installed or, when a command is
# given, that command is on PATH (e.g. psql from postgresql-client-15 without the metapackage).
WANTED=(
    build-essential pkg-config clang libclang-dev
    ffmpeg:ffmpeg
    libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
    libswscale-dev libswresample-dev
    redis-server:redis-server redis-tools:redis-cli
    postgresql postgresql-client:psql pgbouncer
    python3:python3 python3-venv python3-pip
    wrk:wrk
    chromium:chromium haproxy:haproxy nginx-light:nginx nodejs:node npm:npm
)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if command -v dpkg-query >/dev/null && command -v apt-get >/dev/null; then
    missing=()
    for entry in "${WANTED[@]}"; do
        pkg="${entry%%:*}"
        cmd=""
        [[ "$entry" == *:* ]] && cmd="${entry#*:}"
        if installed "$pkg"; then continue; fi
        if [[ -n "$cmd" ]] && command -v "$cmd" >/dev/null; then continue; fi
        missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        log "installing: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        "${SUDO[@]}" apt-get update -q
        "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
    else
        log "system packages: all present"
    fi
else
    log "no apt-get/dpkg here: install these yourself if missing: ${WANTED[*]%%:*}"
fi

# PostgreSQL's server binaries live outside PATH on Debian; make sure they exist.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    log "warning: initdb not found (package postgresql); Postgres tests will fail"
fi

# Rust: only if cargo is missing.
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
    log "cargo not found: installing the Rust toolchain with rustup"
    if ! command -v curl >/dev/null; then
        "${SUDO[@]}" apt-get install -y -q --no-install-recommends curl ca-certificates
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --component rustfmt,clippy
else
    log "rust: $(cargo --version)"
fi
for component in rustfmt clippy; do
    sub="${component/rustfmt/fmt}"
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null; then
            log "adding rust component $component"
            rustup component add "$component"
        else
            log "warning: cargo $sub is missing and rustup is not available"
        fi
    fi
done

# The Jellyfin client library tests/server_jellyfin_client.rs drives the server with, in a
# project-local virtualenv (never the system Python): .test-services/venv, the pinned versions of
# tests/jellyfin_client/requirements.txt. pip runs only when the pin is not already satisfied.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.test-services/venv"
REQUIREMENTS="$ROOT/tests/jellyfin_client/requirements.txt"
pins_satisfied() {
    [[ -x "$VENV/bin/python" ]] || return 1
    local pin
    while read -r pin; do
        [[ -z "$pin" || "$pin" == \#* ]] && continue
        "$VENV/bin/python" - "$pin" <<'PY' || return 1
import importlib.metadata as m, sys
name, _, version = sys.argv[1].partition("==")
try:
    sys.exit(0 if m.version(name.strip()) == version.strip() else 1)
except m.PackageNotFoundError:
    sys.exit(1)
PY
    done <"$REQUIREMENTS"
}
if pins_satisfied; then
    log "python venv: $(grep -v '^#' "$REQUIREMENTS" | xargs) present in $VENV"
else
    # Debian's python3 (with python3-venv above) when there is one, else whatever python3 is first.
    PY=/usr/bin/python3
    [[ -x "$PY" ]] || PY="$(command -v python3)"
    log "python venv: creating $VENV with $PY and installing $REQUIREMENTS"
    mkdir -p "$(dirname "$VENV")"
    if [[ ! -x "$VENV/bin/python" ]]; then
        "$PY" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
fi

# Optional: cargo-nextest is faster, but scripts/test.sh uses plain `cargo test`.
if command -v cargo-nextest >/dev/null; then
    log "optional cargo-nextest: present"
fi
log "done"
