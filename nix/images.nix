# Each pinned image for this system, pulled by digest into an OCI image
# layout directory (`skopeo copy oci:result:<tag> docker-daemon:...`, or
# `docker-archive:` for `docker load`).
#
# Only images whose stack/images.lock entry carries `[[image.platform]]` data
# for this architecture are built: the index digest, the platform manifest,
# the config and every layer are each fetched by a fixed-output derivation
# whose hash IS the registry digest, so nothing extra is pinned and nothing
# is invented. `cargo xtask pin` writes the platform data when it can reach
# the registry; images without it are absent from `packages.images`.
{ lib, stdenvNoCC, runCommand, linkFarm, curl, jq, cacert, system, src }:
let
  lock = builtins.fromTOML (builtins.readFile (toString src + "/stack/images.lock"));

  arch = {
    x86_64-linux = "amd64";
    aarch64-linux = "arm64";
  }.${system};

  hexOf = image: digest:
    let m = builtins.match "sha256:([0-9a-f]{64})" digest;
    in if m == null
    then throw "stack/images.lock: image `${image}` has a malformed digest `${digest}`"
    else builtins.head m;

  # docker.io/prom/prometheus -> registry-1.docker.io + prom/prometheus;
  # docker.io/nginx -> library/nginx; ghcr.io/x/y -> ghcr.io + x/y.
  location = repository:
    let
      parts = lib.splitString "/" repository;
      host = builtins.head parts;
      path = lib.concatStringsSep "/" (builtins.tail parts);
    in
    if host == "docker.io" then {
      registry = "registry-1.docker.io";
      repository = if builtins.length parts == 2 then "library/${path}" else path;
    } else {
      registry = host;
      repository = path;
    };

  fetch = { image, repository, digest, kind }:
    let
      hex = hexOf image digest;
    in
    stdenvNoCC.mkDerivation ({
      name = "oci-${image}-${builtins.substring 0 12 hex}";
      inherit digest kind;
      nativeBuildInputs = [ curl jq ];
      SSL_CERT_FILE = "${cacert}/etc/ssl/certs/ca-bundle.crt";
      buildCommand = "source ${./fetch-oci-blob.sh}";
      outputHashMode = "flat";
      outputHashAlgo = "sha256";
      outputHash = hex;
      impureEnvVars = lib.fetchers.proxyImpureEnvVars;
      preferLocalBuild = true;
    } // location repository);

  platformOf = entry:
    lib.findFirst (p: (p.os or "linux") == "linux" && p.architecture == arch) null (entry.platform or [ ]);

  layout = entry: platform:
    let
      name = entry.name;
      get = kind: digest: fetch { inherit kind digest; image = name; inherit (entry) repository; };
      index = get "manifests" entry.digest;
      manifest = get "manifests" platform.manifest;
      blobs = map (get "blobs") ([ platform.config ] ++ platform.layers);
      copy = digest: file: "cp ${file} $out/blobs/sha256/${hexOf name digest}";
    in
    runCommand "oci-${name}-${entry.tag}-${arch}"
      {
        nativeBuildInputs = [ jq ];
        passthru = {
          inherit (entry) repository tag digest;
          inherit (platform) manifest;
          # Every fixed-output fetch behind this image (for prefetching).
          fetches = lib.optional (entry.digest != platform.manifest) index ++ [ manifest ] ++ blobs;
        };
      } ''
      # The chain from the lock's index digest down to every layer.
      ${lib.optionalString (entry.digest != platform.manifest) ''
        jq -e --arg m ${platform.manifest} --arg a ${arch} \
          'any(.manifests[]; .digest == $m and .platform.architecture == $a and .platform.os == "linux")' \
          ${index} >/dev/null || { echo "${name}: ${platform.manifest} is not the linux/${arch} manifest of ${entry.digest}" >&2; exit 1; }
      ''}
      jq -e --arg c ${platform.config} --argjson l '${builtins.toJSON platform.layers}' \
        '.config.digest == $c and [.layers[].digest] == $l' ${manifest} >/dev/null \
        || { echo "${name}: manifest ${platform.manifest} does not name the locked config and layers" >&2; exit 1; }

      mkdir -p $out/blobs/sha256
      printf '{"imageLayoutVersion":"1.0.0"}' > $out/oci-layout
      ${copy platform.manifest manifest}
      ${lib.concatStringsSep "\n" (lib.zipListsWith copy ([ platform.config ] ++ platform.layers) blobs)}
      jq -n \
        --arg mt "$(jq -r '.mediaType // "application/vnd.oci.image.manifest.v1+json"' ${manifest})" \
        --arg d ${platform.manifest} \
        --argjson size "$(stat -c %s ${manifest})" \
        --arg ref ${entry.tag} \
        --arg name ${entry.repository}:${entry.tag} \
        '{schemaVersion: 2, manifests: [{mediaType: $mt, digest: $d, size: $size,
          annotations: {"org.opencontainers.image.ref.name": $ref, "io.containerd.image.name": $name}}]}' \
        > $out/index.json
    '';

  built = lib.filterAttrs (_: v: v != null) (builtins.listToAttrs (map
    (entry: {
      name = entry.name;
      value = let p = platformOf entry; in if p == null then null else layout entry p;
    })
    (lock.image or [ ])));
in
# One derivation linking every image (so `nix build .#images` and `nix flake
  # check` see a package), with each image as an attribute: `.#images.grafana`.
(linkFarm "monitoring-images-${arch}" (lib.mapAttrsToList (name: path: { inherit name path; }) built)) // built
