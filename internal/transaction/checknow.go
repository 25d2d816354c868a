package transaction

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrNextCheckNotRecorded: the check was queued but next_check_at could not be
// written (clients read a stale time until the check runs).
var ErrNextCheckNotRecorded = errors.New("transaction: next check queued but not recorded")

// CheckNow asks for a check of t as soon as the bank's limits allow and
// returns when it will run: POST …/verify and `worker ops requeue` both come
// here. A final transaction is ErrInvalidTransition. TO_REVIEW and UNKNOWN are
// reopened (a person asks for another look) when reopenFor > 0 — the new
// deadline — and refused otherwise.
func (s *Store) CheckNow(ctx context.Context, checks Checks, t Transaction, reopenFor time.Duration, actorID, requestID string) (time.Time, Transaction, error) {
	if t.Status.Final() {
		return time.Time{}, t, fmt.Errorf("%w: the transaction is %s; final transactions are not checked again", ErrInvalidTransition, t.Status)
	}
	if !t.Status.Checkable() {
		if reopenFor <= 0 {
			return time.Time{}, t, fmt.Errorf("%w: the transaction is %s", ErrInvalidTransition, t.Status)
		}
		var err error
		if t, err = s.Reopen(ctx, t.ID, reopenFor, actorID, requestID); err != nil {
			return time.Time{}, t, err
		}
	}
	at, err := checks.CheckNow(ctx, t, requestID)
	if err != nil {
		return time.Time{}, t, err
	}
	if err := s.SetNextCheck(ctx, t.ID, at); err != nil {
		return at, t, fmt.Errorf("%w: %v", ErrNextCheckNotRecorded, err)
	}
	return at, t, nil
}
