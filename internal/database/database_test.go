package database_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/migrations"
)

// Schema objects the migrations create and the rest of the code relies on.
var (
	wantTables = []string{"users", "permissions", "user_permissions", "refresh_tokens", "transactions", "transaction_events", "payment_claims", "outbox_events", "webhook_endpoints", "webhook_deliveries"}
	wantEnums  = []string{"transaction_status", "bank_name", "transaction_type", "actor_type"}
	wantIndex  = []string{"users_email_key", "refresh_tokens_family_idx", "transactions_transaction_id_key",
		"transactions_reference_digits_type_key", "transactions_due_idx", "transaction_events_transaction_idx",
		"payment_claims_movement_key"}
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// latestVersion is the highest NNNNN prefix among the embedded migrations.
func latestVersion(t *testing.T) int64 {
	t.Helper()
	entries, err := fs.ReadDir(migrations.FS, ".")
	if err != nil {
		t.Fatalf("read migrations: %v", err)
	}
	var latest int64
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			t.Fatalf("migration %s has no numeric version: %v", e.Name(), err)
		}
		latest = max(latest, v)
	}
	if latest == 0 {
		t.Fatal("no migrations embedded")
	}
	return latest
}

// schemaState reports which of the expected objects exist.
func schemaState(t *testing.T, db *sqlx.DB) (present, missing []string) {
	t.Helper()
	ctx := ctxT(t)
	check := func(name, query string) {
		var ok bool
		if err := db.GetContext(ctx, &ok, query, name); err != nil {
			t.Fatalf("look up %s: %v", name, err)
		}
		if ok {
			present = append(present, name)
		} else {
			missing = append(missing, name)
		}
	}
	for _, n := range wantTables {
		check(n, `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relkind = 'r')`)
	}
	for _, n := range wantEnums {
		check(n, `SELECT EXISTS (SELECT 1 FROM pg_type WHERE typname = $1 AND typtype = 'e')`)
	}
	for _, n := range wantIndex {
		check(n, `SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1 AND relkind = 'i')`)
	}
	return present, missing
}

func wantVersion(t *testing.T, db *sqlx.DB, want int64) {
	t.Helper()
	got, err := database.Version(ctxT(t), db.DB)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	if got != want {
		t.Errorf("schema version = %d, want %d", got, want)
	}
}

func TestMigrateUpDownUp(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t)
	ctx := ctxT(t)
	latest := latestVersion(t)

	if present, _ := schemaState(t, db.DB); len(present) != 0 {
		t.Fatalf("an empty database already has %v", present)
	}
	for round := 1; round <= 2; round++ {
		if err := database.Migrate(ctx, db.DB.DB); err != nil {
			t.Fatalf("round %d: Migrate: %v", round, err)
		}
		if _, missing := schemaState(t, db.DB); len(missing) != 0 {
			t.Errorf("round %d: after up, missing %v", round, missing)
		}
		wantVersion(t, db.DB, latest)
		var perms []string
		if err := db.SelectContext(ctx, &perms, `SELECT name FROM permissions ORDER BY id`); err != nil {
			t.Fatalf("round %d: read permissions: %v", round, err)
		}
		if want := "transaction:create,transaction:read,transaction:update,transaction:delete,admin:access,webhook:manage"; strings.Join(perms, ",") != want {
			t.Errorf("round %d: seeded permissions = %v, want %s", round, perms, want)
		}
		if round == 2 {
			break
		}
		if err := database.MigrateDown(ctx, db.DB.DB); err != nil {
			t.Fatalf("MigrateDown: %v", err)
		}
		if present, _ := schemaState(t, db.DB); len(present) != 0 {
			t.Errorf("after down, still present: %v", present)
		}
		wantVersion(t, db.DB, 0)
	}
}

func TestMigrateIsIdempotentAndSafeConcurrently(t *testing.T) {
	t.Parallel()
	db := pgtest.NewEmpty(t)
	ctx := ctxT(t)

	// Several replicas starting together: the advisory lock makes them take turns.
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = database.Migrate(ctx, db.DB.DB)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate #%d: %v", i, err)
		}
	}
	if err := database.Migrate(ctx, db.DB.DB); err != nil {
		t.Errorf("Migrate on an up-to-date schema: %v", err)
	}
	wantVersion(t, db.DB, latestVersion(t))
}

func TestVersionOfEmptyDatabase(t *testing.T) {
	t.Parallel()
	wantVersion(t, pgtest.NewEmpty(t).DB, 0)
}

func randomName(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "test_ensure_" + hex.EncodeToString(b)
}

func TestEnsureExistsCreatesMissingDatabase(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	name := randomName(t)
	admin, err := database.Open(ctx, pgtest.ServerURL(), 1)
	if err != nil {
		t.Fatalf("open server: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+pq.QuoteIdentifier(name)+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
		admin.Close()
	})
	exists := func() bool {
		var ok bool
		if err := admin.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
			t.Fatalf("look up %s: %v", name, err)
		}
		return ok
	}
	if exists() {
		t.Fatalf("%s exists before the test", name)
	}
	dsn := pgtest.URLFor(name)
	if err := database.EnsureExists(ctx, dsn); err != nil {
		t.Fatalf("EnsureExists: %v", err)
	}
	if !exists() {
		t.Fatalf("EnsureExists did not create %s", name)
	}
	if err := database.EnsureExists(ctx, dsn); err != nil {
		t.Errorf("EnsureExists on an existing database: %v", err)
	}
	db, err := database.Open(ctx, dsn, 1)
	if err != nil {
		t.Fatalf("open the created database: %v", err)
	}
	db.Close()
}

func TestEnsureExistsRejectsBadURL(t *testing.T) {
	t.Parallel()
	for _, dsn := range []string{"postgres://postgres@127.0.0.1:5432/", "postgres://postgres@127.0.0.1:5432", "://bad"} {
		if err := database.EnsureExists(ctxT(t), dsn); err == nil {
			t.Errorf("EnsureExists(%q) = nil, want an error", dsn)
		}
	}
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	// Port 1 on localhost: nothing listens, the connection is refused at once.
	db, err := database.Open(ctxT(t), "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2", 1)
	if err == nil {
		db.Close()
		t.Fatal("Open of an unreachable server succeeded")
	}
	if !strings.Contains(err.Error(), "ping postgres") {
		t.Errorf("error %q does not name the operation", err)
	}
}

func TestOpenReadsTimesInUTC(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	// A server or database configured for local time must not leak its offset
	// into the API's timestamps (docs/api.md: times in UTC).
	tmp := pgtest.New(t)
	if _, err := tmp.ExecContext(ctx, "ALTER DATABASE "+pq.QuoteIdentifier(tmp.Name)+" SET timezone TO 'America/Caracas'"); err != nil {
		t.Fatalf("set timezone: %v", err)
	}
	db, err := database.Open(ctx, tmp.URL, 1)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer db.Close()
	var now time.Time
	if err := db.GetContext(ctx, &now, `SELECT now()`); err != nil {
		t.Fatal(err)
	}
	if _, offset := now.Zone(); offset != 0 {
		t.Errorf("timestamptz read with offset %ds (%v), want UTC", offset, now)
	}
}
