#!/usr/bin/env bash
# Builds the peer collectors the side-by-side benchmark compares against, from their Go modules:
#   bench/peers/build.sh otelcol|vlagent
# Binaries are cached as $CACHE/bin/<name>-<version> (the shared recipe of test/env/go-build-lib.sh).
# Run it under `nice -n 10` on a shared machine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$HERE/versions.env"

LOG_PREFIX=peers-build
# shellcheck source=../../test/env/go-build-lib.sh
source "$HERE/../../test/env/go-build-lib.sh"

build_otelcol() {
  local v="$OTELCOL_VERSION" d
  d="$(new_wrapper "otelcol-$v")"
  GOBIN="$d" "$GO" install "go.opentelemetry.io/collector/cmd/builder@$v"
  # The components the benchmark uses, all of one release: tail the file (filelog, with its stanza
  # operators for the timestamp and one regex test per signature rule), batch, OTLP/HTTP out. The
  # count connector and the filter processor would need contrib's pkg/ottl/contexts/xprofile, which
  # the module proxy reachable here does not serve at this release.
  cat > "$d/manifest.yaml" <<YAML
dist:
  name: otelcol-rsd-bench
  description: OpenTelemetry Collector for the robot-sre-detector peers benchmark
  output_path: $d/out
receivers:
  - gomod: github.com/open-telemetry/opentelemetry-collector-contrib/receiver/filelogreceiver $v
processors:
  - gomod: go.opentelemetry.io/collector/processor/batchprocessor $v
exporters:
  - gomod: go.opentelemetry.io/collector/exporter/otlphttpexporter $v
YAML
  (cd "$d" && "$d/builder" --config "$d/manifest.yaml" --ldflags="$LDS")
  cp "$d/out/otelcol-rsd-bench" "$d/otelcol.tmp"
  install_bin "$d/otelcol.tmp" otelcol "$v"
}

build_vlagent() {
  local v="$VLAGENT_VERSION" d
  d="$(new_wrapper "vlagent-$v")"
  GOBIN="$d" "$GO" install -ldflags="$LDS" "github.com/VictoriaMetrics/VictoriaLogs/app/vlagent@$v"
  mv "$d/vlagent" "$d/vlagent.tmp"
  install_bin "$d/vlagent.tmp" vlagent "$v"
}

name="${1:-}"
case "$name" in
  otelcol|vlagent)
    exec 9>"$CACHE/.build-$name.lock"
    flock 9
    if [ -x "$BIN/$name-$( [ "$name" = otelcol ] && echo "$OTELCOL_VERSION" || echo "$VLAGENT_VERSION")" ] && [ "${FORCE:-}" != 1 ]; then
      log "$name cached"; exit 0
    fi
    start=$(date +%s)
    "build_$name"
    log "$name done in $(( $(date +%s) - start ))s"
    ;;
  *) echo "usage: $0 otelcol|vlagent" >&2; exit 2 ;;
esac
