#!/usr/bin/env bash
# Debian packages the tests use as real parts: logrotate (the file source's rotation tests run the
# real one). Installed by `npm run setup` when missing (as root, or through password-less sudo);
# otherwise the command to run is printed, and under CI=true a missing package fails the setup.
set -uo pipefail
PKGS=(logrotate)
missing=()
for p in "${PKGS[@]}"; do command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: ${PKGS[*]} present"
  exit 0
fi
as_root=()
if [ "$(id -u)" != 0 ]; then
  if sudo -n true 2>/dev/null; then as_root=(sudo -n); else
    echo "system packages missing: ${missing[*]} — install them with: sudo apt-get install -y ${missing[*]}" >&2
    [ "${CI:-}" = true ] && exit 1
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { "${as_root[@]}" apt-get update -qq >/dev/null 2>&1 && "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } \
  || { echo "system packages: apt-get install ${missing[*]} failed" >&2; exit 1; }
echo "system packages: installed ${missing[*]}"
