#!/usr/bin/env bash
# Make sure a Docker Engine runs here, is a single-node Swarm manager, and
# its node carries the label monitoring=true (placement of the stateful
# services).
#
#  * installs Debian's docker.io when `dockerd` is missing (the 28.x client in
#    /usr/local/bin stays first on PATH);
#  * starts `dockerd` in the background (no systemd here) when `docker info`
#    does not answer, and waits for it (bounded);
#  * `docker swarm init --advertise-addr 127.0.0.1` when the node is not in a
#    Swarm; adds the node label.
# It does NOT create etl_network: the product does that (`deploy --init`),
# tests make their own uniquely named networks.
#
# Environment:
#   DOCKERD_WAIT_SECONDS   how long to wait for the daemon (default 60)
#   DOCKERD_LOG            daemon log (default /var/log/dockerd.log)
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_root
started=$(now)
WAIT=${DOCKERD_WAIT_SECONDS:-60}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

# ---------------------------------------------------------------- engine
if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd missing: installing Debian's docker.io"
  apt_install_missing docker.io
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after installing docker.io"
command -v docker >/dev/null 2>&1 || die "no docker client on PATH"

if docker_answers; then
  log "dockerd already answers: not starting it"
else
  pid=$(cat /var/run/docker.pid 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && grep -qa dockerd "/proc/$pid/cmdline" 2>/dev/null; then
    log "dockerd (pid $pid) runs but does not answer yet: waiting for it"
  else
    [ -z "$pid" ] || log "removing stale /var/run/docker.pid (pid $pid is gone)"
    rm -f /var/run/docker.pid
    log "starting dockerd (log: $DOCKERD_LOG)"
    printf '\n==== %s: started by %s\n' "$(date -u '+%FT%TZ')" "$SCRIPT_NAME" >>"$DOCKERD_LOG"
    setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    disown || true
  fi
  if ! wait_for "$WAIT" "dockerd" docker_answers; then
    tail -n 40 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not answer 'docker info' within ${WAIT}s (log above: $DOCKERD_LOG)"
  fi
  log "dockerd answers after $(($(now) - started))s"
fi

# ---------------------------------------------------------------- swarm
swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown; }
state=$(swarm_state)
case "$state" in
  active)
    log "node already in a Swarm"
    ;;
  inactive)
    log "docker swarm init --advertise-addr 127.0.0.1"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    ;;
  pending | unknown)
    # After a daemon restart the Swarm state takes a moment to come back.
    log "Swarm state '$state': waiting up to 30s for it to settle"
    for _ in $(seq 30); do
      state=$(swarm_state)
      [ "$state" = pending ] || [ "$state" = unknown ] || break
      sleep 1
    done
    if [ "$state" = inactive ]; then
      docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    elif [ "$state" != active ]; then
      die "Swarm state is '$state'; fix it by hand (docker swarm leave --force; rerun)"
    fi
    ;;
  locked)
    die "the Swarm is locked (autolock): unlock it with 'docker swarm unlock'"
    ;;
  *)
    die "unexpected Swarm state '$state' (docker info .Swarm.LocalNodeState)"
    ;;
esac

[ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = true ] ||
  die "this node is in a Swarm but is not a manager: tests need a manager"
node_id=$(docker info --format '{{.Swarm.NodeID}}')
[ -n "$node_id" ] || die "no Swarm node id in docker info"

# The manager may need a few seconds (leader election after a restart)
# before node commands work.
node_label() { docker node inspect "$node_id" --format '{{index .Spec.Labels "monitoring"}}'; }
label_node() {
  [ "$(node_label 2>/dev/null)" = true ] ||
    docker node update --label-add monitoring=true "$node_id" >/dev/null 2>&1
}
if [ "$(node_label 2>/dev/null || true)" = true ]; then
  log "node $node_id already has the label monitoring=true"
elif wait_for 60 "node label" label_node && [ "$(node_label)" = true ]; then
  log "added the label monitoring=true to node $node_id"
else
  docker node ls >&2 || true
  die "could not read or set the label monitoring=true on node $node_id within 60s"
fi

# ---------------------------------------------------------------- report
engine=$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')
client=$(docker version --format '{{.Client.Version}}')
log "client: $(command -v docker) $client; engine: $engine"
log "storage driver: $(docker info --format '{{.Driver}}'), cgroup: $(docker info --format '{{.CgroupDriver}} v{{.CgroupVersion}}')"
log "swarm: node $node_id ($(docker node inspect self --format '{{.Description.Hostname}} {{.Spec.Role}} {{.Status.State}} labels={{json .Spec.Labels}}'))"
log "done in $(($(now) - started))s"
