package spectest_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/banesco-verifier/verifier/openapi/spectest"
)

// recorder is a testing.TB that keeps the errors instead of failing.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// TestTransportCatchesDrift serves replies that break the spec and checks the
// transport reports each one.
func TestTransportCatchesDrift(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		path    string
		status  int
		header  map[string]string
		body    string
		wantErr string // "" when the exchange is valid
	}{
		{"valid", "/health/live", 200, map[string]string{"X-Request-ID": "r1"}, `{"status":"ok"}`, ""},
		{"wrong value", "/health/live", 200, map[string]string{"X-Request-ID": "r1"}, `{"status":"fine"}`, "response 200"},
		{"extra field", "/health/live", 200, map[string]string{"X-Request-ID": "r1"}, `{"status":"ok","uptime":3}`, "response 200"},
		{"undocumented status", "/health/live", 418, map[string]string{"X-Request-ID": "r1"}, `{}`, "response 418"},
		{"no request id", "/health/live", 200, nil, `{"status":"ok"}`, "X-Request-ID"},
		{"error without code", "/api/v1/auth/me", 401, map[string]string{"X-Request-ID": "r1"}, `{"error":{"message":"no"},"request_id":"r1"}`, "response 401"},
		{"429 without Retry-After", "/api/v1/auth/me", 429, map[string]string{"X-Request-ID": "r1"},
			`{"error":{"code":"rate_limited","message":"slow"},"request_id":"r1"}`, "Retry-After"},
		{"unknown route", "/api/v1/nope", 404, map[string]string{"X-Request-ID": "r1"}, `{}`, "no operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			rec := &recorder{TB: t}
			c := &http.Client{Transport: spectest.NewTransport(rec, srv.URL, nil)}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			req.Header.Set("Authorization", "Bearer x")
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("GET: %v", err)
			}
			resp.Body.Close()
			got := strings.Join(rec.errs, "\n")
			if tt.wantErr == "" && got != "" {
				t.Errorf("valid exchange reported:\n%s", got)
			}
			if tt.wantErr != "" && !strings.Contains(got, tt.wantErr) {
				t.Errorf("errors %q, want one mentioning %q", got, tt.wantErr)
			}
		})
	}
}
