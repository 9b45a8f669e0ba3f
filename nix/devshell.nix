# `nix develop`: the Rust toolchain plus every validator the project uses,
# including those that cannot be installed on the project's own machines.
{ pkgs, validators }:
pkgs.mkShell {
  packages = [
    pkgs.cargo
    pkgs.rustc
    pkgs.clippy
    pkgs.rustfmt
    pkgs.prometheus
    pkgs.docker-client
    pkgs.nixpkgs-fmt
    pkgs.nix
    pkgs.jq
  ] ++ validators;

  RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
}
