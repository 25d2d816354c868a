package banksandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Faults are the shares (0..1) of check requests answered with a fault instead of the real
// answer. The shares are taken in the order of the fields, one draw per check, so their sum
// should not exceed 1.
type Faults struct {
	// RateLimited answers 429 VRN05 with a Retry-After of RetryAfter (default 1s).
	RateLimited float64
	RetryAfter  time.Duration
	// ServerError answers, in turn, 500, 503, 504 (no envelope) or 424 VRN06.
	ServerError float64
	// Maintenance answers 503 VRN04.
	Maintenance float64
	// Slow waits SlowDelay (or until the caller gives up) and then answers normally.
	Slow      float64
	SlowDelay time.Duration
	// Malformed answers HTTP 200 with a truncated JSON body.
	Malformed float64
	// TokenTTL, when positive, is the real lifetime of tokens issued from now on, shorter than
	// the expires_in they announce: tokens expire early.
	TokenTTL time.Duration
	// AlignReplies, when positive, holds real answers in windows of this length: the first
	// check opens a window and every check arriving within it is answered when it closes, so
	// checks sent at different moments (our limiter spaces the checks of one reference a
	// second or more apart) are answered in the same instant: what a test of two workers
	// racing for one payment needs. Keep it below the client's timeout.
	AlignReplies time.Duration
	// MaintenanceFor, when set, starts a maintenance window of this length at the moment the
	// faults are set: every check is answered MaintenanceCode (default CRT503, on HTTP 503)
	// until it ends, as the bank does in its nightly window.
	MaintenanceFor  time.Duration
	MaintenanceCode string
	// RangeTooWideOnce answers the first check of every reference 70005 (date range too
	// wide), as a busy account does now and then; later checks are answered normally.
	RangeTooWideOnce bool
	// TokenRefusal, when set to an OAuth error (unauthorized_client, invalid_client), refuses
	// every token request with it: a client the bank disabled, until the fault is cleared.
	TokenRefusal string
	// AcceptClientCredentials lifts Config.RefuseClientCredentials while set: the bank
	// enabled our client for that grant.
	AcceptClientCredentials bool
}

// faultsJSON is the admin form of Faults: snake_case, durations as Go duration strings.
type faultsJSON struct {
	RateLimited float64 `json:"rate_limited"`
	RetryAfter  string  `json:"retry_after,omitempty"`
	ServerError float64 `json:"server_error"`
	Maintenance float64 `json:"maintenance"`
	Slow        float64 `json:"slow"`
	SlowDelay   string  `json:"slow_delay,omitempty"`
	Malformed   float64 `json:"malformed"`
	TokenTTL    string  `json:"token_ttl,omitempty"`
	Align       string  `json:"align_replies,omitempty"`
	MaintFor    string  `json:"maintenance_for,omitempty"`
	MaintCode   string  `json:"maintenance_code,omitempty"`
	RangeOnce   bool    `json:"range_too_wide_once,omitempty"`
	TokenRefuse string  `json:"token_refusal,omitempty"`
	AcceptCC    bool    `json:"accept_client_credentials,omitempty"`
}

// MarshalJSON writes f in the snake_case form of PUT /sandbox/faults.
func (f Faults) MarshalJSON() ([]byte, error) {
	str := func(d time.Duration) string {
		if d == 0 {
			return ""
		}
		return d.String()
	}
	return json.Marshal(faultsJSON{
		RateLimited: f.RateLimited, RetryAfter: str(f.RetryAfter),
		ServerError: f.ServerError, Maintenance: f.Maintenance,
		Slow: f.Slow, SlowDelay: str(f.SlowDelay),
		Malformed: f.Malformed, TokenTTL: str(f.TokenTTL), Align: str(f.AlignReplies),
		MaintFor: str(f.MaintenanceFor), MaintCode: f.MaintenanceCode,
		RangeOnce: f.RangeTooWideOnce, TokenRefuse: f.TokenRefusal, AcceptCC: f.AcceptClientCredentials,
	})
}

