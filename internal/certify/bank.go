// Package certify is the certification kit for the joint test sessions with
// the bank: one-off token and check calls through the production code path
// (banesco.Client, the shared verify.Limiter, verify.Decide), masked evidence
// of what went over the wire, and the runner of the certification cases that
// writes the evidence report (docs/certification.md).
package certify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// Bank is one bank client as the worker builds it, with its exchanges
// recorded and masked. Every check takes its slot from the shared limiter
// first, exactly like a worker's, so running it beside live workers spends
// the same budget they do and never breaks the bank's limits.
type Bank struct {
	cfg     banesco.Config
	client  *banesco.Client
	limiter *verify.Limiter
	rec     *recorder
	mask    *Masker
}

// NewBank builds the client of cfg (from banesco.ConfigFromEnv, as the
// worker's). limiter may be nil only for Token, which sends no check.
func NewBank(cfg banesco.Config, limiter *verify.Limiter) (*Bank, error) {
	return newBank(cfg, limiter, NewMasker())
}

// newBank builds a Bank whose evidence mask shares: a run's second client
// (the wrong credentials) masks into the same report.
func newBank(cfg banesco.Config, limiter *verify.Limiter, mask *Masker) (*Bank, error) {
	mask.AddSecret(cfg.ClientSecret)
	rec := &recorder{mask: mask}
	wrap := cfg.WrapTransport
	cfg.WrapTransport = func(base http.RoundTripper) http.RoundTripper {
		if wrap != nil {
			base = wrap(base)
		}
		rec.base = base
		return rec
	}
	client, err := banesco.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("bank client: %w", err)
	}
	return &Bank{cfg: cfg, client: client, limiter: limiter, rec: rec, mask: mask}, nil
}

// Masker is the masker of this client's evidence (it knows the secret and
// every token issued so far).
func (b *Bank) Masker() *Masker { return b.mask }

// TokenInfo is what may be said about a token: never the token itself.
type TokenInfo struct {
	Fetched   bool // a token request went out (else the cached token was used)
	TokenType string
	ExpiresIn int // seconds, as the bank announced
	Scope     string
	Status    int // HTTP status of the token request
	Latency   time.Duration
	FetchedAt time.Time
	Err       error
	Exchanges []Exchange
}

// Token obtains the shared token the way a check does (banesco.Client.Ready).
func (b *Bank) Token(ctx context.Context) TokenInfo {
	mark := b.rec.mark()
	err := b.client.Ready(ctx)
	info := TokenInfo{Err: err, Exchanges: b.rec.since(mark)}
	for _, ex := range info.Exchanges {
		if ex.Token {
			parsed := parseToken(ex)
			parsed.Err, parsed.Exchanges = info.Err, info.Exchanges
			info = parsed
		}
	}
	return info
}

// parseToken reads what a token exchange says about the token.
func parseToken(ex Exchange) TokenInfo {
	info := TokenInfo{Fetched: true, Status: ex.Status, Latency: ex.Elapsed, FetchedAt: ex.Start}
	var reply struct {
		TokenType string      `json:"token_type"`
		ExpiresIn json.Number `json:"expires_in"`
		Scope     string      `json:"scope"`
	}
	if json.Unmarshal(ex.RespBody, &reply) == nil {
		n, _ := reply.ExpiresIn.Int64()
		info.TokenType, info.ExpiresIn, info.Scope = reply.TokenType, int(n), reply.Scope
	}
	return info
}

// CheckResult is one check and everything the evidence shows of it.
type CheckResult struct {
	Query banesco.Query
	// Limit is the shared limiter's answer: "" when a slot was granted (after
	// waiting LimitWait), else the limit that held the check back.
	Limit     string
	LimitWait time.Duration
	Verdict   banesco.Verdict
	Err       error
	Decision  verify.Decision
	// Exchanges are the token and check calls this check made, in order.
	Exchanges []Exchange
	Elapsed   time.Duration // the whole step: limiter, token, check
}

// Sent reports whether a check request reached the wire.
func (r CheckResult) Sent() bool {
	for _, ex := range r.Exchanges {
		if !ex.Token {
			return true
		}
	}
	return false
}

// CheckExchange is the check call, if one was made (the last one: connection
// retries are earlier attempts).
func (r CheckResult) CheckExchange() (Exchange, bool) {
	for i := len(r.Exchanges) - 1; i >= 0; i-- {
		if !r.Exchanges[i].Token {
			return r.Exchanges[i], true
		}
	}
	return Exchange{}, false
}

// Check runs one lookup the way the worker's handler does: the token first
// (no token, no slot spent), then a slot from the shared limiter, then
// Verify through the limiter's send gate; the decision is verify.Decide's.
// When the limiter asks to wait, Check waits up to maxWait for the slot, and
// otherwise reports the check as not sent.
func (b *Bank) Check(ctx context.Context, q banesco.Query, maxWait time.Duration) (CheckResult, error) {
	start := time.Now()
	mark := b.rec.mark()
	res := CheckResult{Query: q}
	finish := func() (CheckResult, error) {
		res.Decision = verify.Decide(res.Verdict, res.Err, q.Amount != "")
		res.Exchanges, res.Elapsed = b.rec.since(mark), time.Since(start)
		return res, nil
	}
	if res.Err = b.client.Ready(ctx); res.Err != nil {
		return finish()
	}
	if b.limiter == nil {
		return res, errors.New("check: no bank limiter")
	}
	key := banesco.LimitKey(q)
	for {
		g, err := b.limiter.Acquire(ctx, key)
		if err != nil {
			return res, fmt.Errorf("bank limiter: %w", err)
		}
		if g.Granted() {
			res.Limit = ""
			res.Verdict, res.Err = b.client.Verify(banesco.WithSendGate(ctx, g.Gate), q)
			return finish()
		}
		if res.LimitWait+g.Wait > maxWait {
			res.Limit = g.Limit
			res.Err = &banesco.Error{Kind: banesco.KindTransient, Held: true,
				Err: fmt.Errorf("bank limit %s: next slot in %s", g.Limit, g.Wait.Round(time.Millisecond))}
			res.LimitWait += g.Wait
			return finish()
		}
		res.LimitWait += g.Wait
		t := time.NewTimer(g.Wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return res, fmt.Errorf("wait for the bank limiter: %w", ctx.Err())
		case <-t.C:
		}
	}
}
