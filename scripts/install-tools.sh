#!/usr/bin/env bash
# Install the real component binaries and the system tools the tests need.
#
#  * From Debian "forky" (testing), through a private apt sources list and
#    private lists/cache directories (the system's package set and its own
#    apt lists are NOT changed): the debs of prometheus, promtool,
#    prometheus-alertmanager, prometheus-node-exporter,
#    prometheus-postgres-exporter and prometheus-nginx-exporter. They are
#    unpacked with `dpkg -x` into a versioned cache directory and linked into
#    <repo>/.tools/bin under their upstream names:
#      prometheus promtool alertmanager amtool node_exporter
#      postgres_exporter nginx_exporter
#    <repo>/.tools/versions.toml records what each binary reports.
#  * From bookworm (the machine's own suite), the deb of haproxy, unpacked
#    the same way and linked as .tools/bin/haproxy: forky's haproxy is built
#    against glibc 2.38+ and does not run here; the libraries bookworm's
#    needs are in BOOKWORM_PACKAGES.
#  * From bookworm, with apt-get, only when missing: see BOOKWORM_PACKAGES.
#  * From PyPI, with pip into the venv <repo>/.tools/spark: PySpark
#    $SPARK_VERSION, a whole Spark distribution (master, worker, the
#    PrometheusServlet sink), run on bookworm's Java 17 by
#    xtask/tests/spark_live.rs; <repo>/.tools/spark-home links to it.
#  * From the npm registry, with `npm ci`: the locked packages of the
#    dashboard schema check (dashboards/schema-check/install.sh), npm's
#    cache in the cache root. Node.js and npm come from bookworm only when
#    the machine has no `node`/`npm` of its own.
#
# Idempotent: forky lists younger than a day are not refreshed, debs already
# downloaded and unpacked are reused.
#
# Environment:
#   MONITORING_TOOLS_CACHE  cache root (default /var/cache/monitoring-tools)
#   FORCE_FORKY_UPDATE=1    refresh the forky lists even if they are fresh
#   SKIP_SYSTEM_PACKAGES=1  do not apt-get install the bookworm packages
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
need_root
started=$(now)

# Packages from bookworm that scripts or tests need (installed only if missing).
#   busybox-static: sh + wget for health checks inside FROM-scratch images
#   nix-bin:        nix-instantiate / nix eval for the pure parts of the flake
#   docker-registry: local registry on 127.0.0.1:5000 (scripts/start-registry.sh)
#   nginx, postgresql: real targets for nginx-exporter and postgres-exporter
#   chromium:       headless screenshots of the dashboard previews (dashboards/tests/previews.rs)
#   liblua5.3-0, libopentracing-c-wrapper0: the libraries of bookworm's haproxy
#                   that the machine lacks (the deb itself is only unpacked)
#   socat:          the Docker API proxy's health check (the haproxy test image)
#   openjdk-17-jre-headless, python3-venv: Spark (PyPI's pyspark) for spark_live.rs
BOOKWORM_PACKAGES=(busybox-static nix-bin docker-registry nginx postgresql jq curl ca-certificates shellcheck chromium
  liblua5.3-0 libopentracing-c-wrapper0 socat openjdk-17-jre-headless python3-venv)
# The Spark the README's platform section is written for (3.5, the 3.x line
# still maintained); the catalog stack/catalog/spark.toml was captured from it.
SPARK_VERSION=3.5.9

# binary name | package | path inside the deb | expected major.minor | strict [| version flag]
# strict=yes: a different major.minor is called out loudly (still a warning).
# The version flag defaults to --version (haproxy has only -v).
COMPONENTS=(
  "prometheus|prometheus|usr/bin/prometheus|3.5|yes"
  "promtool|promtool|usr/bin/promtool|3.5|yes"
  "alertmanager|prometheus-alertmanager|usr/bin/prometheus-alertmanager|0.33|yes"
  "amtool|prometheus-alertmanager|usr/bin/amtool|0.33|yes"
  "node_exporter|prometheus-node-exporter|usr/bin/prometheus-node-exporter|1.11|no"
  "postgres_exporter|prometheus-postgres-exporter|usr/bin/prometheus-postgres-exporter|0.19|no"
  "nginx_exporter|prometheus-nginx-exporter|usr/bin/prometheus-nginx-exporter|1.5|no"
  "haproxy|haproxy|usr/sbin/haproxy|2.6|no|-v"
)
FORKY_PACKAGES=(prometheus promtool prometheus-alertmanager prometheus-node-exporter
  prometheus-postgres-exporter prometheus-nginx-exporter)
