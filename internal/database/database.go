// Package database opens the Postgres pool (sqlx over lib/pq), creates the database
// when a developer machine lacks it, and applies the embedded goose migrations.
package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/banesco-verifier/verifier/migrations"
)

// Open connects to Postgres with a bounded pool and checks the connection.
// Sessions use the UTC time zone, so timestamps read back are in UTC whatever the
// server's setting (docs/api.md: times in UTC).
func Open(ctx context.Context, dsn string, maxConns int) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", withParams(dsn))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pingCtx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return db, nil
}

// withParams adds to a postgres:// URL what it does not choose itself:
//   - timezone=UTC (a lib/pq run-time parameter);
//   - binary_parameters=yes: lib/pq then sends a query with arguments in one
//     round trip (Parse, Bind, Execute together) instead of two (Parse and
//     Describe, wait, then Bind and Execute). A bank check makes about fifteen
//     such queries, so this halves the waits on Postgres of every check. The
//     price: []byte arguments go to the server in binary format, right for
//     bytea and text but not for jsonb (whose binary form starts with a
//     version byte), so JSON is always passed as a string.
func withParams(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn
	}
	q := u.Query()
	if q.Get("timezone") == "" && q.Get("TimeZone") == "" {
		q.Set("timezone", "UTC")
	}
	if q.Get("binary_parameters") == "" {
		q.Set("binary_parameters", "yes")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// EnsureExists creates the database named in dsn when it is missing, connecting to
// the server's "postgres" database to do so. It is for `make run` on a fresh
// machine; production databases are provisioned by their operators.
func EnsureExists(ctx context.Context, dsn string) error {
	u, err := url.Parse(dsn)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	if name == "" {
		return errors.New("DATABASE_URL names no database")
	}
	admin := *u
	admin.Path = "/postgres"
	db, err := Open(ctx, admin.String(), 1)
	if err != nil {
		return err
	}
	defer db.Close()
	var exists bool
	if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		var pqErr *pq.Error
		if errors.As(err, &pqErr) && pqErr.Code == "42P04" { // created meanwhile by another process
			return nil
		}
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

func provider(db *sql.DB) (*goose.Provider, error) {
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration under a Postgres advisory lock, so
// several API replicas starting together migrate once.
func Migrate(ctx context.Context, db *sql.DB) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// MigrateDown rolls back every migration (used by tests and `make migrate-down`).
func MigrateDown(ctx context.Context, db *sql.DB) error {
	p, err := provider(db)
	if err != nil {
		return err
	}
	if _, err := p.DownTo(ctx, 0); err != nil {
		return fmt.Errorf("roll back migrations: %w", err)
	}
	return nil
}

// Version reports the schema version currently applied.
func Version(ctx context.Context, db *sql.DB) (int64, error) {
	p, err := provider(db)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
