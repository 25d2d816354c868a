// Package client is the Go client of the verifier API, for client apps: it logs
// in and refreshes tokens for the caller, sends typed requests, decodes typed
// replies and errors (*APIError), retries 429 and 503 replies as Retry-After
// says (only requests that are safe to repeat), and waits for a transaction's
// final status with WaitFinal.
//
//	c, err := client.New("https://verifier.example.com", client.WithCredentials(email, password))
//	created, err := c.CreateTransaction(ctx, client.CreateTransaction{…})
//	st, err := c.WaitFinal(ctx, created.TransactionID)
//
// A Client is safe for concurrent use. The API is described at /docs of any
// server (OpenAPI document at /openapi.yaml).
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client talks to one verifier API server.
type Client struct {
	base      *url.URL
	http      *http.Client
	userAgent string

	maxAttempts  int           // per request, the first one included
	maxRetryWait time.Duration // a longer Retry-After is returned as the error
	pollMin      time.Duration // WaitFinal's first wait
	pollMax      time.Duration // WaitFinal's longest wait
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error

	authMu   sync.Mutex // serialises login and refresh
	mu       sync.Mutex // guards the fields below
	email    string
	password string
	tokens   Tokens
	expiry   time.Time // of tokens.AccessToken; zero when unknown
	apiKey   string    // WithAPIKey: sent instead of an access token, never renewed
}

// Option configures a Client.
type Option func(*Client)

// WithCredentials makes the client log in by itself, when it first needs a
// token and whenever a refresh fails.
func WithCredentials(email, password string) Option {
	return func(c *Client) { c.email, c.password = email, password }
}

// WithTokens starts the client with a token pair obtained elsewhere. Without
// credentials the client refreshes it while the refresh token lasts.
func WithTokens(t Tokens) Option {
	return func(c *Client) { c.setTokens(t) }
}

// WithHTTPClient sets the HTTP client (default: one with a 30 s timeout).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// WithRetries sets how many times a request is sent at most (default 4, the
// first included; 1 disables retries) and the longest Retry-After the client
// waits (default 30 s); a longer one is returned as the *APIError.
func WithRetries(attempts int, maxWait time.Duration) Option {
	return func(c *Client) { c.maxAttempts, c.maxRetryWait = max(attempts, 1), maxWait }
}

