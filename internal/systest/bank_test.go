package systest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// TestBankAsPublicIntegrationsDescribe runs the real binaries against a
// sandbox configured as the public integrations describe the real bank: it
// refuses client_credentials (our default is the password grant), serves HTTPS
// with a certificate from a private CA (trusted through BANESCO_CA_FILE),
// wants bankId on transfers, reads startDt as the start of a range, answers
// 70005 to the first check of every reference, and is in maintenance (CRT503)
// for 70 s — longer than the 60 s VERIFY_DEADLINE. Every paid transaction ends
// COMPLETED: booked the day after paid_on, reported the day after paying, a
// transfer. A reference whose leading digits contradict the bank's row, and
// an unpaid one, end UNKNOWN, and only after the bank answered for real.
func TestBankAsPublicIntegrationsDescribe(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	tlsFiles := privateCA(t, dir)
	c, err := Start(ctx, Options{Dir: dir, BinDir: testBins(t), Workers: 2, MaxRPS: 50, Schedule: "5s,10s",
		Deadline: "60s", OutageBackoff: "2s,5s", SandboxTLS: tlsFiles})
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
	if err := c.SetFaults(ctx, `{"maintenance_for":"70s","maintenance_code":"CRT503","range_too_wide_once":true}`); err != nil {
		t.Fatal(err)
	}
	maintenanceEnds := time.Now().Add(70 * time.Second)

	vet := time.FixedZone("VET", -4*3600)
	today := time.Now().In(vet).Format(time.DateOnly)
	yesterday := time.Now().In(vet).AddDate(0, 0, -1).Format(time.DateOnly)
	var bodies []client.CreateTransaction
	var bank []banksandbox.Payment
	paid := map[string]string{} // transaction_id → case
	add := func(kind string, i int, paidOn, booked string, transfer bool) {
		body, p := Payment(kind, i, paidOn)
		p.Date = booked
		if transfer {
			body.Bank = client.BankBanesco
			p = banksandbox.Payment{Reference: p.Reference, Amount: p.Amount, Mode: banksandbox.ModeTransfer}
		}
		bodies, bank = append(bodies, body), append(bank, p)
		paid[body.TransactionID] = kind
	}
	for i := range 4 {
		add("TODAY", i, today, today, false)
		add("BOOKED-NEXT-DAY", 10+i, yesterday, today, false)
		add("REPORTED-NEXT-DAY", 20+i, today, yesterday, false)
		add("TRANSFER", 30+i, today, today, true)
	}
	// Same 6-digit tail as a payment the bank holds, other leading digits.
	mismatch, row := Payment("MISMATCH", 40, today)
	mismatch.Reference = "9" + mismatch.Reference[1:] // 900100000040 typed…
	row.Reference = "7" + row.Reference[1:]           // …700100000040 booked
	unpaid, _ := Payment("UNPAID", 41, today)
	bank = append(bank, row)
	bodies = append(bodies, mismatch, unpaid)
	if err := c.AddPayments(ctx, bank); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAll(ctx, bodies, 4); err != nil {
		t.Fatal(err)
	}

	counts, err := c.WaitSettled(ctx, len(paid))
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", r)
	if counts["COMPLETED"] != len(paid) || counts["UNKNOWN"] != 2 {
		t.Errorf("counts %v: want all %d paid COMPLETED and the 2 others UNKNOWN", counts, len(paid))
	}
	var rows []struct {
		TID      string    `db:"transaction_id"`
		Status   string    `db:"status"`
		Attempts int       `db:"attempts"`
		Updated  time.Time `db:"updated_at"`
		Real     int       `db:"real"`
		Maint    int       `db:"maint"`
	}
	if err := c.DB.SelectContext(ctx, &rows, `SELECT t.transaction_id, t.status, t.attempts, t.updated_at,
			count(*) FILTER (WHERE e.reason = 'bank_check' AND e.metadata->>'bank_status_code' NOT IN ('CRT503', '70005')) AS real,
			count(*) FILTER (WHERE e.reason = 'bank_check' AND e.metadata->>'bank_status_code' = 'CRT503') AS maint
		FROM transactions t JOIN transaction_events e ON e.transaction_id = t.id GROUP BY 1, 2, 3, 4`); err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		if row.Maint == 0 {
			t.Errorf("%s: no check met the maintenance window", row.TID)
		}
		if row.Real == 0 || row.Attempts != row.Real {
			t.Errorf("%s: %d real answers, attempts %d: want attempts to count the real answers only", row.TID, row.Real, row.Attempts)
		}
		if row.Status == "UNKNOWN" && row.Updated.Before(maintenanceEnds) {
			t.Errorf("%s became UNKNOWN at %s, while the bank was in maintenance (until %s)", row.TID, row.Updated, maintenanceEnds)
		}
	}
	for _, code := range []string{"CRT503", "70005", "200"} {
		if r.Sandbox.RepliesByCode[code] == 0 {
			t.Errorf("the sandbox never answered %s: %v", code, r.Sandbox.RepliesByCode)
		}
	}
	if v := r.Sandbox.Violations; v.PerReference+v.Global+v.Token != 0 {
		t.Errorf("the bank saw limit violations: %+v", v)
	}
	// The bank's dates are recorded for the payments booked on another day.
	var bankDates []string
	if err := c.DB.SelectContext(ctx, &bankDates, `SELECT DISTINCT e.metadata->>'bank_date' FROM transaction_events e
		JOIN transactions t ON t.id = e.transaction_id
		WHERE t.transaction_id LIKE 'BOOKED-NEXT-DAY%' AND e.new_status = 'COMPLETED' AND e.old_status = 'IN_PROGRESS'`); err != nil {
		t.Fatal(err)
	}
	if len(bankDates) != 1 || bankDates[0] != today {
		t.Errorf("bank dates recorded for payments booked the next day: %v, want [%s]", bankDates, today)
	}
}

