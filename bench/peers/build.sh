#!/usr/bin/env bash
# Builds the peer collectors the side-by-side benchmark compares against, from their Go modules:
#   bench/peers/build.sh alloy|promtail
# Same recipe as test/env/build.sh (wrapper module that copies upstream's replace directives, local
# "./dir" replaces pointed at the published version upstream requires), binaries cached as
# $CACHE/bin/<name>-<version>. Logs go to stderr; run it under `nice -n 10` on a shared machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

LOG_PREFIX=peers-build
# shellcheck source=../../test/env/go-build-lib.sh
source "$HERE/../../test/env/go-build-lib.sh"

# The version a go.mod requires for a module path (first match).
required_version() {
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

module_dir() { "$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'; }

# The checksum database does not answer for many of these (forked, pseudo-versioned) dependencies
# here (404), so start from upstream's own go.sum: the same hashes upstream's CI verified.
seed_gosum() { cp "$(module_dir "$2")/go.sum" "$1/go.sum"; chmod u+w "$1/go.sum"; }

# write_wrapper <dir> <module name> <upstream module> <version> <upstream go.mod>
# Local "./x" replaces are not usable from the module cache: point them at the version upstream
# requires (that is what a build outside the upstream tree resolves anyway).
write_wrapper() {
  local d="$1" name="$2" mod="$3" v="$4" modfile="$5"
  {
    echo "module $name"
    echo
    echo "go $(sed -n 's/^go //p' "$modfile")"
    echo
    echo "require $mod $v"
    echo
    echo "replace ("
    replaces_of "$modfile" | while read -r old arrow new rest; do
      # "old => new ver" or "old oldver => new ver"
      if [ "$arrow" != "=>" ]; then
        local oldv="$arrow"; arrow="$new"; new="${rest%% *}"; rest="${rest#* }"
        [ "$new" = "$rest" ] && rest=""
        old="$old $oldv"
      fi
      case "$new" in
        ./*)
          local oldpath="${old%% *}" rv
          rv="$(required_version "$modfile" "$oldpath")"
          [ -n "$rv" ] || { log "no required version for $oldpath"; exit 4; }
          printf '\t%s => %s %s\n' "$old" "$oldpath" "$rv" ;;
        *) printf '\t%s => %s %s\n' "$old" "$new" "$rest" ;;
      esac
    done
    echo ")"
    # Exclusions matter for resolution too (Alloy excludes old client-go majors).
    awk '/^exclude[ \t]*\($/,/^\)/ { print; next } /^exclude[ \t]/ { print }' "$modfile"
  } > "$d/go.mod"
}

build_alloy() {
  local v="$ALLOY_VERSION" d modfile
  d="$(new_wrapper "alloy-$v")"
  modfile="$(gomod_path "github.com/grafana/alloy@$v")"
  write_wrapper "$d" robot-sre-detector/peers/alloy github.com/grafana/alloy "$v" "$modfile"
  seed_gosum "$d" "github.com/grafana/alloy@$v"
  # Alloy's in-tree ./syntax is newer than the syntax version its go.mod requires (v0.1.0 lacks the
  # typecheck package Alloy imports): use the pinned published version instead.
  sed -i "s|^\(\tgithub.com/grafana/alloy/syntax => github.com/grafana/alloy/syntax\) .*|\1 $ALLOY_SYNTAX_VERSION|" "$d/go.mod"
  grep -q "alloy/syntax $ALLOY_SYNTAX_VERSION\$" "$d/go.mod" || { log "syntax replace not set"; exit 4; }
  local X="-X github.com/grafana/alloy/internal/build.Version=$v -X github.com/grafana/alloy/internal/build.Branch=release"
  X="$X -X github.com/grafana/alloy/syntax/internal/stdlib.Version=$v"
  # Alloy needs cgo (upstream's Makefile default is CGO_ENABLED=1): the Oracle exporter's driver
  # (github.com/godror/godror) does not compile without it.
  (cd "$d" \
    && "$GO" get "github.com/grafana/alloy@$v" \
    && CGO_ENABLED=1 "$GO" build -tags netgo -ldflags="$LDS $X" -o "$d/alloy.tmp" github.com/grafana/alloy)
  install_bin "$d/alloy.tmp" alloy "$v"
}

build_promtail() {
  local v="$PROMTAIL_LOKI_VERSION" d modfile
  d="$(new_wrapper "promtail-$v")"
  modfile="$(gomod_path "github.com/grafana/loki/v3@$v")"
  write_wrapper "$d" robot-sre-detector/peers/promtail github.com/grafana/loki/v3 "$v" "$modfile"
  seed_gosum "$d" "github.com/grafana/loki/v3@$v"
  local X="-X github.com/grafana/loki/v3/pkg/util/build.Version=${v#v} -X github.com/grafana/loki/v3/pkg/util/build.Branch=release"
  (cd "$d" \
    && "$GO" get "github.com/grafana/loki/v3/clients/cmd/promtail@$v" \
    && "$GO" build -ldflags="$LDS $X" -o "$d/promtail.tmp" github.com/grafana/loki/v3/clients/cmd/promtail)
  install_bin "$d/promtail.tmp" promtail "$v"
}

name="${1:-}"
case "$name" in
  alloy|promtail)
    exec 9>"$CACHE/.build-$name.lock"
    flock 9
    start=$(date +%s)
    "build_$name"
    log "$name done in $(( $(date +%s) - start ))s"
    ;;
  *) echo "usage: $0 alloy|promtail" >&2; exit 2 ;;
esac
