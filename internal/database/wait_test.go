package database_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
)

func TestVersionsOfMigratedAndEmpty(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	cur, latest, err := database.Versions(ctx, pgtest.New(t).DB.DB)
	if err != nil || cur != latestVersion(t) || latest != latestVersion(t) {
		t.Fatalf("migrated: Versions = %d, %d, %v; want %d, %d", cur, latest, err, latestVersion(t), latestVersion(t))
	}
	cur, latest, err = database.Versions(ctx, pgtest.NewEmpty(t).DB.DB)
	if err != nil || cur != 0 || latest != latestVersion(t) {
		t.Fatalf("empty: Versions = %d, %d, %v; want 0, %d", cur, latest, err, latestVersion(t))
	}
}

// The initContainer's contract: it returns at once on a current schema, keeps
// waiting on an older one, and returns as soon as someone else migrates.
func TestWaitCurrentBlocksUntilMigrated(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	if err := database.WaitCurrent(ctx, pgtest.New(t).DB.DB, time.Hour, nil); err != nil {
		t.Fatalf("WaitCurrent on a migrated database: %v", err)
	}

	db := pgtest.NewEmpty(t)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	waits := 0
	err := database.WaitCurrent(short, db.DB.DB, 50*time.Millisecond, func(cur, latest int64, err error) { waits++ })
	if !errors.Is(err, context.DeadlineExceeded) || waits < 2 {
		t.Fatalf("WaitCurrent on an empty database: err %v after %d waits; want a deadline error after several", err, waits)
	}

	done := make(chan error, 1)
	go func() { done <- database.WaitCurrent(ctx, db.DB.DB, 50*time.Millisecond, nil) }()
	time.Sleep(150 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("WaitCurrent returned before the migration: %v", err)
	default:
	}
	if err := database.Migrate(ctx, db.DB.DB); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("WaitCurrent after the migration: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitCurrent still waiting 10 s after the migration")
	}
}
