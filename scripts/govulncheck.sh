#!/usr/bin/env bash
# Runs govulncheck over every package, against a vulnerability database built
# locally from the golang.org/x/vulndb module (the module proxy serves it; the
# database host vuln.go.dev is not reachable from every machine). Pinned
# versions, so a run is reproducible; bump VULNDB to refresh the data.
#
# Findings in modules fail. Findings in the standard library are fixed by a
# newer Go toolchain than the one running: they fail too, unless
# VULNCHECK_STDLIB=warn (make lint sets it when the machine pins its toolchain,
# GOTOOLCHAIN=local); release images build with the Dockerfile's Go version.
set -euo pipefail
cd "$(dirname "$0")/.."

GOVULNCHECK=v1.1.4
VULNDB=v0.0.0-20261105234957-e22db6528018
cache="${XDG_CACHE_HOME:-$HOME/.cache}/verifier-vulndb/$VULNDB"

if ! command -v govulncheck >/dev/null 2>&1 || [ "$(govulncheck -version 2>/dev/null | grep -o 'v[0-9.]*' | head -1)" != "$GOVULNCHECK" ]; then
  go install "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK"
fi
bin="$(go env GOPATH)/bin/govulncheck"
if [ ! -f "$cache/index/db.json" ]; then
  echo "govulncheck: building the vulnerability database $VULNDB"
  src="$(go mod download -json "golang.org/x/vulndb@$VULNDB" | sed -n 's/.*"Dir": "\(.*\)",*/\1/p')"
  rm -rf "$cache.tmp" && mkdir -p "$(dirname "$cache")"
  go run "golang.org/x/vulndb/cmd/indexdb@$VULNDB" -vulns "$src/data/osv" -out "$cache.tmp"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi

# The modules to scan are the arguments (default: the service's).
[ $# -eq 0 ] && set -- .
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
for m in "$@"; do
  echo "== govulncheck $m"
  set +e
  (cd "$m" && "$bin" -db "file://$cache" ./...) >>"$out" 2>&1
  r=$?
  set -e
  if [ $r -ne 0 ] && [ $rc -ne 3 ]; then rc=$r; fi
done
cat "$out"
if [ $rc -eq 0 ]; then
  exit 0
fi
if [ $rc -ne 3 ]; then
  echo "govulncheck: failed to run (exit $rc)" >&2
  exit $rc
fi
# Exit 3: vulnerabilities reachable from our code. Which kind?
if grep -A2 '^Vulnerability #' "$out" | grep -q '  Module: '; then
  echo "govulncheck: FAIL: vulnerable modules above; upgrade them (go get module@fixed-version)" >&2
  exit 3
fi
if [ "${VULNCHECK_STDLIB:-fail}" = warn ]; then
  echo "govulncheck: WARNING: only standard-library findings, fixed in a newer Go than $(go env GOVERSION)," \
       "the toolchain this machine pins (GOTOOLCHAIN=$(go env GOTOOLCHAIN)). Release images build with the Dockerfile's" \
       "GO_VERSION; the toolchain line of go.mod selects it wherever GOTOOLCHAIN=auto." >&2
  exit 0
fi
echo "govulncheck: FAIL: standard-library findings: build with a newer Go" >&2
exit 3