// WithPolling sets WaitFinal's first and longest wait between status polls
// (default 500 ms and 15 s).
func WithPolling(first, longest time.Duration) Option {
	return func(c *Client) { c.pollMin, c.pollMax = first, max(longest, first) }
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the API at baseURL (scheme and host, optionally a
// path prefix, e.g. "http://localhost:8080").
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host", baseURL)
	}
	c := &Client{
		base: u, http: &http.Client{Timeout: 30 * time.Second}, userAgent: "verifier-go-client/1",
		maxAttempts: 4, maxRetryWait: 30 * time.Second, pollMin: 500 * time.Millisecond, pollMax: 15 * time.Second,
		now: time.Now, sleep: sleepCtx,
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

type requestIDKey struct{}

// WithRequestID returns a context whose requests carry X-Request-ID id (1–128
// letters, digits or -_.:), so the server's logs can be matched with yours.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// call is one API call.
type call struct {
	method    string
	path      string // below the base URL, e.g. /api/v1/transactions
	query     url.Values
	body      any // JSON-encoded when non-nil
	out       any // JSON-decoded from a 2xx reply when non-nil
	auth      bool
	retryable bool // safe to send again after a 429/503
	header    http.Header
	// stream receives a 2xx body as it arrives instead of out (the CSV
	// export); the call's context, not the client's timeout, bounds it.
	stream io.Writer
	accept string // the Accept header; application/json when empty
}

// reply is what a call got.
type reply struct {
	status   int
	header   http.Header
	streamed int64 // bytes copied to call.stream
}

// do sends the call with the token, refreshing it once on a 401, and retries
// 429/503 as allowed.
func (c *Client) do(ctx context.Context, cl call) (reply, error) {
	var body []byte
	if cl.body != nil {
		b, err := json.Marshal(cl.body)
		if err != nil {
			return reply{}, fmt.Errorf("client: encode %s %s: %w", cl.method, cl.path, err)
		}
		body = b
	}
	refreshed := false
	for attempt := 1; ; attempt++ {
		token := ""
		if cl.auth {
			t, err := c.accessToken(ctx)
			if err != nil {
				return reply{}, err
			}
			token = t
		}
		rep, err := c.send(ctx, cl, body, token)
		var apiErr *APIError
		if !errors.As(err, &apiErr) {
			return rep, err
		}
		if cl.auth && apiErr.StatusCode == http.StatusUnauthorized && !refreshed && c.apiKey == "" {
			refreshed = true
			if rerr := c.renew(ctx, token); rerr != nil {
				return rep, errors.Join(err, rerr)
			}
			attempt--
			continue
		}
		if !cl.retryable || !apiErr.Temporary() || attempt >= c.maxAttempts {
			return rep, err
		}
		wait := apiErr.RetryAfter
		if wait == 0 {
			wait = backoff(attempt)
		}
		if wait > c.maxRetryWait {
			return rep, err
		}
		if serr := c.sleep(ctx, wait); serr != nil {
			return rep, errors.Join(err, serr)
		}
	}
}

// send makes one HTTP exchange; a non-2xx reply is an *APIError.
func (c *Client) send(ctx context.Context, cl call, body []byte, token string) (reply, error) {
	u := *c.base
	u.Path = c.base.Path + cl.path
	u.RawQuery = cl.query.Encode()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, cl.method, u.String(), rd)
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: %w", cl.method, cl.path, err)
	}
	for k, v := range cl.header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json")
	if cl.accept != "" {
		req.Header.Set("Accept", cl.accept)
	}
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if id, ok := ctx.Value(requestIDKey{}).(string); ok && id != "" {
		req.Header.Set("X-Request-ID", id)
	}
	hc := c.http
	if cl.stream != nil {
		// http.Client.Timeout covers reading the body: a big export would
		// be cut at 30 s however fast it flows.
		unbounded := *c.http
		unbounded.Timeout = 0
		hc = &unbounded
	}
	resp, err := hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: %w", cl.method, cl.path, err)
	}
	defer resp.Body.Close()
	if cl.stream != nil && resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		n, err := io.Copy(cl.stream, resp.Body)
		if err != nil {
			// A cut transfer: the server failed mid-stream or the
			// connection broke. What was written is incomplete.
			return reply{status: resp.StatusCode, header: resp.Header, streamed: n},
				fmt.Errorf("client: %s %s: stream cut after %d bytes (request %s): %w", cl.method, cl.path, n, resp.Header.Get("X-Request-ID"), err)
		}
		return reply{status: resp.StatusCode, header: resp.Header, streamed: n}, nil
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return reply{}, fmt.Errorf("client: %s %s: read reply: %w", cl.method, cl.path, err)
	}
	rep := reply{status: resp.StatusCode, header: resp.Header}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return rep, c.decodeError(cl, resp, raw)
	}
	if cl.out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, cl.out); err != nil {
			return rep, fmt.Errorf("client: %s %s: decode reply (request %s): %w", cl.method, cl.path, resp.Header.Get("X-Request-ID"), err)
		}
	}
	return rep, nil
}

// decodeError builds the *APIError of a non-2xx reply; bodies that are not the
// API's error format (a proxy's HTML page) keep a short excerpt as the message.
func (c *Client) decodeError(cl call, resp *http.Response, raw []byte) error {
	e := &APIError{StatusCode: resp.StatusCode, Method: cl.method, Path: cl.path,
		RequestID: resp.Header.Get("X-Request-ID"), RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now())}
	var body struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Fields = body.Error.Code, body.Error.Message, body.Error.Fields
		if body.RequestID != "" {
			e.RequestID = body.RequestID
		}
		return e
	}
	msg := strings.TrimSpace(string(raw))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	e.Message = msg
	return e
}

// backoff is the wait before retry n (n ≥ 1) when the server gave no
// Retry-After: 250 ms doubling, with jitter.
func backoff(n int) time.Duration {
	d := 250 * time.Millisecond << min(n-1, 6)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
