# swarm-exporter (swarm-exporter/ in this workspace), built from Cargo.lock
# like the xtask: every crate vendored by importCargoLock from its checksum.
# Cargo loads the whole workspace, so every member's sources are in `src`.
# The image the stack runs is nix/swarm-exporter-image.nix.
{ lib, rustPlatform }:
let
  root = ../.;
  manifest = builtins.fromTOML (builtins.readFile ../swarm-exporter/Cargo.toml);
in
rustPlatform.buildRustPackage {
  pname = "swarm-exporter";
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
  cargoBuildFlags = [ "--package" "swarm-exporter" ];

  # Its tests run in `checks.cargo-test` with the rest of the workspace
  # (the live ones need a Swarm and Prometheus).
  doCheck = false;

  meta = {
    description = "Prometheus exporter of Docker Swarm service health";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "swarm-exporter";
  };
}
