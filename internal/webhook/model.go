package webhook

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lib/pq"
)

// Event types (docs/api.md, Webhooks).
const (
	TypeCompleted = "transaction.completed"
	TypeToReview  = "transaction.to_review"
	TypeUnknown   = "transaction.unknown"
	TypeCanceled  = "transaction.canceled"
	TypeTest      = "webhook.test"
)

// EventTypes are the types an endpoint may subscribe to.
var EventTypes = []string{TypeCompleted, TypeToReview, TypeUnknown, TypeCanceled, TypeTest}

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

// Endpoint is a registered receiver.
type Endpoint struct {
	ID             string         `db:"id" json:"id"`
	UserID         string         `db:"user_id" json:"-"`
	URL            string         `db:"url" json:"url"`
	Description    string         `db:"description" json:"description"`
	EventTypes     pq.StringArray `db:"event_types" json:"event_types"`
	Enabled        bool           `db:"enabled" json:"enabled"`
	DisabledReason *string        `db:"disabled_reason" json:"disabled_reason"`
	Secret         []byte         `db:"secret" json:"-"`
	PreviousSecret []byte         `db:"previous_secret" json:"-"`
	PreviousUntil  *time.Time     `db:"previous_until" json:"-"`
	FailingSince   *time.Time     `db:"failing_since" json:"-"`
	Deleted        bool           `db:"deleted" json:"-"`
	CreatedAt      time.Time      `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time      `db:"updated_at" json:"updated_at"`
}

// subscribed reports whether the endpoint wants events of type typ.
func (e Endpoint) subscribed(typ string) bool {
	if len(e.EventTypes) == 0 {
		return typ != TypeTest // the test event goes only where it is sent
	}
	for _, t := range e.EventTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// Event is one outbox row, as the feed shows it and webhooks carry it.
type Event struct {
	Seq           int64           `db:"id" json:"-"`
	Type          string          `db:"type" json:"type"`
	UserID        string          `db:"user_id" json:"-"`
	TransactionID *string         `db:"transaction_id" json:"-"`
	Data          json.RawMessage `db:"data" json:"data"`
	CreatedAt     time.Time       `db:"created_at" json:"-"`
}

// EventID is the public id of an event: the webhook-id of every delivery of
// it, the same on every retry.
func EventID(seq int64) string { return "evt_" + strconv.FormatInt(seq, 10) }

// parseEventID reads "evt_123".
func parseEventID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "evt_"), 10, 64)
	if err != nil || n < 0 || !strings.HasPrefix(s, "evt_") {
		return 0, fmt.Errorf("not an event id")
	}
	return n, nil
}

// payload is the body of a delivery (Standard Webhooks' suggested shape).
type payload struct {
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

// body is what receivers get for ev.
func (ev Event) body() ([]byte, error) {
	return json.Marshal(payload{Type: ev.Type, Timestamp: ev.CreatedAt.UTC(), Data: ev.Data})
}

// FeedItem is an event in GET /api/v1/events.
type FeedItem struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Timestamp time.Time       `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
	CreatedAt time.Time       `json:"created_at"`
}

func (ev Event) feedItem() FeedItem {
	return FeedItem{ID: EventID(ev.Seq), Type: ev.Type, Timestamp: ev.CreatedAt.UTC(), Data: ev.Data, CreatedAt: ev.CreatedAt.UTC()}
}

// Delivery is one (event, endpoint).
type Delivery struct {
	ID             int64      `db:"id" json:"-"`
	EventSeq       int64      `db:"event_id" json:"-"`
	EndpointID     string     `db:"endpoint_id" json:"-"`
	EventType      string     `db:"event_type" json:"event_type"`
	Status         string     `db:"status" json:"status"`
	Attempts       int        `db:"attempts" json:"attempts"`
	LastHTTPStatus *int       `db:"last_http_status" json:"last_http_status"`
	LastError      *string    `db:"last_error" json:"last_error"`
	NextAttemptAt  *time.Time `db:"next_attempt_at" json:"next_attempt_at"`
	CreatedAt      time.Time  `db:"created_at" json:"created_at"`
}

// DeliveryView is a delivery as the API shows it.
type DeliveryView struct {
	ID      string `json:"id"`
	EventID string `json:"event_id"`
	Delivery
}

func (d Delivery) view() DeliveryView {
	return DeliveryView{ID: "dlv_" + strconv.FormatInt(d.ID, 10), EventID: EventID(d.EventSeq), Delivery: d}
}

func parseDeliveryID(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "dlv_"), 10, 64)
	if err != nil || n <= 0 || !strings.HasPrefix(s, "dlv_") {
		return 0, fmt.Errorf("not a delivery id")
	}
	return n, nil
}
