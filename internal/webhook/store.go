package webhook

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Storage errors.
var (
	ErrNotFound = errors.New("webhook: not found")
)

// Store is the webhook tables.
type Store struct {
	db  *sqlx.DB
	now func() time.Time
}

// NewStore returns the store over db.
func NewStore(db *sqlx.DB) *Store { return &Store{db: db, now: time.Now} }

// outboxLockKey is the advisory lock that orders the feed ("outbox" in
// ASCII), taken by the trigger that numbers events at commit (migration 00007).
const outboxLockKey int64 = 0x6f7574626f78

// isUUID reports whether s is a UUID in the canonical 36-character form, the
// only form ids are handed out in; anything else is simply not found (and
// never reaches Postgres as a cast that would fail).
func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

const endpointColumns = `id, user_id, url, description, event_types, enabled, disabled_reason, secret,
	previous_secret, previous_until, failing_since, created_at, updated_at`

// CreateEndpoint stores a new endpoint with its sealed secret.
func (s *Store) CreateEndpoint(ctx context.Context, userID, url, description string, types []string, sealed []byte) (Endpoint, error) {
	var e Endpoint
	err := s.db.GetContext(ctx, &e, `INSERT INTO webhook_endpoints (user_id, url, description, event_types, secret)
		VALUES ($1, $2, $3, $4, $5) RETURNING `+endpointColumns, userID, url, description, pq.StringArray(types), sealed)
	if err != nil {
		return Endpoint{}, fmt.Errorf("create endpoint: %w", err)
	}
	return e, nil
}

