#!/usr/bin/env bash
# Lints and validates everything under deploy/: the container image definition, the
# load-balancer configurations and the Kubernetes manifests. scripts/test.sh runs it; it takes
# about 15 s once the tools are there.
#
#   ./scripts/validate-deploy.sh
#
# 1. hadolint on deploy/container/Containerfile (warnings fail), and checkov's Dockerfile checks.
#    deploy/load-balancer/: `haproxy -c` on haproxy.cfg, `nginx -t` on nginx.conf (the files the
#    browser failover tests run), and every setting line of the README's HAProxy and nginx
#    examples must be a line of those files (so the README cannot drift from what is tested).
# 2. Each Kubernetes overlay, and each component on top of base, rendered with kustomize
#    (`kubectl kustomize`, when kubectl is on PATH: no registry ships kustomize, so without
#    kubectl the overlays are not rendered and this says so; the files are still validated one
#    by one).
# 3. kubernetes-validate --strict (schemas ship inside the package: no network) on every full
#    resource file and every rendered overlay. Unknown fields fail. The one kind it has no schema
#    for, ServiceMonitor (a CRD), is named in the output.
# 4. checkov on the same, with --skip-download (no network). Every skipped check is a
#    `checkov.io/skipN: CHECK=reason` annotation next to the resource; a skip without a reason
#    fails here.
#
# The tools come from PyPI into .test-services/venv-deploy, pinned in deploy/requirements.txt;
# pip runs only when a pin is not satisfied, so the step is offline after the first install.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.test-services/venv-deploy"
REQUIREMENTS="$ROOT/deploy/requirements.txt"
K8S="$ROOT/deploy/kubernetes"

log() { printf '[validate-deploy] %s\n' "$*"; }

pins_satisfied() {
    [[ -x "$VENV/bin/python" ]] || return 1
    "$VENV/bin/python" - "$REQUIREMENTS" <<'PY'
import importlib.metadata as m, sys
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, version = line.partition("==")
    try:
        if m.version(name.strip()) != version.strip():
            sys.exit(1)
    except m.PackageNotFoundError:
        sys.exit(1)
PY
}
if ! pins_satisfied; then
    PY=/usr/bin/python3
    [[ -x "$PY" ]] || PY="$(command -v python3)"
    log "installing $(grep -v '^#' "$REQUIREMENTS" | xargs) into $VENV"
    mkdir -p "$(dirname "$VENV")"
    [[ -x "$VENV/bin/python" ]] || "$PY" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r "$REQUIREMENTS"
fi
BIN="$VENV/bin"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# --- container image -------------------------------------------------------------------------
log "hadolint deploy/container/Containerfile"
"$BIN/hadolint" --failure-threshold warning deploy/container/Containerfile
bash -n deploy/container/build.sh
mkdir -p "$WORK/dockerfile"
cp deploy/container/Containerfile "$WORK/dockerfile/Dockerfile" # checkov knows it by this name
log "checkov (dockerfile)"
"$BIN/checkov" -d "$WORK/dockerfile" --framework dockerfile --compact --quiet --skip-download

# --- load-balancer configurations ------------------------------------------------------------
LB="$ROOT/deploy/load-balancer"
log "haproxy -c deploy/load-balancer/haproxy.cfg"
haproxy -c -q -f "$LB/haproxy.cfg"
log "nginx -t deploy/load-balancer/nginx.conf"
mkdir -p "$WORK/nginx"
nginx -t -q -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$LB/nginx.conf" -g "pid $WORK/nginx/nginx.pid;" || {
    cat "$WORK/nginx/error.log" 2>/dev/null
    exit 1
}
log "README load-balancer examples are lines of deploy/load-balancer/"
"$BIN/python" - "$ROOT/README.md" "$LB" <<'PY'
import os, re, sys
readme, lb = sys.argv[1], sys.argv[2]
text = open(readme).read()
def settings(lines):
    out = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(re.sub(r"\s+", " ", line))
    return out
