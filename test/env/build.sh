#!/usr/bin/env bash
# Builds one test-server binary from its Go module into the cache:
#   test/env/build.sh etcd|kube|kwok|victorialogs|kustomize|nats|toxiproxy|alertmanager|helm
# "kube" builds kube-apiserver and kubectl. Binaries are named <name>-<version> so a version bump in
# versions.env never reuses a stale binary. Wrapper modules are generated under $CACHE/wrappers (they
# only hold a go.mod and, for etcd, a 3-line main.go; no upstream code is copied).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

LOG_PREFIX=build
# shellcheck source=go-build-lib.sh
source "$HERE/go-build-lib.sh"

build_etcd() {
  local v="$ETCD_VERSION" d
  d="$(new_wrapper "etcd-$v")"
  # The root module go.etcd.io/etcd/v3 (whose main.go is exactly this call) is not served by the
  # proxy for v3.6.x, so the wrapper calls the same entry point from the server module.
  cat > "$d/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$d" && "$GO" mod init robot-sre-detector/testenv/etcd >/dev/null 2>&1 \
    && "$GO" get "go.etcd.io/etcd/server/v3@$v" \
    && "$GO" mod tidy \
    && "$GO" build -ldflags="$LDS" -o "$d/etcd.tmp" .)
  install_bin "$d/etcd.tmp" etcd "$v"
}

build_kube() {
  local v="$KUBERNETES_VERSION" d modfile staging_v minor
  minor="${v#v1.}"; minor="${minor%%.*}"
  staging_v="v0.${v#v1.}"
  d="$(new_wrapper "kubernetes-$v")"
  modfile="$(gomod_path "k8s.io/kubernetes@$v")"
  {
    echo "module robot-sre-detector/testenv/kubernetes"
    echo
    echo "go 1.26.0"
    echo
    echo "require k8s.io/kubernetes $v"
    echo
    echo "replace ("
    # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/...;
    # those directories are not usable from the module cache, so use the published v0.Y.Z instead.
    replaces_of "$modfile" | awk -v sv="$staging_v" '$3 ~ /^\.\/staging\// { print "\t" $1 " => " $1 " " sv; next } { print "\t" $0 }'
    echo ")"
  } > "$d/go.mod"
  local X="-X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
  X="$X -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  X="$X -X k8s.io/client-go/pkg/version.gitVersion=$v -X k8s.io/client-go/pkg/version.gitMajor=1"
  X="$X -X k8s.io/client-go/pkg/version.gitMinor=$minor -X k8s.io/client-go/pkg/version.gitTreeState=clean"
  (cd "$d" \
    && "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$v" "k8s.io/kubernetes/cmd/kubectl@$v" \
    && "$GO" build -ldflags="$LDS $X" -o "$d/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver \
    && "$GO" build -ldflags="$LDS $X" -o "$d/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl)
  install_bin "$d/kube-apiserver.tmp" kube-apiserver "$v"
  install_bin "$d/kubectl.tmp" kubectl "$v"
}

build_kwok() {
  local v="$KWOK_VERSION" d
  d="$(new_wrapper "kwok-$v")"
  # The Logs/ClusterLogs CRDs must be installed in the test apiserver for --enable-crds; keep the
  # upstream definitions of exactly this version next to the binary.
  local src share="$CACHE/share/kwok-$v"
  src="$("$GO" mod download -json "sigs.k8s.io/kwok@$v" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  mkdir -p "$share/crds.tmp"
  cp "$src/kustomize/crd/bases/kwok.x-k8s.io_logs.yaml" "$src/kustomize/crd/bases/kwok.x-k8s.io_clusterlogs.yaml" "$share/crds.tmp/"
  rm -rf "$share/crds" && mv "$share/crds.tmp" "$share/crds"
  if [ -x "$BIN/kwok-$v" ] && [ "${FORCE:-}" != 1 ]; then return 0; fi
  # kwok's go.mod has no replace directives, so plain `go install` works.
  GOBIN="$d" "$GO" install -ldflags="$LDS -X sigs.k8s.io/kwok/pkg/consts.Version=${v#v}" "sigs.k8s.io/kwok/cmd/kwok@$v"
  mv "$d/kwok" "$d/kwok.tmp"
  install_bin "$d/kwok.tmp" kwok "$v"
}

