// Package tasks defines the Asynq task types, their queues and payloads, shared by
// the API (which enqueues) and the worker (which handles). Payloads carry ids only —
// never customer data or secrets — because Redis and the dashboard show them.
package tasks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
)

// Task types.
const (
	TypeVerify = "transaction:verify"
	TypeSweep  = "transaction:sweep"
	// TypeWebhookDeliver sends one delivery (event × endpoint).
	TypeWebhookDeliver = "webhook:deliver"
	// TypeWebhookSweep re-enqueues lost deliveries and applies EVENT_RETENTION.
	TypeWebhookSweep = "webhook:sweep"
)

// Queues, named for what they carry. Strict priorities (see Queues) make the
// worker pick on-demand checks first, so a backlog of routine checks never
// delays them.
const (
	QueueVerifyNow = "verify_now" // checks a person asked for (POST …/verify)
	QueueVerify    = "verify"     // routine checks: first check and the reschedules
	QueueSweep     = "sweep"      // the periodic repair scan
	// QueueWebhooks carries deliveries to client apps. It is served by an
	// Asynq server of its own in each worker (WEBHOOK_CONCURRENCY slots), not
	// by a weight among the checks' queues: a weight only orders the queues
	// when a slot is free, so receivers that take WEBHOOK_TIMEOUT to answer
	// would still fill every check slot. The webhook sweep rides on it too.
	QueueWebhooks = "webhooks"
)

// Queues maps each queue of the bank checks' server to its priority for
// asynq.Config.Queues, served strictly (asynq.Config.StrictPriority): a queue
// is served only while the ones above it are empty. The sweep comes first: one
// task per SWEEP_INTERVAL, and under a backlog it is what repairs lost checks.
// Then the checks a person asked for (POST …/verify), then the routine ones,
// which asynq serves oldest-due first (its forwarder moves scheduled tasks to
// the pending list in order of due time, and the list is FIFO). With weights
// instead (6/3/1 before), a backlog of routine checks still took a third of
// the picks from on-demand ones.
func Queues() map[string]int {
	return map[string]int{QueueSweep: 3, QueueVerifyNow: 2, QueueVerify: 1}
}

// WebhookQueues is the queue set of the webhook deliveries' server.
func WebhookQueues() map[string]int { return map[string]int{QueueWebhooks: 1} }

// VerifyQueues are the queues a verify task can live in.
var VerifyQueues = []string{QueueVerifyNow, QueueVerify}

// VerifyPayload identifies the transaction to check and the request that caused it.
type VerifyPayload struct {
	TransactionID string `json:"transaction_id"` // our UUID, not the client's id
	RequestID     string `json:"request_id,omitempty"`
	// Seq numbers the tasks of one transaction: a check that has to wait
	// (not found yet, a bank limit, an outage) ends and hands over to a
	// successor numbered Seq+1, due when the wait ends. 0 is the first task.
	Seq int `json:"seq,omitempty"`
	// After says why a successor waits ("not found at the bank yet after 2
	// check(s)"), for operators reading Asynqmon's Scheduled list. Never
	// customer data.
	After string `json:"after,omitempty"`
}

// VerifyTaskID is the task id of a transaction's check number seq. One task per
// transaction at a time: the first is verify:<uuid>, its successors
// verify:<uuid>:<seq>, so enqueuing one twice is harmless
// (asynq.ErrTaskIDConflict) and two runs of one task hand over to one successor.
func VerifyTaskID(transactionID string, seq int) string {
	if seq == 0 {
		return "verify:" + transactionID
	}
	return "verify:" + transactionID + ":" + strconv.Itoa(seq)
}

// verifyMaxRetry is effectively unlimited: a verify task must never be archived
// by exhaustion (an archived id blocks the transaction forever); the transaction's
// deadline ends the checks instead.
const verifyMaxRetry = 1 << 30

