#!/usr/bin/env bash
# Options every podman call of this project needs on a machine like CI's:
#   global: the runc runtime (Debian's crun refuses this machine's hybrid cgroup v1/v2 layout);
#   run:    resource limits a container may set (podman's defaults exceed the hard limits here),
#           used by `podman build` (RUN steps) and `podman run` alike.
# Usage: podman $(podman-opts.sh global) run $(podman-opts.sh run) ...
# Override with UF_PODMAN_GLOBAL_OPTS / UF_PODMAN_RUN_OPTS.
case ${1:-} in
    global) echo "${UF_PODMAN_GLOBAL_OPTS---runtime runc}" ;;
    run) echo "${UF_PODMAN_RUN_OPTS---ulimit nofile=20000:20000 --ulimit nproc=4096:4096}" ;;
    *) echo "usage: $0 global|run" >&2; exit 2 ;;
esac
