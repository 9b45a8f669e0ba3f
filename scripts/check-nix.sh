#!/usr/bin/env bash
# Check the Nix side of the repository with what runs offline (Debian's
# nix-bin 2.8; nixpkgs is never fetched):
#
#  1. every .nix file parses (`nix-instantiate --parse`), and the blob
#     fetcher script passes `bash -n` (and shellcheck when installed);
#  2. formatting: `nixpkgs-fmt --check` (installed into .tools/bin with
#     `cargo install nixpkgs-fmt --locked` when missing);
#  3. flake.lock is a version-7 lock with a real-looking nixpkgs pin
#     (40-hex rev, sha256 SRI narHash, no placeholder hash);
#  4. nix/pins.nix evaluated on the repository, plus a fixture: a stale
#     config source, a malformed digest and a lock/stack.toml mismatch must
#     each throw naming the file or image;
#  5. the flake itself, from a copy of the files git would see:
#     `nix eval path:<copy>#lib.pins` (lazy inputs: nixpkgs is locked but never
#     fetched), and flake.nix's outputs called with a throwing nixpkgs to list
#     every output and prove the pure parts never touch it (the offline
#     equivalent of `nix flake show`).
#
# Without nix-instantiate: fails when CI is set, else prints a skip.
# Environment: CI (set in CI: missing tools are errors, not skips);
# CHECK_NIX_KEEP=1 keeps the temporary directory for inspection.
set -euo pipefail
# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$REPO_ROOT"

# Quiet Nix 2.8 on a machine without the nixbld group; enable flakes.
export NIX_CONFIG="build-users-group =
experimental-features = nix-command flakes"

missing() { # missing WHAT: fail in CI, skip otherwise
  if [ -n "${CI:-}" ]; then die "$1 not found (CI is set: install it with scripts/install-tools.sh)"; fi
  log "skipped: $1 not found"
}

if ! command -v nix-instantiate >/dev/null; then
  missing nix-instantiate
  exit 0
fi
log "$(nix-instantiate --version)"

work=$(mktemp -d)
if [ -z "${CHECK_NIX_KEEP:-}" ]; then trap 'rm -rf "$work"' EXIT; else log "keeping $work"; fi

# ----------------------------------------------------------------- 1. parse
mapfile -t nix_files < <(git ls-files -co --exclude-standard -- '*.nix' | sort)
[ "${#nix_files[@]}" -gt 0 ] || die "no .nix files found"
for f in "${nix_files[@]}"; do
  nix-instantiate --parse "$f" >/dev/null || die "$f does not parse"
done
log "parse: ${#nix_files[@]} files OK (${nix_files[*]})"
bash -n nix/fetch-oci-blob.sh || die "nix/fetch-oci-blob.sh: bash syntax error"
if command -v shellcheck >/dev/null; then
  shellcheck -x -P SCRIPTDIR nix/fetch-oci-blob.sh scripts/check-nix.sh || die "shellcheck"
  log "shellcheck: OK"
fi

# ------------------------------------------------------------ 2. formatting
NIXPKGS_FMT_VERSION=1.3.0
fmt=$(command -v nixpkgs-fmt || true)
if [ -z "$fmt" ] && [ -x "$TOOLS_DIR/bin/nixpkgs-fmt" ]; then fmt="$TOOLS_DIR/bin/nixpkgs-fmt"; fi
if [ -z "$fmt" ] && command -v cargo >/dev/null; then
  log "installing nixpkgs-fmt $NIXPKGS_FMT_VERSION into $TOOLS_DIR/bin (cargo install --locked)"
  if cargo install --quiet --locked nixpkgs-fmt --version "$NIXPKGS_FMT_VERSION" --root "$TOOLS_DIR" 2>"$work/fmt-install.log"; then
    fmt="$TOOLS_DIR/bin/nixpkgs-fmt"
  else
    cat "$work/fmt-install.log" >&2
  fi
