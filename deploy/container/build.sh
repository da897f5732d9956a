#!/usr/bin/env bash
# Builds the media-ha server image from deploy/container/Containerfile with whatever engine the
# host has: docker (BuildKit) or podman/buildah. Runs from any directory; the build context is
# the repository root (what it sends is trimmed by .dockerignore there).
#
#   deploy/container/build.sh [--intel-media] [--tag NAME:TAG] [--engine docker|podman|buildah]
#                             [--base-images PREFIX] [-- EXTRA ENGINE ARGS...]
#
#   --intel-media   add Intel's VA-API driver and QSV runtimes (INTEL_MEDIA=1)
#   --tag           image name (default: media-ha-server:<version>, plus :latest)
#   --engine        force an engine (default: docker if its daemon answers, else podman, else buildah)
#   --base-images   take the two base images from PREFIX instead of docker.io/library: a mirror
#                   (registry.example/library) or `localhost` for the ones
#                   deploy/container/local-base-images.sh makes on a host with no registry access
#                   (PREFIX/rust:1.95-slim-bookworm and PREFIX/debian:bookworm-slim)
#   -- ARGS         passed to the engine as they are (e.g. --network host, --build-arg X=Y)
#
# The image is built in Docker format, not OCI: the OCI image config has no HEALTHCHECK field.
# Environment: BUILDAH_ISOLATION / STORAGE_DRIVER are honoured by podman and buildah, e.g.
# `BUILDAH_ISOLATION=chroot STORAGE_DRIVER=vfs deploy/container/build.sh` in a rootless sandbox.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
FILE="$ROOT/deploy/container/Containerfile"

INTEL_MEDIA=0
TAG=""
ENGINE=""
BASE_IMAGES=""
EXTRA=()
while (($#)); do
    case "$1" in
        --intel-media) INTEL_MEDIA=1 ;;
        --tag) TAG="$2"; shift ;;
        --engine) ENGINE="$2"; shift ;;
        --base-images) BASE_IMAGES="${2%/}"; shift ;;
        --) shift; EXTRA=("$@"); break ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ -z "$ENGINE" ]]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        ENGINE=docker
    elif command -v podman >/dev/null; then
        ENGINE=podman
    elif command -v buildah >/dev/null; then
        ENGINE=buildah
    else
        echo "build.sh: no container engine: install docker (with a running daemon), podman or buildah" >&2
        exit 1
    fi
fi

# The version is the server package's (workspace) version; revision and date for the OCI labels.
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
REVISION="$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)"
CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
SUFFIX=""
((INTEL_MEDIA)) && SUFFIX="-intel"
[[ -n "$TAG" ]] || TAG="media-ha-server:${VERSION}${SUFFIX}"

ARGS=(
    -f "$FILE"
    --build-arg "INTEL_MEDIA=$INTEL_MEDIA"
    --build-arg "VERSION=$VERSION"
    --build-arg "REVISION=$REVISION"
    --build-arg "CREATED=$CREATED"
    -t "$TAG"
    -t "media-ha-server:latest${SUFFIX}"
)
if [[ -n "$BASE_IMAGES" ]]; then
    # The tags the Containerfile's defaults name (RUST_VERSION, DEBIAN_RELEASE), under PREFIX.
    RUST_VERSION="$(sed -n 's/^ARG RUST_VERSION=//p' "$FILE")"
    DEBIAN_RELEASE="$(sed -n 's/^ARG DEBIAN_RELEASE=//p' "$FILE")"
    ARGS+=(
        --build-arg "BUILD_IMAGE=$BASE_IMAGES/rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE}"
        --build-arg "RUNTIME_IMAGE=$BASE_IMAGES/debian:${DEBIAN_RELEASE}-slim"
    )
fi

echo "build.sh: $ENGINE building $TAG (INTEL_MEDIA=$INTEL_MEDIA, revision $REVISION${BASE_IMAGES:+, base images from $BASE_IMAGES})"
case "$ENGINE" in
    docker) DOCKER_BUILDKIT=1 exec docker build "${ARGS[@]}" "${EXTRA[@]}" "$ROOT" ;;
    podman) exec podman build --format docker "${ARGS[@]}" "${EXTRA[@]}" "$ROOT" ;;
    buildah) exec buildah bud --format docker "${ARGS[@]}" "${EXTRA[@]}" "$ROOT" ;;
    *) echo "build.sh: unknown engine $ENGINE (docker, podman or buildah)" >&2; exit 2 ;;
esac
