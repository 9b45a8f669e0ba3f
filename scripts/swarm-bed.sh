#!/usr/bin/env bash
# A multi-node Docker Swarm on this one machine, for the multi-node tests
# (xtask/tests/multinode.rs) and for trying things by hand.
#
#   swarm-bed.sh up BED       start N engines and join them into one Swarm
#   swarm-bed.sh down BED     remove everything BED made (idempotent)
#   swarm-bed.sh status BED   what of BED exists and answers
#   swarm-bed.sh sweep        remove the beds whose owner process is gone
#   swarm-bed.sh kill-node BED I    SIGKILL node I's dockerd (a lost node)
#   swarm-bed.sh start-node BED I   start node I's dockerd again
#
# BED is the bed's name and the prefix of everything it creates: `mnb`
# followed by 1 to 8 lower-case letters or digits (network interface names
# are at most 15 characters: the bridge is `<BED>br`, node I's network
# namespace `<BED>n<I>` and its host-side veth `<BED>v<I>`).
#
# Each node is a dockerd (Debian's docker.io, as scripts/start-docker.sh
# installs it) in its own network namespace (`nsenter --net`: `ip netns
# exec` remounts /sys and dockerd then fails with "Devices cgroup isn't
# mounted") and its own UTS namespace (hostname `<BED>-node<I>`, so the
# nodes can be told apart in node-level labels), with its own data root,
# exec root and socket under /var/lib/swarm-bed/<BED>/n<I>/. The namespaces
# hang on a Linux bridge with a private /24 of the bed's own; the host end
# of the bridge is .1, node I is .(10+I). The host engine's FORWARD policy
# is DROP and bridged frames pass iptables, so one ACCEPT rule for the
# bridge goes into DOCKER-USER (tagged with a comment naming BED).
#
# Images: a second docker-registry process serves the *same storage
# directory* as the loopback registry of scripts/start-registry.sh on
# <bridge address>:5000, declared an insecure registry to every engine.
# The test images thus have the same digests and the nodes pull them by
# digest, as in production (`docker save`/`load` would drop the digest).
#
# `up` writes /var/lib/swarm-bed/<BED>/bed.toml, the one description of
# the bed the tests read: registry, subnet, and per node its name,
# hostname, role, address, socket, pid file and labels.
#
# Environment:
#   BED_MANAGERS      managers (default 3)
#   BED_WORKERS       workers (default 1)
#   BED_LABEL_NODE    the node that gets the label monitoring=true (default 2)
#   BED_OWNER_PID     the process the bed belongs to; `sweep` removes beds
#                     whose owner is gone (default: this script's parent)
#   BED_WAIT_SECONDS  how long to wait for each engine / the Swarm (default 60)
#   REGISTRY_DIR      the loopback registry's state dir (as start-registry.sh)
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

ROOT=/var/lib/swarm-bed
REGISTRY_DIR=${REGISTRY_DIR:-/var/lib/monitoring-test-registry}
WAIT=${BED_WAIT_SECONDS:-60}
COMMENT_PREFIX="swarm-bed:"

