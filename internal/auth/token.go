package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Issuer is the iss claim of every access token; tokens from elsewhere are refused.
const Issuer = "verifier"

// Claims are the access token's claims (docs/api.md: sub, email, perms, iat, exp, jti).
type Claims struct {
	Email string   `json:"email"`
	Perms []string `json:"perms"`
	// Family is the login (refresh-token family) the token belongs to: when a
	// rotated refresh token is reused, every access token of its family is
	// refused too.
	Family string `json:"fid,omitempty"`
	jwt.RegisteredClaims
}

// Tokens signs and verifies access tokens and mints refresh tokens.
type Tokens struct {
	secret    []byte
	accessTTL time.Duration
	now       func() time.Time
	parser    *jwt.Parser
}

// NewTokens returns a signer/verifier for HS256 tokens with secret.
func NewTokens(secret string, accessTTL time.Duration, now func() time.Time) *Tokens {
	if now == nil {
		now = time.Now
	}
	return &Tokens{
		secret:    []byte(secret),
		accessTTL: accessTTL,
		now:       now,
		// Only HS256: a token claiming "none", HS512 or RS256 is refused before its
		// signature is even looked at (the classic algorithm-confusion attacks).
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
			jwt.WithLeeway(5*time.Second),
		),
	}
}

// Issue signs an access token for a user of a login family and returns it with its claims.
func (t *Tokens) Issue(u User, family string) (string, Claims, error) {
	now := t.now()
	claims := Claims{
		Email:  u.Email,
		Perms:  []string(u.Permissions),
		Family: family,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   u.ID,
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(t.accessTTL)),
			ID:        uuid.NewString(),
		},
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(t.secret)
	if err != nil {
		return "", Claims{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, claims, nil
}

// ErrInvalidToken covers every way an access token can be unacceptable.
var ErrInvalidToken = errors.New("auth: invalid access token")

// Verify checks signature, algorithm, issuer and times, and returns the claims.
func (t *Tokens) Verify(raw string) (Claims, error) {
	var claims Claims
	tok, err := t.parser.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return t.secret, nil })
	if err != nil || !tok.Valid || claims.Subject == "" || claims.ID == "" {
		return Claims{}, ErrInvalidToken
	}
	return claims, nil
}

// newRefreshToken returns 256 random bits, URL-safe; only its hash is stored.
func newRefreshToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