// Endpoint returns a live endpoint visible to ownerID ("" for admins).
func (s *Store) Endpoint(ctx context.Context, id, ownerID string) (Endpoint, error) {
	if !isUUID(id) {
		return Endpoint{}, ErrNotFound
	}
	var e Endpoint
	err := s.db.GetContext(ctx, &e, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE id = $1::uuid AND deleted_at IS NULL AND ($2 = '' OR user_id = NULLIF($2, '')::uuid)`, id, ownerID)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("get endpoint: %w", err)
	}
	return e, nil
}

// Endpoints lists live endpoints oldest first, after the cursor (created_at, id).
func (s *Store) Endpoints(ctx context.Context, ownerID string, after *time.Time, afterID string, limit int) ([]Endpoint, error) {
	out := []Endpoint{}
	err := s.db.SelectContext(ctx, &out, `SELECT `+endpointColumns+` FROM webhook_endpoints
		WHERE deleted_at IS NULL AND ($1 = '' OR user_id = NULLIF($1, '')::uuid)
		  AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, NULLIF($3, '')::uuid))
		ORDER BY created_at, id LIMIT $4`, ownerID, after, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("list endpoints: %w", err)
	}
	return out, nil
}

// EndpointPatch is what PATCH may change; nil fields stay.
type EndpointPatch struct {
	URL         *string
	Description *string
	EventTypes  *[]string
	Enabled     *bool
}

// UpdateEndpoint applies a patch. Enabling an endpoint clears its failure
// history and its disabled reason.
func (s *Store) UpdateEndpoint(ctx context.Context, id, ownerID string, p EndpointPatch) (Endpoint, error) {
	if !isUUID(id) {
		return Endpoint{}, ErrNotFound
	}
	var types any
	if p.EventTypes != nil {
		types = pq.StringArray(*p.EventTypes)
	}
	var e Endpoint
	err := s.db.GetContext(ctx, &e, `UPDATE webhook_endpoints SET
			url = COALESCE($3, url), description = COALESCE($4, description),
			event_types = COALESCE($5, event_types), enabled = COALESCE($6, enabled),
			disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason WHEN $6 THEN NULL ELSE 'disabled by its owner' END,
			failing_since = CASE WHEN $6 THEN NULL ELSE failing_since END,
			updated_at = now()
		WHERE id = $1::uuid AND deleted_at IS NULL AND ($2 = '' OR user_id = NULLIF($2, '')::uuid)
		RETURNING `+endpointColumns, id, ownerID, p.URL, p.Description, types, p.Enabled)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("update endpoint: %w", err)
	}
	return e, nil
}

// DeleteEndpoint soft-deletes an endpoint; its pending deliveries fail.
func (s *Store) DeleteEndpoint(ctx context.Context, id, ownerID string) error {
	if !isUUID(id) {
		return ErrNotFound
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET deleted_at = now(), enabled = false, updated_at = now()
		WHERE id = $1::uuid AND deleted_at IS NULL AND ($2 = '' OR user_id = NULLIF($2, '')::uuid)`, id, ownerID)
	if err != nil {
		return fmt.Errorf("delete endpoint: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint deleted',
		next_attempt_at = NULL, updated_at = now() WHERE endpoint_id = $1::uuid AND status = 'pending'`, id); err != nil {
		return fmt.Errorf("delete endpoint: fail pending: %w", err)
	}
	return tx.Commit()
}

// RotateSecret makes sealed the signing secret; the current one keeps signing
// until keepUntil.
func (s *Store) RotateSecret(ctx context.Context, id, ownerID string, sealed []byte, keepUntil time.Time) (Endpoint, error) {
	if !isUUID(id) {
		return Endpoint{}, ErrNotFound
	}
	var e Endpoint
	err := s.db.GetContext(ctx, &e, `UPDATE webhook_endpoints SET previous_secret = secret, previous_until = $4,
			secret = $3, updated_at = now()
		WHERE id = $1::uuid AND deleted_at IS NULL AND ($2 = '' OR user_id = NULLIF($2, '')::uuid) RETURNING `+endpointColumns,
		id, ownerID, sealed, keepUntil)
	if errors.Is(err, sql.ErrNoRows) {
		return Endpoint{}, ErrNotFound
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("rotate secret: %w", err)
	}
	return e, nil
}

// recordEvent writes an event and a pending delivery for every enabled
// endpoint of the owner that wants its type (or only for the endpoint `only`),
// inside tx. It returns the new deliveries.
func recordEvent(ctx context.Context, tx *sqlx.Tx, typ, userID string, txID *string, data json.RawMessage, only string) ([]int64, error) {
	// Who gets a delivery is read first, outside the lock below.
	var endpoints []Endpoint
	if err := tx.SelectContext(ctx, &endpoints, `SELECT id, event_types FROM webhook_endpoints
		WHERE user_id = $1 AND enabled AND deleted_at IS NULL AND ($2 = '' OR id = NULLIF($2, '')::uuid)`, userID, only); err != nil {
		return nil, fmt.Errorf("outbox: endpoints: %w", err)
	}
	targets := []string{}
	for _, e := range endpoints {
		if only != "" || e.subscribed(typ) {
			targets = append(targets, e.ID)
		}
	}
	// The event's place in the feed is given at commit, by a deferred
	// trigger under the outbox lock (migration 00007): nothing here waits for
	// another status change.
	var row struct {
		Seq        int64         `db:"seq"`
		Deliveries pq.Int64Array `db:"deliveries"`
	}
	if err := tx.GetContext(ctx, &row, `WITH ev AS (INSERT INTO outbox_events (type, user_id, transaction_id, data)
			VALUES ($1, $2, $3, $4) RETURNING id),
		d AS (INSERT INTO webhook_deliveries (event_id, endpoint_id, next_attempt_at)
			SELECT ev.id, e, now() FROM ev, unnest($5::uuid[]) AS e RETURNING id)
		SELECT (SELECT id FROM ev) AS seq, COALESCE((SELECT array_agg(id ORDER BY id) FROM d), '{}') AS deliveries`,
		typ, userID, txID, string(data), pq.StringArray(targets)); err != nil { // jsonb: a string (database.Open)
		return nil, fmt.Errorf("outbox: insert event: %w", err)
	}
	return []int64(row.Deliveries), nil
}

// TestEvent writes a webhook.test event for one endpoint and its delivery.
func (s *Store) TestEvent(ctx context.Context, e Endpoint) ([]int64, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("test event: %w", err)
	}
	defer tx.Rollback()
	data, _ := json.Marshal(map[string]any{"endpoint_id": e.ID, "message": "a test event from the verifier"})
	ids, err := recordEvent(ctx, tx, TypeTest, e.UserID, nil, data, e.ID)
	if err != nil {
		return nil, err
	}
	return ids, tx.Commit()
}

// sendable is a delivery with what sending it needs.
type sendable struct {
	Delivery
	Endpoint Endpoint
	Event    Event
}

// forSend loads a delivery, its endpoint (deleted ones too) and its event.
func (s *Store) forSend(ctx context.Context, id int64) (sendable, error) {
	var d sendable
	err := s.db.GetContext(ctx, &d.Delivery, `SELECT d.id, d.event_id, d.endpoint_id, e.type AS event_type, d.status, d.attempts,
			d.last_http_status, d.last_error, d.next_attempt_at, d.created_at
		FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id WHERE d.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("load delivery: %w", err)
	}
	if err := s.db.GetContext(ctx, &d.Endpoint, `SELECT `+endpointColumns+`, deleted_at IS NOT NULL AS deleted
		FROM webhook_endpoints WHERE id = $1`, d.EndpointID); err != nil {
		return d, fmt.Errorf("load endpoint: %w", err)
	}
	if err := s.db.GetContext(ctx, &d.Event, `SELECT id, type, user_id, transaction_id, data, created_at FROM outbox_events WHERE id = $1`, d.EventSeq); err != nil {
		return d, fmt.Errorf("load event: %w", err)
	}
	return d, nil
}

// attempt is the outcome of one try.
type attempt struct {
	status   string // the delivery's status after it
	http     int    // 0: no answer
	err      string
	next     *time.Time // pending: when to try again
	at       time.Time
	disable  string // non-empty: disable the endpoint with this reason
	success  bool
	attempts int
}

