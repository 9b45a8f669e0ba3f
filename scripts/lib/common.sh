# shellcheck shell=bash
# Shared helpers for the scripts in scripts/. Source it; do not run it.
#
#   REPO_ROOT   the repository this script lives in
#   TOOLS_DIR   <repo>/.tools (binaries, versions.toml, test-images.toml)

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck disable=SC2034 # used by the scripts that source this file
TOOLS_DIR="$REPO_ROOT/.tools"
SCRIPT_NAME="$(basename "${0:-script}")"

# /usr/local/bin holds the 28.x docker client; it must stay ahead of
# Debian's /usr/bin/docker (20.10), which docker.io brings along.
case ":$PATH:" in
  *:/usr/local/bin:*) ;;
  *) PATH="/usr/local/bin:$PATH" ;;
esac
export PATH

export DEBIAN_FRONTEND=noninteractive

log()  { printf '[%s] %s\n' "$SCRIPT_NAME" "$*"; }
warn() { printf '[%s] WARNING: %s\n' "$SCRIPT_NAME" "$*" >&2; }
die()  { printf '[%s] ERROR: %s\n' "$SCRIPT_NAME" "$*" >&2; exit 1; }

# need_root: everything here installs packages or starts daemons.
need_root() {
  [ "$(id -u)" -eq 0 ] || die "must run as root (installs packages / starts daemons)"
}

# Seconds since the epoch, for timings.
now() { date +%s; }

# file_age_ok FILE MAX_MINUTES: true when FILE exists and is younger.
file_age_ok() {
  [ -e "$1" ] && [ -n "$(find "$1" -maxdepth 0 -mmin "-$2" 2>/dev/null)" ]
}

APT_OPTS=(-o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 -o Dpkg::Use-Pty=0)

# apt_update_system_if_stale: `apt-get update` for the system's own
# (bookworm) lists, only when they are missing or older than a day.
apt_update_system_if_stale() {
  local newest
  newest=$(find /var/lib/apt/lists -maxdepth 1 -name '*_InRelease' -mmin -1440 2>/dev/null | head -n1)
  if [ -n "$newest" ] && [ "${FORCE_APT_UPDATE:-0}" != 1 ]; then
    log "system apt lists are fresh (< 1 day): no apt-get update"
    return 0
  fi
  log "apt-get update (system lists missing or older than a day)"
  apt-get "${APT_OPTS[@]}" update -qq
}

# pkg_installed NAME: true when dpkg has NAME fully installed.
pkg_installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true)" = installed ]
}

# apt_install_missing PKG...: install from the system's sources (bookworm)
# only the packages that are not installed yet.
apt_install_missing() {
  local missing=() p
  for p in "$@"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "already installed: $*"
    return 0
  fi
  log "installing from bookworm: ${missing[*]}"
  apt_update_system_if_stale
  if ! apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"; then
    warn "apt-get install failed; refreshing lists and retrying once"
    FORCE_APT_UPDATE=1 apt_update_system_if_stale
    apt-get "${APT_OPTS[@]}" install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second, at
# most SECONDS times; true as soon as COMMAND succeeds.
wait_for() {
  local limit=$1 i
  shift 2 # DESCRIPTION is for the reader of the call
  for ((i = 0; i < limit; i++)); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  return 1
}

docker_answers() { timeout 10 docker info >/dev/null 2>&1; }

# TOML string escaping for the small generated files.
toml_str() {
  local s=$1
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}
