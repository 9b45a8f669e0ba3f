# The `swarm-exporter` binary (swarm-exporter/ in this workspace,
# nix/workspace-crate.nix); the image the stack runs is
# nix/swarm-exporter-image.nix.
{ lib, rustPlatform }:
import ./workspace-crate.nix { inherit lib rustPlatform; } {
  crate = "swarm-exporter";
  description = "Prometheus exporter of Docker Swarm service health";
}
