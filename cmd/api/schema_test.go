package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestMigrateOnStartParses(t *testing.T) {
	for v, want := range map[string]bool{"": true, "true": true, "1": true, "false": false, "0": false} {
		got, err := migrateOnStart(env(map[string]string{"MIGRATE_ON_START": v}))
		if err != nil || got != want {
			t.Errorf("MIGRATE_ON_START=%q: %v, %v; want %v", v, got, err, want)
		}
	}
	if _, err := migrateOnStart(env(map[string]string{"MIGRATE_ON_START": "no-thanks"})); err == nil ||
		!strings.Contains(err.Error(), "MIGRATE_ON_START") {
		t.Errorf("a bad value: %v; want an error naming the variable", err)
	}
}

// With MIGRATE_ON_START=false the API never touches the schema: it refuses an
// older one (the Job has not run) and starts on a current one. Left unset, it
// migrates, as it always did.
func TestPrepareSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	off := env(map[string]string{"MIGRATE_ON_START": "false"})

	empty := pgtest.NewEmpty(t)
	err := prepareSchema(ctx, off, empty.URL, empty.DB.DB, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "api migrate") {
		t.Fatalf("MIGRATE_ON_START=false on an empty schema: %v; want a refusal naming `api migrate`", err)
	}
	if cur, _, _ := database.Versions(ctx, empty.DB.DB); cur != 0 {
		t.Fatalf("MIGRATE_ON_START=false migrated anyway: schema version %d", cur)
	}

	current := pgtest.New(t)
	if err := prepareSchema(ctx, off, current.URL, current.DB.DB, zerolog.Nop()); err != nil {
		t.Fatalf("MIGRATE_ON_START=false on a current schema: %v", err)
	}

	if err := prepareSchema(ctx, env(nil), empty.URL, empty.DB.DB, zerolog.Nop()); err != nil {
		t.Fatalf("default (migrate at start): %v", err)
	}
	if cur, latest, _ := database.Versions(ctx, empty.DB.DB); cur != latest {
		t.Fatalf("after the default start the schema is at %d, want %d", cur, latest)
	}
}

func TestWaitSchemaReturnsOnCurrentSchema(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := waitSchema(ctx, pgtest.New(t).DB.DB); err != nil {
		t.Fatal(err)
	}
}
