package verify

import (
	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/tasks"
)

// ServerOptions configure the checks' Asynq server of a worker.
type ServerOptions = queue.ServerOptions

// NewServer builds the Asynq server of the bank checks: the sweep and the
// verify queues, in strict priority (tasks.Queues).
func NewServer(rdb redis.UniversalClient, o ServerOptions) *asynq.Server {
	o.StrictPriority = true
	return queue.NewServer(rdb, tasks.Queues(), o)
}

// NewMux routes the task types to their handlers.
func NewMux(h *Handler, s *Sweeper) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeVerify, h)
	mux.Handle(tasks.TypeSweep, s)
	return mux
}
