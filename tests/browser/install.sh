#!/usr/bin/env bash
# Installs the npm packages pinned in a test's package.json into its node_modules, once:
#   install.sh          tests/browser: hls.js and playwright-core (the browser tests, the
#                       player-patience probe)
#   install.sh DIR      DIR's package.json (tests/sdk_client: @jellyfin/sdk and axios)
# Idempotent and quiet when done (a stamp named by the package.json's hash). The browser is
# Debian's /usr/bin/chromium (scripts/install-deps.sh), never a downloaded one.
set -euo pipefail
cd "${1:-$(dirname "$0")}"
stamp=node_modules/.installed-$(sha256sum package.json | cut -c1-16)
if [[ -f $stamp ]]; then
    exit 0
fi
command -v npm >/dev/null || { echo "install.sh: npm is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --no-save --silent >&2
touch "$stamp"
