package systest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// TestClaimRaceAcrossWorkerProcesses: three worker processes, built with the
// race detector, check 90 claims of 30 payments (each payment reported three
// times: as paid, with other leading digits, under another type) and 5
// payments that share their reference with their commission. The sandbox holds
// the answers in 8-second windows, so the checks of one payment —
// which our limiter sends seconds apart — come back in the same
// instant on different workers and race to record it (Postgres is made slow to
// commit so that they overlap there too). One claim per payment
// wins, every other is TO_REVIEW payment_already_claimed, both halves of each
// commission pair complete, no movement confirms two transactions, the bank's
// limits hold and no process reports a data race.
func TestClaimRaceAcrossWorkerProcesses(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := os.MkdirTemp("", "verifier-racebin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	if err := BuildRace(bin); err != nil {
		t.Fatal(err)
	}
	c, err := Start(ctx, Options{Dir: t.TempDir(), BinDir: bin, Workers: 0, MaxRPS: 100, PerTxPerMin: 60,
		Concurrency: 30, Schedule: "2s", PollInterval: "100ms", ExtraEnv: []string{"BANESCO_TIMEOUT=20s"}})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			logs := c.Logs()
			t.Logf("logs (tail):\n%s", logs[max(0, len(logs)-20000):])
		}
	})
	if err := c.SetFaults(ctx, `{"align_replies":"8s"}`); err != nil {
		t.Fatal(err)
	}
	// A slow Postgres: every check's event takes 300 ms to write. It comes
	// after the claim's INSERT in the check's transaction, so a claim stays
	// uncommitted long enough for the other workers' simultaneous checks to
	// read "free" and reach their own INSERT: the race, every time.
	if _, err := c.DB.ExecContext(ctx, `CREATE FUNCTION slow_check_event() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.reason = 'bank_check' THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END $$;
		CREATE TRIGGER slow_check_event BEFORE INSERT ON transaction_events FOR EACH ROW EXECUTE FUNCTION slow_check_event()`); err != nil {
		t.Fatal(err)
	}

	const payments, pairs = 30, 5
	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	var bodies []client.CreateTransaction
	var bank []banksandbox.Payment
	for i := range payments {
		body, p := Payment("RACE", i, date)
		bank = append(bank, p)
		lead := body
		lead.TransactionID += "-lead"
		lead.Reference = "9" + body.Reference[1:] // same 6-digit tail: the bank answers with the same row
		typ := body
		typ.TransactionID += "-type"
		typ.TransactionType = client.TypeOther
		bodies = append(bodies, body, lead, typ)
	}
	for i := range pairs {
		sale, p := Payment("PAIR", 1000+i, date)
		commission := sale
		commission.TransactionID += "-commission"
		commission.TransactionType = client.TypeCommission
		commission.Amount = "12.40"
		pc := p
		pc.Amount = "12.40"
		bank = append(bank, p, pc)
		bodies = append(bodies, sale, commission)
	}
	if err := c.AddPayments(ctx, bank); err != nil {
		t.Fatal(err)
	}
	// Every check is queued before any worker runs, so they all start at once.
	if _, err := c.CreateAll(ctx, bodies, 8); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := c.AddWorker(); err != nil {
			t.Fatal(err)
		}
	}
	counts, err := c.WaitSettled(ctx, payments+2*pairs)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	refused := map[string]float64{}
	for _, url := range c.WorkerMetrics {
		for cause, v := range scrapeRefused(t, ctx, url) {
			refused[cause] += v
		}
	}
	t.Logf("%s; claims refused by cause %v", r, refused)

	if counts["COMPLETED"] != payments+2*pairs || counts["TO_REVIEW"] != 2*payments {
		t.Errorf("counts %v: want %d COMPLETED (one per payment, both of each pair) and %d TO_REVIEW", counts, payments+2*pairs, 2*payments)
	}
	var perPayment []struct {
		Tail      string `db:"tail"`
		Completed int    `db:"completed"`
		Refused   int    `db:"refused"`
	}
	if err := c.DB.SelectContext(ctx, &perPayment, `SELECT right(reference, 6) AS tail,
			count(*) FILTER (WHERE status = 'COMPLETED') AS completed,
			count(*) FILTER (WHERE status = 'TO_REVIEW' AND status_reason = 'payment_already_claimed') AS refused
		FROM transactions WHERE transaction_id LIKE 'RACE-%' GROUP BY 1`); err != nil {
		t.Fatal(err)
	}
	if len(perPayment) != payments {
		t.Errorf("%d payment groups, want %d", len(perPayment), payments)
	}
	for _, p := range perPayment {
		if p.Completed != 1 || p.Refused != 2 {
			t.Errorf("payment …%s: %d COMPLETED and %d refused claims, want 1 and 2", p.Tail, p.Completed, p.Refused)
		}
	}
	if r.MovementsConfirmedTwice != 0 {
		t.Errorf("%d movements confirmed two transactions", r.MovementsConfirmedTwice)
	}
	if v := r.Sandbox.Violations; v.PerReference+v.Global+v.Token != 0 {
		t.Errorf("the bank saw limit violations: %+v", v)
	}
	if got := refused["already_claimed"] + refused["race_lost"]; got != 2*payments {
		t.Errorf("workers counted %v refused claims, want %d", got, 2*payments)
	}
	if refused["race_lost"] == 0 {
		t.Errorf("no check lost a race: the answers were not simultaneous, so the race was not tested")
	}
	if logs := c.Logs(); strings.Contains(logs, "WARNING: DATA RACE") {
		t.Error("a process reported a data race")
	}
}

// scrapeRefused reads payment_claims_refused_total by cause from /metrics.
func scrapeRefused(t *testing.T, ctx context.Context, url string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		var cause string
		if _, err := fmt.Sscanf(line, `payment_claims_refused_total{cause=%q}`, &cause); err != nil {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			out[cause] = v
		}
	}
	return out
}
