package database

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Versions reports the schema version applied to the database and the latest
// migration embedded in this binary. It takes no migration lock, so it never
// waits behind (or blocks) a migration in progress.
func Versions(ctx context.Context, db *sql.DB) (current, latest int64, err error) {
	p, err := provider(db)
	if err != nil {
		return 0, 0, err
	}
	current, latest, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read schema version: %w", err)
	}
	return current, latest, nil
}

// WaitCurrent blocks until the database's schema is at least the latest
// migration this binary embeds, checking every `every`. It is what a process
// that must not migrate (an API replica on Kubernetes, where a Job migrates)
// runs before it starts: an older schema would make its queries fail, a newer
// one is the previous release's rollback window and is accepted. Errors
// reaching Postgres are waited out like a schema that is behind (the database
// may still be starting); only ctx ends the wait early. onWait, if not nil,
// hears each check that did not pass (err is nil when Postgres answered).
func WaitCurrent(ctx context.Context, db *sql.DB, every time.Duration, onWait func(current, latest int64, err error)) error {
	for {
		current, latest, err := Versions(ctx, db)
		if err == nil && current >= latest {
			return nil
		}
		if onWait != nil {
			onWait(current, latest, err)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("schema not current: %w (last error: %v)", ctx.Err(), err)
			}
			return fmt.Errorf("schema at version %d, this binary needs %d: %w", current, latest, ctx.Err())
		case <-time.After(every):
		}
	}
}
