package verify_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// denials records the limiter's onDenied calls.
type denials struct {
	mu   sync.Mutex
	list []string
}

func (d *denials) add(limit string) { d.mu.Lock(); d.list = append(d.list, limit); d.mu.Unlock() }
func (d *denials) all() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.list...)
}

// TestLimiterCountsOnlyDenials: bank_rate_limit_denials_total counts checks a
// limit held back, not checks that failed because Postgres did: neither when
// reading the reference's last send nor when recording the new one.
func TestLimiterCountsOnlyDenials(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	db := pgtest.New(t)
	ctx := context.Background()

	t.Run("Postgres down", func(t *testing.T) {
		closed, err := sqlx.Open("postgres", db.URL)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		var d denials
		l := verify.NewLimiter(rdb, closed, 100, 2, d.add)
		if g, err := l.Acquire(ctx, "m:111111"); err == nil || g.Granted() {
			t.Fatalf("Acquire with Postgres down = %+v %v, want an error", g, err)
		}
		if got := d.all(); len(got) != 0 {
			t.Errorf("denials %v for a failure, want none", got)
		}
	})

	t.Run("the send cannot be recorded", func(t *testing.T) {
		// A role that may read bank_reference_sends but not write it: the
		// reference's last send is read, the global slot booked, and the
		// reservation fails.
		role := "ro_" + strings.ReplaceAll(db.Name, "-", "_")
		for _, q := range []string{
			fmt.Sprintf(`CREATE ROLE %s LOGIN`, role),
			fmt.Sprintf(`GRANT SELECT ON bank_reference_sends TO %s`, role),
		} {
			if _, err := db.DB.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() {
			db.DB.ExecContext(context.Background(), fmt.Sprintf(`REVOKE ALL ON bank_reference_sends FROM %s`, role))
			db.DB.ExecContext(context.Background(), fmt.Sprintf(`DROP ROLE %s`, role))
		})
		u := strings.Replace(db.URL, "postgres@", role+"@", 1)
		if u == db.URL {
			t.Skipf("cannot put a user in %s", db.URL)
		}
		ro, err := database.Open(ctx, u, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ro.Close() })
		var d denials
		l := verify.NewLimiter(rdb, ro, 100, 2, d.add)
		if g, err := l.Acquire(ctx, "m:222222"); err == nil || g.Granted() || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("Acquire that cannot record the send = %+v %v, want its error", g, err)
		}
		if got := d.all(); len(got) != 0 {
			t.Errorf("denials %v for a failure, want none", got)
		}
	})
}

// TestLimiterGlobalWaitIsTheTimeToTheSlot: when the global limit is booked
// more than 2 s ahead, the check is told to come back when its slot would be
// 2 s away, not later.
func TestLimiterGlobalWaitIsTheTimeToTheSlot(t *testing.T) {
	t.Parallel()
	// Q = 1: slots 1.04 s apart, so the third is over 2 s ahead.
	l := verify.NewLimiter(redistest.Start(t).Client(), pgtest.New(t).DB, 1, 600, nil)
	ctx := context.Background()
	var g verify.Grant
	var err error
	for i := range 3 {
		if g, err = l.Acquire(ctx, fmt.Sprintf("m:33333%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if g.Granted() || g.Limit != verify.LimitGlobal || g.Wait <= 0 || g.Wait > time.Second {
		t.Errorf("third Acquire at Q=1: granted %v, limit %q, wait %s; want the global limit and a wait under 1 s (its slot minus 2 s)", g.Granted(), g.Limit, g.Wait)
	}
}

// TestLimiterPrunesOldSendsEvery1024Grants: sends older than 10 minutes limit
// nothing; one grant in 1 024 deletes them (a bounded batch), the others do
// not pay for it.
func TestLimiterPrunesOldSendsEvery1024Grants(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	if _, err := db.DB.ExecContext(ctx, `INSERT INTO bank_reference_sends (limit_key, sent_at)
		SELECT 'old:' || i, now() - interval '1 hour' FROM generate_series(1, 50) i`); err != nil {
		t.Fatal(err)
	}
	old := func() int {
		var n int
		if err := db.DB.GetContext(ctx, &n, `SELECT count(*) FROM bank_reference_sends WHERE limit_key LIKE 'old:%'`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	l := verify.NewLimiter(redistest.Start(t).Client(), db.DB, 100_000, 600, nil)
	for i := range 1023 {
		if g, err := l.Acquire(ctx, fmt.Sprintf("t:%d", i)); err != nil || !g.Granted() {
			t.Fatalf("Acquire %d = %+v %v", i, g, err)
		}
	}
	if n := old(); n != 50 {
		t.Fatalf("%d old sends left after 1 023 grants, want all 50 (pruning is every 1 024)", n)
	}
	if g, err := l.Acquire(ctx, "t:1023"); err != nil || !g.Granted() {
		t.Fatal(g, err)
	}
	if n := old(); n != 0 {
		t.Errorf("%d old sends left after the 1 024th grant, want 0", n)
	}
	var recent int
	if err := db.DB.GetContext(ctx, &recent, `SELECT count(*) FROM bank_reference_sends WHERE limit_key LIKE 't:%'`); err != nil || recent != 1024 {
		t.Errorf("%d recent sends kept (%v), want 1024", recent, err)
	}
}

// TestLimiterFirstSlotAfterARedisLoss: when Redis loses the global limit's
// state, checks granted before may still be waiting for their slots. The
// first slot after the loss is one whole window after the last send
// Postgres recorded, so no window at the bank can hold those and new ones.
func TestLimiterFirstSlotAfterARedisLoss(t *testing.T) {
	t.Parallel()
	rdb := redistest.Start(t).Client()
	// Q = 2: slots about half a second apart; the third is a second ahead.
	l := verify.NewLimiter(rdb, pgtest.New(t).DB, 2, 600, nil)
	ctx := context.Background()
	var last verify.Grant
	for i := range 3 {
		g, err := l.Acquire(ctx, fmt.Sprintf("m:44444%d", i))
		if err != nil || !g.Granted() {
			t.Fatalf("Acquire %d = %+v %v", i, g, err)
		}
		last = g
	}
	if ahead := time.Until(last.Slot()); ahead < 800*time.Millisecond {
		t.Fatalf("the third slot is %s ahead, want about 1 s", ahead)
	}
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	g, err := l.Acquire(ctx, "m:444449")
	if err != nil || !g.Granted() {
		t.Fatalf("Acquire after the loss = %+v %v", g, err)
	}
	if gap := g.Slot().Sub(last.Slot()); gap < time.Second {
		t.Errorf("first slot after the Redis loss is %s after the last one granted before it, want at least a whole window (1 s + margin)", gap)
	}
}
