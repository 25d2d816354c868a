package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// API keys (docs/api.md, "API keys") let machine clients authenticate without
// a login: "Authorization: Bearer vk_…". A key acts as its owner with at most
// its own permissions, and never more than the owner holds at the moment of
// the request (both are read on every request, in one query).

// APIKeyPrefix starts every API key; tokens without it are JWTs.
const APIKeyPrefix = "vk_"

const (
	// apiKeyRandomBytes is the key's entropy: 256 bits, so a SHA-256 of it is
	// as good as a slow hash (nothing to brute-force) and costs microseconds.
	apiKeyRandomBytes = 32
	// apiKeyBodyLen is the base64url length of apiKeyRandomBytes.
	apiKeyBodyLen = 43
	// apiKeyLookupLen is how much of the body after "vk_" is stored in clear
	// as the indexed lookup prefix: 72 bits, so collisions never happen in
	// practice (a collision is retried), and 184 secret bits stay.
	apiKeyLookupLen = 12
	// MaxAPIKeyNameLen bounds a key's name (in characters).
	MaxAPIKeyNameLen = 100
)

// Errors of the API-key domain.
var (
	// ErrTooManyAPIKeys is a create past Options.MaxAPIKeysPerUser live keys.
	ErrTooManyAPIKeys = errors.New("auth: too many api keys")
)

// APIKey is a stored key as its owner sees it: never the key itself.
type APIKey struct {
	ID          string     `json:"id"`
	UserID      string     `json:"-"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"` // "vk_" and the lookup prefix: how the key starts
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
}

// NewAPIKey is a key just created: the only time the key is shown.
type NewAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// IsAPIKey reports whether a bearer token is meant as an API key.
func IsAPIKey(raw string) bool { return strings.HasPrefix(raw, APIKeyPrefix) }

// newAPIKey returns a fresh key and its lookup prefix.
func newAPIKey() (key, lookup string) {
	b := make([]byte, apiKeyRandomBytes)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err))
	}
	body := base64.RawURLEncoding.EncodeToString(b)
	return APIKeyPrefix + body, body[:apiKeyLookupLen]
}

// parseAPIKey checks a key's shape and returns its lookup prefix. A token of
// the wrong length or alphabet never reaches the database.
func parseAPIKey(raw string) (lookup string, ok bool) {
	body, found := strings.CutPrefix(raw, APIKeyPrefix)
	if !found || len(body) != apiKeyBodyLen {
		return "", false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return body[:apiKeyLookupLen], true
}

func hashAPIKey(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// CreateAPIKey makes a key for userID with perms (already checked against the
// caller's) and an optional expiry. It fails with ErrTooManyAPIKeys past the cap.
func (s *Service) CreateAPIKey(ctx context.Context, userID, name string, perms []string, expiresAt *time.Time) (NewAPIKey, error) {
	perms = normalizePermissions(perms)
	for attempt := 0; ; attempt++ {
		raw, lookup := newAPIKey()
		k, err := s.store.CreateAPIKey(ctx, apiKeyRow{UserID: userID, Name: name, Prefix: lookup,
			KeyHash: hashAPIKey(raw), Permissions: perms, ExpiresAt: expiresAt}, s.opts.MaxAPIKeysPerUser)
		if errors.Is(err, errPrefixTaken) && attempt < 3 {
			continue // 72 random bits collided: draw another key
		}
		if err != nil {
			return NewAPIKey{}, err
		}
		return NewAPIKey{APIKey: k, Key: raw}, nil
	}
}

// normalizePermissions drops duplicates and sorts perms as AllPermissions lists them.
func normalizePermissions(perms []string) []string {
	out := []string{}
	for _, p := range AllPermissions {
		if slices.Contains(perms, p) {
			out = append(out, p)
		}
	}
	return out
}

// authenticateKey turns an API key into a Principal. Every way a key can be
// unacceptable (shape, unknown, wrong hash, revoked, expired, owner
// deactivated) is ErrInvalidToken, so RequireAuth counts it as a failure of
// the IP; a database error is returned as such (503, never 401 or 500).
func (s *Service) authenticateKey(ctx context.Context, raw string) (*Principal, error) {
	lookup, ok := parseAPIKey(raw)
	if !ok {
		return nil, ErrInvalidToken
	}
	row, err := s.store.APIKeyForAuth(ctx, lookup)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	// The prefix is not secret (lists show it), so answering an unknown
	// prefix faster than a wrong hash reveals nothing; the secret part is
	// compared in constant time.
	if subtle.ConstantTimeCompare(hashAPIKey(raw), row.KeyHash) != 1 {
		return nil, ErrInvalidToken
	}
	now := s.opts.Now()
	if row.RevokedAt.Valid || (row.ExpiresAt.Valid && !now.Before(row.ExpiresAt.Time)) || !row.OwnerActive {
		return nil, ErrInvalidToken
	}
	var perms []string
	for _, p := range row.Permissions {
		if slices.Contains(row.OwnerPermissions, p) {
			perms = append(perms, p)
		}
	}
	s.usage.record(row.ID, now)
	return &Principal{UserID: row.UserID, Email: row.OwnerEmail, Permissions: perms, APIKeyID: row.ID}, nil
}

// ListAPIKeys returns a page of keys (ownerID "" for every user's), newest
// first, after the cursor position when after is non-nil.
func (s *Service) ListAPIKeys(ctx context.Context, ownerID string, after *KeysetPos, limit int) ([]APIKey, error) {
	return s.store.ListAPIKeys(ctx, ownerID, after, limit)
}

// RevokeAPIKey revokes a live key of ownerID ("" for any user's). The key is
// refused from the next request on: authentication reads revoked_at every time.
func (s *Service) RevokeAPIKey(ctx context.Context, ownerID, id string) error {
	return s.store.RevokeAPIKey(ctx, ownerID, id)
}

// FlushKeyUsage writes the pending last_used_at times now (the flusher does
// it every Options.KeyUsageFlush, and Close at shutdown).
func (s *Service) FlushKeyUsage(ctx context.Context) error { return s.usage.flush(ctx) }

// Close stops the key-usage flusher and writes what it holds. Call it after
// the HTTP server has stopped, before the database pool closes. Idempotent.
func (s *Service) Close() error { return s.usage.close() }
