# The `xtask` binary (nix/workspace-crate.nix).
{ lib, rustPlatform, cmake, perl }:
import ./workspace-crate.nix { inherit lib rustPlatform; } {
  crate = "xtask";
  description = "Render, validate, pin and roll out the monitoring stack";
  # aws-lc-sys (rustls' crypto provider) builds its C sources with cmake;
  # the cmake setup hook must not take over the configure phase.
  nativeBuildInputs = [ cmake perl ];
  extraAttrs = { dontUseCmakeConfigure = true; };
}
