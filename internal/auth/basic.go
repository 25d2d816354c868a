package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// CheckPassword verifies an email and password (HTTP Basic on the operator
// pages) under the same per IP+email failure limit as Login, and returns the
// user as a Principal without issuing tokens. Wrong credentials are
// ErrInvalidCredentials and count as a failed login; while the limit holds the
// error is *ErrTooManyFailures.
func (s *Service) CheckPassword(ctx context.Context, ip, email, password string) (*Principal, error) {
	u, err := s.verifyPassword(ctx, ip, email, password)
	if err != nil {
		return nil, err
	}
	return principalOf(u), nil
}

// verifyPassword checks an email and password for Login and HTTP Basic alike.
// The attempt reserves its slot in the failure counters before bcrypt runs
// (so concurrent guesses cannot all get through), and gives it back when the
// password is right. Input that cannot be an email or a password (invalid
// UTF-8, NUL, too long) is a failed attempt without touching Postgres.
func (s *Service) verifyPassword(ctx context.Context, ip, email, password string) (User, error) {
	keys := loginKeys(ip, email)
	if err := s.reserveAttempt(ctx, keys); err != nil {
		return User{}, err
	}
	if !plausible(email, 320) || !plausible(password, 1024) {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte("x"))
		return User{}, ErrInvalidCredentials
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil || !u.IsActive {
		return User{}, ErrInvalidCredentials
	}
	s.releaseAttempt(ctx, keys)
	return u, nil
}

// plausible reports whether s is valid UTF-8 without NUL and at most max bytes.
func plausible(s string, max int) bool {
	return len(s) <= max && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func principalOf(u User) *Principal {
	return &Principal{UserID: u.ID, Email: u.Email, Permissions: []string(u.Permissions)}
}

// BasicResult says how BasicCache.Check decided.
type BasicResult string

// Results of BasicCache.Check.
const (
	BasicCached   BasicResult = "cache_hit" // a recent success, re-validated against the database
	BasicVerified BasicResult = "verified"  // the password was checked with bcrypt
	BasicRejected BasicResult = "rejected"  // wrong credentials, an inactive user or the failure limit
)

// BasicCache remembers successful HTTP Basic verifications for a short TTL so
// that a dashboard polling with the same credentials does not pay a bcrypt hash
// per request. Entries are keyed by an HMAC (random per-process key) of email and
// password, so memory never holds a fast unsalted hash of a password. A hit is
// still re-validated against the database (one indexed read): the user must
// exist, be active and have the same password hash, so deactivating a user or
// changing a password takes effect at once; permissions are read fresh. Failed
// attempts are never cached: they go through CheckPassword and its failure limit.
type BasicCache struct {
	svc    *Service
	ttl    time.Duration
	secret []byte
	now    func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]basicEntry
}

type basicEntry struct {
	userID       string
	passwordHash string
	expires      time.Time
}

// maxBasicEntries bounds the cache; a full cache drops expired entries, then
// everything (the next requests simply pay bcrypt again).
const maxBasicEntries = 1024

// NewBasicCache returns a cache over svc; ttl ≤ 0 means one minute.
func NewBasicCache(svc *Service, ttl time.Duration) *BasicCache {
	if ttl <= 0 {
		ttl = time.Minute
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		panic(fmt.Sprintf("auth: random key: %v", err))
	}
	return &BasicCache{svc: svc, ttl: ttl, secret: secret, now: svc.opts.Now, entries: map[[sha256.Size]byte]basicEntry{}}
}

func (b *BasicCache) key(email, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, b.secret)
	email = strings.ToLower(email)
	fmt.Fprintf(m, "%d:%s:%s", len(email), email, password)
	var k [sha256.Size]byte
	copy(k[:], m.Sum(nil))
	return k
}

// Check verifies Basic credentials, from the cache when it can. The error is
// ErrInvalidCredentials, *ErrTooManyFailures or an infrastructure error.
func (b *BasicCache) Check(ctx context.Context, ip, email, password string) (*Principal, BasicResult, error) {
	k := b.key(email, password)
	now := b.now()
	b.mu.Lock()
	e, ok := b.entries[k]
	b.mu.Unlock()
	if ok && now.Before(e.expires) {
		u, err := b.svc.store.UserByID(ctx, e.userID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, BasicRejected, err
		}
		if err == nil && u.IsActive && u.PasswordHash == e.passwordHash {
			return principalOf(u), BasicCached, nil
		}
	}
	if ok {
		b.mu.Lock()
		delete(b.entries, k)
		b.mu.Unlock()
	}
	u, err := b.svc.verifyPassword(ctx, ip, email, password)
	if err != nil {
		return nil, BasicRejected, err
	}
	b.mu.Lock()
	if len(b.entries) >= maxBasicEntries {
		for key, e := range b.entries {
			if !now.Before(e.expires) {
				delete(b.entries, key)
			}
		}
		if len(b.entries) >= maxBasicEntries {
			clear(b.entries)
		}
	}
	b.entries[k] = basicEntry{userID: u.ID, passwordHash: u.PasswordHash, expires: now.Add(b.ttl)}
	b.mu.Unlock()
	return principalOf(u), BasicVerified, nil
}