// TestRefusedGrantPausesChecks: the worker is configured with
// client_credentials, which the bank refuses (400 unauthorized_client). One log
// line says what to change, the refusal is counted, no check reaches the bank
// and nothing counts as an attempt or moves toward UNKNOWN though the deadline
// passes. When the bank accepts the grant, checks resume by themselves.
func TestRefusedGrantPausesChecks(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("-short: runs the real binaries")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := Start(ctx, Options{Dir: t.TempDir(), BinDir: testBins(t), Workers: 1, Schedule: "2s", Deadline: "5s",
		OutageBackoff: "1s,2s", ExtraEnv: []string{"BANESCO_GRANT_TYPE=client_credentials"}})
	if c != nil {
		defer c.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	date := time.Now().In(time.FixedZone("VET", -4*3600)).Format(time.DateOnly)
	var bodies []client.CreateTransaction
	var bank []banksandbox.Payment
	for i := range 3 {
		b, p := Payment("GRANT", i, date)
		bodies, bank = append(bodies, b), append(bank, p)
	}
	if err := c.AddPayments(ctx, bank); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAll(ctx, bodies, 3); err != nil {
		t.Fatal(err)
	}
	time.Sleep(12 * time.Second) // the deadline passes, tokens refused all along

	var checked, attempts int
	if err := c.DB.GetContext(ctx, &attempts, `SELECT COALESCE(sum(attempts), 0) FROM transactions`); err != nil {
		t.Fatal(err)
	}
	if err := c.DB.GetContext(ctx, &checked, `SELECT count(*) FROM transaction_events WHERE reason = 'bank_check'`); err != nil {
		t.Fatal(err)
	}
	counts, _ := c.Counts(ctx)
	st, _ := c.Stats(ctx)
	if counts["IN_PROGRESS"] != 3 || attempts != 0 || checked != 0 || st.Checks != 0 {
		t.Fatalf("while refused: counts %v, attempts %d, check events %d, bank checks %d; want 3 IN_PROGRESS and nothing else", counts, attempts, checked, st.Checks)
	}
	logs, _ := os.ReadFile(filepath.Join(c.Opts.Dir, "worker-0.log"))
	if n := strings.Count(string(logs), "set BANESCO_GRANT_TYPE=password"); n != 1 {
		t.Errorf("%d log lines name the fix, want 1", n)
	}
	metrics := scrape(t, ctx, c.WorkerMetrics[0])
	if !strings.Contains(metrics, `bank_token_refusals_total{error="unauthorized_client"}`) || !strings.Contains(metrics, `bank_available{part="token"} 0`) {
		t.Errorf("worker metrics lack the refusal:\n%s", grep(metrics, "bank_"))
	}

	if err := c.SetFaults(ctx, `{"accept_client_credentials":true}`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitSettled(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if err := c.DB.GetContext(ctx, &attempts, `SELECT sum(attempts) FROM transactions`); err != nil || attempts != 3 {
		t.Errorf("attempts %d after resuming, want one each (%v)", attempts, err)
	}
	if metrics := scrape(t, ctx, c.WorkerMetrics[0]); !strings.Contains(metrics, `bank_available{part="token"} 1`) {
		t.Errorf("bank_available{part=token} not back to 1:\n%s", grep(metrics, "bank_available"))
	}
}

var (
	testBinOnce sync.Once
	testBinDir  string
	testBinErr  error
)

// testBins builds the binaries once per test binary run.
func testBins(t *testing.T) string {
	t.Helper()
	testBinOnce.Do(func() {
		testBinDir, testBinErr = os.MkdirTemp("", "verifier-bin-")
		if testBinErr == nil {
			testBinErr = Build(testBinDir)
		}
	})
	if testBinErr != nil {
		t.Fatal(testBinErr)
	}
	return testBinDir
}

// scrape returns a /metrics page.
func scrape(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grep keeps the lines containing s.
func grep(text, s string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// privateCA writes a CA and a certificate for 127.0.0.1 signed by it into dir.
func privateCA(t *testing.T, dir string) *TLSFiles {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Sandbox QA CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	f := &TLSFiles{Cert: filepath.Join(dir, "sandbox.pem"), Key: filepath.Join(dir, "sandbox-key.pem"), CA: filepath.Join(dir, "ca.pem")}
	for path, block := range map[string]*pem.Block{
		f.Cert: {Type: "CERTIFICATE", Bytes: der},
		f.Key:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
		f.CA:   {Type: "CERTIFICATE", Bytes: caDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}
