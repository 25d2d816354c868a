package verify_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/internal/verify"
)

// TestRetryDelayNeverCutsAWaitShort: asynq keeps retry times in whole seconds,
// rounded down; the delay must make up for it, or a task comes back before the
// bank's Retry-After has passed.
func TestRetryDelayNeverCutsAWaitShort(t *testing.T) {
	t.Parallel()
	task := asynq.NewTask("x", nil)
	for _, wait := range []time.Duration{0, 200 * time.Millisecond, time.Second, 2 * time.Second, 1500 * time.Millisecond, 31 * time.Second} {
		for range 20 {
			before := time.Now()
			d := verify.RetryDelay(0, &verify.WaitError{Delay: wait, Reason: "test"}, task)
			after := time.Now()
			// What asynq stores: its own now (≥ before) plus d, in whole seconds.
			stored := after.Add(d).Truncate(time.Second)
			if stored.Before(before.Add(wait)) {
				t.Fatalf("wait %s: RetryDelay %s stores %s, before %s + %s", wait, d, stored, before, wait)
			}
			if d > wait+time.Second {
				t.Fatalf("wait %s: RetryDelay %s, more than a second longer", wait, d)
			}
			if verify.IsFailure(&verify.WaitError{Delay: wait}) {
				t.Fatal("a wait is a failure")
			}
		}
	}
	err := fmt.Errorf("record check: %w", errors.New("database is closed"))
	if !verify.IsFailure(err) {
		t.Error("a storage error is not a failure")
	}
	for n, want := range map[int]time.Duration{0: time.Second, 1: 2 * time.Second, 3: 8 * time.Second, 30: 10 * time.Minute} {
		if got := verify.RetryDelay(n, err, task); got != want {
			t.Errorf("RetryDelay(%d, failure) = %s, want %s", n, got, want)
		}
	}
}
