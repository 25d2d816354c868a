package banksandbox

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxLiveTokens is how many tokens the sandbox keeps before it forgets the expired ones.
const maxLiveTokens = 1000

// tokenReply is Keycloak's token response.
type tokenReply struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	TokenType        string `json:"token_type"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
	Scope            string `json:"scope"`
}

// oauthError is Keycloak's error response.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// handleToken serves the Keycloak token endpoint: both grants, the per-client limit and the
// refusal switch, in the order Keycloak applies them (limit at the gateway, then client
// authentication, then whether the client may use the grant).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "invalid_request"})
		return
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	clientID, secret, basic := r.BasicAuth()
	if !basic {
		clientID, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if clientID == "" && grant == "password" {
		clientID = form.Get("username")
	}

	now := s.now()
	s.mu.Lock()
	s.stats.TokenRequests++
	verdict := s.admitToken(clientID, now)
	s.mu.Unlock()
	if verdict.refused {
		setRetryAfter(w, verdict.retryAfter)
		writeJSON(w, http.StatusTooManyRequests, oauthError{
			Error: "too_many_requests", ErrorDescription: "Too many token requests",
		})
		return
	}

	s.mu.Lock()
	refusal := s.faults.TokenRefusal
	refuseCC := s.cfg.RefuseClientCredentials && !s.faults.AcceptClientCredentials
	s.mu.Unlock()
	if refusal != "" && s.validClient(clientID, secret) || refusal != "" && s.validClient(form.Get("username"), form.Get("password")) {
		status := http.StatusBadRequest
		if refusal == "invalid_client" {
			status = http.StatusUnauthorized
		}
		writeJSON(w, status, oauthError{Error: refusal, ErrorDescription: "Client disabled (sandbox fault)"})
		return
	}

	switch grant {
	case "client_credentials":
		if !s.validClient(clientID, secret) {
			writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client"})
			return
		}
		if refuseCC {
			writeJSON(w, http.StatusBadRequest, oauthError{
				Error:            "unauthorized_client",
				ErrorDescription: "Client not enabled to retrieve service account",
			})
			return
		}
	case "password":
		// The user is the client itself; when the client also authenticates, it must agree.
		user, pass := form.Get("username"), form.Get("password")
		if !s.validClient(user, pass) || (secret != "" && !s.validClient(clientID, secret)) {
			writeJSON(w, http.StatusUnauthorized, oauthError{Error: "invalid_client"})
			return
		}
	default:
		writeJSON(w, http.StatusBadRequest, oauthError{Error: "unsupported_grant_type"})
		return
	}

	scope := form.Get("scope")
	if scope == "" {
		scope = "profile email"
	}
	writeJSON(w, http.StatusOK, tokenReply{
		AccessToken: s.issueToken(now),
		// The bank announces its usual lifetime even when a fault makes tokens die sooner:
		// that is what makes the fault a test of the client's 401/403 handling.
		ExpiresIn: int(s.cfg.TokenTTL / time.Second),
		TokenType: "Bearer",
		Scope:     scope,
	})
}

// validClient reports whether id and secret are the configured credentials.
func (s *Server) validClient(id, secret string) bool {
	return id == s.cfg.ClientID && secret == s.cfg.ClientSecret
}

// issueToken mints an opaque token valid from now for the configured (or faulted) lifetime.
func (s *Server) issueToken(now time.Time) string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	token := base64.RawURLEncoding.EncodeToString(b[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	ttl := s.cfg.TokenTTL
	if s.faults.TokenTTL > 0 {
		ttl = s.faults.TokenTTL
	}
	if len(s.tokens) >= maxLiveTokens {
		for t, exp := range s.tokens {
			if !now.Before(exp) {
				delete(s.tokens, t)
			}
		}
	}
	s.tokens[token] = now.Add(ttl)
	s.stats.TokensIssued++
	return token
}

// authorized reports whether r carries a live bearer token.
func (s *Server) authorized(r *http.Request, now time.Time) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[token]
	return ok && now.Before(exp)
}

// ExpireTokens makes every token issued so far expired, as if the bank had restarted its
// identity server; tokens issued afterwards are unaffected.
func (s *Server) ExpireTokens() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for t := range s.tokens {
		s.tokens[t] = now
	}
}

// setRetryAfter sets the Retry-After header in whole seconds, rounded up, at least 1.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
}
