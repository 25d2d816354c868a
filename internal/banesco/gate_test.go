package banesco

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSendGate: the caller's gate runs right before each attempt to send,
// its wait is not the bank's latency, and a refusal sends nothing.
func TestSendGate(t *testing.T) {
	t.Parallel()
	// The gate waits 2 s, as long as the client's timeout here: the wait for
	// a slot is ours, so it neither runs down the bank's timeout nor counts
	// as the bank's latency.
	t.Run("passed before the send, its wait not counted as latency", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		reg := prometheus.NewRegistry()
		cfg := bank.config()
		cfg.Metrics = NewMetrics(reg)
		c := newTestClient(t, cfg)
		if err := c.Ready(ctxT(t)); err != nil { // the token first, as the worker does
			t.Fatal(err)
		}
		var calls atomic.Int32
		var sentBefore int64
		gate := func(context.Context) error {
			calls.Add(1)
			sentBefore = bank.checkCalls.Load()
			time.Sleep(2 * time.Second) // waiting for the slot
			return nil
		}
		v, err := c.Verify(WithSendGate(ctxT(t), gate), mobileQuery())
		if err != nil || v.Outcome != Confirmed {
			t.Fatalf("Verify = %v %v, want the fake bank's confirmation", v.Outcome, err)
		}
		if calls.Load() != 1 || sentBefore != 0 || bank.checkCalls.Load() != 1 {
			t.Errorf("gate calls %d, checks before the gate %d, checks %d: want 1, 0, 1", calls.Load(), sentBefore, bank.checkCalls.Load())
		}
		if v.Latency >= 2*time.Second {
			t.Errorf("Latency = %s includes the gate's 2 s wait", v.Latency)
		}
		if sum := metricSum(t, reg, "bank_request_duration_seconds"); sum >= 2 {
			t.Errorf("bank_request_duration_seconds sum = %.3f s includes the gate's wait", sum)
		}
	})
	t.Run("passed again before a connection retry", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		dead := httptest.NewServer(nil)
		dead.Close()
		cfg := bank.config()
		cfg.CheckURL = dead.URL + qaCheckPath
		cfg.ConnectRetries = []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}
		c := newTestClient(t, cfg)
		var calls atomic.Int32
		_, err := c.Verify(WithSendGate(ctxT(t), func(context.Context) error { calls.Add(1); return nil }), mobileQuery())
		wantKind(t, err, KindTransient)
		if calls.Load() != 3 {
			t.Errorf("gate passed %d times, want 3 (the first attempt and two retries)", calls.Load())
		}
	})
	t.Run("a refusal sends nothing", func(t *testing.T) {
		t.Parallel()
		bank := newFakeBank(t)
		reg := prometheus.NewRegistry()
		cfg := bank.config()
		cfg.Metrics = NewMetrics(reg)
		c := newTestClient(t, cfg)
		refused := errors.New("redis down")
		_, err := c.Verify(WithSendGate(ctxT(t), func(context.Context) error { return refused }), mobileQuery())
		if !HeldBack(err) || !errors.Is(err, refused) || NoCheckSent(err) {
			t.Fatalf("err = %v: want HeldBack wrapping the gate's error", err)
		}
		if n := bank.checkCalls.Load(); n != 0 {
			t.Errorf("the bank saw %d checks", n)
		}
		if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": "held"}); got != 0 {
			t.Errorf("a held check was counted as a bank request (%v)", got)
		}
		if HeldBack(errors.New("other")) || HeldBack(nil) {
			t.Error("HeldBack true for an unrelated error")
		}
	})
}

// metricSum is the sum of a histogram's samples in reg (0 when absent).
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				if h := m.GetHistogram(); h != nil {
					return h.GetSampleSum()
				}
			}
		}
	}
	return 0
}
