package main

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/database"
)

// migrateOnStart reads MIGRATE_ON_START (default true). Read here rather than
// in internal/config because only the API's start uses it.
func migrateOnStart(getenv func(string) string) (bool, error) {
	v := getenv("MIGRATE_ON_START")
	if v == "" {
		return true, nil
	}
	on, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("config: MIGRATE_ON_START must be true or false, got %q", v)
	}
	return on, nil
}

// prepareSchema migrates at start (the default: one process, compose, `make
// run`), or, with MIGRATE_ON_START=false (Kubernetes, where a Job migrates
// and every replica starting together would otherwise race it), only checks
// that the schema is at least the one this binary embeds and refuses to serve
// on an older one.
func prepareSchema(ctx context.Context, getenv func(string) string, dsn string, db *sql.DB, log zerolog.Logger) error {
	on, err := migrateOnStart(getenv)
	if err != nil {
		return err
	}
	if on {
		return migrate(ctx, dsn, log)
	}
	current, latest, err := database.Versions(ctx, db)
	if err != nil {
		return err
	}
	if current < latest {
		return fmt.Errorf("MIGRATE_ON_START=false and the schema is at version %d, this binary needs %d: run `api migrate` first", current, latest)
	}
	log.Info().Int64("schema_version", current).Msg("MIGRATE_ON_START=false: schema is current, not migrating")
	return nil
}

// waitSchema is `api migrate wait`: it blocks until another process (the
// migration Job) has brought the schema up to this binary's, logging where it
// stands every few checks. Kubernetes runs it as an initContainer.
func waitSchema(ctx context.Context, db *sql.DB) error {
	checks := 0
	return database.WaitCurrent(ctx, db, 2*time.Second, func(current, latest int64, err error) {
		if checks++; checks%15 != 1 { // the first check, then about every 30 s
			return
		}
		if err != nil {
			fmt.Println("waiting for the schema:", err)
			return
		}
		fmt.Printf("waiting for the schema: version %d, this binary needs %d\n", current, latest)
	})
}
