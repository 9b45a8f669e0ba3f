#!/usr/bin/env bash
# Run a local image registry (Debian's docker-registry, distribution 2.8) on
# 127.0.0.1:5000 with a filesystem store, for the test images and for
# `cargo xtask pin` (real Docker-Content-Digest headers).
#
# No systemd runs here, so the package's unit/init script is not used: the
# binary is started as `docker-registry serve <config>` (what the unit does)
# with a config written by this script, in the background under setsid.
# Idempotent: an answering registry on 127.0.0.1:5000 is left alone (unless
# it is ours and its config changed, then it is restarted).
#
# Environment:
#   REGISTRY_DIR            state dir (default /var/lib/monitoring-test-registry)
#   REGISTRY_WAIT_SECONDS   how long to wait for it (default 30)
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_root
started=$(now)

ADDR=127.0.0.1:5000
REGISTRY_DIR=${REGISTRY_DIR:-/var/lib/monitoring-test-registry}
CONF="$REGISTRY_DIR/config.yml"
PIDFILE="$REGISTRY_DIR/registry.pid"
LOGFILE=/var/log/monitoring-test-registry.log
WAIT=${REGISTRY_WAIT_SECONDS:-30}

registry_answers() { curl -sf -m 3 -o /dev/null "http://$ADDR/v2/"; }
our_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    grep -qa docker-registry "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

if ! command -v docker-registry >/dev/null 2>&1; then
  apt_install_missing docker-registry
fi
BIN=$(command -v docker-registry) || die "docker-registry missing after install"

mkdir -p "$REGISTRY_DIR/data"
new_conf=$(
  cat <<EOF
# Written by scripts/start-registry.sh: test registry on loopback only.
version: 0.1
log:
  level: info
  fields:
    service: monitoring-test-registry
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  delete:
    enabled: true
  cache:
    blobdescriptor: inmemory
http:
  addr: $ADDR
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
EOF
)
conf_changed=false
if [ "$(cat "$CONF" 2>/dev/null || true)" != "$new_conf" ]; then
  printf '%s\n' "$new_conf" >"$CONF.tmp"
  mv "$CONF.tmp" "$CONF"
  conf_changed=true
  log "wrote $CONF"
fi

if registry_answers; then
  if pid=$(our_pid) && [ "$conf_changed" = true ]; then
    log "config changed: restarting our registry (pid $pid)"
    kill "$pid"
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && die "registry pid $pid did not stop"
  elif pid=$(our_pid); then
    log "registry already answers on http://$ADDR/v2/ (pid $pid): nothing to do"
  else
    hdr=$(curl -sfI -m 3 "http://$ADDR/v2/" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-distribution-api-version"{print $2}')
    [ "$hdr" = registry/2.0 ] || die "something else answers on $ADDR (no Docker-Distribution-Api-Version header)"
    warn "a registry not started by this script answers on http://$ADDR/v2/: using it as it is"
  fi
fi

if ! registry_answers; then
  if pid=$(our_pid); then
    log "our registry (pid $pid) runs but does not answer: restarting it"
    kill "$pid" || true
    sleep 1
  fi
  if ss -Htln "sport = :5000" 2>/dev/null | grep -q .; then
    ss -tlnp "sport = :5000" >&2 || true
    die "port 5000 is taken by something that is not an answering registry"
  fi
  log "starting $BIN serve $CONF (log: $LOGFILE)"
  printf '\n==== %s: started by %s\n' "$(date -u '+%FT%TZ')" "$SCRIPT_NAME" >>"$LOGFILE"
  setsid "$BIN" serve "$CONF" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  disown || true
  if ! wait_for "$WAIT" registry registry_answers; then
    tail -n 30 "$LOGFILE" >&2 || true
    die "registry did not answer on http://$ADDR/v2/ within ${WAIT}s"
  fi
  log "registry answers on http://$ADDR/v2/ (pid $(cat "$PIDFILE"))"
fi

version=$("$BIN" --version 2>&1 | sed -n 1p)
repos=$(curl -sf -m 5 "http://$ADDR/v2/_catalog?n=1000" | jq -r '.repositories | length' 2>/dev/null || echo '?')
log "$version; store $REGISTRY_DIR/data; $repos repositories"
log "done in $(($(now) - started))s"
