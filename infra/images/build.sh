#!/usr/bin/env bash
# `make images`: the five service images with podman, named universal-framework/<service>:<tag>.
#
# No image registry is reachable here, so the base image is made from Debian packages
# (mmdebstrap -> podman import) and the Python dependencies come from a wheelhouse downloaded
# from PyPI; elsewhere the same Dockerfile builds FROM python:3.11-slim and pip's index.
#   UF_IMAGE_TAG   tag (default: the short commit, "-dirty" when the tree has changes)
#   BASE_IMAGE     skip the Debian base build and use this image instead
#   SERVICES       subset to build (default: all five)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
versions() { sed -n "s/^$1=//p" infra/versions.env | tail -n 1; }
say() { echo "[images] $*" >&2; }

PODMAN=$(infra/tools.sh bin podman)
read -r -a GLOBAL <<< "$(infra/images/podman-opts.sh global)"
read -r -a RUNOPTS <<< "$(infra/images/podman-opts.sh run)"
TAG=${UF_IMAGE_TAG:-$(infra/images/tag.sh)}
SERVICES=${SERVICES-orchestrator validator pii audit delivery}
SUITE=$(versions DEBIAN_SUITE)

if [ -z "${BASE_IMAGE:-}" ]; then
    BASE_IMAGE=localhost/universal-framework/base:$SUITE-python3
    if ! "$PODMAN" image exists "$BASE_IMAGE"; then
        MMDEBSTRAP=$(infra/tools.sh bin mmdebstrap)
        say "building $BASE_IMAGE from Debian $SUITE packages"
        tmp=$(mktemp -d)
        # minbase + the interpreter; no docs, man pages or apt lists in the image
        nice -n 10 "$MMDEBSTRAP" --variant=minbase --include=python3,python3-venv,ca-certificates \
            --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
            --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
            --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
            "$SUITE" "$tmp/rootfs.tar" >&2
        "$PODMAN" import --change 'CMD ["python3"]' "$tmp/rootfs.tar" "$BASE_IMAGE" >/dev/null
        rm -rf "$tmp"
    fi
fi

# Wheelhouse: every wheel the images install, fetched once per lock (stamp = hash of the inputs).
# Mounted into the dependency stage's RUN steps (not copied: no layer, no context to hash).
WHEELS=var/wheelhouse
mkdir -p "$WHEELS"
stamp=$(cat constraints.txt pyproject.toml libs/uf-pii/pyproject.toml tools/image_requirements.py | sha256sum | cut -c1-16)
if [ "$(cat "$WHEELS/.stamp" 2>/dev/null)" != "$stamp" ]; then
    say "downloading the wheelhouse from PyPI"
    python3 tools/image_requirements.py > "$WHEELS/core.txt"
    python3 tools/image_requirements.py --nlp > "$WHEELS/nlp.txt"
    # wheels already here are reused (--find-links); constraints pick the pinned ones at install
    nice -n 10 python3 -m pip wheel -q --wheel-dir "$WHEELS" --find-links "$WHEELS" -c constraints.txt \
        -r "$WHEELS/core.txt" -r "$WHEELS/nlp.txt" >&2
    echo "$stamp" > "$WHEELS/.stamp"
fi

for svc in $SERVICES; do
    say "building universal-framework/$svc:$TAG"
    start=$(date +%s)
    nice -n 10 "$PODMAN" "${GLOBAL[@]}" build "${RUNOPTS[@]}" --quiet --format docker --network host -v "$ROOT/$WHEELS:/wheels:ro" \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" --target "$svc" \
        --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
        --label "org.opencontainers.image.title=universal-framework-$svc" \
        -t "universal-framework/$svc:$TAG" -f Dockerfile . >/dev/null
    say "universal-framework/$svc:$TAG built in $(( $(date +%s) - start ))s"
done
"$PODMAN" images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep "universal-framework/.*:$TAG "
