package verify

import (
	"errors"
	"net/http"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// answer is what one bank check told the handler, before policy (schedules,
// deadlines, claims) decides what to do with it. ProcessTask and Decide both
// branch on it, so the certification kit's verdict cannot drift from the
// worker's.
type answer int

const (
	// answerHeld: the limiter's gate kept the check back; nothing was sent.
	answerHeld answer = iota + 1
	// answerNoToken: no token (refused, failing, backing off); nothing was sent.
	answerNoToken
	// answerRateLimited: the bank answered VRN05/429; wait its Retry-After.
	answerRateLimited
	// answerUnavailable: no real answer about the payment (maintenance, 5xx,
	// unreachable, unreadable, a rejected token).
	answerUnavailable
	// answerRows: rows came back (Confirmed, Ambiguous, AmountMismatch): the
	// claims decide.
	answerRows
	// answerNotFound: a real "not found" (70001).
	answerNotFound
	// answerRejected: the bank refused the query (VDE01/VDE02, 70005).
	answerRejected
)

// classify reads one Verify result in the handler's order: held, no token,
// rate limited, other errors, then the verdict's outcome.
func classify(v banesco.Verdict, err error) answer {
	switch {
	case banesco.HeldBack(err):
		return answerHeld
	case banesco.NoCheckSent(err):
		return answerNoToken
	case err != nil:
		if _, ok := banesco.RetryAfter(err); ok {
			return answerRateLimited
		}
		return answerUnavailable
	}
	switch v.Outcome {
	case banesco.Confirmed, banesco.Ambiguous, banesco.AmountMismatch:
		return answerRows
	case banesco.Rejected:
		return answerRejected
	default:
		return answerNotFound
	}
}

// Decision statuses: the transaction statuses a check can lead to, plus what
// happens when it leads to none yet.
const (
	DecisionCompleted   = "COMPLETED"
	DecisionToReview    = "TO_REVIEW"
	DecisionNotFoundYet = "NOT_FOUND_YET" // checked again along VERIFY_SCHEDULE
	DecisionTransient   = "TRANSIENT"     // no answer about the payment: checked again along VERIFY_OUTAGE_BACKOFF, no attempt counted
	DecisionNotSent     = "NOT_SENT"      // nothing reached the bank
)

// Decision is what the verifier would do with one check's result for a
// transaction whose bank movement no other transaction holds.
type Decision struct {
	Status string
	// Reason: the status reason for TO_REVIEW (amount_mismatch,
	// ambiguous_match, bank_rejected_VDE01…) and COMPLETED (bank_confirmed);
	// why for TRANSIENT (rate_limited, no_token, token_rejected, unavailable,
	// date_range_too_wide) and NOT_SENT (held, invalid_query).
	Reason string
	// RetryAfter is the bank's wait for rate_limited.
	RetryAfter time.Duration
}

// Decide says what ProcessTask would decide about a check that returned v and
// err, for a transaction that carries an amount when hasAmount. It assumes no
// other transaction holds the movement found (a one-off check has none to
// compete with) and a first 70005, which the worker retries before review.
func Decide(v banesco.Verdict, err error, hasAmount bool) Decision {
	switch classify(v, err) {
	case answerHeld:
		return Decision{Status: DecisionNotSent, Reason: "held"}
	case answerNoToken:
		return Decision{Status: DecisionTransient, Reason: "no_token"}
	case answerRateLimited:
		ra, _ := banesco.RetryAfter(err)
		return Decision{Status: DecisionTransient, Reason: "rate_limited", RetryAfter: ra}
	case answerUnavailable:
		// The handler retries these alike; the reason only tells them apart.
		var be *banesco.Error
		switch {
		case banesco.KindOf(err) == banesco.KindInvalidQuery || banesco.KindOf(err) == banesco.KindConfig:
			// The API refuses such a transaction at creation; nothing was sent.
			return Decision{Status: DecisionNotSent, Reason: "invalid_query"}
		case errors.As(err, &be) && (be.Kind == banesco.KindAuth || be.HTTPStatus == http.StatusUnauthorized || be.HTTPStatus == http.StatusForbidden):
			return Decision{Status: DecisionTransient, Reason: "token_rejected"}
		}
		return Decision{Status: DecisionTransient, Reason: "unavailable"}
	case answerRows:
		status, reason := claimRequest(v, !hasAmount).Unopposed()
		switch status {
		case transaction.StatusCompleted:
			return Decision{Status: DecisionCompleted, Reason: reason}
		case transaction.StatusToReview:
			return Decision{Status: DecisionToReview, Reason: reason}
		}
		return Decision{Status: DecisionNotFoundYet}
	case answerRejected:
		if v.Reason == banesco.ReasonDateRangeTooWide {
			return Decision{Status: DecisionTransient, Reason: v.Reason}
		}
		return Decision{Status: DecisionToReview, Reason: v.Reason}
	}
	return Decision{Status: DecisionNotFoundYet}
}
