package api_test

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/banesco-verifier/verifier/internal/auth"
)

// claimsFor are the claims the server itself would put in a token for u.
func claimsFor(u user, now time.Time) auth.Claims {
	return auth.Claims{
		Email: u.Email,
		Perms: u.Permissions,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    auth.Issuer,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
			ID:        uuid.NewString(),
		},
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign %s: %v", method.Alg(), err)
	}
	return s
}

func b64(t *testing.T, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(raw)
}

// handHS256 builds a token without the jwt library: header.payload.HMAC.
func handHS256(t *testing.T, header, payload any, secret string) string {
	t.Helper()
	signing := b64(t, header) + "." + b64(t, payload)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestForgedTokensAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	now := time.Now()
	secret := []byte(testSecret)

	with := func(mod func(c *auth.Claims)) auth.Claims {
		c := claimsFor(a.user, now)
		mod(&c)
		return c
	}
	// A real token with its payload swapped for one naming the admin.
	admin := b.login(t, adminEmail, adminPassword)
	parts := strings.Split(a.tokens.AccessToken, ".")
	adminParts := strings.Split(admin.AccessToken, ".")
	handPayload := map[string]any{"iss": auth.Issuer, "sub": a.ID, "email": a.Email, "perms": a.Permissions,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(), "jti": uuid.NewString()}

	tests := []struct {
		name  string
		token string
		want  int
	}{
		// Controls: built the same ways as the forgeries, but genuine, so the
		// refusals below are for the reason each case names.
		{"control: library HS256 with the server's key", sign(t, jwt.SigningMethodHS256, secret, claimsFor(a.user, now)), http.StatusOK},
		{"control: hand-made HS256 with the server's key", handHS256(t, map[string]string{"alg": "HS256", "typ": "JWT"}, handPayload, testSecret), http.StatusOK},
		{"control: the token login gave", a.tokens.AccessToken, http.StatusOK},

		{"expired", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) {
			c.IssuedAt = jwt.NewNumericDate(now.Add(-2 * time.Hour))
			c.NotBefore = c.IssuedAt
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
		})), http.StatusUnauthorized},
		{"signed with another key", sign(t, jwt.SigningMethodHS256, []byte("another-secret-0123456789abcdefgh"), claimsFor(a.user, now)), http.StatusUnauthorized},
		{"alg none via library", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, claimsFor(a.user, now)), http.StatusUnauthorized},
		{"alg none by hand", b64(t, map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(t, handPayload) + ".", http.StatusUnauthorized},
		{"alg NONE by hand with a signature", b64(t, map[string]string{"alg": "NONE", "typ": "JWT"}) + "." + b64(t, handPayload) + "." + strings.Split(a.tokens.AccessToken, ".")[2], http.StatusUnauthorized},
		{"HS512 with the server's key", sign(t, jwt.SigningMethodHS512, secret, claimsFor(a.user, now)), http.StatusUnauthorized},
		{"RS256 with a key of its own", sign(t, jwt.SigningMethodRS256, rsaKey(t), claimsFor(a.user, now)), http.StatusUnauthorized},
		{"header says RS256, HS256 signature with the secret", handHS256(t, map[string]string{"alg": "RS256", "typ": "JWT"}, handPayload, testSecret), http.StatusUnauthorized},
		{"HS384 with the server's key", sign(t, jwt.SigningMethodHS384, secret, claimsFor(a.user, now)), http.StatusUnauthorized},
		{"header says HS512, HS256 signature", handHS256(t, map[string]string{"alg": "HS512", "typ": "JWT"}, handPayload, testSecret), http.StatusUnauthorized},
		{"payload swapped for the admin's", parts[0] + "." + adminParts[1] + "." + parts[2], http.StatusUnauthorized},
		{"payload edited by hand", parts[0] + "." + b64(t, handPayload) + "." + parts[2], http.StatusUnauthorized},
		{"signature stripped", parts[0] + "." + parts[1] + ".", http.StatusUnauthorized},
		{"other issuer", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Issuer = "someone-else" })), http.StatusUnauthorized},
		{"no expiry", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ExpiresAt = nil })), http.StatusUnauthorized},
		{"not valid yet", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })), http.StatusUnauthorized},
		{"issued in the future", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })), http.StatusUnauthorized},
		{"no jti", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.ID = "" })), http.StatusUnauthorized},
		{"no subject", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Subject = "" })), http.StatusUnauthorized},
		{"unknown subject", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Subject = uuid.NewString() })), http.StatusUnauthorized},
		{"subject not a uuid", sign(t, jwt.SigningMethodHS256, secret, with(func(c *auth.Claims) { c.Subject = "1 OR 1=1" })), http.StatusUnauthorized},
		{"not a JWT", "not.a.jwt", http.StatusUnauthorized},
		{"random text", "hello", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.get(t, "/api/v1/auth/me", tt.token)
			if tt.want == http.StatusOK {
				wantStatus(t, r, http.StatusOK)
				var got user
				r.decode(t, &got)
				if got.ID != a.ID {
					t.Errorf("/auth/me answered for %s, want %s", got.ID, a.ID)
				}
				return
			}
			wantError(t, r, tt.want, "unauthorized")
		})
	}
}

func TestAuthorizationHeaderForms(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	tests := []struct {
		header string
		want   int
	}{
		{"Bearer " + a.tokens.AccessToken, http.StatusOK},
		{"bearer " + a.tokens.AccessToken, http.StatusOK},
		{"Bearer", http.StatusUnauthorized},
		{"Bearer ", http.StatusUnauthorized},
		{"Basic " + base64.StdEncoding.EncodeToString([]byte(adminEmail+":"+adminPassword)), http.StatusUnauthorized},
		{"Token " + a.tokens.AccessToken, http.StatusUnauthorized},
		{a.tokens.AccessToken, http.StatusUnauthorized},
	}
	for i, tt := range tests {
		r := b.do(t, request{method: http.MethodGet, path: "/api/v1/auth/me", header: map[string]string{"Authorization": tt.header}})
		if r.status != tt.want {
			t.Errorf("case %d: Authorization %.20q… → %d, want %d", i, tt.header, r.status, tt.want)
		}
	}
}

// rsaKey is a fresh RSA key: an RS256 token must be refused whoever signed it.
func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
