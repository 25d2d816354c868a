package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/lib/pq"
)

// errPrefixTaken is a lookup-prefix collision at insert (retried with a new key).
var errPrefixTaken = errors.New("auth: api key prefix taken")

// KeysetPos is a position in a list ordered by (created_at, id), newest first:
// the next page starts strictly after it.
type KeysetPos struct {
	At time.Time
	ID string
}

// apiKeyRow is the api_keys row (and, for authentication, its owner's state).
type apiKeyRow struct {
	ID          string         `db:"id"`
	UserID      string         `db:"user_id"`
	Name        string         `db:"name"`
	Prefix      string         `db:"prefix"`
	KeyHash     []byte         `db:"key_hash"`
	Permissions pq.StringArray `db:"permissions"`
	ExpiresAt   *time.Time     `db:"expires_at"`
	CreatedAt   time.Time      `db:"created_at"`
	LastUsedAt  *time.Time     `db:"last_used_at"`
}

func (r apiKeyRow) public() APIKey {
	perms := []string(r.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return APIKey{ID: r.ID, UserID: r.UserID, Name: r.Name, Prefix: APIKeyPrefix + r.Prefix, Permissions: perms,
		ExpiresAt: utcPtr(r.ExpiresAt), CreatedAt: r.CreatedAt.UTC(), LastUsedAt: utcPtr(r.LastUsedAt)}
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

const apiKeyColumns = `k.id, k.user_id, k.name, k.prefix, k.key_hash, k.permissions, k.expires_at, k.created_at, k.last_used_at`

// CreateAPIKey inserts a key unless its owner already has max live
// (unrevoked, unexpired) keys. The owner's row is locked for the count and the
// insert, so concurrent creates cannot pass the cap together.
func (s *Store) CreateAPIKey(ctx context.Context, k apiKeyRow, max int) (APIKey, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key: begin: %w", err)
	}
	defer tx.Rollback()
	var live int
	err = tx.GetContext(ctx, &live, `SELECT count(*) FROM api_keys
		WHERE user_id = (SELECT id FROM users WHERE id = $1 FOR UPDATE)
		  AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`, k.UserID)
	if err != nil {
		return APIKey{}, fmt.Errorf("create api key: count live keys: %w", err)
	}
	if live >= max {
		return APIKey{}, ErrTooManyAPIKeys
	}
	var row apiKeyRow
	err = tx.GetContext(ctx, &row, `INSERT INTO api_keys AS k (user_id, name, prefix, key_hash, permissions, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+apiKeyColumns,
		k.UserID, k.Name, k.Prefix, k.KeyHash, pq.StringArray(k.Permissions), k.ExpiresAt)
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "23505" && pqErr.Constraint == "api_keys_prefix_key" {
			return APIKey{}, errPrefixTaken
		}
		return APIKey{}, fmt.Errorf("create api key: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return APIKey{}, fmt.Errorf("create api key: commit: %w", err)
	}
	return row.public(), nil
}

// apiKeyAuth is what authenticating a key needs, read in one query: the key
// and its owner's state and permissions at this moment.
type apiKeyAuth struct {
	ID               string         `db:"id"`
	UserID           string         `db:"user_id"`
	KeyHash          []byte         `db:"key_hash"`
	Permissions      pq.StringArray `db:"permissions"`
	ExpiresAt        sql.NullTime   `db:"expires_at"`
	RevokedAt        sql.NullTime   `db:"revoked_at"`
	OwnerEmail       string         `db:"email"`
	OwnerActive      bool           `db:"is_active"`
	OwnerPermissions pq.StringArray `db:"owner_permissions"`
}

// APIKeyForAuth finds a key by its lookup prefix (ErrNotFound when none).
func (s *Store) APIKeyForAuth(ctx context.Context, lookup string) (apiKeyAuth, error) {
	var a apiKeyAuth
	err := s.db.GetContext(ctx, &a, `SELECT k.id, k.user_id, k.key_hash, k.permissions, k.expires_at, k.revoked_at,
		u.email, u.is_active,
		COALESCE(ARRAY(SELECT p.name FROM user_permissions up JOIN permissions p ON p.id = up.permission_id
		               WHERE up.user_id = u.id ORDER BY p.id), '{}') AS owner_permissions
		FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.prefix = $1`, lookup)
	if errors.Is(err, sql.ErrNoRows) {
		return apiKeyAuth{}, ErrNotFound
	}
	if err != nil {
		return apiKeyAuth{}, fmt.Errorf("look up api key: %w", err)
	}
	return a, nil
}

// ListAPIKeys returns up to limit live (unrevoked) keys of ownerID ("" for
// all), newest first, after the position when after is non-nil. Expired keys
// are listed (their expires_at says so) until revoked.
func (s *Store) ListAPIKeys(ctx context.Context, ownerID string, after *KeysetPos, limit int) ([]APIKey, error) {
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys k WHERE k.revoked_at IS NULL`
	args := []any{}
	if ownerID != "" {
		args = append(args, ownerID)
		q += fmt.Sprintf(` AND k.user_id = $%d`, len(args))
	}
	if after != nil {
		args = append(args, after.At, after.ID)
		q += fmt.Sprintf(` AND (k.created_at, k.id) < ($%d, $%d)`, len(args)-1, len(args))
	}
	args = append(args, limit)
	q += fmt.Sprintf(` ORDER BY k.created_at DESC, k.id DESC LIMIT $%d`, len(args))
	var rows []apiKeyRow
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	keys := make([]APIKey, len(rows))
	for i, r := range rows {
		keys[i] = r.public()
	}
	return keys, nil
}

// RevokeAPIKey revokes a live key of ownerID ("" for any owner's); ErrNotFound
// when there is no such live key (or id is not a uuid).
func (s *Store) RevokeAPIKey(ctx context.Context, ownerID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return ErrNotFound
	}
	var owner sql.NullString
	if ownerID != "" {
		owner = sql.NullString{String: ownerID, Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE api_keys SET revoked_at = now()
		WHERE id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR user_id = $2::uuid)`, id, owner)
	if err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("revoke api key: %w", err)
	} else if n == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchAPIKeys sets last_used_at of many keys in ONE statement (the usage
// batcher's flush); a time never moves back.
func (s *Store) TouchAPIKeys(ctx context.Context, ids []string, at []time.Time) error {
	times := make(pq.StringArray, len(at))
	for i, t := range at {
		times[i] = t.UTC().Format(time.RFC3339Nano)
	}
	_, err := s.db.ExecContext(ctx, `UPDATE api_keys k SET last_used_at = v.at
		FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at)
		WHERE k.id = v.id AND (k.last_used_at IS NULL OR k.last_used_at < v.at)`,
		pq.StringArray(ids), times)
	if err != nil {
		return fmt.Errorf("record api key use: %w", err)
	}
	return nil
}

// ListUsersAfter returns up to limit users newest first (the order of
// ListUsers), after the position when after is non-nil; on users_created_at_idx.
func (s *Store) ListUsersAfter(ctx context.Context, after *KeysetPos, limit int) ([]User, error) {
	var users []User
	var err error
	if after == nil {
		err = s.db.SelectContext(ctx, &users, `SELECT `+userColumns+` FROM users u
			ORDER BY u.created_at DESC, u.id DESC LIMIT $1`, limit)
	} else {
		err = s.db.SelectContext(ctx, &users, `SELECT `+userColumns+` FROM users u
			WHERE (u.created_at, u.id) < ($1, $2) ORDER BY u.created_at DESC, u.id DESC LIMIT $3`, after.At, after.ID, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}
