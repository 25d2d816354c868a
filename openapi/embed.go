// Package openapi holds the OpenAPI document of the public HTTP interface
// (openapi.yaml, the contract of docs/api.md) and the Swagger UI assets that
// render it at GET /docs, embedded so the binary serves both with no network.
// scripts/update-docs-ui.sh refreshes the Swagger UI files from npm;
// scripts/lint-openapi.sh lints the spec.
package openapi

import (
	"embed"
	"io/fs"
)

//go:embed openapi.yaml
var spec []byte

//go:embed ui
var ui embed.FS

// Spec returns the OpenAPI document as YAML (a copy; callers may keep it).
func Spec() []byte { return append([]byte(nil), spec...) }

// UI is the documentation page: index.html, docs.js (which points Swagger UI
// at /openapi.yaml) and the Swagger UI dist files it loads.
func UI() fs.FS {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic("openapi: embedded ui directory missing: " + err.Error())
	}
	return sub
}
