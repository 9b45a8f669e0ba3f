#!/usr/bin/env bash
# Capture the metric catalog (stack/catalog/<source>.toml) from real binaries.
#
# Starts, on 127.0.0.1 only and on free non-default ports, in a temp dir:
#   * a throwaway PostgreSQL cluster (Debian's postgresql, run as `postgres`)
#     and postgres_exporter against it;
#   * nginx (Debian) with a `stub_status` location and nginx_exporter;
#   * node_exporter;
#   * Alertmanager (clustering off, as in stack/stack.toml) with a webhook
#     receiver pointing at a closed loopback port;
#   * the CNCF distribution registry (Debian's docker-registry) with its
#     debug server's Prometheus endpoint, an image pushed through it and
#     pulled back with curl on the registry API, so that the HTTP and
#     storage families have samples;
#   * when SPARK_HOME names a Spark 3.5 distribution (pip's pyspark has
#     one: `pip install pyspark==3.5.*`, with a Java 17 runtime), a
#     standalone master and worker and a PySpark driver with the settings the
#     README's platform section names, running one job that succeeds and one
#     whose task fails, so the master, worker, driver and executor families
#     have samples;
#   * Prometheus with --web.enable-remote-write-receiver, scraping all of the
#     above, evaluating a recording rule and an always-firing alert, sending
#     alerts to the Alertmanager and remote-writing to its own receiver, so
#     that the rule, notifier and remote-write metric families exist;
# then scrapes each /metrics twice and turns the exposition text into TOML
# with scripts/lib/exposition-to-catalog.py. It also checks that the series
# Prometheus synthesises (stack/catalog/synthetic.toml) really exist.
#
# The exporter binaries come from <repo>/.tools/bin (scripts/install-tools.sh,
# Debian forky); versions are what each binary reports, and the provenance
# says where they differ from the images pinned in stack/stack.toml.
#
# Idempotent (a catalog file whose metrics did not change is left untouched,
# capture date included), bounded (every wait has a limit; the whole run is
# killed after CAPTURE_TIMEOUT seconds, default 300), loopback only, and
# every process it starts is stopped by PID on exit, the temp dir removed.
#
# Environment:
#   TOOLS_BIN        where the binaries are (default <repo>/.tools/bin)
#   CATALOG_DIR      output dir (default <repo>/stack/catalog)
#   CAPTURE_TIMEOUT  overall limit in seconds (default 300)
#   KEEP_WORKDIR=1   keep the temp dir (scrapes, logs) for debugging
#   SPARK_HOME       a Spark 3.5 distribution: also capture stack/catalog/spark.toml
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_root

# Bound the whole run: re-exec under `timeout` once.
if [ -z "${CAPTURE_CATALOG_INNER:-}" ]; then
  export CAPTURE_CATALOG_INNER=1
  exec timeout --kill-after=10 "${CAPTURE_TIMEOUT:-300}" bash "$0" "$@"
fi

started=$(now)
TOOLS_BIN="${TOOLS_BIN:-$TOOLS_DIR/bin}"
CATALOG_DIR="${CATALOG_DIR:-$REPO_ROOT/stack/catalog}"
HELPER="$REPO_ROOT/scripts/lib/exposition-to-catalog.py"
TODAY=$(date -u +%Y-%m-%d)

for b in prometheus alertmanager node_exporter postgres_exporter nginx_exporter; do
  [ -x "$TOOLS_BIN/$b" ] || die "$TOOLS_BIN/$b missing: run scripts/install-tools.sh first"
done
command -v nginx >/dev/null || die "nginx missing (apt-get install nginx)"
command -v docker-registry >/dev/null || die "docker-registry missing (apt-get install docker-registry)"
command -v sha256sum >/dev/null || die "sha256sum missing"
PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
  die "PostgreSQL server missing (apt-get install postgresql)"
fi
id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql)"
command -v python3 >/dev/null || die "python3 missing"
command -v curl >/dev/null || die "curl missing"
mkdir -p "$CATALOG_DIR"