usage() {
  sed -n '2,/^# Environment/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

check_name() {
  [[ "$1" =~ ^mnb[a-z0-9]{1,8}$ ]] || die "bed name '$1' must be 'mnb' and 1 to 8 lower-case letters or digits"
}

# ---------------------------------------------------------------- naming
bed_dir() { echo "$ROOT/$1"; }
node_dir() { echo "$ROOT/$1/n$2"; }
netns_of() { echo "$1n$2"; }
veth_of() { echo "$1v$2"; }
bridge_of() { echo "$1br"; }
sock_of() { echo "$(node_dir "$1" "$2")/docker.sock"; }
pidfile_of() { echo "$(node_dir "$1" "$2")/docker.pid"; }
hostname_of() { echo "$1-node$2"; }
dk() { # dk BED I ARGS...: the docker client against node I
  local bed=$1 i=$2
  shift 2
  timeout 60 docker -H "unix://$(sock_of "$bed" "$i")" "$@"
}

# A /24 in 10.213.0.0/16 picked from the bed's name, skipping any /24 the
# host already has an address or a route in.
pick_subnet() {
  local bed=$1 n k third
  n=$(printf '%s' "$bed" | cksum | cut -d' ' -f1)
  for k in $(seq 0 249); do
    third=$(((n + k) % 250 + 1))
    if ! ip -4 -o addr show | grep -q " 10\.213\.$third\." &&
      ! ip -4 route show | grep -q "^10\.213\.$third\."; then
      echo "10.213.$third"
      return 0
    fi
  done
  die "no free /24 in 10.213.0.0/16 for bed $bed"
}

# pids_of BED: every process whose command line names the bed's directory
# (its dockerds, their containerd and shims, the bed's registry), and all
# their descendants (the containers' processes).
pids_of() {
  local dir p cmdline
  dir=$(bed_dir "$1")/
  local -a roots=()
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" != "$$" ] || continue
    # read in bash, not grep: a grep for the directory would match itself
    cmdline=$({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null) || continue
    [[ "$cmdline" != *"$dir"* ]] || roots+=("$p")
  done
  [ "${#roots[@]}" -gt 0 ] || return 0
  # descendants, breadth first over the ppid table
  local table
  table=$(ps -e -o pid=,ppid= 2>/dev/null || true)
  local -a queue=("${roots[@]}") seen=()
  while [ "${#queue[@]}" -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    seen+=("$p")
    while read -r child; do
      [ -n "$child" ] && queue+=("$child")
    done < <(awk -v pp="$p" '$2 == pp { print $1 }' <<<"$table")
  done
  printf '%s\n' "${seen[@]}" | sort -un
}

# ---------------------------------------------------------------- up
write_toml() {
  local bed=$1 subnet=$2 managers=$3 workers=$4 label=$5 out i role labels
  out="$(bed_dir "$bed")/bed.toml"
  {
    echo "# Written by scripts/swarm-bed.sh up: the multi-node test bed $bed."
    echo "name = $(toml_str "$bed")"
    echo "subnet = $(toml_str "$subnet.0/24")"
    echo "bridge = $(toml_str "$(bridge_of "$bed")")"
    echo "registry = $(toml_str "$subnet.1:5000")"
    for ((i = 1; i <= managers + workers; i++)); do
      role=worker
      [ "$i" -gt "$managers" ] || role=manager
      labels="{}"
      [ "$i" != "$label" ] || labels='{ monitoring = "true" }'
      echo
      echo "[[node]]"
      echo "index = $i"
      echo "hostname = $(toml_str "$(hostname_of "$bed" "$i")")"
      echo "role = \"$role\""
      echo "address = $(toml_str "$subnet.$((10 + i))")"
      echo "netns = $(toml_str "$(netns_of "$bed" "$i")")"
      echo "socket = $(toml_str "$(sock_of "$bed" "$i")")"
      echo "pidfile = $(toml_str "$(pidfile_of "$bed" "$i")")"
      echo "log = $(toml_str "$(node_dir "$bed" "$i")/dockerd.log")"
      echo "labels = $labels"
    done
  } >"$out.tmp"
  mv "$out.tmp" "$out"
}

# node_network BED I SUBNET: node I's namespace, its veth on the bridge and
# its address .(10+I). A chain of &&: the caller reports which node failed.
node_network() {
  local bed=$1 i=$2 subnet=$3 ns veth peer
  ns=$(netns_of "$bed" "$i")
  veth=$(veth_of "$bed" "$i")
  peer="${bed}p$i"
  ip netns add "$ns" &&
    ip link add "$veth" type veth peer name "$peer" &&
    ip link set "$peer" netns "$ns" &&
    ip -n "$ns" link set "$peer" name eth0 &&
    ip -n "$ns" addr add "$subnet.$((10 + i))/24" dev eth0 &&
    ip -n "$ns" link set eth0 up &&
    ip -n "$ns" link set lo up &&
    ip -n "$ns" route add default via "$subnet.1" &&
    ip link set "$veth" master "$(bridge_of "$bed")" &&
    ip link set "$veth" up
}

# start_engine BED I: dockerd of node I in its namespaces, in the background.
start_engine() {
  local bed=$1 i=$2 dir registry
  dir=$(node_dir "$bed" "$i")
  registry=$(cat "$(bed_dir "$bed")/registry.addr")
  mkdir -p "$dir/data" "$dir/exec"
  printf '\n==== %s: started by %s\n' "$(date -u '+%FT%TZ')" "$SCRIPT_NAME" >>"$dir/dockerd.log"
  # shellcheck disable=SC2016 # $1.. expand in the inner shell
  setsid nsenter --net="/run/netns/$(netns_of "$bed" "$i")" \
    unshare --uts sh -c 'hostname "$1" && shift && exec "$@"' sh "$(hostname_of "$bed" "$i")" \
    dockerd --data-root "$dir/data" --exec-root "$dir/exec" -H "unix://$dir/docker.sock" \
    --pidfile "$dir/docker.pid" --iptables=false --ip-masq=false --bridge=none \
    --insecure-registry "$registry" --shutdown-timeout 3 --log-level warn \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  disown || true
}

# accept_rule BED: the DOCKER-USER rule of the bed, as words.
accept_rule() { echo "-i $(bridge_of "$1") -o $(bridge_of "$1") -m comment --comment $COMMENT_PREFIX$1 -j ACCEPT"; }

# all_ready BED N: node 1 sees N nodes Ready.
all_ready() { [ "$(dk "$1" 1 node ls --format '{{.Status}}' | grep -c '^Ready$')" = "$2" ]; }

engine_answers() { dk "$1" "$2" info >/dev/null 2>&1; }

wait_engine() {
  local bed=$1 i=$2
  if ! wait_for "$WAIT" "engine $i" engine_answers "$bed" "$i"; then
    tail -n 30 "$(node_dir "$bed" "$i")/dockerd.log" >&2 || true
    die "node $i of $bed ($(hostname_of "$bed" "$i")): dockerd did not answer within ${WAIT}s (log above)"
  fi
}

start_registry() {
  local bed=$1 subnet=$2 dir conf
  dir=$(bed_dir "$bed")
  conf="$dir/registry.yml"
  [ -d "$REGISTRY_DIR/data/docker/registry/v2" ] ||
    die "no registry store in $REGISTRY_DIR/data: run scripts/start-registry.sh and scripts/build-test-images.sh first"
  command -v docker-registry >/dev/null || die "docker-registry missing: run scripts/start-registry.sh first"
  cat >"$conf" <<EOF
# Written by scripts/swarm-bed.sh: the bed's view of the loopback test
# registry's store, served on the bed's bridge.
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_DIR/data
  cache:
    blobdescriptor: inmemory
http:
  addr: $subnet.1:5000
EOF
  echo "$subnet.1:5000" >"$dir/registry.addr"
  setsid docker-registry serve "$conf" >>"$dir/registry.log" 2>&1 </dev/null &
  echo $! >"$dir/registry.pid"
  disown || true
  if ! wait_for 30 registry curl -sf -m 3 -o /dev/null "http://$subnet.1:5000/v2/"; then
    tail -n 20 "$dir/registry.log" >&2 || true
    die "bed $bed: the registry did not answer on http://$subnet.1:5000/v2/ within 30s"
  fi
}

cmd_up() {
  local bed=$1 managers=${BED_MANAGERS:-3} workers=${BED_WORKERS:-1} label=${BED_LABEL_NODE:-2}
  local owner=${BED_OWNER_PID:-$PPID} dir subnet br n i token_m token_w t0
  t0=$(now)
  [[ "$managers" =~ ^[1-9][0-9]?$ ]] || die "BED_MANAGERS must be 1..99, not '$managers'"
  [[ "$workers" =~ ^[0-9]{1,2}$ ]] || die "BED_WORKERS must be 0..99, not '$workers'"
  n=$((managers + workers))
  [ "$n" -le 200 ] || die "at most 200 nodes"
  if ! [[ "$label" =~ ^[0-9]+$ ]] || [ "$label" -lt 1 ] || [ "$label" -gt "$n" ]; then
    die "BED_LABEL_NODE '$label' is not a node of 1..$n"
  fi
  command -v dockerd >/dev/null || die "dockerd missing: run scripts/start-docker.sh first"
  dir=$(bed_dir "$bed")
  if [ -f "$dir/bed.toml" ] && [ "$(cat "$dir/nodes" 2>/dev/null)" = "$managers $workers $label" ]; then
    # Idempotent: a complete bed of the same shape is left as it is.
    local ok=true
    for ((i = 1; i <= n; i++)); do engine_answers "$bed" "$i" || ok=false; done
    if $ok && [ "$(dk "$bed" 1 info --format '{{.Swarm.Nodes}}' 2>/dev/null)" = "$n" ]; then
      echo "$owner" >"$dir/owner"
      log "bed $bed already up ($dir/bed.toml)"
      return 0
    fi
    log "bed $bed is incomplete: removing it and starting again"
  fi
  cmd_sweep
  cmd_down "$bed" quiet
  mkdir -p "$dir"
  echo "$owner" >"$dir/owner"
  echo "$managers $workers $label" >"$dir/nodes"
  subnet=$(pick_subnet "$bed")
  br=$(bridge_of "$bed")

  # network: bridge, one namespace + veth per node, the DOCKER-USER rule
  { ip link add "$br" type bridge && ip addr add "$subnet.1/24" dev "$br" && ip link set "$br" up; } ||
    die "bed $bed: could not create the bridge $br ($subnet.1/24)"
  if iptables -S DOCKER-USER >/dev/null 2>&1; then
    local -a rule
    read -ra rule <<<"$(accept_rule "$bed")"
    iptables -I DOCKER-USER "${rule[@]}" || die "bed $bed: could not insert its ACCEPT rule into DOCKER-USER"
  else
    # No host engine: nothing sets FORWARD to DROP for the bridge.
    warn "no DOCKER-USER chain (host engine not running?): no ACCEPT rule inserted"
  fi
  for ((i = 1; i <= n; i++)); do
    node_network "$bed" "$i" "$subnet" ||
      die "node $i of $bed ($(netns_of "$bed" "$i")): could not set up its network namespace and veth"
  done
  start_registry "$bed" "$subnet"
  write_toml "$bed" "$subnet" "$managers" "$workers" "$label"

  # engines: all start at once, then the Swarm
  for ((i = 1; i <= n; i++)); do start_engine "$bed" "$i"; done
  for ((i = 1; i <= n; i++)); do wait_engine "$bed" "$i"; done
  log "bed $bed: $n engines answer after $(($(now) - t0))s"
  dk "$bed" 1 swarm init --advertise-addr "$subnet.11" --listen-addr "$subnet.11:2377" >/dev/null ||
    die "node 1 of $bed: docker swarm init failed"
  token_m=$(dk "$bed" 1 swarm join-token -q manager)
  token_w=$(dk "$bed" 1 swarm join-token -q worker)
  for ((i = 2; i <= n; i++)); do
    local token=$token_w
    [ "$i" -gt "$managers" ] || token=$token_m
    dk "$bed" "$i" swarm join --token "$token" --advertise-addr "$subnet.$((10 + i))" \
      --listen-addr "$subnet.$((10 + i)):2377" "$subnet.11:2377" >/dev/null ||
      die "node $i of $bed ($(hostname_of "$bed" "$i")): docker swarm join failed"
  done
  if ! wait_for "$WAIT" "nodes ready" all_ready "$bed" "$n"; then
    dk "$bed" 1 node ls >&2 || true
    die "bed $bed: not all $n nodes Ready within ${WAIT}s"
  fi
  dk "$bed" 1 node update --label-add monitoring=true "$(hostname_of "$bed" "$label")" >/dev/null ||
    die "node $label of $bed: could not add the label monitoring=true"
  log "bed $bed up in $(($(now) - t0))s: $managers managers, $workers workers, registry $subnet.1:5000, $dir/bed.toml"
}

# ---------------------------------------------------------------- down
cmd_down() {
  local bed=$1 quiet=${2:-} dir pid pids mnt id
  check_name "$bed"
  dir=$(bed_dir "$bed")
  local -a rule
  read -ra rule <<<"$(accept_rule "$bed")"
  # 1. engines: SIGTERM (they stop their containers, --shutdown-timeout 3)
  for pid in $(cat "$dir"/n*/docker.pid 2>/dev/null || true); do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 20); do
    pids=$(for f in "$dir"/n*/docker.pid; do [ -f "$f" ] && cat "$f"; done 2>/dev/null | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done || true)
    [ -n "$pids" ] || break
    sleep 0.5
  done
  # 2. whatever still runs from the bed (containerd, shims, containers,
  #    registry, an engine that would not stop): SIGKILL, until none is left
  for _ in $(seq 10); do
    pids=$(pids_of "$bed")
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086 # one pid per word
    kill -KILL $pids 2>/dev/null || true
    sleep 0.5
  done
  pids=$(pids_of "$bed")
  [ -z "$pids" ] || die "bed $bed: processes survive SIGKILL: $(tr '\n' ' ' <<<"$pids")"
  # 3. mounts under the bed's directory (overlay roots, shm, netns files)
  if [ -d "$dir" ]; then
    while read -r mnt; do
      umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    # 4. the containers' empty cgroups (cgroupfs driver: <controller>/docker/<id>)
    for id in "$dir"/n*/data/containers/*; do
      id=${id##*/}
      [[ "$id" =~ ^[0-9a-f]{64}$ ]] || continue
      find /sys/fs/cgroup -depth -type d -name "$id" -exec rmdir {} + 2>/dev/null || true
    done
  fi
  # 5. network namespaces, links, the iptables rule
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^${bed}n[0-9]+$" || true); do
    ip netns del "$ns" || die "bed $bed: ip netns del $ns failed"
  done
  for link in $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E "^${bed}(br|v[0-9]+|p[0-9]+)$" || true); do
    ip link del "$link" 2>/dev/null || true
  done
  while iptables -C DOCKER-USER "${rule[@]}" 2>/dev/null; do
    iptables -D DOCKER-USER "${rule[@]}"
  done
  # 6. state
  rm -rf "$dir"
  [ -n "$quiet" ] || log "bed $bed removed"
}

