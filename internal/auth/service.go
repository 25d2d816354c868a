package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// redisTimeout bounds the Redis reads on every authenticated request.
const redisTimeout = 500 * time.Millisecond

// Options configure a Service.
type Options struct {
	JWTSecret          string
	AccessTokenTTL     time.Duration
	RefreshTokenTTL    time.Duration
	BcryptCost         int // bcrypt.DefaultCost when 0; tests use bcrypt.MinCost
	LoginMaxFailures   int
	LoginFailureWindow time.Duration
	Now                func() time.Time
	Logger             zerolog.Logger
}

// Service is the auth domain: it holds the store, the token signer and Redis
// (access-token revocation and the login brute-force counters).
type Service struct {
	store  *Store
	tokens *Tokens
	rdb    redis.UniversalClient
	opts   Options
	dummy  []byte // a bcrypt hash compared on unknown emails, so timing reveals nothing
}

// NewService wires the auth domain.
func NewService(store *Store, rdb redis.UniversalClient, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	dummy, _ := bcrypt.GenerateFromPassword([]byte("not-a-real-password"), opts.BcryptCost)
	return &Service{store: store, tokens: NewTokens(opts.JWTSecret, opts.AccessTokenTTL, opts.Now), rdb: rdb, opts: opts, dummy: dummy}
}

// Store exposes the user store (for the admin routes).
func (s *Service) Store() *Store { return s.store }

// TokenPair is what login and refresh return.
type TokenPair struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
}

// Register creates a user with the default permissions.
func (s *Service) Register(ctx context.Context, email, password, fullName string) (User, error) {
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	return s.store.CreateUser(ctx, strings.ToLower(email), string(hash), fullName, DefaultPermissions)
}

// ErrInvalidCredentials is a wrong email or password (never said which).
var ErrInvalidCredentials = errors.New("auth: invalid credentials")

// ErrTooManyFailures is returned while the brute-force limit holds; RetryAfter says how long.
type ErrTooManyFailures struct{ RetryAfter time.Duration }

func (e *ErrTooManyFailures) Error() string { return "auth: too many failed logins" }

func loginKey(ip, email string) string {
	// The email is hashed so Redis holds no personal data.
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	return "auth:login_failures:" + ip + ":" + hex.EncodeToString(h[:12])
}

// Login checks credentials under the per IP+email failure limit.
func (s *Service) Login(ctx context.Context, ip, email, password string) (TokenPair, error) {
	key := loginKey(ip, email)
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	failures, err := s.rdb.Get(rctx, key).Int()
	cancel()
	if err != nil && !errors.Is(err, redis.Nil) {
		return TokenPair{}, fmt.Errorf("read login failures: %w", err)
	}
	if failures >= s.opts.LoginMaxFailures {
		ttl, err := s.rdb.TTL(ctx, key).Result()
		if err != nil || ttl <= 0 {
			ttl = s.opts.LoginFailureWindow
		}
		return TokenPair{}, &ErrTooManyFailures{RetryAfter: ttl}
	}
	u, err := s.store.UserByEmail(ctx, email)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(s.dummy, []byte(password))
		return TokenPair{}, s.recordFailure(ctx, key)
	}
	if err != nil {
		return TokenPair{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil || !u.IsActive {
		return TokenPair{}, s.recordFailure(ctx, key)
	}
	if err := s.rdb.Del(ctx, key).Err(); err != nil {
		s.opts.Logger.Warn().Err(err).Msg("clear login failures")
	}
	return s.issuePair(ctx, u, uuid.NewString())
}

func (s *Service) recordFailure(ctx context.Context, key string) error {
	pipe := s.rdb.TxPipeline()
	pipe.Incr(ctx, key)
	pipe.ExpireNX(ctx, key, s.opts.LoginFailureWindow)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record login failure: %w", err)
	}
	return ErrInvalidCredentials
}

func (s *Service) issuePair(ctx context.Context, u User, familyID string) (TokenPair, error) {
	access, _, err := s.tokens.Issue(u)
	if err != nil {
		return TokenPair{}, err
	}
	refresh := newRefreshToken()
	if err := s.store.SaveRefresh(ctx, u.ID, familyID, refresh, s.opts.Now().Add(s.opts.RefreshTokenTTL)); err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(s.opts.AccessTokenTTL.Seconds())}, nil
}

// Refresh rotates a refresh token: the old one stops working, a new pair is issued
// in the same family.
func (s *Service) Refresh(ctx context.Context, raw string) (TokenPair, error) {
	userID, familyID, err := s.store.ConsumeRefresh(ctx, raw)
	if err != nil {
		return TokenPair{}, err
	}
	u, err := s.store.UserByID(ctx, userID)
	if err != nil {
		return TokenPair{}, err
	}
	if !u.IsActive {
		return TokenPair{}, ErrRefreshInvalid
	}
	return s.issuePair(ctx, u, familyID)
}

func revokedKey(jti string) string { return "auth:revoked:" + jti }

// Logout revokes the access token (until its expiry) and, when given, the refresh token.
func (s *Service) Logout(ctx context.Context, p *Principal, refresh string) error {
	ttl := time.Until(time.Unix(p.ExpiresAt, 0)) + time.Minute
	if err := s.rdb.Set(ctx, revokedKey(p.TokenID), "1", ttl).Err(); err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	if refresh != "" {
		return s.store.RevokeRefresh(ctx, p.UserID, refresh)
	}
	return nil
}

// Authenticate turns a raw bearer token into a Principal: valid signature and
// claims, not revoked, user still active; permissions come from the database.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	claims, err := s.tokens.Verify(raw)
	if err != nil {
		return nil, err
	}
	// A short bound: with Redis down the caller gets its 503 at once instead
	// of after the client's dial retries.
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	revoked, err := s.rdb.Exists(rctx, revokedKey(claims.ID)).Result()
	cancel()
	if err != nil {
		return nil, fmt.Errorf("check token revocation: %w", err)
	}
	if revoked > 0 {
		return nil, ErrInvalidToken
	}
	u, err := s.store.UserByID(ctx, claims.Subject)
	if errors.Is(err, ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, ErrInvalidToken
	}
	return &Principal{UserID: u.ID, Email: u.Email, Permissions: []string(u.Permissions), TokenID: claims.ID, ExpiresAt: claims.ExpiresAt.Unix()}, nil
}

// EnsureAdmin creates the bootstrap admin from ADMIN_EMAIL/ADMIN_PASSWORD when no
// active admin exists; if the email is already a user, that user is promoted.
func (s *Service) EnsureAdmin(ctx context.Context, email, password string) (created bool, err error) {
	exists, err := s.store.AdminExists(ctx)
	if err != nil || exists {
		return false, err
	}
	u, err := s.store.UserByEmail(ctx, email)
	switch {
	case errors.Is(err, ErrNotFound):
		hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
		if err != nil {
			return false, fmt.Errorf("hash admin password: %w", err)
		}
		if _, err := s.store.CreateUser(ctx, strings.ToLower(email), string(hash), "Administrator", AllPermissions); err != nil && !errors.Is(err, ErrEmailTaken) {
			return false, err
		}
		return true, nil
	case err != nil:
		return false, err
	}
	if _, err := s.store.SetPermissions(ctx, u.ID, AllPermissions); err != nil {
		return false, err
	}
	_, err = s.store.SetActive(ctx, u.ID, true)
	return true, err
}
