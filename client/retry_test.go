package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
)

// fake is a small server for the retry behaviour only: it answers each request
// with the next reply of the script (the last one repeats) and counts them.
type fake struct {
	calls atomic.Int32
	srv   *httptest.Server
}

type fakeReply struct {
	status     int
	retryAfter string
	body       string
}

func newFake(t *testing.T, script ...fakeReply) *fake {
	t.Helper()
	f := &fake{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/auth/login" || r.URL.Path == "/api/v1/auth/refresh" {
			fmt.Fprint(w, `{"access_token":"a","refresh_token":"r","token_type":"Bearer","expires_in":600}`)
			return
		}
		n := int(f.calls.Add(1))
		rep := script[min(n, len(script))-1]
		w.Header().Set("X-Request-ID", fmt.Sprintf("req-%d", n))
		if rep.retryAfter != "" {
			w.Header().Set("Retry-After", rep.retryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		fmt.Fprint(w, rep.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

const (
	statusBody  = `{"transaction_id":"T1","status":"COMPLETED","attempts":1,"last_checked_at":null,"next_check_at":null,"updated_at":"2026-11-22T23:26:47Z"}`
	limitedBody = `{"error":{"code":"rate_limited","message":"too many requests"},"request_id":"x"}`
	downBody    = `{"error":{"code":"unavailable","message":"try again"},"request_id":"x"}`
)

func fakeClient(t *testing.T, f *fake, opts ...client.Option) *client.Client {
	t.Helper()
	c, err := client.New(f.srv.URL, append([]client.Option{client.WithCredentials("a@example.test", "password-123")}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{429, "1", limitedBody}, fakeReply{503, "1", downBody}, fakeReply{200, "", statusBody})
	c := fakeClient(t, f)
	start := time.Now()
	st, err := c.Status(ctxT(t), "T1")
	if err != nil || st.Status != client.StatusCompleted {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("took %v; Retry-After asked for 2 s in all", elapsed)
	}
}

func TestRetryBounded(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{503, "0", downBody})
	c := fakeClient(t, f, client.WithRetries(3, time.Second))
	_, err := c.Status(ctxT(t), "T1")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 503 || apiErr.Code != client.CodeUnavailable || apiErr.RequestID != "x" {
		t.Fatalf("err = %v, want the last 503", err)
	}
	if n := f.calls.Load(); n != 3 {
		t.Errorf("calls = %d, want 3 attempts", n)
	}
}

func TestRetryOnlyWhenSafe(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{429, "0", limitedBody})
	c := fakeClient(t, f)
	_, err := c.Verify(ctxT(t), "T1") // POST …/verify is not retried
	if !client.HasCode(err, client.CodeRateLimited) {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("calls = %d, want 1 (no retry of a non-idempotent POST)", n)
	}
	// Create is idempotent by transaction_id: retried.
	f.calls.Store(0)
	_, err = c.CreateTransaction(ctxT(t), order("T1", "000123456789"))
	if !client.HasCode(err, client.CodeRateLimited) || f.calls.Load() != 4 {
		t.Errorf("create: err = %v after %d calls, want rate_limited after 4", err, f.calls.Load())
	}
}

func TestRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{429, "120", limitedBody})
	c := fakeClient(t, f, client.WithRetries(4, 10*time.Second))
	start := time.Now()
	_, err := c.Status(ctxT(t), "T1")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.RetryAfter != 120*time.Second {
		t.Fatalf("err = %v, want 429 with RetryAfter 2m", err)
	}
	if f.calls.Load() != 1 || time.Since(start) > 30*time.Second { // honouring it would take 2 min
		t.Errorf("waited or retried a Retry-After beyond the limit (%d calls)", f.calls.Load())
	}
}

func TestRetryStopsWithContext(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{503, "5", downBody})
	c := fakeClient(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Status(ctx, "T1")
	if !errors.Is(err, context.DeadlineExceeded) || !client.HasCode(err, client.CodeUnavailable) {
		t.Errorf("err = %v, want the 503 joined with DeadlineExceeded", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("did not stop with the context")
	}
}

func TestUnauthorizedRefreshesOnce(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{401, "", `{"error":{"code":"unauthorized","message":"no"},"request_id":"x"}`})
	c := fakeClient(t, f)
	_, err := c.Status(ctxT(t), "T1")
	if !client.HasCode(err, client.CodeUnauthorized) {
		t.Fatalf("err = %v", err)
	}
	if n := f.calls.Load(); n != 2 {
		t.Errorf("calls = %d, want 2 (one renewal, then give up)", n)
	}
	if tok := c.Tokens(); tok.AccessToken != "a" {
		t.Errorf("tokens after renewal = %+v", tok)
	}
}

func TestNonAPIErrorBody(t *testing.T) {
	t.Parallel()
	f := newFake(t, fakeReply{502, "", "<html>bad gateway</html>"})
	c := fakeClient(t, f)
	_, err := c.Status(ctxT(t), "T1")
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Code != "" || apiErr.Message != "<html>bad gateway</html>" {
		t.Errorf("err = %#v", err)
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func order(id, reference string) client.CreateTransaction {
	return client.CreateTransaction{
		TransactionID: id, Bank: client.BankMobileTransfer, Reference: reference, Amount: "1240.00",
		Customer: client.Customer{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"},
	}
}
