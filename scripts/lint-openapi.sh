#!/usr/bin/env bash
# Lints openapi/openapi.yaml with Spectral (@stoplight/spectral-cli from npm, a
# pinned version, installed into a cache directory on first use). Any warning
# or error fails the run. Run by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
SPECTRAL_VERSION=6.16.3
spec=openapi/openapi.yaml
cache="${SPECTRAL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/verifier/spectral-$SPECTRAL_VERSION}"
bin="$cache/node_modules/.bin/spectral"

if ! command -v npm >/dev/null 2>&1; then
  echo "lint-openapi: npm is required (Node.js 18+; Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -x "$bin" ]; then
  echo "lint-openapi: installing @stoplight/spectral-cli@$SPECTRAL_VERSION into $cache" >&2
  mkdir -p "$cache"
  if ! npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
      "@stoplight/spectral-cli@$SPECTRAL_VERSION" >&2; then
    echo "lint-openapi: npm install of @stoplight/spectral-cli@$SPECTRAL_VERSION failed" >&2
    exit 1
  fi
fi
echo "lint-openapi: spectral $("$bin" --version) on $spec" >&2
"$bin" lint --ruleset .spectral.yaml --fail-severity=warn "$spec"
