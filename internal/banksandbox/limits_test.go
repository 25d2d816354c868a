package banksandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestPerReferenceLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	b.srv.AddPayment(mobilePayment())
	tok := b.token(t)

	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
	b.clock.Advance(30 * time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
	b.clock.Advance(29 * time.Second) // 59 s after the first: the third is one too many
	res := b.check(t, tok, mobileQuery())
	wantStatus(t, res, http.StatusTooManyRequests)
	if code := res.statusCode(t); code != "VRN05" {
		t.Fatalf("statusCode %s, want VRN05", code)
	}
	// A slot frees when the second check (at +30 s) leaves the window: 31 s from now.
	if got := res.header.Get("Retry-After"); got != "31" {
		t.Fatalf("Retry-After %q, want 31", got)
	}

	// Other references are not affected.
	other := mobileQuery()
	other["referenceNumber"] = "111111"
	wantStatus(t, b.check(t, tok, other), http.StatusOK)

	st := b.srv.Stats()
	if st.Violations.PerReference != 1 || st.MaxPerReferenceIn60s != 3 || st.ChecksByReference["456789"] != 3 {
		t.Fatalf("stats %+v, want 1 per-reference violation and 3 checks of 456789", st)
	}

	// After the window the reference may be checked again; the refused check still counted,
	// so it takes the full Retry-After.
	b.clock.Advance(30 * time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusTooManyRequests)
	b.clock.Advance(61 * time.Second)
	wantStatus(t, b.check(t, tok, mobileQuery()), http.StatusOK)
	if got := b.srv.Stats().Violations.PerReference; got != 2 {
		t.Fatalf("per-reference violations %d, want 2", got)
	}
}

func TestPerReferenceLimitTransferKeyIsWholeReference(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{PerReferencePerMinute: 1})
	b.srv.AddPayment(transferPayment())
	tok := b.token(t)
	wantStatus(t, b.check(t, tok, transferQuery()), http.StatusOK)
	// Same tail, other whole reference: a different transaction for the bank.
	q := transferQuery()
	q["referenceNumber"] = "1987654321"
	wantStatus(t, b.check(t, tok, q), http.StatusOK)
	wantStatus(t, b.check(t, tok, transferQuery()), http.StatusTooManyRequests)
}

func TestGlobalLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxRPS: 3})
	tok := b.token(t)
	query := func(i int) map[string]any {
		q := mobileQuery()
		q["referenceNumber"] = fmt.Sprintf("%06d", i)
		return q
	}
	for i := range 3 {
		wantStatus(t, b.check(t, tok, query(i)), http.StatusOK)
		b.clock.Advance(300 * time.Millisecond)
	}
	// 900 ms after the first: a fourth in the same second.
	res := b.check(t, tok, query(3))
	wantStatus(t, res, http.StatusTooManyRequests)
	if code, ra := res.statusCode(t), res.header.Get("Retry-After"); code != "VRN05" || ra != "1" {
		t.Fatalf("statusCode %s Retry-After %q, want VRN05 and 1", code, ra)
	}
	b.clock.Advance(700 * time.Millisecond) // the first two have left the window
	wantStatus(t, b.check(t, tok, query(4)), http.StatusOK)

	st := b.srv.Stats()
	if st.Violations.Global != 1 || st.MaxGlobalIn1s != 4 || st.Violations.PerReference != 0 {
		t.Fatalf("stats %+v, want 1 global violation and a peak of 4", st)
	}
}

func TestLimitsConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{MaxRPS: 1000})
	b.srv.AddPayment(mobilePayment())
	tok := b.token(t)

	body, err := json.Marshal(map[string]any{"dataRequest": map[string]any{"transaction": mobileQuery()}})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	statuses := make(chan int, n)
	for range n {
		go func() { // no t.Fatal off the test goroutine: report failures as status 0
			req, err := http.NewRequest(http.MethodPost, b.url+qaCheckPath, bytes.NewReader(body))
			if err != nil {
				statuses <- 0
				return
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		}()
	}
	counts := map[int]int{}
	for range n {
		counts[<-statuses]++
	}
	if counts[http.StatusOK] != 2 || counts[http.StatusTooManyRequests] != n-2 {
		t.Fatalf("statuses %v, want 2 OK and %d refused", counts, n-2)
	}
	if st := b.srv.Stats(); st.Violations.PerReference != n-2 || st.Checks != n {
		t.Fatalf("stats %+v", st)
	}
}

func TestWindowRetryAfter(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		arrivals []time.Duration // offsets from t0, the last one is now
		limit    int
		want     time.Duration
	}{
		{"under the limit", []time.Duration{0}, 2, time.Second},
		{"third of two", []time.Duration{0, 10 * time.Second, 20 * time.Second}, 2, 50 * time.Second},
		{"exactly a window later", []time.Duration{0, 60 * time.Second}, 1, 60 * time.Second},
	}
	for _, tt := range tests {
		var w window
		var now time.Time
		for _, a := range tt.arrivals {
			now = t0.Add(a)
			w.add(now, time.Minute)
		}
		if got := w.retryAfter(now, time.Minute, tt.limit); got != tt.want {
			t.Errorf("%s: retryAfter %v, want %v", tt.name, got, tt.want)
		}
	}
}
