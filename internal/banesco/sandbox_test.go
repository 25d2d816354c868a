package banesco

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/rs/zerolog"
)

// End-to-end tests against the bank sandbox (internal/banksandbox), which
// implements the bank side of the same contract with its own quirks.

const sandboxAcct = "01340000000000000000"

type sandboxBundle struct {
	bank   *banksandbox.Server
	client *Client
}

func setupSandbox(t *testing.T, flavor string, mutate func(*banksandbox.Config, *Config)) sandboxBundle {
	t.Helper()
	bcfg := banksandbox.Config{Flavor: flavor, MaxRPS: 1000, Now: func() time.Time { return testToday }}
	env := EnvironmentQA
	checkPath := qaCheckPath
	if flavor == banksandbox.FlavorProduction {
		env, checkPath = EnvironmentProduction, productionCheckPath
	}
	ccfg := Config{
		Environment: env, ClientID: "sandbox-client", ClientSecret: "sandbox-secret",
		AccountID: sandboxAcct, Timeout: 2 * time.Second, Logger: zerolog.Nop(),
	}
	if mutate != nil {
		mutate(&bcfg, &ccfg)
	}
	bank := banksandbox.New(bcfg)
	srv := httptest.NewServer(bank.Handler())
	t.Cleanup(srv.Close)
	ccfg.TokenURL = srv.URL + "/token"
	ccfg.CheckURL = srv.URL + checkPath
	return sandboxBundle{bank: bank, client: newTestClient(t, ccfg)}
}

func mobilePayment(ref, amount string) banksandbox.Payment {
	return banksandbox.Payment{Reference: ref, Amount: amount, Phone: testPhone, BankID: "0102", Date: "2026-08-06", Concept: "  Pago  Movil "}
}

func mobileQueryFor(ref, amount string) Query {
	return Query{Mode: ModeMobile, Reference: ref, Phone: testPhone, BankID: "0102", Date: "2026-08-06", Amount: amount}
}

func TestSandboxBothModesHit(t *testing.T) {
	t.Parallel()
	for _, flavor := range []string{banksandbox.FlavorQA, banksandbox.FlavorProduction} {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			sb := setupSandbox(t, flavor, nil)
			sb.bank.AddPayment(mobilePayment("00987123456", "1240.00"))
			sb.bank.AddPayment(banksandbox.Payment{Reference: "000555666777", Amount: "99.5", Mode: banksandbox.ModeTransfer})

			v, err := sb.client.Verify(ctxT(t), mobileQueryFor("987123456", "1240"))
			if err != nil || v.Outcome != Confirmed {
				t.Fatalf("mobile Verify = %s/%s, %v", v.Outcome, v.Reason, err)
			}
			if v.Row.Amount != "1240.00" || v.Row.SourceBankID != "0102" || len(v.Row.SourceBankID) != 4 || v.Row.TrnType != "CR" {
				t.Errorf("mobile row not normalised: %+v", *v.Row)
			}
			v, err = sb.client.Verify(ctxT(t), Query{Mode: ModeTransfer, Reference: "555666777", Amount: "99.50"})
			if err != nil || v.Outcome != Confirmed {
				t.Fatalf("transfer Verify = %s/%s, %v", v.Outcome, v.Reason, err)
			}
			if v.Row.Amount != "99.50" {
				t.Errorf("transfer amount = %q", v.Row.Amount)
			}
			st := sb.bank.Stats()
			if st.TokenRequests != 1 || st.Violations.Total() != 0 {
				t.Errorf("stats: %d token requests, violations %+v", st.TokenRequests, st.Violations)
			}
		})
	}
}

func TestSandboxNoResultsBothFlavors(t *testing.T) {
	t.Parallel()
	for _, flavor := range []string{banksandbox.FlavorQA, banksandbox.FlavorProduction} {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			sb := setupSandbox(t, flavor, nil)
			v, err := sb.client.Verify(ctxT(t), mobileQueryFor("111222", ""))
			if err != nil || v.Outcome != NotFound || v.StatusCode != "70001" {
				t.Fatalf("Verify = %s/%s (%s, HTTP %d), %v; want NotFound 70001", v.Outcome, v.Reason, v.StatusCode, v.HTTPStatus, err)
			}
			v, err = sb.client.Verify(ctxT(t), Query{Mode: ModeTransfer, Reference: "333444555"})
			if err != nil || v.Outcome != NotFound {
				t.Fatalf("transfer Verify = %s, %v; want NotFound", v.Outcome, err)
			}
		})
	}
}