# promtool may one day be folded back into the prometheus package.
OPTIONAL_PACKAGES=" promtool "

CACHE_ROOT="${MONITORING_TOOLS_CACHE:-/var/cache/monitoring-tools}"
FORKY="$CACHE_ROOT/forky"
mkdir -p "$FORKY/lists/partial" "$FORKY/apt-cache/archives/partial" "$FORKY/debs" \
  "$FORKY/x" "$FORKY/preferences.d" "$TOOLS_DIR/bin" "$TOOLS_DIR/root"

# One run at a time per cache (two clones may share it).
exec 9>"$FORKY/lock"
if ! flock -w 600 9; then
  die "another install-tools.sh holds $FORKY/lock for more than 10 minutes"
fi

# ---------------------------------------------------------------- bookworm
if [ "${SKIP_SYSTEM_PACKAGES:-0}" = 1 ]; then
  log "SKIP_SYSTEM_PACKAGES=1: not installing bookworm packages"
else
  apt_install_missing "${BOOKWORM_PACKAGES[@]}"
fi

# unpack_deb DEB DIR: DEB's files under DIR, once (DIR/.complete marks a
# whole unpack; a half-done one is redone).
unpack_deb() {
  local deb=$1 xdir=$2
  [ ! -e "$xdir/.complete" ] || return 0
  log "unpack   $(basename "$deb") -> $xdir"
  rm -rf "$xdir.tmp" "$xdir"
  mkdir -p "$xdir.tmp"
  dpkg -x "$deb" "$xdir.tmp"
  touch "$xdir.tmp/.complete"
  mv "$xdir.tmp" "$xdir"
}