// UnmarshalJSON reads the snake_case form, durations like "2s".
func (f *Faults) UnmarshalJSON(b []byte) error {
	var j faultsJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	var errs []error
	dur := func(name, s string) time.Duration {
		if s == "" {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return d
	}
	*f = Faults{
		RateLimited: j.RateLimited, RetryAfter: dur("retry_after", j.RetryAfter),
		ServerError: j.ServerError, Maintenance: j.Maintenance,
		Slow: j.Slow, SlowDelay: dur("slow_delay", j.SlowDelay),
		Malformed: j.Malformed, TokenTTL: dur("token_ttl", j.TokenTTL),
		AlignReplies:   dur("align_replies", j.Align),
		MaintenanceFor: dur("maintenance_for", j.MaintFor), MaintenanceCode: j.MaintCode,
		RangeTooWideOnce: j.RangeOnce, TokenRefusal: j.TokenRefuse, AcceptClientCredentials: j.AcceptCC,
	}
	return errors.Join(errs...)
}

// validate reports shares outside 0..1 and negative durations.
func (f Faults) validate() error {
	for name, share := range map[string]float64{
		"rate_limited": f.RateLimited, "server_error": f.ServerError,
		"maintenance": f.Maintenance, "slow": f.Slow, "malformed": f.Malformed,
	} {
		if share < 0 || share > 1 {
			return fmt.Errorf("%s %v: want a share between 0 and 1", name, share)
		}
	}
	if f.RetryAfter < 0 || f.SlowDelay < 0 || f.TokenTTL < 0 || f.AlignReplies < 0 || f.MaintenanceFor < 0 {
		return errors.New("durations must not be negative")
	}
	switch f.MaintenanceCode {
	case "", "CRT503", "VRN04":
	default:
		return fmt.Errorf("maintenance code %q: want CRT503 or VRN04", f.MaintenanceCode)
	}
	switch f.TokenRefusal {
	case "", "unauthorized_client", "invalid_client":
	default:
		return fmt.Errorf("token refusal %q: want unauthorized_client or invalid_client", f.TokenRefusal)
	}
	return nil
}

// SetFaults replaces the fault shares. It panics on shares outside 0..1, a bug in the test.
func (s *Server) SetFaults(f Faults) {
	if err := f.validate(); err != nil {
		panic("banksandbox: faults: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.maintenanceUntil = time.Time{}
	if f.MaintenanceFor > 0 {
		s.maintenanceUntil = s.now().Add(f.MaintenanceFor)
	}
}

// inMaintenance reports the maintenance code to answer now, if any: the window started by
// Faults.MaintenanceFor, or the daily Config.MaintenanceWindow. Callers hold s.mu.
func (s *Server) inMaintenance(now time.Time) (string, bool) {
	code := s.faults.MaintenanceCode
	if code == "" {
		code = "CRT503"
	}
	if now.Before(s.maintenanceUntil) {
		return code, true
	}
	if w := s.cfg.MaintenanceWindow; w.set() && w.contains(now) {
		return code, true
	}
	return "", false
}

// DailyWindow is a time of day range in Venezuela time, such as 02:00-06:00.
type DailyWindow struct {
	Start, End time.Duration // since midnight
}

func (w DailyWindow) set() bool { return w.Start != w.End }

// contains reports whether t falls in the window (which may cross midnight).
func (w DailyWindow) contains(t time.Time) bool {
	t = t.In(venezuela)
	since := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if w.Start < w.End {
		return since >= w.Start && since < w.End
	}
	return since >= w.Start || since < w.End
}

// ParseDailyWindow reads "02:00-06:00".
func ParseDailyWindow(s string) (DailyWindow, error) {
	a, b, ok := strings.Cut(s, "-")
	start, err1 := time.Parse("15:04", strings.TrimSpace(a))
	end, err2 := time.Parse("15:04", strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return DailyWindow{}, fmt.Errorf("window %q: want HH:MM-HH:MM", s)
	}
	at := func(t time.Time) time.Duration {
		return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
	}
	return DailyWindow{Start: at(start), End: at(end)}, nil
}

// Reply is a scripted answer to one check. HTTPStatus 0 means "answer normally", which lets a
// script say "fail twice, then find it". A Reply without StatusCode has no envelope, like the
// gateway's 500/503/504.
type Reply struct {
	HTTPStatus int
	StatusCode string
	// StatusDesc defaults to the bank's wording for StatusCode.
	StatusDesc string
	// RetryAfter sets the Retry-After header (whole seconds, at least 1 on a 429).
	RetryAfter time.Duration
}

// script is a queue of replies for the checks whose reference ends with tail.
type script struct {
	tail    string
	replies []Reply
}

// Script makes the next checks whose reference ends with referenceTail get replies, in order;
// after the last one that reference is answered normally again. Scripted replies still count
// toward the limits and the statistics. A later script for the same tail queues after the
// earlier one.
func (s *Server) Script(referenceTail string, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range s.scripts {
		if sc.tail == referenceTail {
			sc.replies = append(sc.replies, replies...)
			return
		}
	}
	s.scripts = append(s.scripts, &script{tail: referenceTail, replies: replies})
}

// nextScripted pops the scripted reply for reference, preferring the longest matching tail so
// that a script for one payment beats a broad one.
func (s *Server) nextScripted(reference string) (Reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *script
	for _, sc := range s.scripts {
		if len(sc.replies) > 0 && strings.HasSuffix(reference, sc.tail) &&
			(best == nil || len(sc.tail) > len(best.tail)) {
			best = sc
		}
	}
	if best == nil {
		return Reply{}, false
	}
	r := best.replies[0]
	best.replies = best.replies[1:]
	return r, true
}

// faultKind is what the fault draw decided for one check.
type faultKind int

const (
	noFault faultKind = iota
	faultRateLimited
	faultServerError
	faultMaintenance
	faultSlow
	faultMalformed
)

// drawFault decides whether this check gets a fault, and returns the faults in force.
func (s *Server) drawFault() (faultKind, Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.faults
	r := s.rnd.Float64() // in [0, 1), so a share of 1 always hits and 0 never does
	for _, c := range []struct {
		share float64
		kind  faultKind
	}{
		{f.RateLimited, faultRateLimited},
		{f.ServerError, faultServerError},
		{f.Maintenance, faultMaintenance},
		{f.Slow, faultSlow},
		{f.Malformed, faultMalformed},
	} {
		if r < c.share {
			return c.kind, f
		}
		r -= c.share
	}
	return noFault, f
}

// serverErrorReply cycles through the ways the bank's gateway fails.
func (s *Server) serverErrorReply() Reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	kinds := []Reply{
		{HTTPStatus: 500}, {HTTPStatus: 503}, {HTTPStatus: 504},
		{HTTPStatus: 424, StatusCode: "VRN06"},
	}
	r := kinds[s.faultSeq%uint64(len(kinds))]
	s.faultSeq++
	return r
}