fi
if [ -n "$fmt" ]; then
  if ! "$fmt" --check "${nix_files[@]}"; then
    die "not formatted as nixpkgs-fmt writes it: run \`$fmt ${nix_files[*]}\`"
  fi
  log "format: OK ($("$fmt" --version 2>/dev/null | head -n1 || true))"
else
  missing nixpkgs-fmt
fi

# ------------------------------------------------------------ 3. flake.lock
# shellcheck disable=SC2016 # a Nix expression, not shell
nix-instantiate --eval --strict --json -E '
  let
    lock = builtins.fromJSON (builtins.readFile ./flake.lock);
    node = lock.nodes.nixpkgs;
    hex40 = s: builtins.match "[0-9a-f]{40}" s != null;
    sri = s: builtins.match "sha256-[A-Za-z0-9+/]{43}=" s != null;
    placeholder = s: builtins.match "sha256-A{43}=" s != null;
    fail = m: throw "flake.lock: ${m}";
  in
  if lock.version != 7 then fail "version ${toString lock.version}, expected 7"
  else if lock.nodes.${lock.root}.inputs.nixpkgs != "nixpkgs" then fail "root does not take nixpkgs"
  else if node.locked.type != "github" || node.locked.owner != "NixOS" || node.locked.repo != "nixpkgs" then fail "nixpkgs is not github:NixOS/nixpkgs"
  else if !(hex40 node.locked.rev) then fail "rev ${node.locked.rev} is not 40 hex digits"
  else if !(sri node.locked.narHash) || placeholder node.locked.narHash then fail "narHash ${node.locked.narHash} is not a real sha256 SRI hash"
  else "${node.original.ref} ${node.locked.rev} ${node.locked.narHash}"
' >"$work/lock.json" || die "flake.lock is not valid"
log "flake.lock: version 7, nixpkgs $(tr -d '"' <"$work/lock.json")"

# -------------------------------------------------------------- 4. pins.nix
pins() { # pins ROOT: nix/pins.nix on ROOT as JSON
  nix-instantiate --eval --strict --json --argstr root "$1" \
    -E "{ root }: import $REPO_ROOT/nix/pins.nix root"
}
if [ -f stack/rendered/configs.lock ]; then
  pins "$REPO_ROOT" >"$work/pins.json" || die "nix/pins.nix does not evaluate on the repository"
  log "pins (nix/pins.nix on the repository): $(cat "$work/pins.json")"
else
  # The bundle is generated and committed; without it the flake's lib.pins
  # cannot evaluate either.
  if [ -n "${CI:-}" ]; then die "stack/rendered/configs.lock missing: run \`cargo xtask gen\` and commit it"; fi
  warn "stack/rendered/configs.lock missing (run \`cargo xtask gen\`): repository pins not evaluated"
fi

# A fixture: two images, one config.
fx="$work/fixture"
mkdir -p "$fx/stack/rendered" "$fx/stack/configs"
cat >"$fx/stack/stack.toml" <<'EOF'
[stack]
name = "fx"
[images.prometheus]
repository = "docker.io/prom/prometheus"
tag = "v3.5.3"
[images.cadvisor]
repository = "ghcr.io/google/cadvisor"
tag = "v0.60.6"
EOF
write_images_lock() { # write_images_lock PROMETHEUS_DIGEST
  cat >"$fx/stack/images.lock" <<EOF
version = 1

[[image]]
name = "cadvisor"
repository = "ghcr.io/google/cadvisor"
tag = "v0.60.6"
digest = "sha256:$(printf 'b%.0s' {1..64})"

[[image]]
name = "prometheus"
repository = "docker.io/prom/prometheus"
tag = "v3.5.3"
digest = "$1"
EOF
}
good_digest="sha256:$(printf 'a%.0s' {1..64})"
write_images_lock "$good_digest"
printf 'global:\n  scrape_interval: 15s\n' >"$fx/stack/configs/prometheus.yml"
sha=$(sha256sum "$fx/stack/configs/prometheus.yml" | cut -c1-64)
cat >"$fx/stack/rendered/configs.lock" <<EOF
version = 1
stack = "fx"