WORK=$(mktemp -d /tmp/capture-catalog.XXXXXX)
PIDS=()
PG_DATA=""
cleanup() {
  local rc=$? pid
  set +e
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -t 20 stop >/dev/null 2>&1
  fi
  if [ "${KEEP_WORKDIR:-0}" = 1 ]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback TCP port (the kernel picks it; never a well-known default).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
# start NAME CMD...: run in the background, log to $WORK/NAME.log, remember the PID.
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
}
http_ok() { curl -sf --max-time 3 -o /dev/null "$1"; }
wait_http() { # wait_http SECONDS NAME URL
  wait_for "$1" "$2" http_ok "$3" || { tail -n 30 "$WORK/$2.log" >&2 || true; die "$2 did not answer on $3 within $1 s"; }
}
version_of() { # the x.y.z a Prometheus-style binary reports
  "$1" --version 2>&1 | head -n1 | sed -nE 's/.*version ([0-9]+\.[0-9]+\.[0-9]+).*/\1/p'
}
pinned_tag() { # pinned_tag IMAGE_KEY: the tag stack/stack.toml pins
  awk -v k="[images.$1]" '$0==k{f=1;next} /^\[/{f=0} f&&/^tag *=/{gsub(/[" ]/,"",$0); sub(/^tag=/,"",$0); print; exit}' \
    "$REPO_ROOT/stack/stack.toml" 2>/dev/null || true
}
# provenance SOURCE_DESC VERSION IMAGE_KEY EXTRA
provenance() {
  local desc=$1 ver=$2 key=$3 extra=${4:-} tag note
  tag=$(pinned_tag "$key")
  if [ -z "$tag" ]; then
    note="no pinned image found in stack/stack.toml"
  elif [ "${tag#v}" = "$ver" ]; then
    note="same version as the pinned image $key:$tag"
  else
    note="NOTE: the stack pins $key:$tag; names were taken from $ver (Debian forky), so metrics added or removed between the two are not reflected"
  fi
  printf 'captured on %s by scripts/capture-catalog.sh from /metrics of %s %s (Debian forky)%s; %s' \
    "$TODAY" "$desc" "$ver" "$extra" "$note"
}

P_PG=$(free_port); P_PGX=$(free_port); P_NGINX=$(free_port); P_NGX=$(free_port)
P_NODE=$(free_port); P_AM=$(free_port); P_PROM=$(free_port); P_DEAD=$(free_port)
P_REG=$(free_port); P_REGD=$(free_port)
P_SPM=$(free_port); P_SPMU=$(free_port); P_SPWU=$(free_port); P_SPDU=$(free_port)
log "workdir $WORK; ports: postgres $P_PG, postgres_exporter $P_PGX, nginx $P_NGINX, nginx_exporter $P_NGX, node_exporter $P_NODE, alertmanager $P_AM, prometheus $P_PROM"

# ---------------------------------------------------------------- PostgreSQL
PG_VER=$("$PG_BIN/postgres" --version | awk '{print $3}')
PG_DATA="$WORK/pg/data"
mkdir -p "$WORK/pg/sock"
chmod 755 "$WORK"
chown -R postgres: "$WORK/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" --auth=trust -U postgres -E UTF8 --locale=C.UTF-8 \
  >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/pg/postgres.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -p $P_PG -c unix_socket_directories=$WORK/pg/sock" start >/dev/null \
  || { cat "$WORK/pg/postgres.log" >&2; die "PostgreSQL did not start"; }
psql_run() { runuser -u postgres -- "$PG_BIN/psql" -X -q -h 127.0.0.1 -p "$P_PG" -U postgres -v ON_ERROR_STOP=1 "$@"; }
# Some activity, so that per-table and per-database statistics have rows.
psql_run -d postgres -c "CREATE DATABASE etl;" >/dev/null
psql_run -d etl -c "CREATE TABLE jobs (id serial PRIMARY KEY, name text); INSERT INTO jobs (name) SELECT 'job' || g FROM generate_series(1, 100) g; UPDATE jobs SET name = name || 'x' WHERE id < 10; DELETE FROM jobs WHERE id > 90; SELECT count(*) FROM jobs; ANALYZE jobs;" >/dev/null
start postgres_exporter env DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$P_PG/postgres?sslmode=disable" \
  "$TOOLS_BIN/postgres_exporter" --web.listen-address="127.0.0.1:$P_PGX" --log.level=warn

