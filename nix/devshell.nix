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
    # node and npm for the dashboard schema check (dashboards/schema-check)
    pkgs.nodejs
  ] ++ validators;

  RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";

  # The schema check's npm packages are locked in its package-lock.json, not
  # in Nix: install.sh runs `npm ci` once per lock (a no-op afterwards). A
  # failure (offline, say) leaves the shell usable; the schema test then
  # says what is missing.
  shellHook = ''
    root=$(git rev-parse --show-toplevel 2>/dev/null || pwd)
    if [ -f "$root/dashboards/schema-check/install.sh" ]; then
      bash "$root/dashboards/schema-check/install.sh" >&2 ||
        echo "dashboards/schema-check/install.sh failed: the dashboard schema test will skip" >&2
    fi
  '';
}
