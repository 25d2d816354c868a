package banksandbox

import (
	"time"
)

// The bank measures its limits over sliding windows at arrival (bank-api.md §3). A log of
// arrival times per key is exact where a token bucket or GCRA is not: a GCRA with a burst of
// two lets a third check through 30 s after the first pair, which the bank refuses.
const (
	referenceWindow = 60 * time.Second
	globalWindow    = time.Second
	tokenWindow     = 60 * time.Second
)

// window is a sliding log of arrival times for one key, oldest first.
type window struct {
	times []time.Time
}

// prune drops the arrivals that are no longer inside span before now. An arrival exactly span
// ago has left the window, so a check exactly 60 s after another one is in a new window.
func (w *window) prune(now time.Time, span time.Duration) {
	cut := now.Add(-span)
	i := 0
	for i < len(w.times) && !w.times[i].After(cut) {
		i++
	}
	if i > 0 {
		n := copy(w.times, w.times[i:])
		w.times = w.times[:n]
	}
}

// add records an arrival at now and returns how many arrivals the window holds with it.
// Refused requests are recorded too: the bank counts what arrives, not what it served.
func (w *window) add(now time.Time, span time.Duration) int {
	w.prune(now, span)
	w.times = append(w.times, now)
	return len(w.times)
}

// retryAfter is how long from now until one more arrival would fit within limit, assuming
// nothing else arrives meanwhile; at least one second, since Retry-After is whole seconds.
func (w *window) retryAfter(now time.Time, span time.Duration, limit int) time.Duration {
	wait := time.Second
	if i := len(w.times) - limit; i >= 0 {
		wait = w.times[i].Add(span).Sub(now)
	}
	return max(wait, time.Second)
}

// limiter holds the windows of all three limits.
type limiter struct {
	global  window
	perRef  map[string]*window
	tokens  map[string]*window
	sweepAt time.Time
}

func newLimiter() *limiter {
	return &limiter{perRef: make(map[string]*window), tokens: make(map[string]*window)}
}

// keyed returns the window for key in m, creating it.
func keyed(m map[string]*window, key string) *window {
	w, ok := m[key]
	if !ok {
		w = &window{}
		m[key] = w
	}
	return w
}

// sweep forgets keys whose windows have emptied, at most once a minute, so that a long demo
// run with many references does not grow without bound.
func (l *limiter) sweep(now time.Time) {
	if now.Before(l.sweepAt) {
		return
	}
	l.sweepAt = now.Add(referenceWindow)
	for _, m := range []map[string]*window{l.perRef, l.tokens} {
		for k, w := range m {
			w.prune(now, referenceWindow)
			if len(w.times) == 0 {
				delete(m, k)
			}
		}
	}
}

// admission is the limiter's verdict on one check.
type admission struct {
	refused    bool
	retryAfter time.Duration
}

// admitCheck records a check for reference (the digits as sent; "" when the request carried
// none) and decides whether the limits allow it. It updates the limit statistics. The caller
// holds s.mu.
func (s *Server) admitCheck(reference string, now time.Time) admission {
	l := s.limits
	l.sweep(now)
	var verdict admission

	inSecond := l.global.add(now, globalWindow)
	s.stats.MaxGlobalIn1s = max(s.stats.MaxGlobalIn1s, inSecond)
	if inSecond > s.cfg.MaxRPS {
		s.stats.Violations.Global++
		verdict.refused = true
		verdict.retryAfter = l.global.retryAfter(now, globalWindow, s.cfg.MaxRPS)
	}

	if reference != "" {
		w := keyed(l.perRef, reference)
		inMinute := w.add(now, referenceWindow)
		s.stats.MaxPerReferenceIn60s = max(s.stats.MaxPerReferenceIn60s, inMinute)
		if inMinute > s.cfg.PerReferencePerMinute {
			s.stats.Violations.PerReference++
			verdict.refused = true
			verdict.retryAfter = max(verdict.retryAfter,
				w.retryAfter(now, referenceWindow, s.cfg.PerReferencePerMinute))
		}
	}
	return verdict
}

// admitToken records a token request by clientID and decides whether the limit allows it.
// The caller holds s.mu.
func (s *Server) admitToken(clientID string, now time.Time) admission {
	l := s.limits
	l.sweep(now)
	w := keyed(l.tokens, clientID)
	if w.add(now, tokenWindow) <= s.cfg.TokenRequestsPerMinute {
		return admission{}
	}
	s.stats.Violations.Token++
	return admission{refused: true, retryAfter: w.retryAfter(now, tokenWindow, s.cfg.TokenRequestsPerMinute)}
}