# ---------------------------------------------------------------- sweep
# Beds whose owner process is gone, found by their state directory and by
# their names (a run killed before it wrote its state still left links).
cmd_sweep() {
  local bed owner
  local -a beds=()
  for d in "$ROOT"/mnb*; do [ -d "$d" ] && beds+=("$(basename "$d")"); done
  while read -r bed; do [ -n "$bed" ] && beds+=("$bed"); done < <(
    {
      ip netns list | awk '{print $1}' | sed -n 's/^\(mnb[a-z0-9]*\)n[0-9]*$/\1/p'
      ip -o link show | awk -F': ' '{print $2}' | sed -n 's/^\(mnb[a-z0-9]*\)br$/\1/p'
      iptables -S DOCKER-USER 2>/dev/null | sed -n "s/.*--comment \"\{0,1\}$COMMENT_PREFIX\(mnb[a-z0-9]*\).*/\1/p"
    } | sort -u
  )
  for bed in $(printf '%s\n' "${beds[@]}" | sort -u); do
    [[ "$bed" =~ ^mnb[a-z0-9]{1,8}$ ]] || continue
    owner=$(cat "$(bed_dir "$bed")/owner" 2>/dev/null || true)
    if [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null; then
      continue
    fi
    log "removing bed $bed, left by a dead run (owner pid ${owner:-unknown})"
    cmd_down "$bed"
  done
}

# ---------------------------------------------------------------- status
cmd_status() {
  local bed=$1 dir i n
  dir=$(bed_dir "$bed")
  [ -f "$dir/bed.toml" ] || {
    echo "bed $bed: not up (no $dir/bed.toml)"
    return 1
  }
  read -r m w _ <"$dir/nodes"
  n=$((m + w))
  echo "bed $bed: $m managers, $w workers, registry $(cat "$dir/registry.addr"), owner pid $(cat "$dir/owner")"
  for ((i = 1; i <= n; i++)); do
    local pid state
    pid=$(cat "$(pidfile_of "$bed" "$i")" 2>/dev/null || echo -)
    state=$(dk "$bed" "$i" info --format '{{.Swarm.LocalNodeState}} manager={{.Swarm.ControlAvailable}}' 2>/dev/null || echo "not answering")
    printf '  node %s %-16s netns %-10s dockerd %-7s %s\n' "$i" "$(hostname_of "$bed" "$i")" \
      "$(ip netns list | awk '{print $1}' | grep -qx "$(netns_of "$bed" "$i")" && echo ok || echo MISSING)" "$pid" "$state"
  done
  for ((i = 1; i <= m; i++)); do
    if dk "$bed" "$i" node ls 2>/dev/null; then break; fi
  done
}

# ---------------------------------------------------------------- nodes
cmd_kill_node() {
  local bed=$1 i=$2 pid
  pid=$(cat "$(pidfile_of "$bed" "$i")" 2>/dev/null) || die "node $i of $bed has no pid file"
  kill -KILL "$pid" 2>/dev/null || die "node $i of $bed: dockerd (pid $pid) is not running"
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  log "node $i of $bed ($(hostname_of "$bed" "$i")): dockerd pid $pid killed"
}

cmd_start_node() {
  local bed=$1 i=$2
  [ -d "$(node_dir "$bed" "$i")" ] || die "node $i of $bed does not exist"
  if engine_answers "$bed" "$i"; then
    log "node $i of $bed already answers"
    return 0
  fi
  rm -f "$(pidfile_of "$bed" "$i")"
  start_engine "$bed" "$i"
  wait_engine "$bed" "$i"
  log "node $i of $bed ($(hostname_of "$bed" "$i")) started again"
}

need_root
[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
  up | down | status)
    [ $# -eq 1 ] || usage
    check_name "$1"
    "cmd_$cmd" "$1"
    ;;
  kill-node | start-node)
    [ $# -eq 2 ] || usage
    check_name "$1"
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "node index '$2' must be a positive number"
    "cmd_${cmd//-/_}" "$1" "$2"
    ;;
  sweep)
    [ $# -eq 0 ] || usage
    cmd_sweep
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
