package webhook

import (
	"github.com/hibiken/asynq"

	"github.com/banesco-verifier/verifier/tasks"
)

// NewMux routes the webhook task types to their handlers; the worker serves it
// on its own Asynq server (tasks.WebhookQueues).
func NewMux(d *Deliverer, s *Sweeper) *asynq.ServeMux {
	mux := asynq.NewServeMux()
	mux.Handle(tasks.TypeWebhookDeliver, d)
	mux.Handle(tasks.TypeWebhookSweep, s)
	return mux
}
