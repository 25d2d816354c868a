// Package buildinfo is what a binary knows about its own build: the version,
// commit and date the Makefile stamps with -ldflags, printed by --version and
// exported as the build_info metric; and the -h/--help handling every binary
// shares.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"

	"github.com/prometheus/client_golang/prometheus"
)

// Stamped by `make build` (-ldflags -X); "dev" for go run and go build.
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// String is the one-line version of a binary.
func String(name string) string {
	return fmt.Sprintf("%s %s (commit %s, built %s, %s)", name, Version, Commit, Date, runtime.Version())
}

// Register exports build_info{version,commit,date,goversion} 1.
func Register(reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "build_info",
		Help: "Always 1; the labels say which build is running.",
	}, []string{"version", "commit", "date", "goversion"})
	g.WithLabelValues(Version, Commit, Date, runtime.Version()).Set(1)
	reg.MustRegister(g)
}

// Handle answers -h/--help/help and --version/-version/version as the first
// argument: it writes the usage or the version to out and reports true (the
// caller exits 0). Other arguments are the caller's.
func Handle(name, usage string, args []string, out io.Writer) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, usage)
		return true
	case "-version", "--version", "version":
		fmt.Fprintln(out, String(name))
		return true
	}
	return false
}
