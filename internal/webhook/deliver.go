package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/tasks"
)

// maxResponseBytes is how much of a receiver's answer is read (it only says
// yes or no).
const maxResponseBytes = 4 << 10

// Options configure delivery.
type Options struct {
	Schedule     []time.Duration // WEBHOOK_SCHEDULE: waits after the 1st, 2nd… failure
	Timeout      time.Duration   // WEBHOOK_TIMEOUT
	DisableAfter time.Duration   // WEBHOOK_DISABLE_AFTER
	Guard        Guard
}

// Deliverer is the delivery task handler (tasks.TypeWebhookDeliver).
type Deliverer struct {
	store   *Store
	sealer  *Sealer
	client  *http.Client
	opts    Options
	metrics *Metrics
	log     zerolog.Logger
	now     func() time.Time
}

// NewDeliverer wires the handler.
func NewDeliverer(store *Store, sealer *Sealer, opts Options, metrics *Metrics, log zerolog.Logger) *Deliverer {
	return &Deliverer{store: store, sealer: sealer, client: opts.Guard.Client(opts.Timeout), opts: opts, metrics: metrics,
		log: log.With().Str("component", "webhook").Logger(), now: time.Now}
}

// ProcessTask sends one delivery. A failure that has retries left returns a
// wait under the same task id (and the same webhook-id); the last one marks
// the delivery failed.
func (d *Deliverer) ProcessTask(ctx context.Context, task *asynq.Task) error {
	p, err := tasks.ParseDelivery(task)
	if err != nil {
		return fmt.Errorf("%w: %v", asynq.SkipRetry, err)
	}
	s, err := d.store.forSend(ctx, p.DeliveryID)
	if errors.Is(err, ErrNotFound) {
		return nil // deleted with its event (retention)
	}
	if err != nil {
		return err
	}
	if s.Status != StatusPending {
		return nil
	}
	now := d.now()
	if !s.Endpoint.Enabled || s.Endpoint.Deleted {
		// Recorded as failed, not retried.
		d.metrics.delivery("disabled")
		reason := "endpoint disabled"
		if s.Endpoint.DisabledReason != nil {
			reason += ": " + *s.Endpoint.DisabledReason
		}
		return d.store.recordAttempt(ctx, s, attempt{status: StatusFailed, err: reason, at: now, attempts: s.Attempts})
	}
	code, sendErr := d.send(ctx, s, now)
	a := attempt{at: d.now(), http: code, attempts: s.Attempts + 1}
	if sendErr == nil {
		a.status, a.success = StatusSucceeded, true
		d.metrics.delivery("succeeded")
		d.metrics.latency(a.at.Sub(s.Event.CreatedAt))
		return d.store.recordAttempt(ctx, s, a)
	}
	a.err = clip(sendErr.Error(), 500)
	failingSince := now
	if s.Endpoint.FailingSince != nil {
		failingSince = *s.Endpoint.FailingSince
	}
	switch {
	case d.opts.DisableAfter > 0 && a.at.Sub(failingSince) >= d.opts.DisableAfter:
		a.status = StatusFailed
		a.disable = fmt.Sprintf("every delivery failed for %s (last: %s)", d.opts.DisableAfter, clip(a.err, 200))
		d.metrics.delivery("failed")
		d.metrics.disabled()
		d.log.Warn().Str("endpoint", s.EndpointID).Msg("webhook endpoint disabled after failing for WEBHOOK_DISABLE_AFTER")
	case a.attempts > len(d.opts.Schedule):
		a.status = StatusFailed
		d.metrics.delivery("failed")
	default:
		next := a.at.Add(d.opts.Schedule[a.attempts-1])
		a.status, a.next = StatusPending, &next
		d.metrics.delivery("retry")
	}
	if err := d.store.recordAttempt(ctx, s, a); err != nil {
		return err
	}
	if a.next != nil {
		return &queue.WaitError{Delay: a.next.Sub(a.at), Reason: fmt.Sprintf("delivery attempt %d failed (%s); next at %s",
			a.attempts, clip(a.err, 120), a.next.UTC().Format(time.RFC3339))}
	}
	return nil
}

// send POSTs the event, signed with every secret in force. It returns the
// HTTP status (0 when none came) and an error unless the receiver said 2xx.
func (d *Deliverer) send(ctx context.Context, s sendable, now time.Time) (int, error) {
	body, err := s.Event.body()
	if err != nil {
		return 0, fmt.Errorf("encode event: %w", err)
	}
	secret, err := d.sealer.Open(s.Endpoint.Secret)
	if err != nil {
		return 0, err
	}
	secrets := []string{secret}
	if s.Endpoint.PreviousSecret != nil && s.Endpoint.PreviousUntil != nil && now.Before(*s.Endpoint.PreviousUntil) {
		if prev, err := d.sealer.Open(s.Endpoint.PreviousSecret); err == nil {
			secrets = append(secrets, prev)
		}
	}
	id := EventID(s.EventSeq)
	sig, err := signatureHeader(secrets, id, now, body)
	if err != nil {
		return 0, err
	}
	// The URL is checked again here: the guard also runs at every dial.
	if _, err := d.opts.Guard.CheckURL(ctx, s.Endpoint.URL); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Endpoint.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "verifier-webhooks/1")
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, sig)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, describe(err, d.opts.Timeout)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return resp.StatusCode, fmt.Errorf("receiver answered a redirect (%d); webhooks do not follow redirects", resp.StatusCode)
		}
		return resp.StatusCode, fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// describe turns a failed POST into the short, stable reason the delivery
// records (the owner reads it in GET …/deliveries).
func describe(err error, timeout time.Duration) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return fmt.Errorf("no answer within %s (WEBHOOK_TIMEOUT)", timeout)
	}
	if errors.Is(err, ErrTargetRefused) {
		return fmt.Errorf("the address is not allowed: %w", ErrTargetRefused)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL, which the owner knows
	}
	return fmt.Errorf("no answer: %v", err)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
