package banksandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

func TestTokenGrants(t *testing.T) {
	t.Parallel()

	realm := "/auth/realms/realm-api-qa/protocol/openid-connect/token"
	tests := []struct {
		name       string
		path       string
		form       url.Values
		user, pass string
	}{
		{
			name: "client credentials via basic", path: realm,
			form: url.Values{"grant_type": {"client_credentials"}, "scope": {"CONSULTA DE TRANSACCIONES"}},
			user: "sandbox-client", pass: "sandbox-secret",
		},
		{
			name: "client credentials via form", path: "/token",
			form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox-client"}, "client_secret": {"sandbox-secret"}},
		},
		{
			name: "password", path: realm,
			form: url.Values{
				"grant_type": {"password"}, "username": {"sandbox-client"}, "password": {"sandbox-secret"},
				"client_id": {"sandbox-client"}, "client_secret": {"sandbox-secret"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{})
			res := b.postForm(t, tt.path, tt.form, tt.user, tt.pass)
			wantStatus(t, res, http.StatusOK)
			m := res.json(t)
			if m["access_token"] == "" || m["token_type"] != "Bearer" || m["expires_in"] != json.Number("300") {
				t.Fatalf("token reply %s", res.body)
			}
			tok := m["access_token"].(string)
			wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK) // the token works
			if st := b.srv.Stats(); st.TokensIssued != 1 || st.TokenRequests != 1 {
				t.Fatalf("stats %+v, want 1 request and 1 token", st)
			}
		})
	}
}

func TestTokenRefusals(t *testing.T) {
	t.Parallel()

	refusing := Config{RefuseClientCredentials: true}
	tests := []struct {
		name       string
		cfg        Config
		form       url.Values
		user, pass string
		wantStatus int
		wantError  string
	}{
		{
			name: "client credentials refused", cfg: refusing,
			form: url.Values{"grant_type": {"client_credentials"}}, user: "sandbox-client", pass: "sandbox-secret",
			wantStatus: http.StatusBadRequest, wantError: "unauthorized_client",
		},
		{
			name: "wrong secret", form: url.Values{"grant_type": {"client_credentials"}},
			user: "sandbox-client", pass: "nope",
			wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name: "wrong password", form: url.Values{"grant_type": {"password"}, "username": {"sandbox-client"}, "password": {"nope"}},
			wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name: "wrong secret beats the refusal", cfg: refusing, form: url.Values{"grant_type": {"client_credentials"}},
			user: "other", pass: "sandbox-secret",
			wantStatus: http.StatusUnauthorized, wantError: "invalid_client",
		},
		{
			name: "unknown grant", form: url.Values{"grant_type": {"authorization_code"}},
			user: "sandbox-client", pass: "sandbox-secret",
			wantStatus: http.StatusBadRequest, wantError: "unsupported_grant_type",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, tt.cfg)
			res := b.postForm(t, "/token", tt.form, tt.user, tt.pass)
			wantStatus(t, res, tt.wantStatus)
			m := res.json(t)
			if m["error"] != tt.wantError {
				t.Fatalf("error %v, want %q", m["error"], tt.wantError)
			}
			if tt.wantError == "unauthorized_client" && m["error_description"] != "Client not enabled to retrieve service account" {
				t.Fatalf("error_description %v", m["error_description"])
			}
		})
	}
}

func TestTokenRefusalLeavesPasswordGrant(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{RefuseClientCredentials: true, ClientID: "merchant", ClientSecret: "s3cret"})
	res := b.postForm(t, "/token", url.Values{
		"grant_type": {"password"}, "username": {"merchant"}, "password": {"s3cret"},
		"client_id": {"merchant"}, "client_secret": {"s3cret"},
	}, "", "")
	wantStatus(t, res, http.StatusOK)
}

func TestTokenRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	form := url.Values{"grant_type": {"client_credentials"}}
	for range 10 {
		wantStatus(t, b.postForm(t, "/token", form, "sandbox-client", "sandbox-secret"), http.StatusOK)
		b.clock.Advance(time.Second) // 10 requests over 10 s: still inside one minute
	}
	res := b.postForm(t, "/token", form, "sandbox-client", "sandbox-secret")
	wantStatus(t, res, http.StatusTooManyRequests)
	// The refused request is in the window too, so a slot frees only when the second
	// request (at +1 s) leaves it: 61 s after the start, 51 s from now.
	if got := res.header.Get("Retry-After"); got != "51" {
		t.Fatalf("Retry-After %q, want 51", got)
	}
	// Another client id has its own window.
	other := url.Values{"grant_type": {"client_credentials"}, "client_id": {"other"}, "client_secret": {"x"}}
	wantStatus(t, b.postForm(t, "/token", other, "", ""), http.StatusUnauthorized)

	st := b.srv.Stats()
	if st.Violations.Token != 1 || st.TokenRequests != 12 || st.TokensIssued != 10 {
		t.Fatalf("stats %+v, want 1 token violation, 12 requests, 10 tokens", st)
	}

	b.clock.Advance(50 * time.Second)
	wantStatus(t, b.postForm(t, "/token", form, "sandbox-client", "sandbox-secret"), http.StatusTooManyRequests)
	b.clock.Advance(2 * time.Second)
	wantStatus(t, b.postForm(t, "/token", form, "sandbox-client", "sandbox-secret"), http.StatusOK)
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{TokenTTL: time.Minute})
	// Each check asks about another reference: refused arrivals count toward
	// the per-reference limit, which is not what this test is about.
	n := 0
	mobileQuery := func() map[string]any {
		n++
		q := mobileQuery()
		q["referenceNumber"] = fmt.Sprintf("%06d", 100000+n)
		return q
	}

	tok := b.token(t)
	b.clock.Advance(59 * time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
	b.clock.Advance(time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusUnauthorized)

	// ExpireTokens kills every token issued so far, not the ones issued after.
	tok = b.token(t)
	b.srv.ExpireTokens()
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusUnauthorized)
	wantStatus(t, b.check(t, b.token(t), mobileQuery()), http.StatusOK)

	// The early-expiry fault shortens the real lifetime but not the announced one.
	b.srv.SetFaults(Faults{TokenTTL: 5 * time.Second})
	res := b.postForm(t, "/token", url.Values{"grant_type": {"client_credentials"}}, "sandbox-client", "sandbox-secret")
	if got := res.json(t)["expires_in"]; got != json.Number("60") {
		t.Fatalf("expires_in %v, want the configured 60", got)
	}
	tok = res.json(t)["access_token"].(string)
	b.clock.Advance(5 * time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusUnauthorized)

	if got := b.srv.Stats().UnauthorizedChecks; got != 3 {
		t.Fatalf("unauthorized checks %d, want 3", got)
	}
}
