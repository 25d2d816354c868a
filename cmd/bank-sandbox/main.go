// Command bank-sandbox serves the sandbox bank (internal/banksandbox) over HTTP, for local
// demos and for tests that run outside the Go process. It is configured by environment
// variables only; see loadConfig.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/buildinfo"
	"github.com/banesco-verifier/verifier/internal/logging"
)

func main() {
	if buildinfo.Handle("bank-sandbox", usage, os.Args[1:], os.Stdout) {
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintf(os.Stderr, "bank-sandbox: unknown argument %q\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	log, err := newLogger(os.Getenv("LOG_FORMAT"), os.Getenv("LOG_LEVEL"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "bank-sandbox:", err)
		os.Exit(2)
	}
	addr, cfg, tlsFiles, err := loadConfig(os.Getenv)
	if err != nil {
		log.Fatal().Msgf("bank-sandbox: %v", err) // one clear line, then exit 1
	}
	if err := run(log, addr, cfg, tlsFiles); err != nil {
		log.Fatal().Msgf("bank-sandbox: %v", err)
	}
}

// run serves until SIGINT or SIGTERM, then drains in-flight requests.
func run(log zerolog.Logger, addr string, cfg banksandbox.Config, tlsFiles [2]string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	srv := &http.Server{
		Addr:              addr,
		Handler:           logRequests(log, banksandbox.New(cfg).Handler()),
		ReadHeaderTimeout: 5 * time.Second,
	}
	base := baseURL(addr)
	if tlsFiles[0] != "" {
		base = "https" + strings.TrimPrefix(base, "http")
	}
	log.Info().
		Str("addr", addr).
		Str("flavor", cfg.Flavor).
		Bool("demo", cfg.Demo).
		Str("token_url", base+"/auth/realms/realm-api-qa/protocol/openid-connect/token").
		Str("qa_check_url", base+"/transactions/financial-account/transactions").
		Str("production_check_url", base+"/financial-account/transactions").
		Str("admin_url", base+"/sandbox/").
		Msg("bank sandbox serving")

	errc := make(chan error, 1)
	go func() {
		if tlsFiles[0] != "" {
			// A certificate from a private CA, as the bank's QA hosts have used.
			errc <- srv.ListenAndServeTLS(tlsFiles[0], tlsFiles[1])
			return
		}
		errc <- srv.ListenAndServe()
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", addr, err)
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// baseURL is the URL a local client uses to reach addr.
func baseURL(addr string) string {
	host := addr
	if strings.HasPrefix(host, ":") {
		host = "localhost" + host
	}
	return "http://" + host
}

// newLogger builds the shared logger (internal/logging) after checking LOG_FORMAT (json, the
// default, or console) and LOG_LEVEL (default info): the shared builder falls back silently,
// and a sandbox started with a typo should say so instead.
func newLogger(format, level string) (zerolog.Logger, error) {
	if level != "" {
		if _, err := zerolog.ParseLevel(level); err != nil {
			return zerolog.Logger{}, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", level)
		}
	}
	if format != "" && format != "json" && format != "console" {
		return zerolog.Logger{}, fmt.Errorf("LOG_FORMAT %q: want json or console", format)
	}
	return logging.New(os.Stderr, level, format, "bank-sandbox"), nil
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// logRequests logs one line per request. Only the method, path, status and latency: bodies
// and headers carry credentials and tokens.
func logRequests(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info().
			Str("method", r.Method).
			Str("path", r.URL.Path).
			Int("status", rec.status).
			Dur("latency", time.Since(start)).
			Msg("request")
	})
}
