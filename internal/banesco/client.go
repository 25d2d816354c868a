// Package banesco is the client for Banesco's "Confirmación de Transacciones"
// API: OAuth token, the two query modes (pago móvil and Banesco→Banesco
// transfer), and the interpretation of every reply quirk and status code into
// a Verdict or a typed *Error.
//
// Every detail of the bank contract (docs/bank.md) lives in this
// package, so a difference found at certification is a one-place change.
// The client never re-sends a check the bank may have seen, not even after an
// authentication rejection: the bank allows two checks per reference per
// minute and counts every request that arrives, so when to ask again is the
// limiter's decision. Checks that never reached the bank (the connection
// failed before the request was written) are re-sent after short waits.
package banesco

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/oauth2"
)

// Client checks payments at the bank. It is safe for concurrent use; all
// goroutines share one cached token.
type Client struct {
	cfg     Config
	http    *http.Client
	tokens  *tokenCache
	metrics *Metrics
	log     zerolog.Logger
}

// New validates cfg, fills in defaults and returns a Client. It does not
// contact the bank; the first Verify fetches the token.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("banesco: new client: %w", err)
	}
	hc, err := cfg.httpClient()
	if err != nil {
		return nil, fmt.Errorf("banesco: new client: %w", err)
	}
	return &Client{
		cfg:     cfg,
		http:    hc,
		tokens:  newTokenCache(cfg, hc, cfg.Metrics),
		metrics: cfg.Metrics,
		log:     cfg.Logger.With().Str("component", "banesco").Str("environment", cfg.Environment).Logger(),
	}, nil
}

// Verify asks the bank about one payment. It returns a Verdict when the bank
// gave a meaningful answer (including NotFound and Rejected) and an *Error
// otherwise: see RetryAfter and IsTransient for what to do next. Alongside an
// error the Verdict still carries HTTPStatus, StatusCode and Latency when known,
// and its Outcome is never Confirmed.
func (c *Client) Verify(ctx context.Context, q Query) (Verdict, error) {
	start := time.Now()
	p, err := c.prepare(q)
	if err != nil {
		return Verdict{}, err
	}
	log := c.log.With().Str("mode", q.Mode.String()).Str("ref_tail", refTail(p.tail)).Logger()

	res, tok := c.checkWithToken(ctx, p, log)
	if res.authRejected {
		// Token expired or revoked at the bank: drop it, so the next check
		// fetches a new one. This check is not sent again: the bank counted
		// the rejected request toward the reference's limit, and a second
		// one now would leave no room for the next check within the minute.
		c.metrics.observeAuthRejection(res.verdict.HTTPStatus)
		c.tokens.invalidate(tok)
		log.Warn().Int("http_status", res.verdict.HTTPStatus).
			Msg("bank rejected the access token; a new one is fetched for the next check")
	}
	res.verdict.Latency = time.Since(start) - res.gated
	return res.verdict, res.err
}

// checkWithToken gets the shared token and sends one check. It returns the
// token used so an auth rejection can invalidate exactly that token.
func (c *Client) checkWithToken(ctx context.Context, p preparedQuery, log zerolog.Logger) (result, *oauth2.Token) {
	if err := ctx.Err(); err != nil {
		return result{err: &Error{Kind: KindTransient, Err: fmt.Errorf("check: %w", err)}}, nil
	}
	tok, err := c.sharedToken()
	if err != nil {
		log.Debug().Err(err).Msg("no bank token; the check was not sent")
		return result{err: err}, nil
	}
	return c.check(ctx, tok, p, log), tok
}

// sharedToken returns the cached token, fetching one if needed; its error is
// marked as "no check sent" (NoCheckSent reports true).
func (c *Client) sharedToken() (*oauth2.Token, error) {
	tok, err := c.tokens.token()
	if err == nil {
		return tok, nil
	}
	var e *Error
	if errors.As(err, &e) {
		cp := *e
		cp.Token = true
		return nil, &cp
	}
	return nil, &Error{Kind: KindTransient, Token: true, Err: err}
}

// Ready reports whether a check could be sent now: it obtains the shared token
// (usually from the cache) and returns its error, for which NoCheckSent is true.
// The worker asks before it takes a slot from the bank limits, so a refused or
// failing token endpoint never spends a reference's slot on a check that is
// then not sent.
func (c *Client) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return &Error{Kind: KindTransient, Token: true, Err: fmt.Errorf("token: %w", err)}
	}
	_, err := c.sharedToken()
	return err
}

// check sends one check request and interprets the reply.
func (c *Client) check(ctx context.Context, tok *oauth2.Token, p preparedQuery, log zerolog.Logger) result {
	// The first pass of the send gate (waiting for the limiter's slot) comes
	// before the bank's timeout starts: that wait is ours, not the bank's.
	var gated time.Duration
	if held := passGate(ctx, &gated); held != nil {
		log.Debug().Err(held).Msg("bank check held back by the send gate")
		return result{label: "held", err: held, gated: gated}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.CheckURL, bytes.NewReader(p.body))
	if err != nil {
		return result{err: &Error{Kind: KindConfig, Err: fmt.Errorf("build check request: %w", err)}}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)

	t0 := time.Now()
	res := c.roundTrip(req, p)
	elapsed := time.Since(t0) - res.gated
	res.gated += gated
	if HeldBack(res.err) {
		// Our own limiter kept it back: nothing about the bank to count.
		log.Debug().Err(res.err).Msg("bank check held back by the send gate")
		return res
	}
	c.metrics.observeCheck(res.label, elapsed)
	c.metrics.setAvailable("check", KindOf(res.err) != KindTransient)

	ev := log.Debug()
	switch {
	case res.verdict.Reason == ReasonDateRangeTooWide:
		// 70005: the date range is too wide for the bank (or the day too
		// busy); retried, and someone must look if it persists.
		ev = log.Warn()
	case res.err != nil:
		ev = log.Warn().Err(res.err)
	}
	ev.Str("status_code", res.verdict.StatusCode).Int("http_status", res.verdict.HTTPStatus).
		Str("outcome", res.label).Str("verdict", res.verdict.Outcome.String()).
		Str("reason", res.verdict.Reason).Dur("latency", elapsed).Msg("bank check")
	return res
}

