package verify

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

// RetryDelay is asynq.Config.RetryDelayFunc: a wait lasts exactly what it names;
// real failures (Postgres down…) back off exponentially up to 10 minutes.
func RetryDelay(n int, err error, t *asynq.Task) time.Duration {
	var w *WaitError
	if errors.As(err, &w) {
		return max(w.Delay, 0)
	}
	d := time.Duration(math.Min(float64(time.Second)*math.Pow(2, float64(n)), float64(10*time.Minute)))
	return d
}
