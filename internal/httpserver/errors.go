// Package httpserver holds the HTTP infrastructure every route shares: the JSON
// error format, the one Fiber ErrorHandler that maps errors to it, request ids,
// request logging, security headers, CORS, the body limit and the Redis-backed
// rate limits. Route tables live in internal/api; domain packages return errors
// and this package decides what the client sees.
package httpserver

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/lib/pq"
	"github.com/rs/zerolog"
)

// Error is an error with a stable code that the client sees as
// {"error":{"code","message","fields"},"request_id"}.
type Error struct {
	Status     int
	Code       string
	Message    string
	Fields     map[string]string
	RetryAfter time.Duration // sets Retry-After (429, 503)
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// NewError builds an Error without field details.
func NewError(status int, code, message string) *Error {
	return &Error{Status: status, Code: code, Message: message}
}

// Validation builds the 422 validation_failed error naming each field at fault.
func Validation(fields map[string]string) *Error {
	return &Error{Status: fiber.StatusUnprocessableEntity, Code: "validation_failed",
		Message: "the request has invalid fields", Fields: fields}
}

// MergeValidation joins validation errors so one reply names every field at
// fault; any other error is returned as it is. nil when all are nil.
func MergeValidation(errs ...error) error {
	var merged *Error
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != "validation_failed" {
			return err
		}
		if merged == nil {
			merged = Validation(map[string]string{})
		}
		for k, v := range e.Fields {
			merged.Fields[k] = v
		}
	}
	if merged == nil {
		return nil
	}
	return merged
}

// Common errors, shared by every handler.
var (
	ErrUnauthorized = NewError(fiber.StatusUnauthorized, "unauthorized", "missing or invalid credentials")
	ErrForbidden    = NewError(fiber.StatusForbidden, "forbidden", "you lack the permission for this")
	ErrNotFound     = NewError(fiber.StatusNotFound, "not_found", "no such resource")
	ErrUnavailable  = &Error{Status: fiber.StatusServiceUnavailable, Code: "unavailable",
		Message: "a backing service is unavailable, try again shortly", RetryAfter: 5 * time.Second}
)

type errorBody struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
	RequestID string `json:"request_id"`
}

// Unavailable marks an error from Postgres or Redis being down: the client gets 503
// unavailable (retryable), never 500.
func Unavailable(op string, err error) error {
	return &unavailableError{op: op, err: err}
}

type unavailableError struct {
	op  string
	err error
}

func (e *unavailableError) Error() string { return e.op + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// ErrorHandler is Fiber's single error exit: typed errors become their JSON body,
// Fiber's own errors keep their status, backing-service outages become 503 and
// anything else is a 500 logged loudly (a bug).
func ErrorHandler(log zerolog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		var apiErr *Error
		var fe *fiber.Error
		var ue *unavailableError
		switch {
		case errors.As(err, &apiErr):
		case errors.As(err, &ue) || IsOutage(err):
			log.Warn().Err(err).Str("request_id", RequestID(c)).Msg("backing service unavailable")
			apiErr = ErrUnavailable
		case errors.As(err, &fe):
			apiErr = fromFiber(fe)
		case isBadText(err):
			// Defence in depth behind the edge checks: text Postgres refuses
			// (NUL, invalid UTF-8) is the client's input, never a 500.
			apiErr = NewError(fiber.StatusBadRequest, "invalid_request", "the request contains characters that cannot be stored")
		default:
			log.Error().Err(err).Str("request_id", RequestID(c)).Str("route", routeOf(c)).Msg("internal error")
			apiErr = NewError(fiber.StatusInternalServerError, "internal", "internal error")
		}
		if apiErr.RetryAfter > 0 {
			secs := int((apiErr.RetryAfter + time.Second - 1) / time.Second)
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(secs))
		}
		if c.Response().Header.Peek(fiber.HeaderXContentTypeOptions) == nil {
			// Raised before routing (413, 431, 408, unparsable requests): the
			// middleware never ran.
			setSecurityHeaders(c)
		}
		var body errorBody
		body.Error.Code = apiErr.Code
		body.Error.Message = apiErr.Message
		body.Error.Fields = apiErr.Fields
		body.RequestID = RequestID(c)
		return c.Status(apiErr.Status).JSON(body)
	}
}

func fromFiber(fe *fiber.Error) *Error {
	switch fe.Code {
	case fiber.StatusRequestEntityTooLarge:
		return NewError(fe.Code, "body_too_large", "the request body exceeds 64 KiB")
	case fiber.StatusNotFound:
		return NewError(fe.Code, "not_found", "no such route")
	case fiber.StatusMethodNotAllowed:
		return NewError(fe.Code, "method_not_allowed", "method not allowed on this route")
	case fiber.StatusBadRequest:
		// Never fe.Message: for a request that could not be parsed it quotes
		// the raw request, Authorization header included.
		return NewError(fe.Code, "bad_request", "the request could not be parsed")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return NewError(fe.Code, "headers_too_large", "the request headers are too large")
	case fiber.StatusRequestTimeout:
		return NewError(fe.Code, "request_timeout", "the request took too long to arrive")
	case fiber.StatusUnsupportedMediaType:
		return NewError(fe.Code, "unsupported_media_type", "unsupported content type or encoding")
	case fiber.StatusBadGateway:
		return NewError(fiber.StatusBadRequest, "bad_request", "the request could not be read")
	case fiber.StatusUnauthorized:
		return ErrUnauthorized
	case fiber.StatusForbidden:
		return ErrForbidden
	case fiber.StatusTooManyRequests:
		return NewError(fe.Code, "rate_limited", "too many requests")
	case fiber.StatusServiceUnavailable:
		return ErrUnavailable
	}
	if fe.Code >= 500 {
		return NewError(fiber.StatusInternalServerError, "internal", "internal error")
	}
	return NewError(fe.Code, "bad_request", "the request was refused")
}

// isBadText reports a Postgres refusal of the text it was given.
func isBadText(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && (pqErr.Code == "22021" || pqErr.Code == "22P05")
}