func TestSandboxMatchingRules(t *testing.T) {
	t.Parallel()
	sb := setupSandbox(t, banksandbox.FlavorQA, nil)
	sb.bank.AddPayment(mobilePayment("700001", "10.00"))
	sb.bank.AddPayment(mobilePayment("800002", "20.00"))
	sb.bank.AddPayment(mobilePayment("800003", "20.00"))
	sb.bank.AddPayment(mobilePayment("800003", "0.20")) // its commission, sharing the reference
	sb.bank.AddPayment(banksandbox.Payment{Reference: "900003", Amount: "30.00", Mode: banksandbox.ModeTransfer, TrnType: "DB"})

	tests := []struct {
		q          Query
		wantOut    Outcome
		wantReason string
	}{
		{mobileQueryFor("700001", "10.01"), AmountMismatch, "amount_mismatch"},
		{mobileQueryFor("800002", "20.00"), Confirmed, ""}, // one movement, shown twice
		{mobileQueryFor("800003", "0.20"), Confirmed, ""},  // the commission's own row
		{mobileQueryFor("800003", ""), Ambiguous, "ambiguous_match"},
		{Query{Mode: ModeTransfer, Reference: "900003"}, NotFound, ""},
	}
	for _, tt := range tests {
		v, err := sb.client.Verify(ctxT(t), tt.q)
		if err != nil || v.Outcome != tt.wantOut || v.Reason != tt.wantReason {
			t.Errorf("Verify(%s) = %s/%q, %v; want %s/%q", tt.q.Reference, v.Outcome, v.Reason, err, tt.wantOut, tt.wantReason)
		}
	}
}

func TestSandboxConcurrentChecksShareOneToken(t *testing.T) {
	t.Parallel()
	sb := setupSandbox(t, banksandbox.FlavorQA, nil)
	for i := range 50 {
		sb.bank.AddPayment(mobilePayment(fmt.Sprintf("5%05d", i), "1.00"))
	}
	next := make(chan int, 50)
	for i := range 50 {
		next <- i
	}
	runConcurrently(t, 50, func() error {
		i := <-next
		v, err := sb.client.Verify(ctxT(t), mobileQueryFor(fmt.Sprintf("5%05d", i), "1.00"))
		if err == nil && v.Outcome != Confirmed {
			err = fmt.Errorf("reference %d: outcome %s/%s", i, v.Outcome, v.Reason)
		}
		return err
	})
	st := sb.bank.Stats()
	if st.TokenRequests != 1 || st.TokensIssued != 1 {
		t.Errorf("token requests = %d (issued %d), want exactly 1", st.TokenRequests, st.TokensIssued)
	}
	if st.Checks != 50 || st.Violations.Total() != 0 {
		t.Errorf("checks = %d, violations %+v", st.Checks, st.Violations)
	}
}

// TestSandboxExpiredTokensRefreshOnce: the check with the expired token fails
// and is not re-sent; the next one fetches one token.
func TestSandboxExpiredTokensRefreshOnce(t *testing.T) {
	t.Parallel()
	for _, flavor := range []string{banksandbox.FlavorQA, banksandbox.FlavorProduction} {
		t.Run(flavor, func(t *testing.T) {
			t.Parallel()
			sb := setupSandbox(t, flavor, nil)
			sb.bank.AddPayment(mobilePayment("123001", "5.00"))
			sb.bank.AddPayment(mobilePayment("123002", "5.00"))
			if _, err := sb.client.Verify(ctxT(t), mobileQueryFor("123001", "5.00")); err != nil {
				t.Fatal(err)
			}
			sb.bank.ExpireTokens()
			if _, err := sb.client.Verify(ctxT(t), mobileQueryFor("123002", "5.00")); KindOf(err) != KindAuth {
				t.Fatalf("Verify with the expired token: %v, want an auth error", err)
			}
			v, err := sb.client.Verify(ctxT(t), mobileQueryFor("123002", "5.00"))
			if err != nil || v.Outcome != Confirmed {
				t.Fatalf("Verify after ExpireTokens = %s, %v", v.Outcome, err)
			}
			st := sb.bank.Stats()
			if st.TokenRequests != 2 || st.UnauthorizedChecks != 1 {
				t.Errorf("token requests = %d, unauthorized checks = %d; want 2 and 1", st.TokenRequests, st.UnauthorizedChecks)
			}
		})
	}
}

