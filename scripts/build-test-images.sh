#!/usr/bin/env bash
# Build the test images offline and push them to the local registry.
#
# Each image is FROM scratch: the component binary from .tools/bin, the libc
# files ldd finds for it, a copy of Debian's static busybox (linked as sh and
# wget, for health checks: probe by IP, busybox-static cannot resolve names;
# and hostname),
# CA certificates, a minimal passwd/group/nsswitch, and a default config where
# the binary refuses to start without one. ENTRYPOINT/CMD/USER/WORKDIR/VOLUME
# follow the upstream images, so a stack's `command:` replaces the same
# default flags it replaces upstream.
#
#   prometheus         /bin/prometheus (+ /bin/promtool)   :9090 /-/healthy
#   alertmanager       /bin/alertmanager (+ /bin/amtool)   :9093 /-/healthy
#   node-exporter      /bin/node_exporter                  :9100 /metrics
#   postgres-exporter  /bin/postgres_exporter              :9187 /metrics
#   nginx-exporter     /usr/bin/nginx-prometheus-exporter  :9113 /metrics
#   haproxy            /usr/local/sbin/haproxy (+ socat)   :8080 /healthz
#                      (the default config only answers that probe; the
#                      stack's Docker API proxy brings its own config and
#                      entrypoint, so upstream's docker-entrypoint.sh, which
#                      only prepends `haproxy -W -db`, is not copied)
#   probe              busybox only, ENTRYPOINT ["/bin/sh"]; default CMD idles
#                      until SIGTERM. Tests give it e.g. command ["-c","exit 3"].
#   swarm-exporter     /bin/swarm-exporter                 :9324 /metrics
#                      this workspace's crate, built here by cargo (debug,
#                      Cargo.lock, the target dir the tests use); tagged with
#                      the input-addressed tag stack/images.lock records, so
#                      tests deploy it as the stack's workspace-built image
#                      (the production image is the flake's
#                      nix/swarm-exporter-image.nix, which cannot build here).
#
# References: 127.0.0.1:5000/monitoring-test/<name>:<version of the binary>.
# Every image is started once (docker run, then wget from inside) before it
# is pushed. The result goes to .tools/test-images.toml:
#   [images.<name>] reference = "...:<tag>"  digest = "sha256:..."  pinned = "...:<tag>@sha256:..."
# Idempotent: an image whose inputs (context hash) are unchanged and whose
# digest the registry still serves is not rebuilt, re-verified or re-pushed.
#
# Environment:
#   FORCE_REBUILD=1       rebuild, verify and push everything
#   VERIFY_WAIT_SECONDS   how long a started image may take to answer (default 30)
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_root
started=$(now)

REGISTRY=127.0.0.1:5000
PREFIX=$REGISTRY/monitoring-test
OUT="$TOOLS_DIR/test-images.toml"
BIN="$TOOLS_DIR/bin"
VERIFY_WAIT=${VERIFY_WAIT_SECONDS:-30}
BUSYBOX=/bin/busybox
export DOCKER_BUILDKIT=0

docker_answers || die "docker does not answer: run scripts/start-docker.sh first"
curl -sf -m 3 -o /dev/null "http://$REGISTRY/v2/" || die "no registry on $REGISTRY: run scripts/start-registry.sh first"
[ -f "$TOOLS_DIR/versions.toml" ] || die "$TOOLS_DIR/versions.toml missing: run scripts/install-tools.sh first"
if ! { [ -x "$BUSYBOX" ] && "$BUSYBOX" true; }; then
  die "$BUSYBOX missing: apt-get install busybox-static (scripts/install-tools.sh)"
fi
file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' ||
  ldd "$BUSYBOX" 2>&1 | grep -q 'not a dynamic executable' ||
  die "$BUSYBOX is not the static busybox (busybox-static)"