bad = []
for lang, name in (("haproxy", "haproxy.cfg"), ("nginx", "nginx.conf")):
    blocks = re.findall(r"```" + lang + r"\n(.*?)```", text, re.S)
    if not blocks:
        bad.append(f"README.md has no ```{lang} example")
        continue
    have = set(settings(open(os.path.join(lb, name))))
    for block in blocks:
        for line in settings(block.splitlines()):
            if line not in have:
                bad.append(f"README ```{lang}: {line!r} is not a line of deploy/load-balancer/{name}")
if bad:
    print("\n".join(bad))
    sys.exit(1)
PY

# --- Kubernetes manifests --------------------------------------------------------------------
# Full resources: every YAML file under base/ and overlays/ that a kustomization lists under
# `resources:` (patches are partial objects and are checked through the rendered overlays).
mapfile -t RESOURCE_FILES < <("$BIN/python" - "$K8S" <<'PY'
import os, sys, yaml
root = sys.argv[1]
for dirpath, _, files in sorted(os.walk(root)):
    if "kustomization.yaml" not in files:
        continue
    with open(os.path.join(dirpath, "kustomization.yaml")) as f:
        k = yaml.safe_load(f)
    for entry in k.get("resources", []):
        path = os.path.normpath(os.path.join(dirpath, entry))
        if os.path.isfile(path):
            print(path)
PY
)
((${#RESOURCE_FILES[@]})) || { log "no resource files found under $K8S"; exit 1; }

RENDERED=()
if command -v kubectl >/dev/null; then
    for overlay in "$K8S"/overlays/*/; do
        name="$(basename "$overlay")"
        out="$WORK/rendered/$name.yaml"
        mkdir -p "$WORK/rendered"
        log "kubectl kustomize overlays/$name"
        kubectl kustomize "$overlay" >"$out"
        RENDERED+=("$out")
    done
    # Each component on the base alone too (one an overlay does not use is checked all the
    # same). kustomize takes only relative paths to what it builds on.
    for component in "$K8S"/components/*/; do
        name="$(basename "$component")"
        dir="$WORK/components/$name"
        mkdir -p "$dir"
        printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - %s\ncomponents:\n  - %s\n' \
            "$(realpath --relative-to="$dir" "$K8S/base")" "$(realpath --relative-to="$dir" "$component")" \
            >"$dir/kustomization.yaml"
        log "kubectl kustomize base + components/$name"
        kubectl kustomize "$dir" >"$WORK/rendered/component-$name.yaml"
        RENDERED+=("$WORK/rendered/component-$name.yaml")
    done
else
    log "NOTE: kubectl not on PATH: overlays NOT rendered (patches unchecked); validating files only"
fi

log "kubernetes-validate --strict (${#RESOURCE_FILES[@]} files, ${#RENDERED[@]} rendered overlays)"
out="$("$BIN/kubernetes-validate" --strict "${RESOURCE_FILES[@]}" "${RENDERED[@]}" 2>&1)" || {
    printf '%s\n' "$out"
    exit 1
}
# A resource without a schema is only a warning to kubernetes-validate; allow the CRD we know.
unknown="$(printf '%s\n' "$out" | grep "Couldn't find schema" | grep -v 'kind ServiceMonitor with api version monitoring.coreos.com/v1' || true)"
if [[ -n "$unknown" ]]; then
    printf '%s\n' "$unknown"
    log "a resource kind has no schema to validate against (only ServiceMonitor is expected)"
    exit 1
fi
printf '%s\n' "$out" | grep -c ' passed for resource ' | xargs printf '[validate-deploy] %s resources passed strict validation (ServiceMonitor: no schema, CRD)\n'

# Every skip carries a reason.
bad_skips="$(grep -rn 'checkov.io/skip' "$K8S" | grep -vE 'checkov.io/skip[0-9]+: CKV[A-Z0-9_]+=.{20,}' || true)"
if [[ -n "$bad_skips" ]]; then
    printf '%s\n' "$bad_skips"
    log "a checkov skip without a reason (write checkov.io/skipN: CHECK=why)"
    exit 1
fi

log "checkov (kubernetes)"
CHECKOV_ARGS=()
for f in "${RESOURCE_FILES[@]}" "${RENDERED[@]}"; do CHECKOV_ARGS+=(-f "$f"); done
"$BIN/checkov" "${CHECKOV_ARGS[@]}" --framework kubernetes --compact --quiet --skip-download
log "ok"
