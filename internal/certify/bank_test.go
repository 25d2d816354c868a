package certify

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/banesco-verifier/verifier/internal/banesco"
)

// TestTokenWithoutABank: an unreachable token endpoint is reported as a
// failure without a reply, and a check without a limiter is refused after
// the token, never sent unguarded.
func TestTokenWithoutABank(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg, err := banesco.ConfigFromEnv(func(k string) string {
		return map[string]string{"BANESCO_QA_AUTH_URL": "http://" + addr + "/token", "BANESCO_QA_API_URL": "http://" + addr,
			"BANESCO_CONNECT_RETRIES": "none"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBank(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := b.WriteToken(&out, b.Token(context.Background())); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "token: FAILED (no reply from the bank)") || strings.Contains(out.String(), "sandbox-secret") {
		t.Errorf("token output:\n%s", out.String())
	}
	res, err := b.Check(context.Background(), banesco.Query{Mode: banesco.ModeTransfer, Reference: "12345678"}, 0)
	if err != nil || res.Decision.Status != "TRANSIENT" || res.Decision.Reason != "no_token" || res.Sent() {
		t.Errorf("check without a token: %+v, %v", res.Decision, err)
	}
	out.Reset()
	if err := b.WriteCheck(&out, res); err != nil || !strings.Contains(out.String(), "check: not sent") {
		t.Errorf("check output (%v):\n%s", err, out.String())
	}
	if _, err := NewBank(banesco.Config{}, nil); err == nil {
		t.Error("an empty configuration built a client")
	}
}
