package verify

import "github.com/banesco-verifier/verifier/internal/queue"

// WaitError, IsFailure and RetryDelay live in internal/queue, shared by every
// task handler that reschedules itself (bank checks, webhook deliveries).
type WaitError = queue.WaitError

var (
	IsFailure  = queue.IsFailure
	RetryDelay = queue.RetryDelay
)