# ---------------------------------------------------------------- nginx
mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  server {
    listen 127.0.0.1:$P_NGINX;
    location = /stub_status { stub_status; }
    location / { return 200 "ok\n"; }
  }
}
EOF
NGINX_VER=$(nginx -v 2>&1 | sed -nE 's#.*nginx/([0-9.]+).*#\1#p')
start nginx nginx -p "$WORK/nginx" -e "$WORK/nginx/logs/error.log" -c "$WORK/nginx/nginx.conf"
wait_http 20 nginx "http://127.0.0.1:$P_NGINX/stub_status"
start nginx_exporter "$TOOLS_BIN/nginx_exporter" --nginx.scrape-uri="http://127.0.0.1:$P_NGINX/stub_status" \
  --web.listen-address="127.0.0.1:$P_NGX" --log.level=warn

# ---------------------------------------------------------------- registry
# The debug server (http.debug) serves /metrics only with
# http.debug.prometheus.enabled; the HTTP families are registered per route
# at start, the storage ones on the first driver call (registry/handlers/app.go
# and registry/storage/driver/base/base.go at v2.8.x).
mkdir -p "$WORK/registry/data"
cat >"$WORK/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry/data
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$P_REG
  debug:
    addr: 127.0.0.1:$P_REGD
    prometheus:
      enabled: true
      path: /metrics
EOF
REG_VER=$(docker-registry --version 2>&1 | sed -nE 's/.* v?([0-9]+\.[0-9]+\.[0-9]+).*/\1/p' | head -n1)
start registry docker-registry serve "$WORK/registry/config.yml"
wait_http 20 registry "http://127.0.0.1:$P_REG/v2/"
# Push one layer and a manifest through the API, pull both back, ask for a
# missing manifest (a 404) and list the catalog and tags.
reg_push_pull() {
  local base="http://127.0.0.1:$P_REG/v2/capture/probe" layer cfg ld cd ls cs loc man
  layer="$WORK/registry/layer.bin"; cfg="$WORK/registry/config.json"; man="$WORK/registry/manifest.json"
  head -c 4096 /dev/urandom >"$layer"
  printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' >"$cfg"
  ld="sha256:$(sha256sum "$layer" | cut -d' ' -f1)"; ls=$(stat -c %s "$layer")
  cd="sha256:$(sha256sum "$cfg" | cut -d' ' -f1)"; cs=$(stat -c %s "$cfg")
  for blob in "$layer:$ld" "$cfg:$cd"; do
    loc=$(curl -sf --max-time 10 -X POST -D - -o /dev/null "$base/blobs/uploads/" | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
    [ -n "$loc" ] || return 1
    case "$loc" in http*) ;; *) loc="http://127.0.0.1:$P_REG$loc" ;; esac
    curl -sf --max-time 10 -X PATCH -H 'Content-Type: application/octet-stream' --data-binary "@${blob%%:sha256*}" \
      -D "$WORK/registry/patch.h" -o /dev/null "$loc" || return 1
    loc=$(tr -d '\r' <"$WORK/registry/patch.h" | sed -n 's/^[Ll]ocation: //p')
    case "$loc" in http*) ;; *) loc="http://127.0.0.1:$P_REG$loc" ;; esac
    case "$loc" in *\?*) loc="$loc&digest=${blob#*:}" ;; *) loc="$loc?digest=${blob#*:}" ;; esac
    curl -sf --max-time 10 -X PUT -o /dev/null "$loc" || return 1
  done
  printf '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%s,"digest":"%s"},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":%s,"digest":"%s"}]}' \
    "$cs" "$cd" "$ls" "$ld" >"$man"
  curl -sf --max-time 10 -X PUT -H 'Content-Type: application/vnd.docker.distribution.manifest.v2+json' \
    --data-binary "@$man" -o /dev/null "$base/manifests/v1" || return 1
  curl -sf --max-time 10 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' -o /dev/null "$base/manifests/v1" || return 1
  curl -sf --max-time 10 -o /dev/null "$base/blobs/$ld" || return 1
  curl -sf --max-time 10 -o /dev/null "$base/tags/list" || return 1
  curl -sf --max-time 10 -o /dev/null "http://127.0.0.1:$P_REG/v2/_catalog" || return 1
  curl -s --max-time 10 -o /dev/null "$base/manifests/missing" || true
}
reg_push_pull || die "pushing/pulling through the registry on 127.0.0.1:$P_REG failed"

