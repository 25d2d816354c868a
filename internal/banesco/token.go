package banesco

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// tokenEarlyExpiry refreshes the token this long before the bank expires it
// (tokens live 300 s), so no check goes out with a token about to die.
const tokenEarlyExpiry = 30 * time.Second

// tokenCache holds the one token every goroutine shares. The bank allows 10
// token requests per minute per client id, so a crowd of callers, and a crowd
// of 401s, must each cause one fetch only.
type tokenCache struct {
	fetch oauth2.TokenSource // one bank request per call, counted in metrics

	mu        sync.Mutex
	src       oauth2.TokenSource // ReuseTokenSourceWithExpiry over a recorder
	gen       uint64             // bumped on every invalidation
	current   string             // access token the current src fetched last
	fetchedAt time.Time          // when current was fetched

	// Back-off: after a failed token request, or after the bank rejected two
	// fresh tokens in a row, no token request goes out until retryAt; callers
	// get lastErr at once. Without it every check would hit the token endpoint
	// while it refuses us, and the bank's 10-per-minute token budget would
	// turn one refusal into a storm.
	failures     int
	quickRejects int
	retryAt      time.Time
	lastErr      error
	now          func() time.Time
}

// tokenBackoff is the wait after the n-th consecutive failure: 1 s doubling to
// a minute, never shorter than the bank's own Retry-After.
func tokenBackoff(n int, retryAfter time.Duration) time.Duration {
	d := time.Second << min(max(n-1, 0), 6)
	return max(min(d, time.Minute), retryAfter)
}

// quickReject is how young a token must be, when the bank rejects it, for the
// rejection to count toward the back-off.
const quickReject = 10 * time.Second

// newTokenCache builds the grant's token source. The context carries the
// bounded HTTP client so token calls time out like checks do.
func newTokenCache(cfg Config, hc *http.Client, m *Metrics) *tokenCache {
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	var scopes []string
	if cfg.Scope != "" {
		// One scope containing spaces, sent verbatim: "CONSULTA DE TRANSACCIONES".
		scopes = []string{cfg.Scope}
	}
	var fetch func() (*oauth2.Token, error)
	switch cfg.GrantType {
	case GrantPassword:
		// The bank's password grant wants username/password AND client_id/secret in the form.
		oc := &oauth2.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			Endpoint:     oauth2.Endpoint{TokenURL: cfg.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
			Scopes:       scopes,
		}
		fetch = func() (*oauth2.Token, error) {
			return oc.PasswordCredentialsToken(ctx, cfg.ClientID, cfg.ClientSecret)
		}
	default:
		// In-params rather than auto-detect: auto-detect would send a second
		// token request after every refusal, eating the bank's token budget.
		cc := &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.TokenURL,
			Scopes:       scopes,
			AuthStyle:    oauth2.AuthStyleInParams,
		}
		// cc.Token, not cc.TokenSource: the latter caches on its own, and a
		// second cache would survive our invalidation.
		fetch = func() (*oauth2.Token, error) { return cc.Token(ctx) }
	}
	secret := cfg.ClientSecret
	log := cfg.Logger.With().Str("component", "banesco").Str("grant_type", cfg.GrantType).Logger()
	var failing atomic.Bool // logs once when tokens stop coming, once when they come back
	c := &tokenCache{now: time.Now, fetch: tokenSourceFunc(func() (*oauth2.Token, error) {
		tok, err := fetch()
		m.observeToken(err)
		if err != nil {
			terr := tokenError(err, secret)
			var e *Error
			refused := errors.As(terr, &e) && e.Kind == KindAuth
			if refused {
				m.observeTokenRefusal(e.StatusCode)
			}
			m.setAvailable("token", false)
			if !failing.Swap(true) {
				ev := log.Error().Err(terr)
				if refused && e.StatusCode == "unauthorized_client" {
					// The one misconfiguration every integration meets first.
					ev.Msg("the bank refuses this grant type for our client (unauthorized_client): set BANESCO_GRANT_TYPE=password; checks wait until a token is obtained")
				} else {
					ev.Msg("no bank token: checks wait until one is obtained")
				}
			}
			return nil, terr
		}
		m.setAvailable("token", true)
		if failing.Swap(false) {
			log.Info().Msg("bank token obtained again; checks resume")
		}
		return tok, nil
	})}
	c.src = c.newSource()
	return c
}

