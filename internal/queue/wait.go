package queue

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"
)

// WaitError asks Asynq to run the task again after Delay without counting a
// failure: "not found at the bank yet", "the limit says wait". The task then sits
// in the Retry list with Reason as its error text — what an operator reads in
// Asynqmon. Its id stays taken, so no second task for the transaction can appear.
type WaitError struct {
	Delay  time.Duration
	Reason string
}

func (e *WaitError) Error() string {
	return fmt.Sprintf("waiting %s: %s", e.Delay.Round(time.Second), e.Reason)
}

// IsFailure is asynq.Config.IsFailure: waits are not failures.
func IsFailure(err error) bool {
	var w *WaitError
	return !errors.As(err, &w)
}

// RetryDelay is asynq.Config.RetryDelayFunc: a wait lasts at least what it names
// (rounded up to asynq's whole seconds, see notBefore);
// real failures (Postgres down…) back off exponentially up to 10 minutes.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var w *WaitError
	if errors.As(err, &w) {
		return notBefore(time.Now(), max(w.Delay, 0))
	}
	d := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(n)), float64(10*time.Minute)))
	return d
}

// notBefore returns a delay of at least d that ends on a whole second. Asynq
// stores the retry time in whole seconds, rounded down, and moves the task as
// soon as that second starts: a plain delay could bring the task back up to 1 s
// early — before the bank's Retry-After has passed.
func notBefore(now time.Time, d time.Duration) time.Duration {
	at := now.Add(d)
	if frac := at.Sub(at.Truncate(time.Second)); frac > 0 {
		at = at.Add(time.Second - frac)
	}
	return at.Sub(now)
}
