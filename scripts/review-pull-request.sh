#!/usr/bin/env bash
# What CI runs for a pull request, on any CI system: check the change, then
# review it against the base branch, writing
#   OUT_DIR/review.md     the review as Markdown, to post as a PR comment
#   OUT_DIR/review.json   the same for machines
#   OUT_DIR/previews/     before/after/side-by-side SVG previews of changed
#                         dashboards (changed panels marked), to attach
# Run it on the pull request merged into the base branch (what GitHub checks
# out for a pull_request event), or on a branch rebased onto it: compared with
# the base's tip, that shows exactly what the pull request changes.
# Works on a shallow clone (depth 1): the base branch's tip is fetched here,
# and the review reads it with git without touching the working tree.
#
# usage: scripts/review-pull-request.sh BASE_BRANCH OUT_DIR
#
# Environment:
#   REVIEW_REMOTE   the remote to fetch the base from (default origin)
#   XTASK           the xtask command (default `cargo xtask`; e.g. an
#                   installed binary)
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

base_branch=${1:?usage: $0 BASE_BRANCH OUT_DIR}
out=${2:?usage: $0 BASE_BRANCH OUT_DIR}
remote=${REVIEW_REMOTE:-origin}
if [ -n "${XTASK:-}" ]; then xtask=("$XTASK"); else xtask=(cargo xtask); fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$REPO_ROOT"

log "fetching $remote/$base_branch"
git fetch --no-tags --depth=1 "$remote" "+refs/heads/$base_branch:refs/remotes/$remote/$base_branch"

log "check"
"${xtask[@]}" check

log "review against $remote/$base_branch"
rm -rf "$out/previews"
"${xtask[@]}" review --base "$remote/$base_branch" --previews-dir "$out/previews" >"$out/review.md"
"${xtask[@]}" review --base "$remote/$base_branch" --output json >"$out/review.json"
log "wrote $out/review.md, $out/review.json and $out/previews/"