[[config]]
key = "prometheus_yml"
name = "fx_prometheus_yml_${sha:0:12}"
source = "stack/configs/prometheus.yml"
sha256 = "$sha"
EOF
expected="{\"builds\":{},\"configs\":{\"prometheus_yml\":\"fx_prometheus_yml_${sha:0:12}\"},\"images\":{\"cadvisor\":\"ghcr.io/google/cadvisor:v0.60.6@sha256:$(printf 'b%.0s' {1..64})\",\"prometheus\":\"docker.io/prom/prometheus:v3.5.3@$good_digest\"},\"stack\":\"fx\"}"
got=$(pins "$fx") || die "fixture: nix/pins.nix failed"
[ "$got" = "$expected" ] || die "fixture: nix/pins.nix gave $got, expected $expected"

must_throw() { # must_throw WHAT NEEDLE...: pins on the fixture fails naming every NEEDLE
  local what=$1
  shift
  if pins "$fx" >/dev/null 2>"$work/err"; then die "fixture ($what): nix/pins.nix did not fail"; fi
  for needle in "$@"; do
    grep -qF -- "$needle" "$work/err" || { cat "$work/err" >&2; die "fixture ($what): the error does not name \`$needle\`"; }
  done
  log "fixture ($what): throws: $(grep -m1 '^error' "$work/err")"
}
cp "$fx/stack/configs/prometheus.yml" "$work/prometheus.yml.orig"
echo "# edited" >>"$fx/stack/configs/prometheus.yml"
must_throw "config source changed alone" stack/configs/prometheus.yml "$sha" \
  "$(sha256sum "$fx/stack/configs/prometheus.yml" | cut -c1-64)"
cp "$work/prometheus.yml.orig" "$fx/stack/configs/prometheus.yml"
write_images_lock "sha256:ABC"
must_throw "malformed digest" "image \`prometheus\`" "sha256:ABC"
write_images_lock "$good_digest"
sed -i 's/v3.5.3/v3.6.0/' "$fx/stack/stack.toml"
must_throw "stack.toml tag changed alone" "image \`prometheus\`" "v3.6.0"
log "pins fixture: OK"

