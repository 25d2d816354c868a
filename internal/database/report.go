package database

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/lib/pq"
	"github.com/pressly/goose/v3"

	"github.com/banesco-verifier/verifier/migrations"
)

// NoticeFunc receives the messages Postgres sends while a statement runs
// (RAISE NOTICE). Migrations that change data report what they changed this
// way, row by row, so the operator who runs them reads it.
type NoticeFunc func(msg string)

// OpenReporting opens a pool whose connections pass Postgres notices to
// onNotice; use it to run migrations.
func OpenReporting(ctx context.Context, dsn string, maxConns int, onNotice NoticeFunc) (*sql.DB, error) {
	base, err := pq.NewConnector(withParams(dsn))
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	db := sql.OpenDB(pq.ConnectorWithNoticeHandler(base, func(n *pq.Error) { onNotice(n.Message) }))
	db.SetMaxOpenConns(maxConns)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("ping postgres: %w", err)
	}
	return db, nil
}

// Preview runs the pending migrations inside one Postgres transaction and rolls
// it back: nothing changes, and onNotice gets every NOTICE they would print
// (what they would flag or merge). It returns the versions it previewed.
func Preview(ctx context.Context, dsn string, onNotice NoticeFunc) ([]int64, error) {
	db, err := OpenReporting(ctx, dsn, 1, onNotice)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	p, err := provider(db)
	if err != nil {
		return nil, err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("read schema version: %w", err)
	}
	pending, err := pendingUps(current)
	if err != nil {
		return nil, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("preview: begin: %w", err)
	}
	defer tx.Rollback()
	var versions []int64
	for _, m := range pending {
		// No arguments: lib/pq sends the whole section as one simple query, so
		// the multi-statement file and its DO blocks run as goose runs them.
		if _, err := tx.ExecContext(ctx, m.up); err != nil {
			return versions, fmt.Errorf("preview migration %d: %w", m.version, err)
		}
		versions = append(versions, m.version)
	}
	return versions, nil // rolled back by the deferred Rollback
}

type upSection struct {
	version int64
	up      string
}

// pendingUps reads the Up sections of the embedded migrations after version.
func pendingUps(after int64) ([]upSection, error) {
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []upSection
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.ParseInt(prefix, 10, 64)
		if !ok || err != nil || v <= after || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		b, err := fs.ReadFile(migrations.FS, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", e.Name(), err)
		}
		text := string(b)
		_, up, ok := strings.Cut(text, "-- +goose Up")
		if !ok {
			return nil, fmt.Errorf("%s has no Up section", e.Name())
		}
		up, _, _ = strings.Cut(up, "-- +goose Down")
		if strings.Contains(up, "+goose NO TRANSACTION") {
			return nil, fmt.Errorf("%s runs outside a transaction and cannot be previewed", e.Name())
		}
		out = append(out, upSection{version: v, up: up})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// MigrateTo applies the migrations up to and including version (tests of data
// migrations start from an older schema).
func MigrateTo(ctx context.Context, db *sql.DB, version int64) error {
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		return fmt.Errorf("apply migrations to %d: %w", version, err)
	}
	return nil
}
