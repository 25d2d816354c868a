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
	LoginMaxFailures   int // failed attempts per IP and account in LoginFailureWindow
	LoginFailureWindow time.Duration
	// LoginMaxFailuresPerIP caps failed attempts from one IP across accounts
	// (default 4 × LoginMaxFailures); LoginMaxFailuresPerAccount caps them for
	// one account across IPs (default 10 × LoginMaxFailures), which slows a
	// distributed guess without letting one attacker lock an account out.
	LoginMaxFailuresPerIP      int
	LoginMaxFailuresPerAccount int
	// AuthFailuresPerIP caps invalid bearer tokens from one IP per minute
	// (default 60): past it, requests are answered 429 before any lookup.
	AuthFailuresPerIP int
	// KeyUsageFlush is how often the last_used_at of API keys is written, in
	// one statement for every key used since (default 30 s): the granularity
	// of last_used_at. KeyUsageMaxPending bounds the keys held between flushes
	// (default 10 000). MaxAPIKeysPerUser caps a user's live keys (default 100).
	KeyUsageFlush      time.Duration
	KeyUsageMaxPending int
	MaxAPIKeysPerUser  int
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
	dummy  []byte    // a bcrypt hash compared on unknown emails, so timing reveals nothing
	usage  *keyUsage // batched last_used_at of API keys
}

// NewService wires the auth domain.
func NewService(store *Store, rdb redis.UniversalClient, opts Options) *Service {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = bcrypt.DefaultCost
	}
	if opts.LoginMaxFailuresPerIP == 0 {
		opts.LoginMaxFailuresPerIP = 4 * opts.LoginMaxFailures
	}
	if opts.LoginMaxFailuresPerAccount == 0 {
		opts.LoginMaxFailuresPerAccount = 10 * opts.LoginMaxFailures
	}
	if opts.AuthFailuresPerIP == 0 {
		opts.AuthFailuresPerIP = 60
	}
	if opts.KeyUsageFlush <= 0 {
		opts.KeyUsageFlush = 30 * time.Second
	}
	if opts.KeyUsageMaxPending <= 0 {
		opts.KeyUsageMaxPending = 10_000
	}
	if opts.MaxAPIKeysPerUser <= 0 {
		opts.MaxAPIKeysPerUser = 100
	}
	dummy, _ := bcrypt.GenerateFromPassword([]byte("not-a-real-password"), opts.BcryptCost)
	return &Service{store: store, tokens: NewTokens(opts.JWTSecret, opts.AccessTokenTTL, opts.Now), rdb: rdb, opts: opts, dummy: dummy,
		usage: newKeyUsage(store, opts.KeyUsageFlush, opts.KeyUsageMaxPending, opts.Logger)}
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

// loginKeys are the three failure counters an attempt reserves a slot in:
// this IP and account, this IP across accounts, this account across IPs. The
// email is hashed so Redis holds no personal data. One script touches all
// three, so they share a hash tag: on a Redis Cluster a script's keys must
// live in one slot (the counters are small and short-lived; one slot holds
// them all easily).
func loginKeys(ip, email string) []string {
	h := sha256.Sum256([]byte(strings.ToLower(email)))
	acct := hex.EncodeToString(h[:12])
	const tag = "auth:{login_failures}:"
	return []string{tag + ip + ":" + acct, tag + "ip:" + ip, tag + "acct:" + acct}
}

// reserveScript reserves one attempt in every counter in one atomic step,
// BEFORE the password is checked: of 60 concurrent guesses only the first
// LoginMaxFailures get as far as bcrypt. It returns 0 and the milliseconds
// left of the longest exhausted window, or 1 when the attempt may proceed.
var reserveScript = redis.NewScript(`
local window = tonumber(ARGV[1])
local blocked = 0
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('PEXPIRE', key, window) end
  if n > tonumber(ARGV[i + 1]) then
    blocked = math.max(blocked, redis.call('PTTL', key), 1)
  end
end
if blocked > 0 then return {0, blocked} end
return {1, 0}
`)

// releaseScript gives back the slots of an attempt that succeeded: the IP and
// account counter is cleared, the wider ones lose the one slot.
var releaseScript = redis.NewScript(`
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if redis.call('DECR', KEYS[i]) <= 0 then redis.call('DEL', KEYS[i]) end
end
return 1
`)

// reserveAttempt is the brute-force gate shared by Login and HTTP Basic.
func (s *Service) reserveAttempt(ctx context.Context, keys []string) error {
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	res, err := reserveScript.Run(rctx, s.rdb, keys, s.opts.LoginFailureWindow.Milliseconds(),
		s.opts.LoginMaxFailures, s.opts.LoginMaxFailuresPerIP, s.opts.LoginMaxFailuresPerAccount).Int64Slice()
	if err != nil {
		return fmt.Errorf("reserve login attempt: %w", err)
	}
	if len(res) != 2 || res[0] != 1 {
		wait := time.Duration(max(res[len(res)-1], 1000)) * time.Millisecond
		return &ErrTooManyFailures{RetryAfter: wait}
	}
	return nil
}