// SendGate is called right before each attempt to send a check (a
// connection retry is another attempt; the first pass is before the bank's
// timeout starts); an error means "do not send". The
// worker passes its limiter's gate, so the bank's global window is counted
// from when requests really leave, not from when the limiter was asked.
type SendGate func(ctx context.Context) error

type sendGateKey struct{}

// passGate runs ctx's send gate, if any, adding the time it took to gated; a
// refusal is returned as a Held error.
func passGate(ctx context.Context, gated *time.Duration) error {
	gate, ok := ctx.Value(sendGateKey{}).(SendGate)
	if !ok {
		return nil
	}
	t0 := time.Now()
	err := gate(ctx)
	*gated += time.Since(t0)
	if err != nil {
		return &Error{Kind: KindTransient, Held: true, Err: fmt.Errorf("check not sent: %w", err)}
	}
	return nil
}

// WithSendGate returns a context under which Verify passes gate before each
// send.
func WithSendGate(ctx context.Context, gate SendGate) context.Context {
	return context.WithValue(ctx, sendGateKey{}, gate)
}

// roundTrip performs the HTTP call and maps transport failures to transient
// errors labelled timeout, network or canceled. A call that failed before its
// request was written (connection refused, reset during the handshake) never
// reached the bank, so it is sent again after each of ConnectRetries: the bank
// has refused new connections from some egress ranges for a moment, and such a
// retry costs nothing against its limits.
func (c *Client) roundTrip(req *http.Request, p preparedQuery) (res result) {
	var resp *http.Response
	var err error
	var gated time.Duration
	defer func() { res.gated = gated }()
	for i := 0; ; i++ {
		var wrote atomic.Bool
		trace := &httptrace.ClientTrace{WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err == nil {
				wrote.Store(true)
			}
		}}
		attempt := req.Clone(httptrace.WithClientTrace(req.Context(), trace))
		attempt.Body = io.NopCloser(bytes.NewReader(p.body))
		if i > 0 { // check passed the gate before the first attempt
			if held := passGate(req.Context(), &gated); held != nil {
				return result{label: "held", err: held, gated: gated}
			}
		}
		resp, err = c.http.Do(attempt)
		if err == nil || wrote.Load() || i >= len(c.cfg.ConnectRetries) || req.Context().Err() != nil {
			break
		}
		c.metrics.observeConnectRetry()
		timer := time.NewTimer(c.cfg.ConnectRetries[i])
		select {
		case <-timer.C:
		case <-req.Context().Done():
			timer.Stop()
		}
	}
	if err != nil {
		return transportFailure("check request", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes+1))
	if err != nil {
		r := transportFailure("read check reply", err)
		r.verdict.HTTPStatus = resp.StatusCode
		return r
	}
	if len(body) > maxReplyBytes {
		return result{label: "malformed", verdict: Verdict{HTTPStatus: resp.StatusCode},
			err: &Error{Kind: KindTransient, HTTPStatus: resp.StatusCode, Err: fmt.Errorf("%w: reply larger than %d bytes", errMalformed, maxReplyBytes)}}
	}
	return interpret(resp.StatusCode, resp.Header, body, p)
}

// transportFailure classifies an error from the HTTP layer.
func transportFailure(op string, err error) result {
	label := "network"
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		label = "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		label = "timeout"
	}
	return result{label: label, err: &Error{Kind: KindTransient, Err: fmt.Errorf("%s (%s): %w", op, label, err)}}
}

// refTail is what logs may show of a reference: its last 4 digits.
func refTail(ref string) string {
	if len(ref) <= 4 {
		return ref
	}
	return ref[len(ref)-4:]
}

// parseRetryAfter reads Retry-After as seconds (or an HTTP date). Absent or
// unreadable means 1 s, and the answer is never below 1 s: the bank must
// never see us come back sooner than it asked.
func parseRetryAfter(v string) time.Duration {
	const floor = time.Second
	v = strings.TrimSpace(v)
	if v == "" {
		return floor
	}
	d := floor
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		d = time.Duration(secs) * time.Second
	} else if dur, err := time.ParseDuration(v + "s"); err == nil {
		d = dur
	} else if at, err := http.ParseTime(v); err == nil {
		d = time.Until(at).Round(time.Second)
	}
	if d < floor {
		return floor
	}
	return d
}

// MaintenanceUntil reports whether t falls in the bank's known maintenance
// window (BANESCO_MAINTENANCE_WINDOW) and when it ends: checks due then wait
// for its end instead of asking a bank that is down.
func (c *Client) MaintenanceUntil(t time.Time) (time.Time, bool) {
	return c.cfg.MaintenanceWindow.Until(t)
}