# ---------------------------------------------------------------- spark (optional)
# The PrometheusServlet sinks of the README's metrics.properties; the driver
# with spark.metrics.namespace=spark, spark.ui.prometheus.enabled and
# spark.metrics.appStatusSource.enabled. Spark prints no `# TYPE` lines, so
# every family is untyped. The paths answer with a redirect to the same path
# with a trailing slash, which curl (-L) and Prometheus' scraper follow.
SPARK_VER=""
if [ -n "${SPARK_HOME:-}" ]; then
  command -v java >/dev/null || die "SPARK_HOME is set but java is missing"
  SPARK_PY=${SPARK_PYTHON:-python3}
  mkdir -p "$WORK/spark/conf" "$WORK/spark/work"
  cat >"$WORK/spark/conf/metrics.properties" <<'EOF'
*.sink.prometheusServlet.class=org.apache.spark.metrics.sink.PrometheusServlet
*.sink.prometheusServlet.path=/metrics/prometheus
master.sink.prometheusServlet.path=/metrics/master/prometheus
EOF
  export SPARK_CONF_DIR="$WORK/spark/conf" SPARK_LOCAL_IP=127.0.0.1 SPARK_WORKER_DIR="$WORK/spark/work" \
    SPARK_LOG_DIR="$WORK/spark" PYSPARK_PYTHON="$SPARK_PY"
  start spark-master "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$P_SPM" --webui-port "$P_SPMU"
  wait_http 60 spark-master "http://127.0.0.1:$P_SPMU/"
  start spark-worker "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --webui-port "$P_SPWU" --cores 2 --memory 1g "spark://127.0.0.1:$P_SPM"
  wait_http 60 spark-worker "http://127.0.0.1:$P_SPWU/"
  cat >"$WORK/spark/app.py" <<EOF
import time
from pyspark.sql import SparkSession
spark = (SparkSession.builder.master("spark://127.0.0.1:$P_SPM").appName("capture")
    .config("spark.ui.port", "$P_SPDU").config("spark.port.maxRetries", "0")
    .config("spark.metrics.namespace", "spark").config("spark.ui.prometheus.enabled", "true")
    .config("spark.metrics.appStatusSource.enabled", "true")
    .config("spark.executor.memory", "512m").config("spark.task.maxFailures", "2").getOrCreate())
sc = spark.sparkContext
sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum()
def fail_one(x):
    if x == 3:
        raise ValueError("a failing task, on purpose")
    return x
try:
    sc.parallelize(range(8), 4).map(fail_one).collect()
except Exception:
    pass
open("$WORK/spark/ready", "w").close()
time.sleep(120)
EOF
  start spark-driver "$SPARK_PY" "$WORK/spark/app.py"
  wait_for 180 "the Spark driver's jobs" test -f "$WORK/spark/ready" || { tail -n 30 "$WORK/spark-driver.log" >&2; die "the Spark driver did not finish its jobs"; }
  sleep 3
  for s in master:$P_SPMU/metrics/master/prometheus worker:$P_SPWU/metrics/prometheus \
    driver:$P_SPDU/metrics/prometheus executors:$P_SPDU/metrics/executors/prometheus; do
    curl -sfL --max-time 10 -o "$WORK/spark-${s%%:*}.prom" "http://127.0.0.1:${s#*:}" || die "scraping Spark's ${s%%:*} failed"
  done
  # The version as the executors' summary reports it (spark_info).
  SPARK_VER=$(sed -nE 's/^spark_info[{].*version="([0-9]+[.][0-9]+[.][0-9]+)".*/\1/p' "$WORK/spark-executors.prom" | head -n1)
  [ -n "$SPARK_VER" ] || die "no spark_info in the executors' summary"
  cat "$WORK"/spark-{master,worker,driver,executors}.prom >"$WORK/spark.1.prom"
  cp "$WORK/spark.1.prom" "$WORK/spark.2.prom"
fi