// NewVerifyTask builds the check of a transaction, to run at processAt in queue.
func NewVerifyTask(p VerifyPayload, queue string, processAt time.Time) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode verify payload: %w", err)
	}
	return asynq.NewTask(TypeVerify, b,
		asynq.TaskID(VerifyTaskID(p.TransactionID, p.Seq)),
		asynq.Queue(queue),
		asynq.ProcessAt(processAt),
		asynq.MaxRetry(verifyMaxRetry),
		asynq.Timeout(2*time.Minute),
	), nil
}

// ParseVerify decodes a verify task's payload.
func ParseVerify(t *asynq.Task) (VerifyPayload, error) {
	var p VerifyPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode verify payload: %w", err)
	}
	if p.TransactionID == "" {
		return p, fmt.Errorf("decode verify payload: no transaction_id")
	}
	if p.Seq < 0 {
		return p, fmt.Errorf("decode verify payload: negative seq")
	}
	return p, nil
}

// SweepPayload names the period a sweep belongs to (its dedup key).
type SweepPayload struct {
	Period int64 `json:"period"` // unix seconds of the period start
}

// NewSweepTask builds the sweep of one period. Every worker replica enqueues the
// same id for the same period, so exactly one sweep runs per period; Retention
// keeps the id taken after it succeeded, for latecomers.
func NewSweepTask(period time.Time, interval time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(SweepPayload{Period: period.Unix()})
	if err != nil {
		return nil, fmt.Errorf("encode sweep payload: %w", err)
	}
	return asynq.NewTask(TypeSweep, b,
		asynq.TaskID(fmt.Sprintf("sweep:%d", period.Unix())),
		asynq.Queue(QueueSweep),
		asynq.MaxRetry(1),
		asynq.Timeout(interval),
		asynq.Retention(2*interval),
	), nil
}

// DeliveryPayload is the payload of a webhook delivery task: an id only.
type DeliveryPayload struct {
	DeliveryID int64 `json:"delivery_id"`
}

// DeliveryTaskID is the task id of a delivery: one task per delivery, the same
// on every retry.
func DeliveryTaskID(id int64) string { return fmt.Sprintf("webhook:%d", id) }

// NewDeliveryTask builds the task of a delivery, due at processAt.
func NewDeliveryTask(id int64, processAt time.Time) (*asynq.Task, error) {
	b, err := json.Marshal(DeliveryPayload{DeliveryID: id})
	if err != nil {
		return nil, fmt.Errorf("encode delivery payload: %w", err)
	}
	return asynq.NewTask(TypeWebhookDeliver, b,
		asynq.TaskID(DeliveryTaskID(id)),
		asynq.Queue(QueueWebhooks),
		asynq.ProcessAt(processAt),
		asynq.MaxRetry(verifyMaxRetry), // retries are waits on WEBHOOK_SCHEDULE, ended by the handler
		asynq.Timeout(time.Minute),
	), nil
}

// ParseDelivery reads a delivery task's payload.
func ParseDelivery(t *asynq.Task) (DeliveryPayload, error) {
	var p DeliveryPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.DeliveryID <= 0 {
		return p, fmt.Errorf("bad delivery payload: %v", err)
	}
	return p, nil
}

// NewWebhookSweepTask builds the webhook sweep of one period (one per period
// across replicas, as NewSweepTask).
func NewWebhookSweepTask(period time.Time, interval time.Duration) (*asynq.Task, error) {
	b, err := json.Marshal(SweepPayload{Period: period.Unix()})
	if err != nil {
		return nil, fmt.Errorf("encode sweep payload: %w", err)
	}
	return asynq.NewTask(TypeWebhookSweep, b,
		asynq.TaskID(fmt.Sprintf("webhook-sweep:%d", period.Unix())),
		asynq.Queue(QueueWebhooks),
		asynq.MaxRetry(1),
		asynq.Timeout(interval),
		asynq.Retention(2*interval),
	), nil
}
