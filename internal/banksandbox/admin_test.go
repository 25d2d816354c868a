package banksandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// admin sends an admin request with a JSON body.
func (b *testBundle) admin(t *testing.T, method, path, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return b.do(t, req)
}

func TestAdminPayments(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})

	res := b.admin(t, http.MethodPost, "/sandbox/payments",
		`{"reference":"000123456789","amount":"1240.00","phone":"04141234567","bank_id":"0102","date":"2026-08-06","mode":"mobile"}`)
	wantStatus(t, res, http.StatusCreated)
	res = b.admin(t, http.MethodPost, "/sandbox/payments", `[
		{"reference":"987654321","amount":"50.5","account_id":"`+merchant+`","mode":"transfer","concept":"Factura 7","customer_id_ben":"J-123456789"},
		{"reference":"987654321","amount":"50.5","trn_type":"DB"}]`)
	wantStatus(t, res, http.StatusCreated)
	if added := res.json(t)["added"]; added != json.Number("2") {
		t.Fatalf("added %v, want 2", added)
	}

	tok := b.token(t)
	if rows := b.check(t, tok, mobileQuery()).rows(t); len(rows) != 1 {
		t.Fatalf("mobile: %d rows, want 1", len(rows))
	}
	rows := b.check(t, tok, transferQuery()).rows(t)
	if len(rows) != 2 || rows[0]["customerIdBen"] != "J-123456789" || rows[0]["concept"] != "  Factura 7 " || rows[1]["trnType"] != "DB" {
		t.Fatalf("transfer rows %v", rows)
	}

	for name, body := range map[string]string{
		"bad phone":      `{"reference":"1","amount":"1","phone":"123","bank_id":"0102","date":"2026-08-06"}`,
		"bad amount":     `{"reference":"1","amount":"1.234"}`,
		"bad reference":  `{"reference":"12a","amount":"1"}`,
		"bad account":    `{"reference":"1","amount":"1","account_id":"1340************8514"}`,
		"not JSON":       `reference=1`,
		"one bad of two": `[{"reference":"1","amount":"1"},{"reference":"2","amount":"x"}]`,
	} {
		if res := b.admin(t, http.MethodPost, "/sandbox/payments", body); res.status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400", name, res.status)
		}
	}
	// "one bad of two" added nothing: reference 1 is unknown.
	q := transferQuery()
	q["referenceNumber"] = "1"
	if code := b.check(t, tok, q).statusCode(t); code != "70001" {
		t.Fatalf("a refused batch left a payment behind: %s", code)
	}
}

func TestAdminScriptsFaultsTokensReset(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.srv.AddPayment(mobilePayment())
	tok := b.token(t)

	res := b.admin(t, http.MethodPost, "/sandbox/scripts",
		`{"reference_tail":"456789","replies":[{"http_status":429,"status_code":"VRN05","retry_after_seconds":3}]}`)
	wantStatus(t, res, http.StatusCreated)
	res = b.check(t, tok, mobileQuery())
	if res.status != http.StatusTooManyRequests || res.header.Get("Retry-After") != "3" {
		t.Fatalf("scripted reply: HTTP %d Retry-After %q", res.status, res.header.Get("Retry-After"))
	}
	wantStatus(t, b.admin(t, http.MethodPost, "/sandbox/scripts", `{"replies":[]}`), http.StatusBadRequest)

	res = b.admin(t, http.MethodPut, "/sandbox/faults", `{"maintenance":1,"slow_delay":"2s","token_ttl":"1m"}`)
	wantStatus(t, res, http.StatusOK)
	if got := b.admin(t, http.MethodGet, "/sandbox/faults", "").json(t); got["slow_delay"] != "2s" || got["token_ttl"] != "1m0s" {
		t.Fatalf("faults %v", got)
	}
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusServiceUnavailable)
	wantStatus(t, b.admin(t, http.MethodPut, "/sandbox/faults", `{"maintenance":2}`), http.StatusBadRequest)
	wantStatus(t, b.admin(t, http.MethodPut, "/sandbox/faults", `{"slow_delay":"soon"}`), http.StatusBadRequest)
	wantStatus(t, b.admin(t, http.MethodPut, "/sandbox/faults", `{}`), http.StatusOK)

	wantStatus(t, b.admin(t, http.MethodPost, "/sandbox/expire-tokens", ""), http.StatusNoContent)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusUnauthorized)

	wantStatus(t, b.admin(t, http.MethodPost, "/sandbox/reset", ""), http.StatusNoContent)
	st := b.srv.Stats()
	if st.Checks != 0 || st.TokenRequests != 0 || len(st.RepliesByCode) != 0 {
		t.Fatalf("stats after reset %+v", st)
	}
	// Reset emptied the windows too: the reference may be checked twice again.
	tok = b.token(t)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
}

