#!/usr/bin/env bash
# Makes the two base images that deploy/container/Containerfile builds FROM, locally, from Debian
# packages and this host's Rust toolchain: for hosts with no container-registry access (an
# air-gapped network, or a sandbox that reaches a Debian mirror and crates.io but no registry).
# Needs root, mmdebstrap and buildah (Debian: `apt-get install mmdebstrap buildah`).
#
#   deploy/container/local-base-images.sh [--rust-version 1.95.0] [--toolchain DIR]
#                                         [--mirror URL] [--ca-file FILE]... [--prefix NAME]
#   deploy/container/build.sh --engine buildah --base-images localhost
#
# It makes (with the default --prefix localhost):
#   localhost/debian:bookworm-slim       Debian 12 `minbase` (essential packages + apt), with the
#                                        dpkg path excludes debian:bookworm-slim has (no man pages,
#                                        docs or translations) and the same apt sources.
#   localhost/rust:1.95-slim-bookworm    that + ca-certificates, gcc, libc6-dev (what the official
#                                        rust:*-slim adds) + the Rust toolchain laid out as rustup
#                                        lays it there: RUSTUP_HOME=/usr/local/rustup,
#                                        CARGO_HOME=/usr/local/cargo, its bin/ on PATH.
#
#   --rust-version  the toolchain to copy (default 1.95.0, the Containerfile's RUST_VERSION)
#   --toolchain     its directory (default $RUSTUP_HOME/toolchains/<version>-x86_64-unknown-linux-gnu);
#                   its docs (share/doc) are left out
#   --mirror        a Debian mirror URL (default: deb.debian.org with bookworm-updates and
#                   bookworm-security, as mmdebstrap does for a stable release)
#   --ca-file       a PEM CA certificate to trust in the BUILD image only, for a TLS-intercepting
#                   proxy between the build and crates.io; repeatable. The runtime image is not
#                   touched (it trusts Debian's ca-certificates only).
#   --prefix        the name the images get (default localhost; build.sh --base-images takes it)
set -euo pipefail

RUST_VERSION=1.95.0
TOOLCHAIN=""
MIRROR=""
CA_FILES=()
PREFIX=localhost
while (($#)); do
    case "$1" in
        --rust-version) RUST_VERSION="$2"; shift ;;
        --toolchain) TOOLCHAIN="$2"; shift ;;
        --mirror) MIRROR="$2"; shift ;;
        --ca-file) CA_FILES+=("$2"); shift ;;
        --prefix) PREFIX="$2"; shift ;;
        -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "local-base-images.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

for tool in mmdebstrap buildah tar; do
    command -v "$tool" >/dev/null || {
        echo "local-base-images.sh: $tool is missing (apt-get install mmdebstrap buildah)" >&2
        exit 1
    }
done
TRIPLE=x86_64-unknown-linux-gnu
TOOLCHAIN_NAME="$RUST_VERSION-$TRIPLE"
[[ -n "$TOOLCHAIN" ]] || TOOLCHAIN="${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$TOOLCHAIN_NAME"
RUSTUP_BIN="$(command -v rustup || echo "${CARGO_HOME:-$HOME/.cargo}/bin/rustup")"
[[ -x "$TOOLCHAIN/bin/rustc" && -x "$TOOLCHAIN/bin/cargo" ]] || {
    echo "local-base-images.sh: no Rust toolchain at $TOOLCHAIN (rustup toolchain install $RUST_VERSION, or --toolchain DIR)" >&2
    exit 1
}
[[ -x "$RUSTUP_BIN" ]] || { echo "local-base-images.sh: rustup not found (needed as the cargo/rustc proxy)" >&2; exit 1; }
for ca in "${CA_FILES[@]}"; do
    [[ -r "$ca" ]] || { echo "local-base-images.sh: cannot read CA file $ca" >&2; exit 1; }
done
MINOR="$(echo "$RUST_VERSION" | cut -d. -f1,2)"
DEBIAN_IMAGE="$PREFIX/debian:bookworm-slim"
RUST_IMAGE="$PREFIX/rust:$MINOR-slim-bookworm"