// newSource returns a caching source whose fetches record the token they got
// as current, before any caller sees it. Callers hold c.mu.
func (c *tokenCache) newSource() oauth2.TokenSource {
	gen := c.gen
	rec := tokenSourceFunc(func() (*oauth2.Token, error) {
		c.mu.Lock()
		if now := c.now(); now.Before(c.retryAt) {
			err := c.lastErr
			wait := c.retryAt.Sub(now)
			c.mu.Unlock()
			return nil, coolingDown(err, wait)
		}
		c.mu.Unlock()
		tok, err := c.fetch.Token()
		c.mu.Lock()
		defer c.mu.Unlock()
		if err != nil {
			c.failures++
			ra, _ := RetryAfter(err)
			c.retryAt, c.lastErr = c.now().Add(tokenBackoff(c.failures, ra)), err
			return nil, err
		}
		c.failures = 0
		if c.gen == gen {
			c.current, c.fetchedAt = tok.AccessToken, c.now()
		}
		return tok, nil
	})
	return oauth2.ReuseTokenSourceWithExpiry(nil, rec, tokenEarlyExpiry)
}

// token returns the shared token, fetching it only when missing or expiring.
func (c *tokenCache) token() (*oauth2.Token, error) {
	c.mu.Lock()
	src := c.src
	c.mu.Unlock()
	return src.Token()
}

// invalidate drops the cached token after the bank rejected failed, but only
// if failed is still the cached one: when 50 checks get 401 together, the
// first discards it and the other 49 reuse the replacement.
func (c *tokenCache) invalidate(failed *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if failed == nil || failed.AccessToken != c.current {
		return
	}
	if c.now().Sub(c.fetchedAt) < quickReject {
		c.quickRejects++
		// The first quick rejection is the ordinary "token expired early"; a
		// second in a row means the bank refuses what it just issued.
		if c.quickRejects >= 2 {
			c.retryAt = c.now().Add(tokenBackoff(c.quickRejects-1, 0))
			c.lastErr = &Error{Kind: KindAuth, HTTPStatus: http.StatusUnauthorized, Err: errors.New("the bank rejects freshly issued tokens")}
		}
	} else {
		c.quickRejects = 0
	}
	c.gen++
	c.current = ""
	c.src = c.newSource()
}

// coolingDown is the error callers get while token requests back off: the
// last failure, with the time left to wait when it was a rate limit.
func coolingDown(err error, wait time.Duration) error {
	var e *Error
	if errors.As(err, &e) {
		cp := *e
		if cp.Kind == KindRateLimited {
			cp.RetryAfter = max(wait, time.Second)
		}
		return &cp
	}
	return err
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// tokenError turns a token failure into an *Error that keeps the OAuth error
// code but never the secret or the raw response body.
func tokenError(err error, secret string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		var header http.Header
		if re.Response != nil {
			status, header = re.Response.StatusCode, re.Response.Header
		}
		msg := fmt.Sprintf("token request refused: HTTP %d", status)
		if re.ErrorCode != "" {
			msg += " " + clip(re.ErrorCode)
		}
		if re.ErrorDescription != "" {
			msg += ": " + clip(scrub(re.ErrorDescription, secret))
		}
		e := &Error{Kind: KindAuth, HTTPStatus: status, StatusCode: re.ErrorCode, Err: errors.New(msg)}
		switch {
		case status == http.StatusTooManyRequests:
			e.Kind, e.RetryAfter = KindRateLimited, parseRetryAfter(header.Get("Retry-After"))
		case status >= 500:
			e.Kind = KindTransient
		}
		return e
	}
	// Timeouts, connection errors, unreadable replies: the bank's problem.
	return &Error{Kind: KindTransient, Err: &scrubbedError{msg: "token request: " + scrub(err.Error(), secret), err: err}}
}

// scrub removes the secret from text that may echo it.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}

// scrubbedError shows a cleaned message but still unwraps to the cause, so
// errors.Is(err, context.DeadlineExceeded) keeps working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
