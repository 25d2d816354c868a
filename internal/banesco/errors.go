package banesco

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failed Verify so the caller can decide whether and when
// to ask again without knowing the bank's status codes.
type Kind int

const (
	// KindTransient: the bank was unavailable, slow, in maintenance or answered
	// something we could not read. Back off and ask again later.
	KindTransient Kind = iota + 1
	// KindRateLimited: the bank answered VRN05/429. Wait at least RetryAfter;
	// this is not a failure of the transaction and must not count as one.
	KindRateLimited
	// KindAuth: the token endpoint refused our credentials, or the check
	// endpoint kept rejecting a freshly fetched token. Someone has to look at
	// the credentials; asking again later may work after they are rotated.
	KindAuth
	// KindConfig: the client is misconfigured for this call (for example a
	// transfer check without a merchant account). Retrying cannot help.
	KindConfig
	// KindInvalidQuery: the query itself is malformed (reference, phone, bank
	// code or date). Retrying the same query cannot help.
	KindInvalidQuery
)

// String names the kind for logs and metrics.
func (k Kind) String() string {
	switch k {
	case KindTransient:
		return "transient"
	case KindRateLimited:
		return "rate_limited"
	case KindAuth:
		return "auth"
	case KindConfig:
		return "config"
	case KindInvalidQuery:
		return "invalid_query"
	default:
		return fmt.Sprintf("kind(%d)", int(k))
	}
}

// Error is the only error type Verify returns. It never carries tokens,
// secrets or customer data in its message.
type Error struct {
	Kind       Kind
	HTTPStatus int           // HTTP status of the bank reply, 0 when there was none
	StatusCode string        // bank statusCode (or OAuth error code), "" when unknown
	RetryAfter time.Duration // only for KindRateLimited; at least one second
	// Token: the failure is the token endpoint's (refused, failing, or the
	// client backing off from it), so no check was sent to the bank.
	Token bool
	// Held: the caller's send gate (WithSendGate) refused the send, so no
	// check was sent to the bank.
	Held bool
	Err  error // underlying cause, already scrubbed of secrets
}

// Error implements error.
func (e *Error) Error() string {
	msg := "banesco: " + e.Kind.String()
	if e.HTTPStatus != 0 {
		msg += fmt.Sprintf(" (HTTP %d", e.HTTPStatus)
		if e.StatusCode != "" {
			msg += " " + e.StatusCode
		}
		msg += ")"
	} else if e.StatusCode != "" {
		msg += " (" + e.StatusCode + ")"
	}
	if e.Kind == KindRateLimited {
		msg += fmt.Sprintf(" retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes the cause to errors.Is and errors.As (context.DeadlineExceeded,
// context.Canceled, ...).
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, or 0 when err is not a *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

// RetryAfter reports how long to wait before asking the bank again when err is
// a rate-limit answer. Callers should test it before IsTransient: a rate limit
// is a scheduling instruction, not a failure.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.Kind == KindRateLimited {
		return e.RetryAfter, true
	}
	return 0, false
}

// IsTransient reports whether asking again later, with back-off, may succeed:
// the bank was down or slow, or kept rejecting our token (the bank contract
// treats a repeated VRN01 as transient). Rate limits are reported by RetryAfter
// instead, because they must not count as failures.
func IsTransient(err error) bool {
	switch KindOf(err) {
	case KindTransient, KindAuth:
		return true
	default:
		return false
	}
}

// NoCheckSent reports whether err happened before any check reached the bank:
// there was no token to send one with.
func NoCheckSent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Token
}

// HeldBack reports whether err is the caller's send gate refusing the send:
// nothing reached the bank.
func HeldBack(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Held
}
