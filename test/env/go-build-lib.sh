# Shared by test/env/build.sh and bench/peers/build.sh (source it; do not run it): the Go build
# environment, the binary cache, and the wrapper-module helpers. Callers set LOG_PREFIX first.
# shellcheck shell=bash

CACHE="${ROBOT_SRE_CACHE:-$HOME/.cache/robot-sre-detector}"
BIN="$CACHE/bin"
WRAP="$CACHE/wrappers"
mkdir -p "$BIN" "$WRAP"

GO="${GO:-$(command -v go || true)}"
[ -n "$GO" ] || GO=/usr/local/go/bin/go
[ -x "$GO" ] || { echo "${LOG_PREFIX:-build}: go not found (set GO or install Go >= ${GO_MIN_VERSION:-go1.26})" >&2; exit 3; }

export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOFLAGS="-trimpath ${GOFLAGS:-}"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
LDS="-s -w"

log() { echo "[${LOG_PREFIX:-build} $(date -u +%H:%M:%S)] $*" >&2; }

# install_bin <built file> <name> <version>: atomic rename so a concurrent reader never sees half a file.
install_bin() {
  chmod 0755 "$1"
  mv -f "$1" "$BIN/$2-$3"
  ln -sfn "$2-$3" "$BIN/$2"
  log "installed $BIN/$2-$3"
}

# Fresh wrapper dir per build: a leftover go.mod from a failed attempt must not leak into the next one.
new_wrapper() {
  local dir="$WRAP/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "$dir"
}

# Replace directives of a go.mod (single-line and block form) as "old [ver] => new [ver]" lines,
# trailing comments dropped.
replaces_of() {
  awk '
    /^replace[ \t]*\($/ { inblock = 1; next }
    inblock && /^\)/     { inblock = 0; next }
    inblock && /=>/      { sub(/^[ \t]+/, ""); sub(/[ \t]*\/\/.*$/, ""); print; next }
    /^replace[ \t].*=>/  { sub(/^replace[ \t]+/, ""); sub(/[ \t]*\/\/.*$/, ""); print }
  ' "$1"
}

# Path of the go.mod of module@version in the module cache (downloads it if needed).
gomod_path() { "$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p'; }
