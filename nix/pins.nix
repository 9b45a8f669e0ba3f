# The pins Nix and `cargo xtask pins` must agree on, computed with builtins
# only (no nixpkgs), so it evaluates offline:
#
#   nix-instantiate --eval --strict --json \
#     --argstr root "$PWD" -E '{ root }: import ./nix/pins.nix root'
#
# `root` is the repository root: a path, a string, or a flake's `self`.
# Result:
#   { stack = "<name>";
#     images = { <name> = "<repository>:<tag>@sha256:<hex>"; };
#     configs = { <key> = "<stack>_<key>_<first 12 hex of sha256>"; };
#     builds = { <name> = { repository; tag; package; }; }; }
#
# A workspace-built image (`build` in stack/stack.toml) has no digest: its
# image is `<repository>:<tag>`, the tag recomputed from the build's input
# files exactly as xtask/src/source/build_inputs.rs does (`<crate
# version>-<12 hex>` of the sha256 of a sorted `sha256sum`-style listing);
# a lock whose tag or `inputs` differs from that throws, naming the image.
#
# Every config name is recomputed from the bytes of its source file
# (builtins.hashFile), never copied from stack/rendered/configs.lock: a lock
# whose recorded hash differs from the file is stale and evaluation throws,
# naming the file and both hashes. Images come from stack/images.lock, checked
# against stack/stack.toml (same repository and tag) and for a well-formed
# digest; a bad entry throws naming the image.
root:
let
  dir = toString root;
  file = rel: dir + "/" + rel;
  readToml = rel: builtins.fromTOML (builtins.readFile (file rel));

  stackToml = readToml "stack/stack.toml";
  imagesLock = readToml "stack/images.lock";
  configsLock = readToml "stack/rendered/configs.lock";

  stack = stackToml.stack.name;

  isDigest = d: builtins.isString d && builtins.match "sha256:[0-9a-f]{64}" d != null;

  lockedImages = builtins.listToAttrs (map (i: { name = i.name; value = i; }) (imagesLock.image or [ ]));

  image = name: want:
    let
      pin = lockedImages.${name} or (throw "stack/images.lock: image `${name}` (stack/stack.toml) has no pin: run `cargo xtask pin --image ${name}`");
      ref = "${want.repository}:${want.tag}";
      locked = "${pin.repository}:${pin.tag}";
    in
    if locked != ref then
      throw "stack/images.lock: image `${name}` is pinned as ${locked} but stack/stack.toml asks for ${ref}: run `cargo xtask pin --image ${name}`"
    else if !(isDigest (pin.digest or null)) then
      throw "stack/images.lock: image `${name}` has a malformed digest `${toString (pin.digest or "<missing>")}` (expected sha256: and 64 lowercase hex digits)"
    else
      "${ref}@${pin.digest}";

  # Every regular file at or under `rel` (repository-relative).
  # builtins.readDir of the parent gives the type without following a
  # symlink (Nix 2.8 has no readFileType); build_inputs.rs refuses one too.
  listFiles = rel:
    let
      p = file rel;
      siblings = builtins.readDir (dirOf p);
      # Of `rel`, not `p`: a flake's `p` carries its store path as string
      # context, which an attribute name may not.
      name = baseNameOf rel;
      type = if siblings ? ${name} then siblings.${name} else throw "stack/stack.toml: build input ${rel} does not exist";
    in
    if type == "directory" then
      builtins.concatMap (n: listFiles "${rel}/${n}") (builtins.attrNames (builtins.readDir p))
    else if type == "regular" then [ rel ]
    else throw "stack/stack.toml: build input ${rel} is neither a file nor a directory (a symlink?)";

  trimSlash = s: let m = builtins.match "(.*[^/])/+" s; in if m == null then s else builtins.head m;

  # Attribute names come out sorted (byte order) and unique: Rust's sort + dedup.
  sortedUnique = xs: builtins.attrNames (builtins.listToAttrs (map (x: { name = x; value = null; }) xs));

  inputTag = build:
    let
      files = sortedUnique (builtins.concatMap (i: listFiles (trimSlash i)) build.inputs);
      listing = builtins.concatStringsSep "" (map (f: "${builtins.hashFile "sha256" (file f)}  ${f}\n") files);
      hash = builtins.hashString "sha256" listing;
      version = (readToml "${build.package}/Cargo.toml").package.version;
    in
    { inherit hash; tag = "${version}-${builtins.substring 0 12 hash}"; };

  built = name: want:
    let
      pin = lockedImages.${name} or (throw "stack/images.lock: image `${name}` (built, stack/stack.toml) has no tag: run `cargo xtask pin --image ${name}`");
      now = inputTag want.build;
    in
    if pin.repository != want.repository then
      throw "stack/images.lock: image `${name}` is pinned from ${pin.repository} but stack/stack.toml builds it for ${want.repository}: run `cargo xtask pin --image ${name}`"
    else if pin.tag != now.tag || (pin.inputs or null) != "sha256:${now.hash}" then
      throw "stack/images.lock: image `${name}` is tagged ${pin.tag} but its inputs hash to ${now.tag}: run `cargo xtask pin --image ${name}`"
    else {
      image = "${want.repository}:${now.tag}";
      build = { repository = want.repository; tag = now.tag; package = want.build.package; };
    };

  isBuilt = want: want ? build;
  allImages = stackToml.images or { };
  builtImages = builtins.mapAttrs built (lib_filterAttrs (_: isBuilt) allImages);
  lib_filterAttrs = pred: set:
    builtins.listToAttrs (builtins.concatMap (n: if pred n set.${n} then [{ name = n; value = set.${n}; }] else [ ]) (builtins.attrNames set));

  images = builtins.mapAttrs (name: want: if isBuilt want then builtImages.${name}.image else image name want) allImages;
  builds = builtins.mapAttrs (_: b: b.build) builtImages;

  config = c:
    let
      actual = builtins.hashFile "sha256" (file c.source);
    in
    if !(builtins.pathExists (file c.source)) then
      throw "stack/rendered/configs.lock: config `${c.key}` is made from ${c.source}, which does not exist: run `cargo xtask gen`"
    else if c.sha256 != actual then
      throw "stack/rendered/configs.lock is stale: ${c.source} has sha256 ${actual} but the lock records ${c.sha256} for config `${c.key}`: run `cargo xtask gen`"
    else {
      name = c.key;
      value = "${stack}_${c.key}_${builtins.substring 0 12 actual}";
    };

  configs =
    if (configsLock.version or null) != 1 then
      throw "stack/rendered/configs.lock: version ${toString (configsLock.version or "<missing>")} is not supported (expected 1)"
    else if (configsLock.stack or null) != stack then
      throw "stack/rendered/configs.lock: stack `${toString (configsLock.stack or "<missing>")}` differs from stack/stack.toml's `${stack}`: run `cargo xtask gen`"
    else
      builtins.listToAttrs (map config (configsLock.config or [ ]));
in
if (imagesLock.version or null) != 1 then
  throw "stack/images.lock: version ${toString (imagesLock.version or "<missing>")} is not supported (expected 1)"
else { inherit stack images configs builds; }
