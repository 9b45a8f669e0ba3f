{
  description = "Monitoring stack for the ETL platform's Docker Swarm: xtask, rendered bundle, pinned images, checks";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";

  # Outputs are lazy: `lib` never touches `nixpkgs`, so `nix eval .#lib.pins`
  # works without fetching it. Everything else needs nixpkgs.
  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAllSystems = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);

      # Pure: builtins only (stack/images.lock, stack/rendered/configs.lock,
      # builtins.hashFile of every config source).
      pins = import ./nix/pins.nix self;

      perSystem = system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          src = self;
          xtask = pkgs.callPackage ./nix/xtask.nix { };
          swarm-exporter = pkgs.callPackage ./nix/swarm-exporter.nix { };
          # Named by the tag nix/pins.nix recomputes from its inputs.
          swarm-exporter-image = pkgs.callPackage ./nix/swarm-exporter-image.nix {
            inherit swarm-exporter;
            build = pins.builds.swarm-exporter;
          };
          stack = pkgs.callPackage ./nix/stack.nix { inherit xtask src; };
          images = pkgs.callPackage ./nix/images.nix { inherit src; };
          validators = import ./nix/validators.nix { inherit pkgs; };
        in
        {
          packages = { inherit xtask swarm-exporter swarm-exporter-image stack images; default = xtask; };
          checks = import ./nix/checks.nix { inherit pkgs src xtask stack pins validators; };
          devShells.default = import ./nix/devshell.nix { inherit pkgs validators; };
          apps = import ./nix/apps.nix { inherit pkgs xtask validators; };
        };
      each = forAllSystems perSystem;
      pick = attr: builtins.mapAttrs (_: outputs: outputs.${attr}) each;
    in
    {
      lib = { inherit pins systems; };
      packages = pick "packages";
      checks = pick "checks";
      devShells = pick "devShells";
      apps = pick "apps";
    };
}
