package banksandbox

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults Faults
		// want checks one reply; i is its index among the replies.
		want func(t *testing.T, i int, res response)
	}{
		{"rate limited", Faults{RateLimited: 1, RetryAfter: 2 * time.Second}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusTooManyRequests)
			if code, ra := res.statusCode(t), res.header.Get("Retry-After"); code != "VRN05" || ra != "2" {
				t.Fatalf("statusCode %s Retry-After %q, want VRN05 and 2", code, ra)
			}
		}},
		{"rate limited without a delay still says when", Faults{RateLimited: 1}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusTooManyRequests)
			if ra := res.header.Get("Retry-After"); ra != "1" {
				t.Fatalf("Retry-After %q, want 1", ra)
			}
		}},
		{"server error", Faults{ServerError: 1}, func(t *testing.T, i int, res response) {
			want := []int{500, 503, 504, 424}[i%4]
			wantStatus(t, res, want)
			if want == 424 {
				if code := res.statusCode(t); code != "VRN06" {
					t.Fatalf("statusCode %s, want VRN06", code)
				}
			} else if json.Valid(res.body) {
				t.Fatalf("HTTP %d with an envelope %s, want none", want, res.body)
			}
		}},
		{"maintenance", Faults{Maintenance: 1}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusServiceUnavailable)
			if code := res.statusCode(t); code != "VRN04" {
				t.Fatalf("statusCode %s, want VRN04", code)
			}
		}},
		{"malformed", Faults{Malformed: 1}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusOK)
			if json.Valid(res.body) {
				t.Fatalf("body %s is valid JSON", res.body)
			}
		}},
		{"slow", Faults{Slow: 1, SlowDelay: 20 * time.Millisecond}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusOK)
			if code := res.statusCode(t); code != "200" {
				t.Fatalf("statusCode %s, want the real answer", code)
			}
		}},
		{"none", Faults{}, func(t *testing.T, _ int, res response) {
			wantStatus(t, res, http.StatusOK)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{PerReferencePerMinute: 100})
			b.srv.AddPayment(mobilePayment())
			b.srv.SetFaults(tt.faults)
			tok := b.token(t)
			for i := range 4 {
				start := time.Now()
				tt.want(t, i, b.check(t, tok, mobileQuery()))
				if elapsed := time.Since(start); elapsed < tt.faults.SlowDelay {
					t.Fatalf("answered in %v, want at least %v", elapsed, tt.faults.SlowDelay)
				}
			}
			if st := b.srv.Stats(); st.Checks != 4 || st.Violations.Total() != 0 {
				t.Fatalf("stats %+v: faults are not violations", st)
			}
		})
	}
}

func TestFaultShares(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxRPS: 1000, PerReferencePerMinute: 1000, Faults: Faults{Maintenance: 0.5}})
	b.srv.AddPayment(mobilePayment())
	tok := b.token(t)
	for range 200 {
		b.check(t, tok, mobileQuery())
	}
	if got := b.srv.Stats().RepliesByCode["VRN04"]; got < 60 || got > 140 {
		t.Fatalf("%d maintenance replies of 200, want about half", got)
	}
}

