package auth

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Storage errors, translated at this boundary.
var (
	ErrNotFound   = errors.New("auth: not found")
	ErrEmailTaken = errors.New("auth: email taken")
	// ErrRefreshReused means a rotated refresh token came back: its family is revoked.
	ErrRefreshReused  = errors.New("auth: refresh token reused")
	ErrRefreshInvalid = errors.New("auth: refresh token invalid or expired")
)

// User is a stored user with its permissions.
type User struct {
	ID           string         `db:"id" json:"id"`
	Email        string         `db:"email" json:"email"`
	PasswordHash string         `db:"password_hash" json:"-"`
	FullName     string         `db:"full_name" json:"full_name"`
	IsActive     bool           `db:"is_active" json:"is_active"`
	Permissions  pq.StringArray `db:"permissions" json:"permissions"`
	CreatedAt    time.Time      `db:"created_at" json:"created_at"`
}

// Store is the users, permissions and refresh-token tables.
type Store struct {
	db *sqlx.DB
}

// NewStore returns a Store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db} }

const userColumns = `u.id, u.email, u.password_hash, u.full_name, u.is_active, u.created_at,
	COALESCE(ARRAY(SELECT p.name FROM user_permissions up JOIN permissions p ON p.id = up.permission_id
	               WHERE up.user_id = u.id ORDER BY p.id), '{}') AS permissions`

// CreateUser inserts a user with permissions in one transaction.
func (s *Store) CreateUser(ctx context.Context, email, passwordHash, fullName string, perms []string) (User, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("create user: begin: %w", err)
	}
	defer tx.Rollback()
	var id string
	err = tx.GetContext(ctx, &id, `INSERT INTO users (email, password_hash, full_name) VALUES ($1, $2, $3) RETURNING id`,
		email, passwordHash, fullName)
	if err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "23505" {
			return User{}, ErrEmailTaken
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if err := setPermissions(ctx, tx, id, perms); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("create user: commit: %w", err)
	}
	return s.UserByID(ctx, id)
}

func setPermissions(ctx context.Context, tx *sqlx.Tx, userID string, perms []string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_permissions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("set permissions: clear: %w", err)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO user_permissions (user_id, permission_id)
		SELECT $1, id FROM permissions WHERE name = ANY($2)`, userID, pq.StringArray(perms))
	if err != nil {
		return fmt.Errorf("set permissions: %w", err)
	}
	return nil
}

// UserByEmail finds a user by email, case-insensitively.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users u WHERE lower(u.email) = lower($1)`, email)
}

// UserByID finds a user by id.
func (s *Store) UserByID(ctx context.Context, id string) (User, error) {
	return s.getUser(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id)
}

func (s *Store) getUser(ctx context.Context, query string, arg any) (User, error) {
	var u User
	if err := s.db.GetContext(ctx, &u, query, arg); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return User{}, ErrNotFound
		}
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "22P02" { // not a uuid
			return User{}, ErrNotFound
		}
		return User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// ListUsers returns a page of users, newest first, and the total count.
func (s *Store) ListUsers(ctx context.Context, limit, offset int) ([]User, int, error) {
	var total int
	if err := s.db.GetContext(ctx, &total, `SELECT count(*) FROM users`); err != nil {
		return nil, 0, fmt.Errorf("count users: %w", err)
	}
	var users []User
	err := s.db.SelectContext(ctx, &users, `SELECT `+userColumns+` FROM users u ORDER BY u.created_at DESC, u.id DESC LIMIT $1 OFFSET $2`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("list users: %w", err)
	}
	return users, total, nil
}

// SetPermissions replaces a user's permissions.
func (s *Store) SetPermissions(ctx context.Context, userID string, perms []string) (User, error) {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return User{}, err
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("set permissions: begin: %w", err)
	}
	defer tx.Rollback()
	if err := setPermissions(ctx, tx, userID, perms); err != nil {
		return User{}, err
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("set permissions: commit: %w", err)
	}
	return s.UserByID(ctx, userID)
}