// recordAttempt stores a try and its effect on the endpoint, in one transaction.
func (s *Store) recordAttempt(ctx context.Context, d sendable, a attempt) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	defer tx.Rollback()
	var httpStatus, errText, delivered any
	if a.http != 0 {
		httpStatus = a.http
	}
	if a.err != "" {
		errText = a.err
	}
	if a.success {
		delivered = a.at
	}
	if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = $2, attempts = $3, last_http_status = $4,
			last_error = $5, next_attempt_at = $6, delivered_at = COALESCE($7, delivered_at), updated_at = $8
		WHERE id = $1 AND status = 'pending'`, d.ID, a.status, a.attempts, httpStatus, errText, a.next, delivered, a.at); err != nil {
		return fmt.Errorf("record attempt: %w", err)
	}
	if a.success {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL`, d.EndpointID); err != nil {
			return fmt.Errorf("record attempt: endpoint: %w", err)
		}
	} else {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1`, d.EndpointID, a.at); err != nil {
			return fmt.Errorf("record attempt: endpoint: %w", err)
		}
	}
	if a.disable != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3
			WHERE id = $1 AND enabled`, d.EndpointID, a.disable, a.at); err != nil {
			return fmt.Errorf("disable endpoint: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'failed', last_error = 'endpoint disabled: ' || $2,
				next_attempt_at = NULL, updated_at = $3 WHERE endpoint_id = $1 AND status = 'pending'`, d.EndpointID, a.disable, a.at); err != nil {
			return fmt.Errorf("disable endpoint: fail pending: %w", err)
		}
	}
	return tx.Commit()
}

// Deliveries lists an endpoint's deliveries, newest first, before the cursor id.
func (s *Store) Deliveries(ctx context.Context, endpointID string, before int64, limit int) ([]Delivery, error) {
	out := []Delivery{}
	err := s.db.SelectContext(ctx, &out, `SELECT d.id, d.event_id, d.endpoint_id, e.type AS event_type, d.status, d.attempts,
			d.last_http_status, d.last_error, d.next_attempt_at, d.created_at
		FROM webhook_deliveries d JOIN outbox_events e ON e.id = d.event_id
		WHERE d.endpoint_id = $1::uuid AND ($2 = 0 OR d.id < $2) ORDER BY d.id DESC LIMIT $3`, endpointID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	return out, nil
}

// Retry puts one delivery of the endpoint back to pending, due now.
func (s *Store) Retry(ctx context.Context, endpointID string, id int64) error {
	res, err := s.db.ExecContext(ctx, `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(), updated_at = now()
		WHERE id = $1 AND endpoint_id = $2::uuid`, id, endpointID)
	if err != nil {
		return fmt.Errorf("retry delivery: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Events is the feed: an owner's events ("" for admins) after the event
// `after` (an id), in the order they committed (seq), of one type when typ is
// set. A cursor whose event is gone (EVENT_RETENTION) continues after the
// last event with a smaller id that is still kept.
func (s *Store) Events(ctx context.Context, ownerID string, after int64, typ string, limit int) ([]Event, error) {
	out := []Event{}
	err := s.db.SelectContext(ctx, &out, `SELECT id, type, user_id, transaction_id, data, created_at FROM outbox_events
		WHERE ($1 = '' OR user_id = NULLIF($1, '')::uuid) AND ($3 = '' OR type = $3)
			AND seq > COALESCE((SELECT seq FROM outbox_events WHERE id = $2),
				(SELECT max(seq) FROM outbox_events WHERE id < $2), 0)
		ORDER BY seq LIMIT $4`,
		ownerID, after, typ, limit)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return out, nil
}

// Due lists pending deliveries due before `before`, by id after afterID.
func (s *Store) Due(ctx context.Context, before time.Time, afterID int64, limit int) ([]int64, error) {
	ids := []int64{}
	err := s.db.SelectContext(ctx, &ids, `SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < $1 AND id > $2
		ORDER BY id LIMIT $3`, before, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return ids, nil
}

// DeleteEventsBefore deletes up to batch events older than before (their
// deliveries with them) and reports how many.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, batch int) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM outbox_events WHERE id IN (
		SELECT id FROM outbox_events WHERE created_at < $1 ORDER BY id LIMIT $2)`, before, batch)
	if err != nil {
		return 0, fmt.Errorf("retention: %w", err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// Backlog is what the gauges show.
type Backlog struct {
	Pending       int64   `db:"pending"`
	OldestPending float64 `db:"oldest"` // seconds since the oldest pending delivery was created
	Disabled      int64   `db:"disabled"`
	// Overdue are pending deliveries due more than two minutes ago: a live
	// task would have sent them, so their task is lost or the workers are
	// starved (the sweeper repairs the first within SWEEP_INTERVAL).
	Overdue int64 `db:"overdue"`
}

// Backlog reads the pending deliveries and disabled endpoints.
func (s *Store) Backlog(ctx context.Context) (Backlog, error) {
	var b Backlog
	err := s.db.GetContext(ctx, &b, `SELECT
		(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS pending,
		(SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)::float8 FROM webhook_deliveries WHERE status = 'pending') AS oldest,
		(SELECT count(*) FROM webhook_endpoints WHERE NOT enabled AND deleted_at IS NULL) AS disabled,
		(SELECT count(*) FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at < now() - interval '2 minutes') AS overdue`)
	if err != nil {
		return Backlog{}, fmt.Errorf("webhook backlog: %w", err)
	}
	return b, nil
}
