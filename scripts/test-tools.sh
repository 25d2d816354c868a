#!/usr/bin/env bash
# Makes sure the tools `make test` needs besides Go, Postgres and Redis are
# here: promtool (the alert-rule tests) and Chromium (the browser tests). On a
# Debian machine run as root it installs what is missing; elsewhere it fails at
# once with the command that fixes it. `make test-short` needs neither.
set -euo pipefail

missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && ! command -v google-chrome >/dev/null 2>&1; then
  missing+=(chromium)
fi
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-tools: installing ${missing[*]} (apt-get; about a minute)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi
echo "make test needs: ${missing[*]}" >&2
echo "  install them:  sudo apt-get install -y ${missing[*]}" >&2
echo "  or run the reduced suite without them:  make test-short" >&2
exit 1
