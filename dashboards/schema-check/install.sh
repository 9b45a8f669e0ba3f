#!/usr/bin/env bash
# Installs the exact npm packages of the dashboard schema check (as locked in
# package-lock.json: typescript and @grafana/schema) into
# dashboards/schema-check/node_modules with `npm ci`.
#
# Idempotent: skipped while node_modules was installed from the same lock.
# Needs node and npm (Debian 12's or newer). Called by
# scripts/install-tools.sh and by the Nix dev shell; runs as any user.
#
# Environment:
#   npm_config_cache   npm's download cache (npm's default: ~/.npm); a
#                      filled cache lets `npm ci` work offline.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
stamp="$dir/node_modules/.installed-from-lock"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "schema-check/install.sh: '$tool' not found: install Node.js and npm (Debian: nodejs npm)" >&2
    exit 1
  fi
done

want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" = "$want" ]; then
  echo "schema-check: node_modules is up to date with package-lock.json"
  exit 0
fi
# No package has install scripts; refusing them keeps the install to the
# locked files.
npm ci --prefix "$dir" --prefer-offline --ignore-scripts --no-audit --no-fund
echo "$want" >"$stamp"
echo "schema-check: installed the packages of package-lock.json into $dir/node_modules"
