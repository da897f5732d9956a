#!/usr/bin/env bash
# Installs hls.js and playwright-core (pinned in package.json) into tests/browser/node_modules,
# once: the browser test and the player-patience probe call it. Idempotent and quiet when done.
# The browser is Debian's /usr/bin/chromium (scripts/install-deps.sh), never a downloaded one.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.installed-$(sha256sum package.json | cut -c1-16)
if [[ -f $stamp ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "install.sh: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-save --silent >&2
touch "$stamp"