func TestSandboxGrants(t *testing.T) {
	t.Parallel()
	refuse := func(b *banksandbox.Config, c *Config) {
		b.RefuseClientCredentials = true
		c.GrantType = GrantClientCredentials
	}
	t.Run("client_credentials refused", func(t *testing.T) {
		t.Parallel()
		sb := setupSandbox(t, banksandbox.FlavorQA, refuse)
		_, err := sb.client.Verify(ctxT(t), mobileQueryFor("123456", ""))
		if e := wantKind(t, err, KindAuth); e.StatusCode != "unauthorized_client" {
			t.Errorf("StatusCode = %q, want unauthorized_client", e.StatusCode)
		}
	})
	t.Run("password grant accepted", func(t *testing.T) {
		t.Parallel()
		sb := setupSandbox(t, banksandbox.FlavorQA, func(b *banksandbox.Config, c *Config) {
			refuse(b, c)
			c.GrantType, c.Scope = GrantPassword, "CONSULTA DE TRANSACCIONES"
		})
		if _, err := sb.client.Verify(ctxT(t), mobileQueryFor("123456", "")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		t.Parallel()
		sb := setupSandbox(t, banksandbox.FlavorQA, func(_ *banksandbox.Config, c *Config) { c.ClientSecret = "nope" })
		_, err := sb.client.Verify(ctxT(t), mobileQueryFor("123456", ""))
		wantKind(t, err, KindAuth)
	})
}

func TestSandboxScriptedReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		tail       string
		reply      banksandbox.Reply
		wantKind   Kind
		wantOut    Outcome
		wantReason string
		wantRetry  time.Duration
	}{
		{tail: "410001", reply: banksandbox.Reply{HTTPStatus: 429, StatusCode: "VRN05", RetryAfter: 3 * time.Second}, wantKind: KindRateLimited, wantRetry: 3 * time.Second},
		{tail: "410002", reply: banksandbox.Reply{HTTPStatus: 503, StatusCode: "VRN04"}, wantKind: KindTransient},
		{tail: "410003", reply: banksandbox.Reply{HTTPStatus: 424, StatusCode: "VRN06"}, wantKind: KindTransient},
		{tail: "410004", reply: banksandbox.Reply{HTTPStatus: 504}, wantKind: KindTransient},
		{tail: "410005", reply: banksandbox.Reply{HTTPStatus: 400, StatusCode: "VDE01"}, wantOut: Rejected, wantReason: "bank_rejected_VDE01"},
		{tail: "410006", reply: banksandbox.Reply{HTTPStatus: 200, StatusCode: "70005"}, wantOut: Rejected, wantReason: "date_range_too_wide"},
	}
	sb := setupSandbox(t, banksandbox.FlavorQA, nil)
	for _, tt := range tests {
		sb.bank.Script(tt.tail, tt.reply)
		v, err := sb.client.Verify(ctxT(t), mobileQueryFor(tt.tail, ""))
		if tt.wantKind != 0 {
			wantKind(t, err, tt.wantKind)
			if d, _ := RetryAfter(err); d != tt.wantRetry {
				t.Errorf("%s: RetryAfter = %s, want %s", tt.tail, d, tt.wantRetry)
			}
			continue
		}
		if err != nil || v.Outcome != tt.wantOut || v.Reason != tt.wantReason {
			t.Errorf("%s: Verify = %s/%q, %v; want %s/%q", tt.tail, v.Outcome, v.Reason, err, tt.wantOut, tt.wantReason)
		}
	}
	if st := sb.bank.Stats(); st.Violations.Total() != 0 || st.TokenRequests != 1 {
		t.Errorf("stats: %d token requests, violations %+v", st.TokenRequests, st.Violations)
	}
}