func (s *Service) releaseAttempt(ctx context.Context, keys []string) {
	if err := releaseScript.Run(ctx, s.rdb, keys).Err(); err != nil {
		s.opts.Logger.Warn().Err(err).Msg("clear login failures")
	}
}

// Login checks credentials under the failure limits.
func (s *Service) Login(ctx context.Context, ip, email, password string) (TokenPair, error) {
	u, err := s.verifyPassword(ctx, ip, email, password)
	if err != nil {
		return TokenPair{}, err
	}
	return s.issuePair(ctx, u, uuid.NewString())
}

func (s *Service) issuePair(ctx context.Context, u User, familyID string) (TokenPair, error) {
	access, _, err := s.tokens.Issue(u, familyID)
	if err != nil {
		return TokenPair{}, err
	}
	refresh := newRefreshToken()
	if err := s.store.SaveRefresh(ctx, u.ID, familyID, refresh, s.opts.Now().Add(s.opts.RefreshTokenTTL)); err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(s.opts.AccessTokenTTL.Seconds())}, nil
}

// Refresh rotates a refresh token: the old one stops working and its successor
// is saved in the same Postgres transaction. Reuse of a rotated token revokes
// the family: its refresh tokens and, through Redis, its access tokens.
func (s *Service) Refresh(ctx context.Context, raw string) (TokenPair, error) {
	refresh := newRefreshToken()
	userID, familyID, err := s.store.RotateRefresh(ctx, raw, func(string, string) (string, time.Time, error) {
		return refresh, s.opts.Now().Add(s.opts.RefreshTokenTTL), nil
	})
	if errors.Is(err, ErrRefreshReused) {
		// Until the longest-lived access token of the family has expired.
		if rerr := s.rdb.Set(ctx, revokedFamilyKey(familyID), "1", s.opts.AccessTokenTTL+time.Minute).Err(); rerr != nil {
			return TokenPair{}, fmt.Errorf("revoke family access tokens: %w", rerr)
		}
		s.opts.Logger.Warn().Str("user", userID).Msg("refresh token reused: its family is revoked")
		return TokenPair{}, err
	}
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
	access, _, err := s.tokens.Issue(u, familyID)
	if err != nil {
		return TokenPair{}, err
	}
	return TokenPair{AccessToken: access, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(s.opts.AccessTokenTTL.Seconds())}, nil
}

func revokedKey(jti string) string          { return "auth:revoked:" + jti }
func revokedFamilyKey(family string) string { return "auth:revoked_family:" + family }

// ErrAPIKeyLogout is a logout sent with an API key: a key has no session to
// end; it is revoked with DELETE /api/v1/api-keys/{id}.
var ErrAPIKeyLogout = errors.New("auth: an api key cannot log out")

// Logout revokes the access token (until its expiry) and, when given, the refresh token.
func (s *Service) Logout(ctx context.Context, p *Principal, refresh string) error {
	if p.APIKeyID != "" {
		return ErrAPIKeyLogout
	}
	ttl := time.Until(time.Unix(p.ExpiresAt, 0)) + time.Minute
	if err := s.rdb.Set(ctx, revokedKey(p.TokenID), "1", ttl).Err(); err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	if refresh != "" {
		return s.store.RevokeRefresh(ctx, p.UserID, refresh)
	}
	return nil
}

// Authenticate turns a raw bearer token into a Principal. Tokens starting with
// "vk_" are API keys (authenticateKey); anything else is a JWT access token:
// valid signature and claims, not revoked, user still active; permissions
// come from the database.
func (s *Service) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if IsAPIKey(raw) {
		return s.authenticateKey(ctx, raw)
	}
	claims, err := s.tokens.Verify(raw)
	if err != nil {
		return nil, err
	}
	// A short bound: with Redis down the caller gets its 503 at once instead
	// of after the client's dial retries.
	rctx, cancel := context.WithTimeout(ctx, redisTimeout)
	// One EXISTS per key in a pipeline, not EXISTS k1 k2: the two keys hash
	// to different slots of a Redis Cluster, and a pipeline is still one
	// round trip on a single server.
	keys := []string{revokedKey(claims.ID)}
	if claims.Family != "" {
		keys = append(keys, revokedFamilyKey(claims.Family))
	}
	pipe := s.rdb.Pipeline()
	found := make([]*redis.IntCmd, len(keys))
	for i, k := range keys {
		found[i] = pipe.Exists(rctx, k)
	}
	_, err = pipe.Exec(rctx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("check token revocation: %w", err)
	}
	for _, f := range found {
		if f.Val() > 0 {
			return nil, ErrInvalidToken
		}
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