# tool_version NAME: the clean version recorded by install-tools.sh.
tool_version() {
  awk -v t="[tools.$1]" '$0==t{f=1; next} /^\[/{f=0} f && /^version = /{gsub(/"/,"",$3); print $3; exit}' \
    "$TOOLS_DIR/versions.toml"
}
# previous NAME KEY: a value from the previous test-images.toml.
previous() {
  [ -f "$OUT" ] || return 0
  awk -v t="[images.$1]" -v k="$2" '$0==t{f=1; next} /^\[/{f=0} f && $1==k{gsub(/"/,"",$3); print $3; exit}' "$OUT"
}
# registry_digest REPO TAG: Docker-Content-Digest of the tag's manifest, empty if absent.
registry_digest() {
  curl -sfI -m 5 \
    -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$REGISTRY/v2/$1/manifests/$2" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}' || true
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/monitoring-test-images.XXXXXX")
VERIFY_CONTAINER=""
cleanup() {
  [ -z "$VERIFY_CONTAINER" ] || docker rm -fv "$VERIFY_CONTAINER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# put SRC DEST_IN_ROOTFS [MODE]: copy a file, following symlinks. Hard-links
# it instead (fast, no space) when it already has the wanted mode: a chmod on
# a hard link would change the source too.
put() {
  local src=$1 dst="$ROOTFS/${2#/}" mode=${3:-}
  mkdir -p "$(dirname "$dst")"
  if [ -z "$mode" ] || [ "$(stat -Lc %a "$src")" = "${mode#0}" ]; then
    cp -lL "$src" "$dst" 2>/dev/null || cp -L "$src" "$dst"
  else
    cp -L "$src" "$dst"
    chmod "$mode" "$dst"
  fi
}
# put_libs BINARY: the shared objects ldd lists, at the same paths.
put_libs() {
  local lib
  while read -r lib; do
    [ -n "$lib" ] || continue
    [ -e "$ROOTFS$lib" ] || put "$lib" "$lib"
  done < <(ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^[[:space:]]*\//{print $1}')
}
# new_context NAME: a fresh build context with the files every image has.
new_context() {
  CTX="$WORK/$1"
  ROOTFS="$CTX/rootfs"
  rm -rf "$CTX"
  mkdir -p "$ROOTFS/bin" "$ROOTFS/etc/ssl/certs" "$ROOTFS/tmp" "$CTX/owned"
  chmod 1777 "$ROOTFS/tmp"
  put "$BUSYBOX" /bin/busybox 0755
  ln -s busybox "$ROOTFS/bin/sh"
  ln -s busybox "$ROOTFS/bin/wget"
  # `hostname -i`: the Alertmanager entrypoint of stack.toml reads the task's
  # address with it, as in the busybox-based upstream image.
  ln -s busybox "$ROOTFS/bin/hostname"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$ROOTFS/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$ROOTFS/etc/group"
  # Go binaries built with cgo: keep name lookups on the Go resolver/files.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$ROOTFS/etc/nsswitch.conf"
  put /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt 0644
}

# image definitions ------------------------------------------------------------
# Each ctx_<name> fills $ROOTFS (owned by root in the image) and sets:
#   VERSION PORT HEALTH_PATH, DOCKERFILE_TAIL (USER/EXPOSE/ENTRYPOINT/...),
#   OWNED_DIRS: dirs under $CTX/owned copied owned by nobody (65534).
ctx_prometheus() {
  VERSION=$(tool_version prometheus) PORT=9090 HEALTH_PATH=/-/healthy
  put "$BIN/prometheus" /bin/prometheus 0755
  put "$BIN/promtool" /bin/promtool 0755
  put_libs "$BIN/prometheus"
  put_libs "$BIN/promtool"
  local ui="$TOOLS_DIR/root/prometheus/usr/share/prometheus/web/no-ui/index.html"
  [ ! -f "$ui" ] || put "$ui" /usr/share/prometheus/web/no-ui/index.html 0644
  OWNED_DIRS="/etc/prometheus /prometheus"
  mkdir -p "$CTX/owned/etc/prometheus" "$CTX/owned/prometheus"
  cat >"$CTX/owned/etc/prometheus/prometheus.yml" <<'EOF'
# Default config of the monitoring-test image: scrape itself only.
global:
  scrape_interval: 15s
  evaluation_interval: 15s
scrape_configs:
  - job_name: prometheus
    static_configs:
      - targets: ["127.0.0.1:9090"]
EOF
  DOCKERFILE_TAIL='USER 65534:65534
EXPOSE 9090
VOLUME ["/prometheus"]
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
}

ctx_alertmanager() {
  VERSION=$(tool_version alertmanager) PORT=9093 HEALTH_PATH=/-/healthy
  put "$BIN/alertmanager" /bin/alertmanager 0755
  put "$BIN/amtool" /bin/amtool 0755
  put_libs "$BIN/alertmanager"
  put_libs "$BIN/amtool"
  # Debian's build reads its UI/templates from here.
  local share="$TOOLS_DIR/root/prometheus-alertmanager/usr/share/prometheus/alertmanager" f
  if [ -d "$share" ]; then
    while read -r f; do
      put "$share/$f" "/usr/share/prometheus/alertmanager/$f" 0644
    done < <(cd "$share" && find . -type f | sed 's|^\./||')
  fi
  OWNED_DIRS="/etc/alertmanager /alertmanager"
  mkdir -p "$CTX/owned/etc/alertmanager" "$CTX/owned/alertmanager"
  cat >"$CTX/owned/etc/alertmanager/alertmanager.yml" <<'EOF'
# Default config of the monitoring-test image: one receiver that does nothing.
route:
  receiver: default
  group_by: [alertname]
receivers:
  - name: default
EOF
  DOCKERFILE_TAIL='USER 65534:65534
EXPOSE 9093
VOLUME ["/alertmanager"]
WORKDIR /alertmanager
ENTRYPOINT ["/bin/alertmanager"]
CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager"]'
}

ctx_node-exporter() {
  VERSION=$(tool_version node_exporter) PORT=9100 HEALTH_PATH=/metrics
  put "$BIN/node_exporter" /bin/node_exporter 0755
  put_libs "$BIN/node_exporter"
  DOCKERFILE_TAIL='USER 65534:65534
EXPOSE 9100
ENTRYPOINT ["/bin/node_exporter"]'
}

ctx_postgres-exporter() {
  VERSION=$(tool_version postgres_exporter) PORT=9187 HEALTH_PATH=/metrics
  put "$BIN/postgres_exporter" /bin/postgres_exporter 0755
  put_libs "$BIN/postgres_exporter"
  DOCKERFILE_TAIL='USER 65534:65534
EXPOSE 9187
ENTRYPOINT ["/bin/postgres_exporter"]'
}

ctx_nginx-exporter() {
  VERSION=$(tool_version nginx_exporter) PORT=9113 HEALTH_PATH=/metrics
  put "$BIN/nginx_exporter" /usr/bin/nginx-prometheus-exporter 0755
  put_libs "$BIN/nginx_exporter"
  DOCKERFILE_TAIL='USER 1001:1001
EXPOSE 9113
ENTRYPOINT ["/usr/bin/nginx-prometheus-exporter"]'
}

ctx_haproxy() {
  VERSION=$(tool_version haproxy) PORT=8080 HEALTH_PATH=/healthz
  put "$BIN/haproxy" /usr/local/sbin/haproxy 0755
  put_libs "$BIN/haproxy"
  # The Docker API proxy's health check talks HTTP over its unix socket.
  local socat
  socat=$(command -v socat) || die "socat missing: apt-get install socat (scripts/install-tools.sh)"
  put "$socat" /usr/bin/socat 0755
  put_libs "$socat"
  ln -s ../../bin/busybox "$ROOTFS/usr/bin/grep"
  ln -s ../../bin/busybox "$ROOTFS/usr/bin/printf"
  # Upstream's user (uid/gid 99) and directories.
  printf 'haproxy:x:99:99:haproxy:/var/lib/haproxy:/bin/false\n' >>"$ROOTFS/etc/passwd"
  printf 'haproxy:x:99:\n' >>"$ROOTFS/etc/group"
  mkdir -p "$ROOTFS/usr/local/etc/haproxy" "$ROOTFS/var/lib/haproxy"
  cat >"$ROOTFS/usr/local/etc/haproxy/haproxy.cfg" <<'EOF2'
# Default config of the monitoring-test image: answers 200 on :8080.
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s
frontend probe
    bind :8080
    http-request return status 200 content-type text/plain string ok
EOF2
  DOCKERFILE_TAIL='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
USER 99:99
WORKDIR /var/lib/haproxy
STOPSIGNAL SIGUSR1
ENTRYPOINT ["/usr/local/sbin/haproxy", "-db"]
CMD ["-f", "/usr/local/etc/haproxy/haproxy.cfg"]'
}

# lock_field NAME KEY: a value of the [[image]] NAME in stack/images.lock.
lock_field() {
  awk -v n="name = \"$1\"" -v k="$2" '$0=="[[image]]"{f=0} $0==n{f=1} f && $1==k{gsub(/"/,"",$3); print $3; exit}' \
    "$REPO_ROOT/stack/images.lock"
}

ctx_swarm-exporter() {
  VERSION=$(lock_field swarm-exporter tag) PORT=9324 HEALTH_PATH=/metrics
  LOCK_INPUTS=$(lock_field swarm-exporter inputs)
  [ -n "$LOCK_INPUTS" ] || die "stack/images.lock has no inputs for swarm-exporter (cargo xtask pin --image swarm-exporter)"
  local target=${CARGO_TARGET_DIR:-$REPO_ROOT/target} build_log="$WORK/swarm-exporter.cargo.log"
  command -v cargo >/dev/null || die "cargo missing: install the Rust toolchain (rustup)"
  if ! (cd "$REPO_ROOT" && cargo build --locked -p swarm-exporter >"$build_log" 2>&1); then
    cat "$build_log" >&2
    die "swarm-exporter: cargo build failed"
  fi
  put "$target/debug/swarm-exporter" /bin/swarm-exporter 0755
  # Debug info only makes the image big; the code is the tests' own build.
  strip --strip-debug "$ROOTFS/bin/swarm-exporter"
  put_libs "$target/debug/swarm-exporter"
  # Started without an engine, it must still serve /metrics (engine_up 0);
  # a unix socket that does not exist would stop it at start.
  VERIFY_RUN_OPTS="-e DOCKER_HOST=tcp://127.0.0.1:9"
  # As the flake's image: nobody, the binary as entrypoint.
  DOCKERFILE_TAIL='USER 65534:65534
EXPOSE 9324
ENTRYPOINT ["/bin/swarm-exporter"]'
}

ctx_probe() {
  VERSION=$({ "$BUSYBOX" --help 2>&1 || true; } | sed -n '1s/^BusyBox v\([0-9][0-9.]*\).*/\1/p')
  PORT="" HEALTH_PATH=""
  local applet
  # All applets (sleep, nc, httpd, ...), so tests can script any behaviour.
  while read -r applet; do
    [ -e "$ROOTFS/bin/$applet" ] || ln -s busybox "$ROOTFS/bin/$applet"
  done < <("$BUSYBOX" --list)
  DOCKERFILE_TAIL='ENTRYPOINT ["/bin/sh"]
CMD ["-c", "trap '\''exit 0'\'' TERM INT; while :; do sleep 1; done"]'
}

# build / verify / push --------------------------------------------------------
verify() { # verify NAME REF PORT PATH
  local name=$1 ref=$2 port=$3 path=$4 cname="monitoring-test-verify-$1-$$" i out state
  VERIFY_CONTAINER=$cname
  if [ -z "$port" ]; then # probe: sh must run commands and stop on SIGTERM
    out=$(timeout 30 docker run --rm --network none "$ref" -c 'wget --help >/dev/null 2>&1; echo probe-ok') ||
      die "$name: 'sh -c' did not run in $ref"
    [ "$out" = probe-ok ] || die "$name: unexpected output '$out'"
    docker run -d --name "$cname" --network none "$ref" >/dev/null
    sleep 1
    timeout 15 docker stop -t 10 "$cname" >/dev/null
    [ "$(docker inspect -f '{{.State.ExitCode}}' "$cname")" = 0 ] || die "$name: default command did not exit 0 on SIGTERM"
    docker rm -fv "$cname" >/dev/null
    VERIFY_CONTAINER=""
    log "verified $name: 'sh -c' runs, the default command idles and stops on SIGTERM"
    return 0
  fi
  # shellcheck disable=SC2086 # VERIFY_RUN_OPTS is a list of options
  docker run -d --name "$cname" ${VERIFY_RUN_OPTS:-} "$ref" >/dev/null
  for ((i = 0; i < VERIFY_WAIT; i++)); do
    state=$(docker inspect -f '{{.State.Status}}' "$cname" 2>/dev/null || echo gone)
    if [ "$state" != running ]; then
      docker logs "$cname" 2>&1 | tail -n 30 >&2 || true
      die "$name: container is '$state' instead of running (logs above)"
    fi
    if out=$(docker exec "$cname" wget -qO- "http://127.0.0.1:$port$path" 2>/dev/null); then
      docker rm -fv "$cname" >/dev/null
      VERIFY_CONTAINER=""
      log "verified $name: http://127.0.0.1:$port$path answered inside the container after ${i}s ($(printf '%s' "$out" | wc -c) bytes)"
      return 0
    fi
    sleep 1
  done
  docker logs "$cname" 2>&1 | tail -n 30 >&2 || true
  die "$name: http://127.0.0.1:$port$path did not answer within ${VERIFY_WAIT}s (logs above)"
}

IMAGES=(prometheus alertmanager node-exporter postgres-exporter nginx-exporter haproxy probe swarm-exporter)
declare -A R_REF=() R_DIGEST=() R_VERSION=() R_PORT=() R_PATH=() R_INPUTS=() R_LOCK_INPUTS=()
for name in "${IMAGES[@]}"; do
  t0=$(now)
  new_context "$name"
  OWNED_DIRS="" LOCK_INPUTS="" VERIFY_RUN_OPTS=""
  "ctx_$name"
  [ -n "$VERSION" ] || die "$name: no version found (run scripts/install-tools.sh)"
  {
    echo "FROM scratch"
    echo "COPY rootfs/ /"
    for d in $OWNED_DIRS; do
      echo "COPY --chown=65534:65534 owned$d/ $d/"
    done
    echo "$DOCKERFILE_TAIL"
  } >"$CTX/Dockerfile"
  # Hash of everything that goes into the image (content, modes, links, Dockerfile).
  inputs=$(tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$CTX" -cf - . | sha256sum | cut -c1-64)
  printf 'LABEL org.opencontainers.image.title="%s" org.opencontainers.image.version="%s" io.monitoring-test.inputs="%s"\n' \
    "$name" "$VERSION" "$inputs" >>"$CTX/Dockerfile"

  repo="monitoring-test/$name"
  ref="$PREFIX/$name:$VERSION"
  prev_digest=$(previous "$name" digest)
  have_digest=$(registry_digest "$repo" "$VERSION")
  # A fresh clone has no test-images.toml: the local image (same inputs label)
  # and the registry (same digest) can still show that nothing changed.
  local_inputs=$(docker image inspect -f '{{index .Config.Labels "io.monitoring-test.inputs"}}' "$ref" 2>/dev/null || true)
  local_digests=" $(docker image inspect -f '{{join .RepoDigests " "}}' "$ref" 2>/dev/null || true) "
  if [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$(previous "$name" inputs)" = "$inputs" ] &&
    [ -n "$prev_digest" ] && [ "$have_digest" = "$prev_digest" ]; then
    log "up to date: $ref@$prev_digest"
    digest=$prev_digest
  elif [ "${FORCE_REBUILD:-0}" != 1 ] && [ "$local_inputs" = "$inputs" ] && [ -n "$have_digest" ] &&
    [[ "$local_digests" == *" $PREFIX/$name@$have_digest "* ]]; then
    log "up to date (local image and registry agree): $ref@$have_digest"
    digest=$have_digest
  else
    log "building $ref (classic builder, FROM scratch)"
    build_log="$WORK/$name.build.log"
    if ! docker build --pull=false -t "$ref" "$CTX" >"$build_log" 2>&1; then
      cat "$build_log" >&2
      die "$name: docker build failed"
    fi
    verify "$name" "$ref" "$PORT" "$HEALTH_PATH"
    push_log="$WORK/$name.push.log"
    if ! docker push "$ref" >"$push_log" 2>&1; then
      cat "$push_log" >&2
      die "$name: docker push $ref failed"
    fi
    digest=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' "$push_log" | tail -n1)
    have_digest=$(registry_digest "$repo" "$VERSION")
    [ -n "$digest" ] || digest=$have_digest
    [ -n "$digest" ] || die "$name: no digest from docker push nor from the registry"
    [ "$have_digest" = "$digest" ] ||
      warn "$name: push said $digest but the registry serves $have_digest"
    log "pushed $ref@$digest ($(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1/1e6}'), $(($(now) - t0))s)"
  fi
  R_REF[$name]=$ref R_DIGEST[$name]=$digest R_VERSION[$name]=$VERSION
  R_PORT[$name]=$PORT R_PATH[$name]=$HEALTH_PATH R_INPUTS[$name]=$inputs R_LOCK_INPUTS[$name]=$LOCK_INPUTS
  rm -rf "$CTX"
done

tmp_out=$(mktemp "$WORK/test-images.toml.XXXXXX")
{
  echo "# Generated by scripts/build-test-images.sh on $(date -u '+%FT%TZ'). Do not edit."
  echo "# Test images on the local registry (scripts/start-registry.sh), built FROM scratch"
  echo "# from the Debian binaries in .tools/bin; pull them by 'pinned'."
  echo
  echo "registry = $(toml_str "$REGISTRY")"
  for name in "${IMAGES[@]}"; do
    echo
    echo "[images.$name]"
    echo "reference = $(toml_str "${R_REF[$name]}")"
    echo "digest = $(toml_str "${R_DIGEST[$name]}")"
    echo "pinned = $(toml_str "${R_REF[$name]}@${R_DIGEST[$name]}")"
    echo "version = $(toml_str "${R_VERSION[$name]}")"
    if [ -n "${R_PORT[$name]}" ]; then
      echo "port = ${R_PORT[$name]}"
      echo "health_path = $(toml_str "${R_PATH[$name]}")"
    fi
    echo "inputs = $(toml_str "${R_INPUTS[$name]}")"
    if [ -n "${R_LOCK_INPUTS[$name]}" ]; then
      # A workspace-built image: tests pin it as images.lock does (tag and
      # inputs hash, no digest), so deploy resolves the tag.
      echo "lock_inputs = $(toml_str "${R_LOCK_INPUTS[$name]}")"
    fi
  done
} >"$tmp_out"
chmod 644 "$tmp_out"
mv "$tmp_out" "$OUT"

log "images (also in $OUT):"
for name in "${IMAGES[@]}"; do
  printf '  %s@%s\n' "${R_REF[$name]}" "${R_DIGEST[$name]}"
done
log "done in $(($(now) - started))s"