# ---------------------------------------------------------------- forky
mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1=="deb" && $0 !~ /security/ {for(i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' \
    /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || die "cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources"
# Only the Packages index: no translations, no DEP-11 metadata.
want_sources="deb [target=Packages] $mirror forky main"
if [ "$(cat "$FORKY/sources.list" 2>/dev/null || true)" != "$want_sources" ]; then
  echo "$want_sources" >"$FORKY/sources.list"
  rm -f "$FORKY/lists.updated" # mirror changed: lists are not fresh
fi

APT_FORKY=(
  -o "Dir::Etc::sourcelist=$FORKY/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::Etc::preferencesparts=$FORKY/preferences.d"
  -o "Dir::Etc::preferences=$FORKY/preferences"
  -o "Dir::State::Lists=$FORKY/lists"
  -o "Dir::Cache=$FORKY/apt-cache"
  -o "APT::Sandbox::User=root"
  -o "Acquire::Languages=none"
  -o "Acquire::Retries=3"
)

# Freshness is our own stamp, touched after each successful update: apt keeps
# the InRelease file's old mtime when the archive answers "not modified".
STAMP="$FORKY/lists.updated"
inrelease=$(find "$FORKY/lists" -maxdepth 1 -name '*forky_InRelease' 2>/dev/null | head -n1)
if [ -n "$inrelease" ] && file_age_ok "$STAMP" 1440 && [ "${FORCE_FORKY_UPDATE:-0}" != 1 ]; then
  log "forky lists are fresh (updated $(date -r "$STAMP" '+%F %T')): no update"
else
  log "apt-get update for forky (private lists in $FORKY/lists)"
  if apt-get "${APT_FORKY[@]}" update -qq; then
    touch "$STAMP"
  else
    if [ -n "$inrelease" ]; then
      warn "forky update failed; going on with the older lists (updated $(date -r "$STAMP" '+%F %T' 2>/dev/null || echo '?'))"
    else
      die "apt-get update for forky failed and there are no earlier lists (is the archive reachable? is forky signed by a key bookworm's debian-archive-keyring knows?)"
    fi
  fi
fi

# The versions forky offers (one apt-cache call: each call re-reads the lists).
declare -A CANDIDATE=()
while read -r p v; do
  CANDIDATE[$p]=$v
done < <(apt-cache "${APT_FORKY[@]}" show --no-all-versions "${FORKY_PACKAGES[@]}" 2>/dev/null |
  awk '/^Package:/{p=$2} /^Version:/{print p, $2}')

# deb_for PKG VERSION: path of a cached deb with that exact version, if any.
deb_for() {
  local f
  for f in "$FORKY"/debs/"$1"_*.deb; do
    [ -e "$f" ] || continue
    if [ "$(dpkg-deb -f "$f" Package)" = "$1" ] && [ "$(dpkg-deb -f "$f" Version)" = "$2" ]; then
      echo "$f"
      return 0
    fi
  done
  return 1
}

declare -A PKG_VERSION=() PKG_ROOT=()
for pkg in "${FORKY_PACKAGES[@]}"; do
  ver=${CANDIDATE[$pkg]:-}
  if [ -z "$ver" ]; then
    if [[ "$OPTIONAL_PACKAGES" == *" $pkg "* ]]; then
      warn "forky has no package '$pkg' any more; looking for its binary in the other packages"
      continue
    fi
    die "forky has no package '$pkg' (testing moved on?)"
  fi
  PKG_VERSION[$pkg]=$ver
  if deb=$(deb_for "$pkg" "$ver"); then
    log "cached   $pkg $ver"
  else
    log "download $pkg $ver"
    (cd "$FORKY/debs" && apt-get "${APT_FORKY[@]}" download -qq "$pkg=$ver")
    deb=$(deb_for "$pkg" "$ver") || die "download of $pkg $ver gave no deb in $FORKY/debs"
    # Drop the debs of older versions of this package.
    for old in "$FORKY"/debs/"$pkg"_*.deb; do
      if [ "$old" != "$deb" ] && [ "$(dpkg-deb -f "$old" Package 2>/dev/null)" = "$pkg" ]; then
        log "remove   older $(basename "$old")"
        rm -f "$old"
      fi
    done
  fi
  xdir="$FORKY/x/${pkg}_${ver//[^A-Za-z0-9.+-]/_}"
  unpack_deb "$deb" "$xdir"
  PKG_ROOT[$pkg]=$xdir
  ln -sfn "$xdir" "$TOOLS_DIR/root/$pkg"
done

# ---------------------------------------------------------------- bookworm debs
# Unpacked like the forky ones, from the system's own (bookworm) lists.
BOOKWORM_DEBS=(haproxy)
BOOKWORM="$CACHE_ROOT/bookworm"
mkdir -p "$BOOKWORM/debs" "$BOOKWORM/x"
if [ "${SKIP_SYSTEM_PACKAGES:-0}" != 1 ]; then
  apt_update_system_if_stale
fi
declare -A PKG_SUITE=()
for pkg in "${FORKY_PACKAGES[@]}"; do PKG_SUITE[$pkg]=forky; done
for pkg in "${BOOKWORM_DEBS[@]}"; do
  ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/{print $2; exit}')
  [ -n "$ver" ] || die "bookworm has no package '$pkg' (apt-get update?)"
  deb=$(find "$BOOKWORM/debs" -maxdepth 1 -name "${pkg}_*.deb" 2>/dev/null |
    while read -r f; do [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] && echo "$f"; done | head -n1)
  if [ -z "$deb" ]; then
    log "download $pkg $ver (bookworm)"
    rm -f "$BOOKWORM"/debs/"${pkg}"_*.deb
    (cd "$BOOKWORM/debs" && apt-get -o APT::Sandbox::User=root download -qq "$pkg=$ver")
    deb=$(find "$BOOKWORM/debs" -maxdepth 1 -name "${pkg}_*.deb" | head -n1)
    [ -n "$deb" ] || die "download of $pkg $ver gave no deb in $BOOKWORM/debs"
  else
    log "cached   $pkg $ver (bookworm)"
  fi
  xdir="$BOOKWORM/x/${pkg}_${ver//[^A-Za-z0-9.+-]/_}"
  unpack_deb "$deb" "$xdir"
  PKG_VERSION[$pkg]=$ver PKG_ROOT[$pkg]=$xdir PKG_SUITE[$pkg]=bookworm
  ln -sfn "$xdir" "$TOOLS_DIR/root/$pkg"
done

# ---------------------------------------------------------------- link + verify
previous="$TOOLS_DIR/versions.toml"
declare -A PREV=()
if [ -f "$previous" ]; then
  # lines: [tools.NAME] ... version = "X"
  while IFS='=' read -r k v; do PREV[$k]=$v; done < <(
    awk '/^\[tools\./{n=$0; gsub(/^\[tools\.|\]$/,"",n)} /^version = /{v=$3; gsub(/"/,"",v); print n "=" v}' "$previous"
  )
fi

tmp_versions=$(mktemp "$TOOLS_DIR/versions.toml.XXXXXX")
trap 'rm -f "$tmp_versions"' EXIT
{
  echo "# Generated by scripts/install-tools.sh on $(date -u '+%FT%TZ'). Do not edit."
  echo "# Binaries from Debian forky (testing) and, where forky's do not run here,"
  echo "# bookworm (debian_suite), linked into .tools/bin."
  echo "# version: what '<binary> --version' reports, without the Debian '+ds'/'-N' suffix."
  echo
  echo "[source]"
  echo "suite = \"forky\""
  echo "mirror = $(toml_str "$mirror")"
  echo "lists_updated = $(toml_str "$(date -u -r "$STAMP" '+%FT%TZ' 2>/dev/null || echo unknown)")"
} >"$tmp_versions"

summary=()
mismatch=0
for entry in "${COMPONENTS[@]}"; do
  IFS='|' read -r name pkg inner expect strict version_flag <<<"$entry"
  src=""
  if [ -n "${PKG_ROOT[$pkg]:-}" ] && [ -x "${PKG_ROOT[$pkg]}/$inner" ]; then
    src="${PKG_ROOT[$pkg]}/$inner"
  else
    # Look for the binary in every unpacked package (e.g. promtool inside prometheus).
    for p in "${!PKG_ROOT[@]}"; do
      for cand in "${PKG_ROOT[$p]}/$inner" "${PKG_ROOT[$p]}/usr/bin/$name"; do
        if [ -x "$cand" ]; then src=$cand; pkg=$p; break 2; fi
      done
    done
  fi
  [ -n "$src" ] || die "binary '$name' not found in the forky debs (looked for $inner)"
  ln -sfn "$src" "$TOOLS_DIR/bin/$name"

  if ! out=$(timeout 20 "$TOOLS_DIR/bin/$name" "${version_flag:---version}" 2>&1); then
    printf '%s\n' "$out" >&2
    die "$name does not run on this machine ($(. /etc/os-release && echo "$PRETTY_NAME"))"
  fi
  first=${out%%$'\n'*}
  raw=$(printf '%s\n' "$first" | sed -n 's/.*version \([^ ]*\).*/\1/p')
  [ -n "$raw" ] || die "cannot read a version from '$name --version': $first"
  ver=${raw%%[+-]*}
  mm=$(printf '%s' "$ver" | cut -d. -f1,2)
  ok=true
  if [ "$mm" != "$expect" ]; then
    ok=false
    mismatch=1
    if [ "$strict" = yes ]; then
      warn "!!! $name is $ver but the project expects $expect.x: Debian testing moved on. Check configs/tests against $ver."
    else
      warn "$name is $ver; the project was written against $expect.x (testing moved on)"
    fi
  fi
  if [ -n "${PREV[$name]:-}" ] && [ "${PREV[$name]}" != "$ver" ]; then
    warn "$name changed since the last run: ${PREV[$name]} -> $ver"
  fi
  {
    echo
    echo "[tools.$name]"
    echo "version = $(toml_str "$ver")"
    echo "reported = $(toml_str "$first")"
    echo "expected = $(toml_str "$expect.x")"
    echo "matches_expected = $ok"
    echo "debian_package = $(toml_str "$pkg")"
    echo "debian_suite = $(toml_str "${PKG_SUITE[$pkg]}")"
    echo "debian_version = $(toml_str "${PKG_VERSION[$pkg]}")"
    echo "path = $(toml_str ".tools/bin/$name")"
  } >>"$tmp_versions"
  summary+=("$(printf '  %-18s %-10s (deb %s %s)%s' "$name" "$ver" "$pkg" "${PKG_VERSION[$pkg]}" \
    "$([ "$ok" = true ] || echo "  <-- expected $expect.x")")")
done

chmod 644 "$tmp_versions"
mv "$tmp_versions" "$TOOLS_DIR/versions.toml"
trap - EXIT

log "binaries in $TOOLS_DIR/bin (all ran '--version' on this machine):"
printf '%s\n' "${summary[@]}"
[ "$mismatch" = 0 ] || warn "some versions differ from what the project expects (see above); not failing"

# ---------------------------------------------------------------- pypi
# A venv of its own (the machine's Python packages are not changed), pip's
# cache in the cache root; reused when it already has this version.
SPARK_VENV="$TOOLS_DIR/spark"
spark_installed() {
  "$SPARK_VENV/bin/python" -c "import pyspark, sys; sys.exit(pyspark.__version__ != '$SPARK_VERSION')" 2>/dev/null
}
if ! spark_installed; then
  log "PySpark $SPARK_VERSION into $SPARK_VENV (pip, cache $CACHE_ROOT/pip)"
  rm -rf "$SPARK_VENV"
  /usr/bin/python3 -m venv "$SPARK_VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  PIP_CACHE_DIR="$CACHE_ROOT/pip" "$SPARK_VENV/bin/pip" install --quiet "pyspark==$SPARK_VERSION" ||
    die "pip install pyspark==$SPARK_VERSION failed"
  spark_installed || die "pyspark $SPARK_VERSION does not import in $SPARK_VENV"
fi
spark_home=$("$SPARK_VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
[ -x "$spark_home/bin/spark-class" ] || die "$spark_home/bin/spark-class missing: not a whole Spark distribution"
ln -sfn "$spark_home" "$TOOLS_DIR/spark-home"
command -v java >/dev/null || die "java missing (openjdk-17-jre-headless)"
log "Spark $SPARK_VERSION: $TOOLS_DIR/spark-home -> $spark_home ($(java -version 2>&1 | head -n1))"

# ---------------------------------------------------------------- npm
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  [ "${SKIP_SYSTEM_PACKAGES:-0}" != 1 ] || die "node or npm missing and SKIP_SYSTEM_PACKAGES=1: install Node.js and npm"
  apt_install_missing nodejs npm
fi
log "npm packages of the dashboard schema check (node $(node --version), npm $(npm --version))"
npm_config_cache="$CACHE_ROOT/npm" bash "$REPO_ROOT/dashboards/schema-check/install.sh"

if [ "${SKIP_SYSTEM_PACKAGES:-0}" != 1 ]; then
  log "bookworm packages:"
  for p in "${BOOKWORM_PACKAGES[@]}"; do
    printf '  %-18s %s\n' "$p" "$(dpkg-query -W -f='${Version}' "$p" 2>/dev/null || echo MISSING)"
  done
  [ -x /bin/busybox ] || die "/bin/busybox missing after installing busybox-static"
fi
log "wrote $TOOLS_DIR/versions.toml; done in $(($(now) - started))s"
