# `nix run .#deploy -- [xtask deploy flags]`: check, plan and roll the stack
# out from the current checkout, with the validators `check` needs on PATH.
{ pkgs, xtask, validators }:
let
  deploy = pkgs.writeShellApplication {
    name = "monitoring-deploy";
    runtimeInputs = [ xtask pkgs.docker-client ] ++ validators;
    text = ''exec xtask deploy "$@"'';
  };
in
{
  deploy = {
    type = "app";
    program = "${deploy}/bin/monitoring-deploy";
  };
}