func TestSlowFaultRespectsTheCaller(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Faults: Faults{Slow: 1, SlowDelay: time.Minute}})
	tok := b.token(t)

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url+qaCheckPath,
		strings.NewReader(`{"dataRequest":{"transaction":{"referenceNumber":"123456"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	start := time.Now()
	_, err = http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the caller's deadline", err)
	}
	// The slow fault holds a minute: anything short of that means the
	// sandbox let the caller go (no tighter bound: a loaded machine is slow).
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Fatalf("gave up after %v", elapsed)
	}
}

func TestScripts(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PerReferencePerMinute: 100})
	b.srv.AddPayment(mobilePayment())
	b.srv.Script("6789",
		Reply{HTTPStatus: 400, StatusCode: "VDE01"},
		Reply{HTTPStatus: 424, StatusCode: "VRN06"},
		Reply{HTTPStatus: 504},
		Reply{HTTPStatus: 429, StatusCode: "VRN05", RetryAfter: 2 * time.Second},
		Reply{}, // answer normally once
		Reply{HTTPStatus: 200, StatusCode: "70001"},
	)
	tok := b.token(t)

	// A reference with another tail is not scripted.
	other := mobileQuery()
	other["referenceNumber"] = "111111"
	if code := b.check(t, tok, other).statusCode(t); code != "70001" {
		t.Fatalf("unscripted reference: %s", code)
	}

	want := []struct {
		status int
		code   string
	}{{400, "VDE01"}, {424, "VRN06"}, {504, ""}, {429, "VRN05"}, {200, "200"}, {200, "70001"}, {200, "200"}}
	for i, w := range want {
		res := b.check(t, tok, mobileQuery())
		wantStatus(t, res, w.status)
		if w.code == "" {
			if json.Valid(res.body) {
				t.Fatalf("reply %d: envelope %s, want none", i, res.body)
			}
			continue
		}
		if code := res.statusCode(t); code != w.code {
			t.Fatalf("reply %d: statusCode %s, want %s", i, code, w.code)
		}
		if w.status == 429 && res.header.Get("Retry-After") != "2" {
			t.Fatalf("reply %d: Retry-After %q, want 2", i, res.header.Get("Retry-After"))
		}
	}

	st := b.srv.Stats()
	if st.Checks != 8 || st.RepliesByCode["504"] != 1 || st.RepliesByCode["VRN06"] != 1 || st.RepliesByCode["200"] != 2 {
		t.Fatalf("stats %+v: scripted replies count", st)
	}
}

func TestScriptsCountTowardLimits(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.srv.Script("456789", Reply{HTTPStatus: 504}, Reply{HTTPStatus: 504}, Reply{HTTPStatus: 504})
	tok := b.token(t)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusGatewayTimeout)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusGatewayTimeout)
	// The limit comes before the script, and a refused check does not use up a reply.
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusTooManyRequests)
	b.clock.Advance(2 * time.Minute)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusGatewayTimeout)
	if got := b.srv.Stats().Violations.PerReference; got != 1 {
		t.Fatalf("per-reference violations %d, want 1", got)
	}
}

// TestAlignRepliesAnswersTogether: checks sent 400 ms apart within one window
// are answered in the same instant, when the window the first one opened ends.
func TestAlignRepliesAnswersTogether(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Now: time.Now, PerReferencePerMinute: 100, Faults: Faults{AlignReplies: time.Second}})
	tok := b.token(t)
	answered := make(chan time.Time, 2)
	start := time.Now()
	for i := range 2 {
		time.Sleep(time.Duration(i) * 400 * time.Millisecond)
		go func() {
			req, _ := http.NewRequest(http.MethodPost, b.url+qaCheckPath,
				strings.NewReader(`{"dataRequest":{"transaction":{"referenceNumber":"123456","phoneNum":"584141234567","bankId":"0102","startDt":"2026-08-06"}}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				answered <- time.Time{}
				return
			}
			resp.Body.Close()
			answered <- time.Now()
		}()
	}
	a, c := <-answered, <-answered
	if a.IsZero() || c.IsZero() {
		t.Fatal("a check failed")
	}
	if gap := a.Sub(c).Abs(); gap > 100*time.Millisecond {
		t.Errorf("answers %v apart, want the same instant", gap)
	}
	if held := a.Sub(start); held < 900*time.Millisecond {
		t.Errorf("answered after %v, want the end of the 1 s window", held)
	}
}

