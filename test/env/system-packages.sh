#!/usr/bin/env bash
# Debian packages the tests use as real parts: logrotate (the file source's rotation tests run the
# real one), systemd (journalctl) and systemd-journal-remote (the journald source's tests build real
# journal files with /lib/systemd/systemd-journal-remote and read them with journalctl). Installed by `npm run setup` when missing (as root, or through password-less sudo);
# otherwise the command to run is printed, and under CI=true a missing package fails the setup.
set -uo pipefail
PKGS=(logrotate systemd systemd-journal-remote)
# Whether a package is there: its command in PATH or /usr/sbin, or the path it installs.
present() {
  case "$1" in
    systemd) command -v journalctl >/dev/null 2>&1 || [ -x /usr/bin/journalctl ] || [ -x /bin/journalctl ] ;;
    systemd-journal-remote) [ -x /lib/systemd/systemd-journal-remote ] || [ -x /usr/lib/systemd/systemd-journal-remote ] ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ;;
  esac
}
missing=()
for p in "${PKGS[@]}"; do present "$p" || missing+=("$p"); done
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
