#!/usr/bin/env bash
# Packages every publishable crate of the workspace, in dependency order, as `cargo publish`
# would: the step that catches a crate that cannot be published (a path dependency without a
# version, a file its sources include_str! that its `include` list leaves out of the package, a
# missing license or README) before a release does. scripts/test.sh runs it.
#
#   ./scripts/package-crates.sh            package (no compile), list what each .crate holds
#   ./scripts/package-crates.sh --verify   also build each packaged crate from its .crate
#                                          (what `cargo publish` does; minutes, not seconds)
#
# Publishable = every workspace member whose `publish` is not false (test-only crates such as
# ha-testkit set `publish = false`). `cargo package` with several packages orders them by their
# dependencies and resolves not-yet-published workspace dependencies from the packages it just
# made (cargo 1.90+), so ha-store-redis packages against the ha-core it packaged, not crates.io.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"

VERIFY=(--no-verify)
case "${1:-}" in
    --verify) VERIFY=() ;;
    "") ;;
    *) echo "package-crates.sh: unknown argument: $1 (try --verify)" >&2; exit 2 ;;
esac

mapfile -t PACKAGES < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for p in meta["packages"]:
    # publish: null = anywhere, [] = nowhere (publish = false), [names] = those registries.
    if p["id"] in members and p.get("publish") != []:
        print(p["name"])
')
((${#PACKAGES[@]})) || { echo "package-crates.sh: no publishable package found" >&2; exit 1; }

ARGS=()
for p in "${PACKAGES[@]}"; do ARGS+=(-p "$p"); done
echo "[package-crates] packaging: ${PACKAGES[*]}"
# --allow-dirty: this is a check of what would be published, also from a working tree with
# uncommitted changes; publishing itself is a separate, deliberate step.
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
rm -f "$TARGET"/package/*.crate # a stale package must not pass for a new one
LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
rc=0
cargo package --allow-dirty "${VERIFY[@]}" "${ARGS[@]}" >"$LOG" 2>&1 || rc=$?
# Test, bench and example targets are left out of the packages on purpose (see `include`).
grep -v -E '^warning: ignoring (test|benchmark|example|binary) `|^ *(Updating|Blocking)' "$LOG" || true
if ((rc != 0)); then
    echo "[package-crates] cargo package failed (exit $rc)" >&2
    exit "$rc"
fi

VERSION_OF() {
    cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    if p["name"] == sys.argv[1]:
        print(p["version"])
' "$1"
}
status=0
for p in "${PACKAGES[@]}"; do
    crate="$TARGET/package/$p-$(VERSION_OF "$p").crate"
    if [[ ! -f "$crate" ]]; then
        echo "[package-crates] $p: no package made ($crate missing)" >&2
        status=1
        continue
    fi
    # Every published crate carries its licenses and README (crates.io shows the README).
    listing="$(tar -tzf "$crate")"
    for need in LICENSE-MIT LICENSE-APACHE README.md; do
        if ! grep -q "^$p-[^/]*/$need\$" <<<"$listing"; then
            echo "[package-crates] $p: $need missing from the package" >&2
            status=1
        fi
    done
    printf '[package-crates] %-16s %3d files, %s\n' "$p" "$(wc -l <<<"$listing")" "$(du -h "$crate" | cut -f1)"
done
exit "$status"
