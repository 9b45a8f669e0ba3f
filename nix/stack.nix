# The rendered bundle as one store path: exactly what `cargo xtask gen` writes
# (stack/rendered, dashboards/generated, alerts/generated), byte for byte.
{ stdenvNoCC, xtask, src }:
stdenvNoCC.mkDerivation {
  pname = "monitoring-stack";
  inherit (xtask) version;
  inherit src;

  nativeBuildInputs = [ xtask ];
  dontConfigure = true;

  buildPhase = ''
    runHook preBuild
    export MONITORING_REPO=$PWD HOME=$TMPDIR
    xtask gen
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    mkdir -p $out/stack $out/dashboards $out/alerts
    cp -R stack/rendered $out/stack/rendered
    cp -R dashboards/generated $out/dashboards/generated
    cp -R alerts/generated $out/alerts/generated
    runHook postInstall
  '';

  # No stripping or shebang patching: the files must stay byte-identical.
  dontFixup = true;
}