func TestAdminStats(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Flavor: FlavorProduction})
	b.srv.AddPayment(mobilePayment())
	tok := b.token(t)
	b.check(t, tok, mobileQuery())
	b.check(t, tok, mobileQuery())
	b.check(t, tok, mobileQuery())
	b.check(t, "", mobileQuery())
	other := mobileQuery()
	other["referenceNumber"] = "111111"
	b.check(t, tok, other)
	b.clock.Advance(time.Second)

	res := b.admin(t, http.MethodGet, "/sandbox/stats", "")
	wantStatus(t, res, http.StatusOK)
	var got Stats
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatal(err)
	}
	want := Stats{
		TokenRequests: 1, TokensIssued: 1, Checks: 4, UnauthorizedChecks: 1,
		ChecksByReference: map[string]int{"456789": 3, "111111": 1},
		RepliesByCode:     map[string]int{"200": 2, "VRN05": 1, "70001": 1},
		// The unauthenticated arrival counts toward the limits too.
		Violations:           Violations{PerReference: 2},
		MaxPerReferenceIn60s: 4, MaxGlobalIn1s: 5,
	}
	if diff := diffStats(want, got); diff != "" {
		t.Fatalf("stats (-want +got):\n%s", diff)
	}

	res = b.admin(t, http.MethodGet, "/sandbox/arrivals?from=3", "")
	wantStatus(t, res, http.StatusOK)
	var arr []Arrival
	if err := json.Unmarshal(res.body, &arr); err != nil {
		t.Fatal(err)
	}
	if len(arr) != 2 || arr[0].Authorized || arr[0].Reference != "456789" || !arr[1].Authorized || arr[1].Reference != "111111" || arr[1].At.Before(arr[0].At) {
		t.Fatalf("arrivals from 3: %+v, want the unauthenticated 456789, then 111111", arr)
	}
	// The log says what each reply showed: the hit carried the payment's
	// row, the answer past the limit (VRN05) and the miss carried none.
	all := b.srv.Arrivals(0)
	if len(all) != 5 || len(all[0].Rows) != 1 || all[0].Rows[0] != mobilePayment().Reference || all[2].Rows != nil || all[4].Rows != nil {
		t.Fatalf("arrivals %+v: want the payment's row on the first reply only", all)
	}
	wantStatus(t, b.admin(t, http.MethodGet, "/sandbox/arrivals?from=-1", ""), http.StatusBadRequest)
}

// diffStats describes how got differs from want, field by field, via their JSON.
func diffStats(want, got Stats) string {
	var w, g map[string]any
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	_ = json.Unmarshal(wb, &w)
	_ = json.Unmarshal(gb, &g)
	var b strings.Builder
	for k, wv := range w {
		wj, _ := json.Marshal(wv)
		gj, _ := json.Marshal(g[k])
		if string(wj) != string(gj) {
			b.WriteString("-" + k + ": " + string(wj) + "\n+" + k + ": " + string(gj) + "\n")
		}
	}
	return b.String()
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	res := b.admin(t, http.MethodGet, "/health", "")
	wantStatus(t, res, http.StatusOK)
	if res.json(t)["status"] != "ok" {
		t.Fatalf("health %s", res.body)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]Config{
		"flavor":  {Flavor: "staging"},
		"account": {AccountID: "123"},
		"faults":  {Faults: Faults{Slow: -1}},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", name)
				}
			}()
			New(cfg)
		}()
	}
}
