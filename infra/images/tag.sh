#!/usr/bin/env bash
# The image tag `make images` and the image test agree on: the short commit, "-dirty" with changes.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=$(git rev-parse --short=12 HEAD 2>/dev/null || echo dev)
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then tag="$tag-dirty"; fi
echo "$tag"
