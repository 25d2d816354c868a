// Package pgtest gives each test its own freshly migrated Postgres database, cloned
// from a template that is migrated once, and drops it when the test ends. Tests
// therefore run in parallel, across packages too, and leave nothing behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/migrations"
)

// ServerURL is the Postgres server tests use: TEST_DATABASE_URL or the local one.
func ServerURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// URLFor returns the server URL with the database name replaced.
func URLFor(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(fmt.Sprintf("pgtest: TEST_DATABASE_URL: %v", err))
	}
	u.Path = "/" + name
	return u.String()
}

// DB is a throwaway database: its pool and its URL (for processes started by tests).
type DB struct {
	*sqlx.DB
	URL  string
	Name string
}

// New creates an empty migrated database for t and drops it at cleanup.
func New(t testing.TB) *DB {
	t.Helper()
	return create(t, true)
}

// NewEmpty creates a database with no schema at all (for migration tests).
func NewEmpty(t testing.TB) *DB {
	t.Helper()
	return create(t, false)
}

func create(t testing.TB, migrated bool) *DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := database.Open(ctx, ServerURL(), 2)
	if err != nil {
		t.Fatalf("pgtest: postgres unreachable at %s (start it: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start): %v", ServerURL(), err)
	}
	defer admin.Close()

	name := "test_" + randomHex(8)
	stmt := "CREATE DATABASE " + pq.QuoteIdentifier(name)
	if migrated {
		tmpl, err := ensureTemplate(ctx, admin)
		if err != nil {
			t.Fatalf("pgtest: template: %v", err)
		}
		stmt += " TEMPLATE " + pq.QuoteIdentifier(tmpl)
	}
	if err := execRetry(ctx, admin, stmt); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	dsn := URLFor(name)
	db, err := database.Open(ctx, dsn, 10)
	if err != nil {
		t.Fatalf("pgtest: open %s: %v", name, err)
	}
	t.Cleanup(func() {
		db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := database.Open(ctx, ServerURL(), 1)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return &DB{DB: db, URL: dsn, Name: name}
}

// ensureTemplate returns the name of a template database migrated to the current
// migrations, creating it once per distinct schema (its name carries the hash of
// the migration files, so a changed migration gets a new template).
func ensureTemplate(ctx context.Context, admin *sqlx.DB) (string, error) {
	name := "tmpl_verifier_" + migrationsHash()
	// One creator at a time across every test process.
	conn, err := admin.Connx(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		return "", fmt.Errorf("lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727274)`)

	var exists bool
	if err := conn.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1 AND datistemplate)`, name); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+pq.QuoteIdentifier(name)); err != nil {
		return "", err
	}
	db, err := database.Open(ctx, URLFor(name), 1)
	if err != nil {
		return "", err
	}
	err = database.Migrate(ctx, db.DB)
	db.Close()
	if err != nil {
		return "", err
	}
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(name)+" WITH is_template true"); err != nil {
		return "", err
	}
	return name, nil
}

// execRetry retries CREATE DATABASE while another session briefly holds the
// template (Postgres refuses to copy a database somebody is connected to).
func execRetry(ctx context.Context, db *sqlx.DB, stmt string) error {
	for i := 0; ; i++ {
		_, err := db.ExecContext(ctx, stmt)
		var pqErr *pq.Error
		if err == nil || i >= 50 || !errors.As(err, &pqErr) || pqErr.Code != "55006" {
			return err
		}
		time.Sleep(time.Duration(20+i*10) * time.Millisecond)
	}
}

func migrationsHash() string {
	h := sha256.New()
	entries, _ := fs.ReadDir(migrations.FS, ".")
	for _, e := range entries {
		b, _ := fs.ReadFile(migrations.FS, e.Name())
		h.Write([]byte(e.Name()))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return strings.ToLower(hex.EncodeToString(b))
}