WORK="$(mktemp -d)"
CONTAINERS=()
cleanup() {
    for c in "${CONTAINERS[@]}"; do buildah rm "$c" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
log() { printf '[local-base-images] %s\n' "$*"; }

# 1. The Debian rootfs. debian:bookworm-slim is minbase with these dpkg excludes; mmdebstrap
#    keeps them in /etc/dpkg/dpkg.cfg.d/, so what later layers install is trimmed the same way.
#    The merged-usr hook lays /usr out as debootstrap does (symlinks + usr-is-merged) instead of
#    installing the usrmerge package, which would pull in perl (46 MB the official image lacks).
log "mmdebstrap: Debian bookworm minbase into $WORK/debian.tar"
MIRROR_ARGS=()
[[ -z "$MIRROR" ]] || MIRROR_ARGS=("$MIRROR")
mmdebstrap --variant=minbase --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/groff/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    bookworm "$WORK/debian.tar" "${MIRROR_ARGS[@]}"

log "buildah: $DEBIAN_IMAGE"
c="$(buildah from scratch)"
CONTAINERS+=("$c")
buildah add "$c" "$WORK/debian.tar" / >/dev/null
rm -f "$WORK/debian.tar"
buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd '["bash"]' \
    --label org.opencontainers.image.description="Debian 12 minbase made by media-ha deploy/container/local-base-images.sh" \
    "$c"
buildah commit --format docker --rm "$c" "$DEBIAN_IMAGE" >/dev/null
CONTAINERS=()

# 2. The build image: the C toolchain the official rust:*-slim has (cc is Rust's linker), the
#    extra CAs, then the Rust toolchain as rustup lays it out under /usr/local.
log "buildah: $RUST_IMAGE (toolchain $TOOLCHAIN)"
c="$(buildah from --pull-never "$DEBIAN_IMAGE")"
CONTAINERS+=("$c")
buildah run --network host "$c" -- sh -c \
    'apt-get update && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev && rm -rf /var/lib/apt/lists/*'
if ((${#CA_FILES[@]})); then
    for ca in "${CA_FILES[@]}"; do
        buildah copy "$c" "$ca" "/usr/local/share/ca-certificates/$(basename "${ca%.*}").crt" >/dev/null
    done
    buildah run "$c" -- update-ca-certificates
fi

STAGE="$WORK/stage"
mkdir -p "$STAGE/usr/local/rustup/toolchains/$TOOLCHAIN_NAME" "$STAGE/usr/local/cargo/bin"
tar -C "$TOOLCHAIN" --exclude=./share/doc -cf - . |
    tar -C "$STAGE/usr/local/rustup/toolchains/$TOOLCHAIN_NAME" -xf -
install -m 0755 "$RUSTUP_BIN" "$STAGE/usr/local/cargo/bin/rustup"
for proxy in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rust-gdb rust-lldb; do
    ln -s rustup "$STAGE/usr/local/cargo/bin/$proxy"
done
cat >"$STAGE/usr/local/rustup/settings.toml" <<EOF
version = "12"
default_toolchain = "$TOOLCHAIN_NAME"
profile = "minimal"
auto_self_update = "disable"

[overrides]
EOF
# The official image makes both homes writable by any uid (builds as a non-root user).
chmod -R a+w "$STAGE/usr/local/rustup" "$STAGE/usr/local/cargo"
tar -C "$STAGE" --numeric-owner --owner=0 --group=0 -cf "$WORK/rust.tar" usr
rm -rf "$STAGE"
buildah add "$c" "$WORK/rust.tar" / >/dev/null
rm -f "$WORK/rust.tar"
buildah config \
    --env RUSTUP_HOME=/usr/local/rustup \
    --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION="$RUST_VERSION" \
    --label org.opencontainers.image.description="Debian 12 minbase + Rust $RUST_VERSION made by media-ha deploy/container/local-base-images.sh" \
    "$c"
buildah run "$c" -- sh -c 'rustc --version && cargo --version && cc --version | head -n1'
buildah commit --format docker --rm "$c" "$RUST_IMAGE" >/dev/null
CONTAINERS=()

buildah images --format '{{.Name}}:{{.Tag}}  {{.Size}}' | grep -F -e "$DEBIAN_IMAGE" -e "$RUST_IMAGE"
log "done: deploy/container/build.sh --engine buildah --base-images $PREFIX"
