// Package migrations embeds the versioned SQL schema so every binary carries it
// and goose can apply it without files on disk.
package migrations

import "embed"

// FS holds the numbered goose migrations (NNNNN_name.sql, Up and Down in one file).
//
//go:embed *.sql
var FS embed.FS