# ---------------------------------------------------------------- node_exporter
# Debian's build enables the systemd collector and points the textfile
# collector at /var/lib/prometheus/node-exporter; upstream (the pinned image)
# has systemd off and no textfile directory. Run it the upstream way.
mkdir -p "$WORK/node-textfile"
start node_exporter "$TOOLS_BIN/node_exporter" --web.listen-address="127.0.0.1:$P_NODE" --log.level=warn \
  --no-collector.systemd --collector.textfile.directory="$WORK/node-textfile"

# ---------------------------------------------------------------- Alertmanager
mkdir -p "$WORK/am/data"
cat >"$WORK/am/alertmanager.yml" <<EOF
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1m
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:$P_DEAD/hook
        send_resolved: true
EOF
AM_CMD=("$TOOLS_BIN/alertmanager" --config.file="$WORK/am/alertmanager.yml"
  --storage.path="$WORK/am/data" --web.listen-address="127.0.0.1:$P_AM" --cluster.listen-address= --log.level=warn)
# Debian's alertmanager reads its default template from the hard-coded
# /usr/share/prometheus/alertmanager/default.tmpl. Without the package
# installed that file is missing, so overlay it onto /usr/share in a private
# mount namespace of the alertmanager process only (the host is untouched).
AM_TMPL="/usr/share/prometheus/alertmanager/default.tmpl"
if [ -f "$AM_TMPL" ]; then
  start alertmanager "${AM_CMD[@]}"