// SetActive activates or deactivates a user; deactivation revokes its refresh tokens.
func (s *Store) SetActive(ctx context.Context, userID string, active bool) (User, error) {
	if _, err := s.UserByID(ctx, userID); err != nil {
		return User{}, err
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE users SET is_active = $2, updated_at = now() WHERE id = $1`, userID, active); err != nil {
		return User{}, fmt.Errorf("set active: %w", err)
	}
	if !active {
		if _, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL`, userID); err != nil {
			return User{}, fmt.Errorf("revoke refresh tokens: %w", err)
		}
	}
	return s.UserByID(ctx, userID)
}

// AdminExists reports whether any active user holds admin:access.
func (s *Store) AdminExists(ctx context.Context) (bool, error) {
	var ok bool
	err := s.db.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM user_permissions up JOIN permissions p ON p.id = up.permission_id
		JOIN users u ON u.id = up.user_id WHERE p.name = $1 AND u.is_active)`, PermAdmin)
	if err != nil {
		return false, fmt.Errorf("look up admin: %w", err)
	}
	return ok, nil
}

func hashToken(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// SaveRefresh stores a new refresh token (by hash) in a family.
func (s *Store) SaveRefresh(ctx context.Context, userID, familyID, raw string, expires time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		userID, familyID, hashToken(raw), expires)
	if err != nil {
		return fmt.Errorf("save refresh token: %w", err)
	}
	return nil
}

// RotateRefresh consumes a live refresh token and saves its successor (made
// by next, which is given the user and family) in ONE Postgres transaction,
// under a lock on the old row. A token that was already revoked is reuse: the
// whole family is revoked — successors included, since a concurrent rotation
// has either committed its successor (and the family update sees it) or will
// find its token revoked — and ErrRefreshReused returns the family id so its
// access tokens can be revoked too.
func (s *Store) RotateRefresh(ctx context.Context, raw string, next func(userID, familyID string) (newRaw string, expires time.Time, err error)) (userID, familyID string, err error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", "", fmt.Errorf("rotate refresh: begin: %w", err)
	}
	defer tx.Rollback()
	var row struct {
		UserID    string       `db:"user_id"`
		FamilyID  string       `db:"family_id"`
		ExpiresAt time.Time    `db:"expires_at"`
		RevokedAt sql.NullTime `db:"revoked_at"`
	}
	err = tx.GetContext(ctx, &row, `SELECT user_id, family_id, expires_at, revoked_at FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, hashToken(raw))
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", ErrRefreshInvalid
	}
	if err != nil {
		return "", "", fmt.Errorf("rotate refresh: %w", err)
	}
	if row.RevokedAt.Valid {
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL`, row.FamilyID); err != nil {
			return "", "", fmt.Errorf("revoke family: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return "", "", fmt.Errorf("revoke family: commit: %w", err)
		}
		return row.UserID, row.FamilyID, ErrRefreshReused
	}
	if time.Now().After(row.ExpiresAt) {
		return "", "", ErrRefreshInvalid
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1`, hashToken(raw)); err != nil {
		return "", "", fmt.Errorf("rotate refresh: revoke: %w", err)
	}
	newRaw, expires, err := next(row.UserID, row.FamilyID)
	if err != nil {
		return "", "", err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		row.UserID, row.FamilyID, hashToken(newRaw), expires); err != nil {
		return "", "", fmt.Errorf("rotate refresh: save: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", "", fmt.Errorf("rotate refresh: commit: %w", err)
	}
	return row.UserID, row.FamilyID, nil
}

// RevokeRefresh revokes a refresh token of userID (logout); unknown tokens are ignored.
func (s *Store) RevokeRefresh(ctx context.Context, userID, raw string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = now() WHERE token_hash = $1 AND user_id = $2 AND revoked_at IS NULL`,
		hashToken(raw), userID)
	if err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	return nil
}
