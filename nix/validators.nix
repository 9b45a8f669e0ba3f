# The external validators `cargo xtask check` and the dev shell put on PATH.
{ pkgs }:
[
  pkgs.prometheus.cli # promtool (nixpkgs moves it to the `cli` output)
  pkgs.prometheus-alertmanager # alertmanager, amtool
  pkgs.grafana-loki # loki (-verify-config)
  pkgs.opentelemetry-collector-contrib # otelcol-contrib (validate)
  pkgs.haproxy # haproxy -c (the Docker API proxy's config)
]
