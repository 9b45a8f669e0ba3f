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
#     configs = { <key> = "<stack>_<key>_<first 12 hex of sha256>"; }; }
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

  images = builtins.mapAttrs image (stackToml.images or { });

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
else { inherit stack images configs; }
