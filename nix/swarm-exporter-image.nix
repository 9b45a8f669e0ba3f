# The swarm-exporter image the stack runs (stack/stack.toml,
# [images.swarm-exporter]), named by the tag nix/pins.nix recomputes from
# the build's inputs: the same tag stack/images.lock records, or evaluation
# throws. Load and push it to the platform's registry, then deploy:
#
#   nix build .#swarm-exporter-image
#   docker load < result
#   docker push "$(nix eval --raw .#lib.pins.images.swarm-exporter)"
#
# Only the binary and its runtime closure (glibc), no shell: the health
# check is the binary's own `healthcheck` subcommand. Layers and config are
# fixed by the inputs (no creation time), so a rebuild gives the same bytes.
{ dockerTools, swarm-exporter, build }:
dockerTools.buildLayeredImage {
  name = build.repository;
  tag = build.tag;
  contents = [ swarm-exporter ];
  config = {
    Entrypoint = [ "/bin/swarm-exporter" ];
    User = "65534:65534";
    ExposedPorts = { "9324/tcp" = { }; };
    Labels = {
      "org.opencontainers.image.title" = "swarm-exporter";
      "org.opencontainers.image.version" = build.tag;
    };
  };
}