// TestRealBankSwitches: each behaviour public integrations report, as the
// sandbox's switches reproduce it.
func TestRealBankSwitches(t *testing.T) {
	t.Parallel()
	t.Run("maintenance window started by the faults", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PerReferencePerMinute: 100, Faults: Faults{MaintenanceFor: time.Minute}})
		b.srv.AddPayment(mobilePayment())
		tok := b.token(t)
		res := b.check(t, tok, mobileQuery())
		wantStatus(t, res, http.StatusServiceUnavailable)
		if code := res.statusCode(t); code != "CRT503" {
			t.Fatalf("statusCode %s, want CRT503", code)
		}
		b.clock.Advance(61 * time.Second)
		if code := b.check(t, tok, mobileQuery()).statusCode(t); code != "200" {
			t.Fatalf("after the window: %s, want 200", code)
		}
	})
	t.Run("daily maintenance window", func(t *testing.T) {
		t.Parallel()
		// The fake clock reads 14:00 UTC, 10:00 in Venezuela.
		b := setup(t, Config{PerReferencePerMinute: 100, MaintenanceWindow: DailyWindow{Start: 9 * time.Hour, End: 11 * time.Hour},
			Faults: Faults{MaintenanceCode: "VRN04"}})
		tok := b.token(t)
		if code := b.check(t, tok, mobileQuery()).statusCode(t); code != "VRN04" {
			t.Fatalf("inside 09:00-11:00: %s, want VRN04", code)
		}
		b.clock.Advance(time.Hour)
		if code := b.check(t, b.token(t), mobileQuery()).statusCode(t); code != "70001" {
			t.Fatalf("at 11:00: %s, want an answer", code)
		}
	})
	t.Run("70005 once per reference", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PerReferencePerMinute: 100, Faults: Faults{RangeTooWideOnce: true}})
		b.srv.AddPayment(mobilePayment())
		tok := b.token(t)
		for i, want := range []string{"70005", "200", "200"} {
			if code := b.check(t, tok, mobileQuery()).statusCode(t); code != want {
				t.Fatalf("check %d: %s, want %s", i+1, code, want)
			}
		}
		if code := b.check(t, tok, transferQuery()).statusCode(t); code != "70005" {
			t.Fatalf("another reference's first check: %s, want 70005", code)
		}
	})
	t.Run("a range older than MaxRangeDays", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PerReferencePerMinute: 100, MaxRangeDays: 3})
		tok := b.token(t)
		q := mobileQuery()
		q["startDt"] = "2026-08-02" // today is 2026-08-06
		if code := b.check(t, tok, q).statusCode(t); code != "70005" {
			t.Fatalf("4 days back: %s, want 70005", code)
		}
		q["startDt"] = "2026-08-03"
		if code := b.check(t, tok, q).statusCode(t); code != "70001" {
			t.Fatalf("3 days back: %s, want 70001", code)
		}
	})
	t.Run("range semantics", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{PerReferencePerMinute: 100})
		booked := mobilePayment()
		booked.Date = "2026-08-06"
		b.srv.AddPayment(booked)
		tok := b.token(t)
		q := mobileQuery()
		q["startDt"] = "2026-08-05" // a range from yesterday finds today's row
		if rows := b.check(t, tok, q).rows(t); len(rows) != 1 || rows[0]["trnDate"] != "2026-08-06" {
			t.Fatalf("rows %v, want today's", rows)
		}
	})
	t.Run("token refusal and accepting client_credentials", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Config{RefuseClientCredentials: true, Faults: Faults{TokenRefusal: "invalid_client"}})
		res := b.postForm(t, "/token", url.Values{"grant_type": {"password"}, "username": {"sandbox-client"}, "password": {"sandbox-secret"}}, "", "")
		if res.status != http.StatusUnauthorized || !strings.Contains(string(res.body), "invalid_client") {
			t.Fatalf("refused token: %d %s", res.status, res.body)
		}
		cc := url.Values{"grant_type": {"client_credentials"}, "client_id": {"sandbox-client"}, "client_secret": {"sandbox-secret"}}
		b.srv.SetFaults(Faults{})
		if res := b.postForm(t, "/token", cc, "", ""); res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "unauthorized_client") {
			t.Fatalf("client_credentials: %d %s, want 400 unauthorized_client", res.status, res.body)
		}
		b.srv.SetFaults(Faults{AcceptClientCredentials: true})
		if res := b.postForm(t, "/token", cc, "", ""); res.status != http.StatusOK {
			t.Fatalf("client_credentials once accepted: %d %s", res.status, res.body)
		}
	})
}