build_victorialogs() {
  local v="$VICTORIALOGS_VERSION" d
  d="$(new_wrapper "victorialogs-$v")"
  # A plain go install: the module's go.mod has no replace directives.
  GOBIN="$d" "$GO" install -ldflags="$LDS -X github.com/VictoriaMetrics/VictoriaMetrics/lib/buildinfo.Version=victoria-logs-$v" \
    "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$v"
  mv "$d/victoria-logs" "$d/victoria-logs.tmp"
  install_bin "$d/victoria-logs.tmp" victoria-logs "$v"
}

build_toxiproxy() {
  local v="$TOXIPROXY_VERSION" d
  d="$(new_wrapper "toxiproxy-$v")"
  GOBIN="$d" "$GO" install -ldflags="$LDS -X github.com/Shopify/toxiproxy/v2.Version=${v#v}" "github.com/Shopify/toxiproxy/v2/cmd/server@$v"
  mv "$d/server" "$d/toxiproxy-server.tmp"
  install_bin "$d/toxiproxy-server.tmp" toxiproxy-server "$v"
}

build_alertmanager() {
  local v="$ALERTMANAGER_VERSION" d src
  d="$(new_wrapper "alertmanager-$v")"
  # ui/web.go embeds ui/app/dist, the web UI that the release process builds with npm; the module
  # does not ship it, so `go install` fails. Build from a copy of the module with a one-page
  # placeholder UI instead: the API the tests use is untouched.
  src="$("$GO" mod download -json "github.com/prometheus/alertmanager@$v" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  rm -rf "$d/src" && cp -r "$src" "$d/src" && chmod -R u+w "$d/src"
  for ui in elm mantine; do
    mkdir -p "$d/src/ui/app/dist/$ui"
    echo '<!doctype html><title>Alertmanager</title><p>UI not built (robot-sre-detector test build); the API is at /api/v2/.</p>' > "$d/src/ui/app/dist/$ui/index.html"
  done
  (cd "$d/src" && "$GO" build -ldflags="$LDS -X github.com/prometheus/common/version.Version=${v#v}" -o "$d/alertmanager.tmp" ./cmd/alertmanager)
  install_bin "$d/alertmanager.tmp" alertmanager "$v"
}

build_kustomize() {
  local v="$KUSTOMIZE_VERSION" d
  d="$(new_wrapper "kustomize-$v")"
  GOBIN="$d" "$GO" install -ldflags="$LDS" "sigs.k8s.io/kustomize/kustomize/v5@$v"
  mv "$d/kustomize" "$d/kustomize.tmp"
  install_bin "$d/kustomize.tmp" kustomize "$v"
}

build_helm() {
  local v="$HELM_VERSION" d
  d="$(new_wrapper "helm-$v")"
  # helm.sh/helm/v4's go.mod has no replace directives, so plain `go install` works. Stamped like
  # upstream's Makefile does for a tagged release (version, empty metadata, clean tree).
  local X="-X helm.sh/helm/v4/internal/version.version=$v -X helm.sh/helm/v4/internal/version.metadata="
  X="$X -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
  GOBIN="$d" "$GO" install -ldflags="$LDS $X" "helm.sh/helm/v4/cmd/helm@$v"
  mv "$d/helm" "$d/helm.tmp"
  install_bin "$d/helm.tmp" helm "$v"
}

build_nats() {
  # Both release lines the tests run against (test/env/nats.ts picks one by RSD_NATS_VERSION).
  local v d
  for v in "$NATS_VERSION" "$NATS_NEWEST_VERSION"; do
    if [ -x "$BIN/nats-server-$v" ] && [ "${FORCE:-}" != 1 ]; then continue; fi
    d="$(new_wrapper "nats-server-$v")"
    GOBIN="$d" "$GO" install -ldflags="$LDS" "github.com/nats-io/nats-server/v2@$v"
    mv "$d/nats-server" "$d/nats-server.tmp"
    install_bin "$d/nats-server.tmp" nats-server "$v"
  done
}

name="${1:-}"
case "$name" in
  etcd|kube|kwok|victorialogs|kustomize|nats|toxiproxy|alertmanager|helm)
    lockfile="$CACHE/.build-$name.lock"
    exec 9>"$lockfile"
    # Two test runs starting at once must not build the same binary twice into the same wrapper dir.
    flock 9
    start=$(date +%s)
    "build_$name"
    log "$name done in $(( $(date +%s) - start ))s"
    ;;
  *) echo "usage: $0 etcd|kube|kwok|victorialogs|kustomize|nats|toxiproxy|alertmanager|helm" >&2; exit 2 ;;
esac
