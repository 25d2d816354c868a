package certify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// Sandbox is a bank sandbox served on a loopback port for one run: `make
// certify` without BANESCO_ENVIRONMENT (or with "sandbox") starts its own, so
// the run never depends on, nor disturbs, a sandbox that `make run` serves.
// It speaks real HTTP, as the bank does, with demo mode off: a payment is
// found only when a case registered it.
type Sandbox struct {
	URL string // http://127.0.0.1:<port>
	srv *http.Server
}

// StartSandbox serves a fresh sandbox as strict as the bank: the
// client_credentials grant is refused and the limits are the contract's.
func StartSandbox() (*Sandbox, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen: %w", err)
	}
	sb := banksandbox.New(banksandbox.Config{RefuseClientCredentials: true})
	s := &Sandbox{URL: "http://" + ln.Addr().String(),
		srv: &http.Server{Handler: sb.Handler(), ReadHeaderTimeout: 5 * time.Second}}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the sandbox.
func (s *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// Getenv overlays the variables that point the bank client at this sandbox
// on getenv: QA environment, its URLs, the sandbox's credentials (whatever
// QA credentials the environment holds are never sent to it). Every other
// BANESCO_* setting is the environment's, as the worker would read it.
func (s *Sandbox) Getenv(getenv func(string) string) func(string) string {
	over := map[string]string{
		"BANESCO_ENVIRONMENT":      "qa",
		"BANESCO_QA_AUTH_URL":      s.URL + "/token",
		"BANESCO_QA_API_URL":       s.URL + "/transactions/financial-account/transactions",
		"BANESCO_QA_CLIENT_ID":     "sandbox-client",
		"BANESCO_QA_CLIENT_SECRET": "sandbox-secret",
		"BANESCO_ACCOUNT_ID":       "01340000000000000000",
		"BANESCO_CA_FILE":          "",
	}
	return func(name string) string {
		if v, ok := over[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// Admin is the sandbox's admin API client.
func (s *Sandbox) Admin() *SandboxAdmin { return &SandboxAdmin{URL: s.URL} }

// SandboxAdmin drives a sandbox's /sandbox/* routes over HTTP: the cases'
// payments and scripted replies, and token expiry.
type SandboxAdmin struct {
	URL  string
	HTTP *http.Client // nil: a client with a 10 s timeout
}

// Setup registers a case's payments and scripted replies.
func (a *SandboxAdmin) Setup(ctx context.Context, s SandboxSetup) error {
	if len(s.Payments) > 0 {
		if err := a.post(ctx, "/sandbox/payments", s.Payments); err != nil {
			return err
		}
	}
	for _, sc := range s.Scripts {
		if err := a.post(ctx, "/sandbox/scripts", sc); err != nil {
			return err
		}
	}
	return nil
}

// ExpireTokens kills every token the sandbox issued so far.
func (a *SandboxAdmin) ExpireTokens(ctx context.Context) error {
	return a.post(ctx, "/sandbox/expire-tokens", nil)
}

func (a *SandboxAdmin) post(ctx context.Context, path string, body any) error {
	var r io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL+path, r)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := a.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
