#!/usr/bin/env bash
# Re-fetches the Swagger UI assets that GET /docs serves (embedded with go:embed
# from openapi/ui/) from the npm registry. Bump VERSION, run, review, commit.
# Only the files the page loads are kept; openapi/ui/docs.js and index.html are
# ours and are not touched.
set -euo pipefail
VERSION="${SWAGGER_UI_VERSION:-5.35.0}"
cd "$(dirname "$0")/.."
dest=openapi/ui
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v npm >/dev/null || { echo "update-docs-ui: npm is required (node 18+)" >&2; exit 1; }
(cd "$work" && npm pack --silent "swagger-ui-dist@${VERSION}" >/dev/null)
tar -xzf "$work"/swagger-ui-dist-*.tgz -C "$work"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE; do
  cp "$work/package/$f" "$dest/$f"
done
echo "$VERSION" > "$dest/VERSION"
echo "update-docs-ui: swagger-ui-dist@${VERSION} copied to $dest/"
