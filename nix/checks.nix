# `nix flake check`: the validations of `cargo xtask check`, the workspace
# tests, formatting of the Nix files, and the pins Nix and the xtask agree on.
{ pkgs, src, xtask, stack, pins, validators }:
let
  inherit (pkgs) lib runCommand;
  writableRepo = ''
    cp -R ${src} repo
    chmod -R u+w repo
    cd repo
    export MONITORING_REPO=$PWD HOME=$TMPDIR
  '';
in
{
  inherit xtask stack;

  # promtool, amtool, rule unit tests, PromQL against the metric catalog,
  # dashboard and rule lint, generated files up to date.
  xtask-check = runCommand "monitoring-xtask-check" { nativeBuildInputs = [ xtask ] ++ validators; } ''
    ${writableRepo}
    xtask check
    touch $out
  '';

  # The bundle built by Nix is the one committed (what `cargo xtask gen` wrote).
  stack-matches-checkout = runCommand "monitoring-stack-matches-checkout" { } ''
    for d in stack/rendered dashboards/generated alerts/generated; do
      diff -r ${stack}/$d ${src}/$d
    done
    touch $out
  '';

  # `cargo test --workspace` in the sandbox: no network, no Docker (tests that
  # need a daemon skip when CI is unset), no nix-instantiate (the pins test
  # skips; `pins` below covers it).
  cargo-test = pkgs.rustPlatform.buildRustPackage {
    pname = "monitoring-cargo-test";
    inherit (xtask) version;
    inherit src;
    cargoLock.lockFile = ../Cargo.lock;
    nativeBuildInputs = [ pkgs.cmake pkgs.perl ];
    dontUseCmakeConfigure = true;
    nativeCheckInputs = validators;
    buildType = "debug";
    dontCargoBuild = true;
    cargoTestFlags = [ "--workspace" ];
    preCheck = ''
      export HOME=$TMPDIR INSTA_UPDATE=no
      unset CI
    '';
    installPhase = "touch $out";
  };

  # Every .nix file formatted as nixpkgs-fmt would write it.
  nixpkgs-fmt = runCommand "monitoring-nixpkgs-fmt" { nativeBuildInputs = [ pkgs.nixpkgs-fmt ]; } ''
    nixpkgs-fmt --check ${src}/flake.nix ${src}/nix
    touch $out
  '';

  # lib.pins (builtins.fromTOML + builtins.hashFile) == `xtask pins`.
  pins = runCommand "monitoring-pins-agree"
    {
      nativeBuildInputs = [ xtask pkgs.jq ];
      expected = builtins.toJSON pins;
      passAsFile = [ "expected" ];
    } ''
    MONITORING_REPO=${src} xtask pins > actual.json
    jq -S . "$expectedPath" > nix.json
    jq -S . actual.json > xtask.json
    if ! diff -u nix.json xtask.json; then
      echo "lib.pins (nix/pins.nix) and \`xtask pins\` disagree (- nix, + xtask)" >&2
      exit 1
    fi
    touch $out
  '';
}
