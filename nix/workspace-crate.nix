# One binary crate of this Cargo workspace, built from Cargo.lock: every
# crate vendored by importCargoLock from its checksum, so the build needs no
# network. Cargo loads the whole workspace, so every member's sources are in
# `src`; only `crate` is built. Its tests run in `checks.cargo-test` with the
# rest of the workspace (the live ones need a Swarm and real components).
{ lib, rustPlatform }:
{ crate, description, nativeBuildInputs ? [ ], extraAttrs ? { } }:
let
  root = ../.;
  manifest = builtins.fromTOML (builtins.readFile (root + "/${crate}/Cargo.toml"));
in
rustPlatform.buildRustPackage ({
  pname = crate;
  version = manifest.package.version;

  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions [
      ../Cargo.toml
      ../Cargo.lock
      ../xtask
      ../dashboards
      ../alerts
      ../report
      ../swarm-exporter
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "--package" crate ];
  inherit nativeBuildInputs;
  doCheck = false;

  meta = {
    inherit description;
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = crate;
  };
} // extraAttrs)
