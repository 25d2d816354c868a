package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/lib/pq"
)

func TestTokensVerifyAcrossTime(t *testing.T) {
	t.Parallel()
	issued := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	ttl := 10 * time.Minute
	u := User{ID: "6f1c1d5e-0000-4000-8000-000000000001", Email: "a@example.test", Permissions: pq.StringArray{PermTransactionRead}}
	raw, claims, err := NewTokens("secret-0123456789abcdef", ttl, func() time.Time { return issued }).Issue(u, "family-1")
	if err != nil {
		t.Fatal(err)
	}
	if claims.Subject != u.ID || claims.ID == "" || claims.ExpiresAt.Time.Sub(claims.IssuedAt.Time) != ttl {
		t.Errorf("claims = %+v", claims)
	}
	tests := []struct {
		name   string
		secret string
		at     time.Time
		ok     bool
	}{
		{"at issue", "secret-0123456789abcdef", issued, true},
		{"just before expiry", "secret-0123456789abcdef", issued.Add(ttl - time.Second), true},
		{"within the 5s leeway", "secret-0123456789abcdef", issued.Add(ttl + 4*time.Second), true},
		{"after expiry and leeway", "secret-0123456789abcdef", issued.Add(ttl + 6*time.Second), false},
		{"before issue, beyond leeway", "secret-0123456789abcdef", issued.Add(-time.Minute), false},
		{"other secret", "secret-0123456789abcdeF", issued, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			at := tt.at
			got, err := NewTokens(tt.secret, ttl, func() time.Time { return at }).Verify(raw)
			if tt.ok && (err != nil || got.Subject != u.ID || got.Email != u.Email) {
				t.Errorf("Verify = %+v, %v; want the claims", got, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalidToken) {
				t.Errorf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestTokensRefuseOtherAlgorithms(t *testing.T) {
	t.Parallel()
	now := time.Now()
	tokens := NewTokens("secret-0123456789abcdef", time.Minute, nil)
	claims := Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, Subject: "s", ID: "j",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute))}}
	for _, tc := range []struct {
		method jwt.SigningMethod
		key    any
		ok     bool
	}{
		{jwt.SigningMethodHS256, []byte("secret-0123456789abcdef"), true},
		{jwt.SigningMethodHS384, []byte("secret-0123456789abcdef"), false},
		{jwt.SigningMethodHS512, []byte("secret-0123456789abcdef"), false},
		{jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, false},
	} {
		raw, err := jwt.NewWithClaims(tc.method, claims).SignedString(tc.key)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tokens.Verify(raw); (err == nil) != tc.ok {
			t.Errorf("%s: Verify error = %v, want ok=%v", tc.method.Alg(), err, tc.ok)
		}
	}
}

func TestRefreshTokensAreRandom(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok := newRefreshToken()
		if len(tok) != 43 || seen[tok] {
			t.Fatalf("refresh token %q: want 43 URL-safe characters, never repeated", tok)
		}
		seen[tok] = true
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header, want string
		ok           bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer    ", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := BearerToken(tt.header)
		if got != tt.want || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPrincipalHas(t *testing.T) {
	t.Parallel()
	var nobody *Principal
	if nobody.Has(PermTransactionRead) || nobody.IsAdmin() {
		t.Error("a nil principal holds permissions")
	}
	p := &Principal{Permissions: []string{PermTransactionRead}}
	if !p.Has(PermTransactionRead) || p.Has(PermTransactionCreate) || p.IsAdmin() {
		t.Errorf("Has/IsAdmin wrong for %v", p.Permissions)
	}
	for _, perm := range AllPermissions {
		if !ValidPermission(perm) {
			t.Errorf("ValidPermission(%q) = false", perm)
		}
	}
	if ValidPermission("admin") || ValidPermission("") {
		t.Error("ValidPermission accepts unknown names")
	}
}