else
  am_share="$(dirname "$(readlink -f "$TOOLS_BIN/alertmanager")")/../share/prometheus/alertmanager"
  [ -f "$am_share/default.tmpl" ] || die "no default.tmpl next to $TOOLS_BIN/alertmanager ($am_share)"
  mkdir -p "$WORK/am/share/prometheus/alertmanager"
  cp "$am_share"/*.tmpl "$WORK/am/share/prometheus/alertmanager/"
  # shellcheck disable=SC2016 # $1 and $@ belong to the inner sh
  start alertmanager unshare --mount --propagation private sh -c \
    'mount -t overlay overlay -o "lowerdir=$1:/usr/share" /usr/share && shift && exec "$@"' \
    sh "$WORK/am/share" "${AM_CMD[@]}"
fi

# ---------------------------------------------------------------- Prometheus
mkdir -p "$WORK/prom/data"
cat >"$WORK/prom/rules.yml" <<'EOF'
groups:
  - name: capture
    interval: 1s
    rules:
      - record: capture:up:sum
        expr: sum(up)
      - alert: CaptureAlwaysFiring
        expr: vector(1)
        labels: {severity: none}
      - alert: CapturePending
        expr: vector(1)
        for: 1h
EOF
cat >"$WORK/prom/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
  external_labels: {capture: remote-write-loop}
rule_files: [$WORK/prom/rules.yml]
alerting:
  alertmanagers:
    - static_configs: [{targets: ["127.0.0.1:$P_AM"]}]
remote_write:
  - url: http://127.0.0.1:$P_PROM/api/v1/write
    name: self
    queue_config: {batch_send_deadline: 1s}
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$P_PROM"]}]
  - job_name: alertmanager
    static_configs: [{targets: ["127.0.0.1:$P_AM"]}]
  - job_name: node
    static_configs: [{targets: ["127.0.0.1:$P_NODE"]}]
  - job_name: postgres
    static_configs: [{targets: ["127.0.0.1:$P_PGX"]}]
  - job_name: nginx
    static_configs: [{targets: ["127.0.0.1:$P_NGX"]}]
EOF
start prometheus "$TOOLS_BIN/prometheus" --config.file="$WORK/prom/prometheus.yml" \
  --storage.tsdb.path="$WORK/prom/data" --web.listen-address="127.0.0.1:$P_PROM" \
  --web.enable-remote-write-receiver --web.enable-lifecycle --log.level=warn \
  --rules.alert.resend-delay=1s # the first notification otherwise waits for the 1m default

wait_http 30 postgres_exporter "http://127.0.0.1:$P_PGX/metrics"
wait_http 30 nginx_exporter "http://127.0.0.1:$P_NGX/metrics"
wait_http 30 node_exporter "http://127.0.0.1:$P_NODE/metrics"
wait_http 30 alertmanager "http://127.0.0.1:$P_AM/-/ready"
wait_http 60 prometheus "http://127.0.0.1:$P_PROM/-/ready"

# Let a few scrape, rule, notification and remote-write cycles happen, and
# exercise the query and API paths so their families are populated.
prom_api() { curl -gsf --max-time 5 "http://127.0.0.1:$P_PROM/api/v1/$1"; }
# poll SECONDS DESCRIPTION PYTHON-CONDITION URL: until the JSON at URL, as `d`,
# satisfies the condition; on timeout, warn with the last answer.
poll_json() {
  local limit=$1 what=$2 cond=$3 url=$4 i body=""
  for ((i = 0; i < limit; i++)); do
    body=$(curl -gsf --max-time 3 "$url" 2>&1) || body="(no answer) $body"
    if printf '%s' "$body" | python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($cond) else 1)" 2>/dev/null; then
      return 0
    fi
    sleep 1
  done
  warn "$what: not seen within $limit s; last answer: ${body:0:400}"
  return 1
}
poll_json 30 "all 5 capture targets up" \
  '{r["metric"]["job"] for r in d["data"]["result"] if r["value"][1] == "1"} >= {"prometheus", "alertmanager", "node", "postgres", "nginx"}' \
  "http://127.0.0.1:$P_PROM/api/v1/query?query=up" || true
for _ in 1 2 3; do
  prom_api 'query?query=rate(prometheus_http_requests_total[1m])' >/dev/null || true
  prom_api "query_range?query=up&start=$(($(date +%s) - 60))&end=$(date +%s)&step=5" >/dev/null || true
  prom_api 'series?match[]=up' >/dev/null || true
  prom_api 'labels' >/dev/null || true
  curl -sf --max-time 5 "http://127.0.0.1:$P_AM/api/v2/alerts" >/dev/null || true
  sleep 2
done
poll_json 30 "alerts at the Alertmanager" 'len(d) > 0' "http://127.0.0.1:$P_AM/api/v2/alerts" || true
# ... and a failed webhook delivery (to the closed port) counted there.
am_failed() {
  curl -sf --max-time 3 "http://127.0.0.1:$P_AM/metrics" | grep -qE '^alertmanager_notifications_failed_total\{.*integration="webhook".*\} [1-9]'
}
wait_for 30 "a failed notification" am_failed || warn "no failed webhook notification counted by the Alertmanager"

# ---------------------------------------------------------------- scrape + write
scrape() { # scrape NAME URL: two scrapes, a few seconds apart
  curl -sf --max-time 10 -H 'Accept: text/plain;version=0.0.4' -o "$WORK/$1.1.prom" "$2" || die "scraping $1 at $2 failed"
}
scrape node "http://127.0.0.1:$P_NODE/metrics"
scrape postgres "http://127.0.0.1:$P_PGX/metrics"
scrape nginx "http://127.0.0.1:$P_NGX/metrics"
scrape registry "http://127.0.0.1:$P_REGD/metrics"
scrape alertmanager "http://127.0.0.1:$P_AM/metrics"
scrape prometheus "http://127.0.0.1:$P_PROM/metrics"
sleep 2
for s in node:$P_NODE postgres:$P_PGX nginx:$P_NGX registry:$P_REGD alertmanager:$P_AM prometheus:$P_PROM; do
  curl -sf --max-time 10 -H 'Accept: text/plain;version=0.0.4' -o "$WORK/${s%%:*}.2.prom" "http://127.0.0.1:${s#*:}/metrics" \
    || die "second scrape of ${s%%:*} failed"
done

NODE_VER=$(version_of "$TOOLS_BIN/node_exporter")
PGX_VER=$(version_of "$TOOLS_BIN/postgres_exporter")
NGX_VER=$(version_of "$TOOLS_BIN/nginx_exporter")
AM_VER=$(version_of "$TOOLS_BIN/alertmanager")
PROM_VER=$(version_of "$TOOLS_BIN/prometheus")

# Sources the OTel Collector scrapes (its prometheus receiver's job names,
# which equal the catalog source names) reach Prometheus renamed: the
# catalog marks them `ingestion = "otel-collector"`.
OTELCOL_YML="$REPO_ROOT/stack/configs/otel-collector/otelcol.yml"
COLLECTOR_JOBS=" $(sed -nE 's/^[[:space:]]*-?[[:space:]]*job_name:[[:space:]]*"?([A-Za-z0-9_.-]+)"?.*/\1/p' "$OTELCOL_YML" 2>/dev/null | tr '\n' ' ') "
log "sources the OTel Collector scrapes (from otelcol.yml):$COLLECTOR_JOBS"
write_catalog() { # write_catalog SOURCE VERSION PROVENANCE SCRAPE-NAME
  local ingestion=scrape
  case "$COLLECTOR_JOBS" in *" $1 "*) ingestion=otel-collector ;; esac
  python3 "$HELPER" --source "$1" --version "$2" --provenance "$3" --out "$CATALOG_DIR/$1.toml" \
    --ingestion "$ingestion" "$WORK/$4.1.prom" "$WORK/$4.2.prom"
}
write_catalog node-exporter "$NODE_VER" \
  "$(provenance prometheus-node-exporter "$NODE_VER" node-exporter ' with the upstream default collectors (the systemd collector, on by default in the Debian build, turned off) on a Debian bookworm host; collectors that find no hardware here (e.g. hwmon, nvme, infiniband) expose nothing')" node
