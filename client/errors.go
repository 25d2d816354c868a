package client

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error codes of the API (APIError.Code). New codes may appear; treat an
// unknown one by its HTTP status.
const (
	CodeValidationFailed      = "validation_failed"
	CodeMalformedJSON         = "malformed_json"
	CodeUnauthorized          = "unauthorized"
	CodeInvalidCredentials    = "invalid_credentials"
	CodeForbidden             = "forbidden"
	CodeRegistrationClosed    = "registration_closed"
	CodeNotFound              = "not_found"
	CodeEmailTaken            = "email_taken"
	CodeTransactionIDConflict = "transaction_id_conflict"
	CodeDuplicateReference    = "duplicate_reference"
	CodeInvalidTransition     = "invalid_transition"
	CodeBodyTooLarge          = "body_too_large"
	CodeRateLimited           = "rate_limited"
	CodeUnavailable           = "unavailable"
	CodeInternal              = "internal"
)

// APIError is an error reply of the API. Get it with errors.As:
//
//	var apiErr *client.APIError
//	if errors.As(err, &apiErr) && apiErr.Code == client.CodeValidationFailed {
//		fmt.Println(apiErr.Fields["customer.phone"])
//	}
type APIError struct {
	StatusCode int               // HTTP status
	Code       string            // stable error code, e.g. CodeDuplicateReference ("" when the reply was not the API's JSON)
	Message    string            // for people
	Fields     map[string]string // the fields at fault (validation_failed, conflicts), may be nil
	RequestID  string            // X-Request-ID of the request; quote it when reporting a problem
	RetryAfter time.Duration     // from Retry-After (429, 503), 0 when absent
	Method     string            // the request's method
	Path       string            // the request's path
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.StatusCode)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " %v", e.Fields)
	}
	if e.RequestID != "" {
		b.WriteString(" (request " + e.RequestID + ")")
	}
	return b.String()
}

// Temporary reports whether the same request may succeed later (429, 503).
func (e *APIError) Temporary() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// HasCode reports whether err is (or wraps) an *APIError with the given code.
func HasCode(err error, code string) bool {
	var apiErr *APIError
	return errors.As(err, &apiErr) && apiErr.Code == code
}

// ErrNoCredentials is returned by calls that need a token when the client has
// neither credentials (WithCredentials, Login) nor a token (WithTokens).
var ErrNoCredentials = errors.New("client: not logged in: no credentials and no token")

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when absent
// or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
