# The `xtask` binary, built from Cargo.lock: every crate is vendored by
# importCargoLock from its checksum, so the build needs no network.
{ lib, rustPlatform, cmake, perl }:
let
  root = ../.;
  manifest = builtins.fromTOML (builtins.readFile ../xtask/Cargo.toml);
in
rustPlatform.buildRustPackage {
  pname = "xtask";
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
      # A workspace member: cargo reads its manifest to load the workspace.
      ../swarm-exporter
    ];
  };

  cargoLock.lockFile = ../Cargo.lock;
  cargoBuildFlags = [ "--package" "xtask" ];

  # aws-lc-sys (rustls' crypto provider) builds its C sources with cmake;
  # the cmake setup hook must not take over the configure phase.
  nativeBuildInputs = [ cmake perl ];
  dontUseCmakeConfigure = true;

  # The workspace tests run in `checks.cargo-test`, with the full source.
  doCheck = false;

  meta = {
    description = "Render, validate, pin and roll out the monitoring stack";
    license = with lib.licenses; [ mit asl20 ];
    mainProgram = "xtask";
  };
}