# ------------------------------------------------- 5. images.nix, stubbed
# nix/images.nix with a stand-in for the few nixpkgs functions it uses: which
# images are built for which system, and that every fetch is a fixed-output
# derivation whose hash is the registry digest (nothing invented).
# Real blobs on disk stand in for the registry: a stub fetch's output is
# <blobs>/<hex>, so the layout script below runs for real on them.
blobs="$work/blobs"
mkdir -p "$blobs" "$work/images/stack"
blob() { # blob CONTENT: store it, print its digest
  local hex
  hex=$(printf '%s' "$1" | sha256sum | cut -c1-64)
  printf '%s' "$1" >"$blobs/$hex"
  printf 'sha256:%s' "$hex"
}
config=$(blob '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}')
layer1=$(blob layer-one)
layer2=$(blob layer-two)
manifest=$(blob "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config\",\"size\":1},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer1\",\"size\":9},{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer2\",\"size\":9}]}")
index=$(blob "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$manifest\",\"size\":1,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}}]}")
{
  printf 'version = 1\n\n[[image]]\nname = "prometheus"\nrepository = "docker.io/prom/prometheus"\n'
  printf 'tag = "v3.5.3"\ndigest = "%s"\n\n' "$index"
  printf '[[image.platform]]\nos = "linux"\narchitecture = "amd64"\nmanifest = "%s"\n' "$manifest"
  printf 'config = "%s"\nlayers = ["%s", "%s"]\n\n' "$config" "$layer1" "$layer2"
  printf '[[image]]\nname = "cadvisor"\nrepository = "ghcr.io/google/cadvisor"\ntag = "v0.60.6"\n'
  printf 'digest = "sha256:%s"\n' "$(printf cadvisor | sha256sum | cut -c1-64)"
} >"$work/images/stack/images.lock"
cat >"$work/images-stub.nix" <<'NIX'
{ images, src, blobs }:
let
  inherit (builtins) attrNames concatMap elemAt filter genList head length listToAttrs;
  lib = {
    splitString = sep: s: filter builtins.isString (builtins.split sep s);
    concatStringsSep = builtins.concatStringsSep;
    findFirst = pred: default: list: let f = filter pred list; in if f == [ ] then default else head f;
    filterAttrs = pred: set: listToAttrs (concatMap (n: if pred n set.${n} then [{ name = n; value = set.${n}; }] else [ ]) (attrNames set));
    mapAttrsToList = f: set: map (n: f n set.${n}) (attrNames set);
    zipListsWith = f: a: b: genList (i: f (elemAt a i) (elemAt b i)) (if length a < length b then length a else length b);
    optional = c: x: if c then [ x ] else [ ];
    optionalString = c: s: if c then s else "";
    fetchers.proxyImpureEnvVars = [ ];
  };
  drv = a: a // { outPath = if a ? outputHash then "${blobs}/${a.outputHash}" else "/nix/store/stub-${a.name}"; };
  stubs = {
    inherit lib;
    stdenvNoCC.mkDerivation = drv;
    runCommand = name: env: script: drv (env // { inherit name script; });
    linkFarm = name: entries: drv { inherit name entries; };
    curl = "curl";
    jq = "jq";
    cacert = "cacert";
  };
  describe = system:
    let out = import images (stubs // { inherit system src; }); in
    map
      (e: {
        inherit (e) name;
        inherit (out.${e.name}) script;
        fetches = map (f: { inherit (f) kind registry repository digest outputHash outputHashMode outputHashAlgo; }) out.${e.name}.passthru.fetches;
      })
      out.entries;
in
{ x86_64-linux = describe "x86_64-linux"; aarch64-linux = describe "aarch64-linux"; }
NIX
nix-instantiate --eval --strict --json --arg images "$REPO_ROOT/nix/images.nix" --arg src "$work/images" \
  --argstr blobs "$blobs" "$work/images-stub.nix" >"$work/images.json" 2>"$work/err" || { cat "$work/err" >&2; die "nix/images.nix does not evaluate with stubbed nixpkgs"; }
command -v jq >/dev/null || die "jq is needed (apt-get install jq)"
jq -e '(."x86_64-linux" | map(.name)) == ["prometheus"] and ."aarch64-linux" == []' "$work/images.json" >/dev/null \
  || die "images.nix: expected prometheus on x86_64-linux only (cadvisor has no platform data): $(cat "$work/images.json")"
jq -e --arg i "$index" --arg m "$manifest" --arg c "$config" --arg l1 "$layer1" --arg l2 "$layer2" '
  ."x86_64-linux"[0].fetches
  | map([.kind, .digest]) == [["manifests", $i], ["manifests", $m], ["blobs", $c], ["blobs", $l1], ["blobs", $l2]]
    and all(.[]; .outputHash == (.digest | ltrimstr("sha256:")) and .outputHashMode == "flat" and .outputHashAlgo == "sha256"
                 and .registry == "registry-1.docker.io" and .repository == "prom/prometheus")' "$work/images.json" >/dev/null \
  || die "images.nix: fetches are not digest-addressed FODs on registry-1.docker.io: $(jq -c '."x86_64-linux"[0].fetches' "$work/images.json")"
# Run the layout builder's script on the stand-in blobs and check the result.
jq -r '."x86_64-linux"[0].script' "$work/images.json" >"$work/layout.sh"
out="$work/layout" bash -euo pipefail "$work/layout.sh" || die "images.nix: the OCI layout script failed"
jq -e --arg m "$manifest" '.schemaVersion == 2 and .manifests[0].digest == $m
  and .manifests[0].mediaType == "application/vnd.oci.image.manifest.v1+json"
  and .manifests[0].annotations."org.opencontainers.image.ref.name" == "v3.5.3"' "$work/layout/index.json" >/dev/null \
  || die "images.nix: bad index.json: $(cat "$work/layout/index.json")"
[ "$(jq .manifests[0].size "$work/layout/index.json")" = "$(stat -c %s "$blobs/${manifest#sha256:}")" ] || die "images.nix: wrong manifest size"
for f in "$work/layout/blobs/sha256/"*; do
  [ "$(sha256sum "$f" | cut -c1-64)" = "$(basename "$f")" ] || die "images.nix: blob $f does not match its name"
done
[ "$(find "$work/layout/blobs/sha256" -type f | wc -l)" = 4 ] || die "images.nix: expected 4 blobs (manifest, config, 2 layers)"
# A manifest that is not the index's linux/amd64 entry must fail the build.
sed "s/--arg a amd64/--arg a arm64/" "$work/layout.sh" >"$work/layout-bad.sh"
if out="$work/layout-bad" bash -euo pipefail "$work/layout-bad.sh" 2>/dev/null; then die "images.nix: a manifest outside the index was accepted"; fi
log "images.nix (stubbed nixpkgs): prometheus on x86_64-linux only (cadvisor has no platform data), 5 FODs hashed by their digests, OCI layout built and verified"

# ---------------------------------------------------------------- 6. flake
# A flake sees only the files git tracks; copy those (plus untracked,
# not-ignored ones, so this works before a commit) to a plain directory.
flake="$work/flake"
mkdir -p "$flake"
git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$flake" 2>/dev/null || true
[ -f "$flake/flake.nix" ] || die "flake.nix not found"

if [ -f "$flake/stack/rendered/configs.lock" ]; then
  # nix 2.8: inputs are fetched lazily, so a locked nixpkgs is never downloaded.
  nix eval --json "path:$flake#lib.pins" >"$work/flake-pins.json" || die "nix eval .#lib.pins failed"
  if [ -f "$work/pins.json" ]; then
    cmp -s "$work/flake-pins.json" "$work/pins.json" || die "nix eval .#lib.pins differs from nix/pins.nix on the working tree"
  fi
  log "nix eval .#lib.pins: OK, nixpkgs not fetched ($(wc -c <"$work/flake-pins.json") bytes, same as nix/pins.nix)"
fi

# Call the outputs function with a nixpkgs that throws when touched: the pure
# output (lib.systems, lib.pins when configs.lock exists) must evaluate, and
# every output is listed by name without building anything.
nix-instantiate --eval --strict --json -E "
  let
    flake = import $flake/flake.nix;
    out = flake.outputs {
      self = out // { outPath = \"$flake\"; };
      nixpkgs = throw \"nixpkgs was touched while evaluating a pure output\";
    };
    names = builtins.mapAttrs (_: perSystem: builtins.mapAttrs (_: builtins.attrNames) perSystem);
  in {
    outputs = builtins.attrNames out;
    lib = builtins.attrNames out.lib;
    systems = out.lib.systems;
    pins = if builtins.pathExists $flake/stack/rendered/configs.lock then builtins.attrNames out.lib.pins else \"configs.lock missing\";
    packages = names { inherit (out) packages; };
    checks = names { inherit (out) checks; };
    devShells = names { inherit (out) devShells; };
    apps = names { inherit (out) apps; };
  }
" >"$work/show.json" || die "flake.nix outputs do not evaluate without nixpkgs"
log "flake outputs (evaluated with nixpkgs = throw):"
if command -v jq >/dev/null; then jq . "$work/show.json"; else cat "$work/show.json"; echo; fi

want='"packages":{"packages":{"aarch64-linux":["default","images","stack","swarm-exporter","swarm-exporter-image","xtask"],"x86_64-linux":["default","images","stack","swarm-exporter","swarm-exporter-image","xtask"]}}'
grep -qF "$want" "$work/show.json" || die "packages are not {default,images,stack,swarm-exporter,swarm-exporter-image,xtask} for both systems"

# The workspace's two binaries (nix/workspace-crate.nix) with a stand-in
# rustPlatform: each builds its own crate of Cargo.lock, at its version.
nix-instantiate --eval --strict --json -E "
  let
    lib = {
      fileset = { toSource = a: a.fileset; unions = xs: map toString xs; };
      licenses = { mit = \"mit\"; asl20 = \"asl20\"; };
    };
    rustPlatform.buildRustPackage = a: a;
    show = d: { inherit (d) pname version cargoBuildFlags; main = d.meta.mainProgram; cmake = d.dontUseCmakeConfigure or false;
                lock = toString d.cargoLock.lockFile; srcs = map baseNameOf d.src; };
  in {
    xtask = show (import $REPO_ROOT/nix/xtask.nix { inherit lib rustPlatform; cmake = \"cmake\"; perl = \"perl\"; });
    exporter = show (import $REPO_ROOT/nix/swarm-exporter.nix { inherit lib rustPlatform; });
  }
" >"$work/crates.json" 2>"$work/err" || { cat "$work/err" >&2; die "nix/xtask.nix or nix/swarm-exporter.nix does not evaluate"; }
for crate in xtask swarm-exporter; do
  key=$([ "$crate" = xtask ] && echo xtask || echo exporter)
  version=$(awk -F'"' '/^version = /{print $2; exit}' "$crate/Cargo.toml")
  jq -e --arg c "$crate" --arg v "$version" --arg k "$key" '.[$k] | .pname == $c and .version == $v
    and .cargoBuildFlags == ["--package", $c] and .main == $c and (.lock | endswith("/Cargo.lock"))
    and (.srcs | index("swarm-exporter") != null and index("Cargo.lock") != null)' "$work/crates.json" >/dev/null ||
    die "nix: the $crate package is not $crate $version from Cargo.lock: $(cat "$work/crates.json")"
done
jq -e '.xtask.cmake == true and .exporter.cmake == false' "$work/crates.json" >/dev/null || die "nix: only xtask needs cmake's hook off"
log "xtask and swarm-exporter packages (stubbed rustPlatform): each its own crate at its Cargo.toml version"

# The swarm-exporter image with a stand-in dockerTools: it is named by the
# repository and the tag nix/pins.nix recomputes from the build's inputs
# (the tag stack/images.lock records), runs the binary as nobody.
if [ -f "$work/pins.json" ]; then
  nix-instantiate --eval --strict --json -E "
    let
      pins = import $REPO_ROOT/nix/pins.nix $REPO_ROOT;
      image = import $REPO_ROOT/nix/swarm-exporter-image.nix {
        dockerTools.buildLayeredImage = args: args;
        swarm-exporter = \"/nix/store/stub-swarm-exporter\";
        build = pins.builds.swarm-exporter;
      };
    in { inherit (image) name tag; inherit (image.config) Entrypoint User; ref = pins.images.swarm-exporter; }
  " >"$work/exporter-image.json" 2>"$work/err" || { cat "$work/err" >&2; die "nix/swarm-exporter-image.nix does not evaluate"; }
  jq -e '(.name + ":" + .tag) == .ref and .User == "65534:65534" and .Entrypoint == ["/bin/swarm-exporter"]' \
    "$work/exporter-image.json" >/dev/null || die "swarm-exporter image: $(cat "$work/exporter-image.json")"
  lock_tag=$(awk '$0=="name = \"swarm-exporter\""{f=1} f && $1=="tag"{gsub(/"/,"",$3); print $3; exit}' stack/images.lock)
  [ "$(jq -r .tag "$work/exporter-image.json")" = "$lock_tag" ] || die "swarm-exporter image tag differs from stack/images.lock's $lock_tag"
  log "swarm-exporter image (stubbed dockerTools): $(jq -r .ref "$work/exporter-image.json"), as stack/images.lock tags it"
fi
grep -qF '"apps":{"apps":{"aarch64-linux":["deploy"],"x86_64-linux":["deploy"]}}' "$work/show.json" || die "apps.deploy missing"
grep -qF '"devShells":{"devShells":{"aarch64-linux":["default"],"x86_64-linux":["default"]}}' "$work/show.json" || die "devShells.default missing"
log "OK"