write_catalog postgres-exporter "$PGX_VER" \
  "$(provenance prometheus-postgres-exporter "$PGX_VER" postgres-exporter " with its default collectors and default metrics, against PostgreSQL $PG_VER (Debian bookworm) on loopback")" postgres
write_catalog nginx-exporter "$NGX_VER" \
  "$(provenance prometheus-nginx-exporter "$NGX_VER" nginx-exporter " against nginx $NGINX_VER (Debian bookworm) stub_status on loopback")" nginx
# Not an image of this stack: the platform runs the registry (`registry:2`,
# distribution 2.8.3); Debian's 2.8.2 registers the same families (the v2.8.2..v2.8.3
# diff of metrics/, registry/handlers/app.go and registry/storage/ changes no
# metric).
write_catalog registry "$REG_VER" \
  "captured on $TODAY by scripts/capture-catalog.sh from the debug server's /metrics (http.debug.prometheus.enabled) of docker-registry $REG_VER (Debian, github.com/docker/distribution) after a push and pull through its API with the filesystem driver; the platform's registry:2 image is distribution 2.8.3, whose metric registrations are the same (git diff v2.8.2 v2.8.3 of metrics/, registry/handlers/app.go, registry/storage/)" registry
if [ -n "$SPARK_VER" ]; then
  write_catalog spark "$SPARK_VER" \
    "captured on $TODAY by scripts/capture-catalog.sh from Spark $SPARK_VER (the distribution SPARK_HOME names) in standalone mode with the README's settings: the master's /metrics/master/prometheus, a worker's /metrics/prometheus, and a PySpark driver's /metrics/prometheus (spark.metrics.namespace=spark, spark.metrics.appStatusSource.enabled=true) and /metrics/executors/prometheus (spark.ui.prometheus.enabled=true), after a job that succeeded and one with a failing task; Spark prints no # TYPE lines, so every family is untyped" spark
fi
write_catalog alertmanager "$AM_VER" \
  "$(provenance prometheus-alertmanager "$AM_VER" alertmanager ' with clustering off (--cluster.listen-address=, as deployed), one webhook receiver, alerts received from Prometheus')" alertmanager
write_catalog prometheus "$PROM_VER" \
  "$(provenance prometheus "$PROM_VER" prometheus ' with --web.enable-remote-write-receiver, a rule group, an Alertmanager and a remote_write queue to its own receiver')" prometheus

# ---------------------------------------------------------------- synthetic series
# The series Prometheus creates itself must exist in its TSDB.
missing=""
for s in up scrape_duration_seconds scrape_samples_scraped scrape_samples_post_metric_relabeling \
  scrape_series_added ALERTS ALERTS_FOR_STATE capture:up:sum; do
  n=$(prom_api "series?match[]=$s" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["data"]))')
  [ "$n" -gt 0 ] || missing="$missing $s"
done
[ -z "$missing" ] || die "series Prometheus should have synthesised are missing:$missing"
log "synthetic series present: up, scrape_*, ALERTS, ALERTS_FOR_STATE, a recording rule output"

log "done in $(($(now) - started)) s"
