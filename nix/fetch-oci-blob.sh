# shellcheck shell=bash
# Fixed-output fetcher for one registry object, sourced by nix/images.nix.
# The object's digest is the derivation's output hash, so Nix itself checks
# every byte. Anonymous pull: Docker Hub's token service, or the bearer
# realm any other OCI registry (ghcr.io, quay.io) announces on /v2/.
#
# Environment: registry (host), repository (path on that host), digest
# (sha256:...), kind (`manifests` or `blobs`).
set -euo pipefail
: "${registry:?}" "${repository:?}" "${digest:?}" "${kind:?}" "${out:?}"

url="https://$registry/v2/$repository/$kind/$digest"
token=""
if [ "$registry" = registry-1.docker.io ]; then
  token=$(curl -fsSL --retry 3 \
    "https://auth.docker.io/token?service=registry.docker.io&scope=repository:$repository:pull" |
    jq -r .token)
else
  status=$(curl -sS --retry 3 -o /dev/null -D headers -w '%{http_code}' "https://$registry/v2/")
  challenge=$(tr -d '\r' <headers | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: *[Bb]earer *//p' | head -n 1)
  if [ "$status" = 401 ] && [ -n "$challenge" ]; then
    realm=$(printf '%s' "$challenge" | sed -n 's/.*realm="\([^"]*\)".*/\1/p')
    service=$(printf '%s' "$challenge" | sed -n 's/.*service="\([^"]*\)".*/\1/p')
    token=$(curl -fsSL --retry 3 --get \
      --data-urlencode "service=$service" \
      --data-urlencode "scope=repository:$repository:pull" \
      "$realm" | jq -r '.token // .access_token')
  fi
fi

auth=()
if [ -n "$token" ] && [ "$token" != null ]; then
  auth=(-H "Authorization: Bearer $token")
fi

# Blob downloads redirect to a CDN; curl does not send the token there.
curl -fSL --retry 3 "${auth[@]}" \
  -H 'Accept: application/vnd.oci.image.index.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
  -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
  -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
  -o "$out" "$url"
