// Package logging builds the zerolog logger every binary uses: JSON by default (for
// log shippers), console when LOG_FORMAT=console (for people). Secrets never reach
// it: handlers log ids and outcomes, never bodies, headers or tokens.
package logging

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// New returns a logger writing to w (os.Stderr when nil) at level, in format
// "json" or "console", tagged with the service name.
func New(w io.Writer, level, format, service string) zerolog.Logger {
	if w == nil {
		w = os.Stderr
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		lvl = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(lvl).With().Timestamp().Str("service", service).Logger()
}
