package certify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// DefaultLimitWait is how long a step waits for its slot from the shared
// limiter: a little over the 30 s spacing of one reference, so a run repeated
// within the minute waits instead of failing.
const DefaultLimitWait = 75 * time.Second

// Options configure a certification run.
type Options struct {
	Environment string // "sandbox", "qa" or "production", for the report
	Bank        banesco.Config
	Limiter     *verify.Limiter
	Cases       CaseFile
	CasesName   string // where the cases came from, for the report
	// Sandbox is the sandbox's admin client when running against it: the
	// cases' sandbox setup is posted there, and tokens are expired there.
	Sandbox *SandboxAdmin
	// LimitWait bounds each step's wait for a limiter slot (DefaultLimitWait).
	LimitWait time.Duration
	// Progress gets one line per step; nil for none.
	Progress io.Writer
	// Sleep waits out a token's lifetime against the bank (tests shorten it).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Report is a run's evidence.
type Report struct {
	Environment string
	CasesName   string
	TokenURL    string
	CheckURL    string
	GrantType   string
	Started     time.Time
	Finished    time.Time
	Token       TokenInfo
	Cases       []CaseResult
	mask        *Masker
}

// CaseResult is one case's steps.
type CaseResult struct {
	Case  Case
	Steps []StepResult
	Err   error // the case could not run (sandbox setup, limiter down)
}

// StepResult is one step: what it expected, what it got.
type StepResult struct {
	Step   Step
	Result CheckResult
	Passed bool
	Why    string // why it failed
}

// Passed reports whether every step of the case passed.
func (c CaseResult) Passed() bool {
	if c.Err != nil || len(c.Steps) == 0 {
		return false
	}
	for _, s := range c.Steps {
		if !s.Passed {
			return false
		}
	}
	return true
}

// Passed reports whether every case passed.
func (r Report) Passed() bool {
	for _, c := range r.Cases {
		if !c.Passed() {
			return false
		}
	}
	return len(r.Cases) > 0
}

// Run runs every case in order and returns the evidence. An error means the
// run itself could not happen (no bank client); failed cases are in the
// report.
func Run(ctx context.Context, opts Options) (Report, error) {
	if opts.LimitWait == 0 {
		opts.LimitWait = DefaultLimitWait
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	mask := NewMasker()
	bank, err := newBank(opts.Bank, opts.Limiter, mask)
	if err != nil {
		return Report{}, err
	}
	rep := Report{Environment: opts.Environment, CasesName: opts.CasesName, TokenURL: bank.cfg.TokenURL,
		CheckURL: bank.cfg.CheckURL, GrantType: grantOf(bank.cfg), Started: time.Now(), mask: mask}
	rep.Token = bank.Token(ctx)
	tok := tokenClock{}
	tok.saw(rep.Token.Exchanges)
	for _, c := range opts.Cases.Cases {
		cr := runCase(ctx, opts, bank, c, &tok)
		rep.Cases = append(rep.Cases, cr)
	}
	rep.Finished = time.Now()
	return rep, nil
}

// runCase sets the case up, picks its client and runs its steps.
func runCase(ctx context.Context, opts Options, bank *Bank, c Case, tok *tokenClock) CaseResult {
	cr := CaseResult{Case: c}
	if opts.Sandbox != nil && c.Sandbox != nil {
		if err := opts.Sandbox.Setup(ctx, *c.Sandbox); err != nil {
			cr.Err = fmt.Errorf("sandbox setup: %w", err)
			progress(opts.Progress, "%-18s FAIL  %v", c.ID, cr.Err)
			return cr
		}
	}
	if c.Credentials == "wrong" {
		cfg := opts.Bank
		cfg.ClientSecret = "wrong-" + randomHex(12)
		wrong, err := newBank(cfg, opts.Limiter, bank.mask)
		if err != nil {
			cr.Err = err
			return cr
		}
		bank = wrong
	}
	for i, s := range c.Steps {
		sr, err := runStep(ctx, opts, bank, s, tok)
		if err != nil {
			cr.Err = fmt.Errorf("step %d: %w", i+1, err)
			progress(opts.Progress, "%-18s FAIL  %v", c.ID, cr.Err)
			return cr
		}
		cr.Steps = append(cr.Steps, sr)
		verdict := "PASS"
		if !sr.Passed {
			verdict = "FAIL  " + sr.Why
		}
		progress(opts.Progress, "%-18s step %d  %-44s %8s  %s", c.ID, i+1, describeDecision(sr.Result), ms(sr.Result.Elapsed), verdict)
	}
	return cr
}

func runStep(ctx context.Context, opts Options, bank *Bank, s Step, tok *tokenClock) (StepResult, error) {
	q, err := s.Query.query(time.Now())
	if err != nil {
		return StepResult{}, err
	}
	if s.Before == "expire_tokens" {
		if opts.Sandbox != nil {
			if err := opts.Sandbox.ExpireTokens(ctx); err != nil {
				return StepResult{}, fmt.Errorf("expire tokens: %w", err)
			}
		} else if wait := tok.untilExpired(time.Now()); wait > 0 {
			// The real bank cannot be asked to kill a token: outlive it.
			progress(opts.Progress, "waiting %s for the bank's token to expire", wait.Round(time.Second))
			if err := opts.Sleep(ctx, wait); err != nil {
				return StepResult{}, err
			}
		}
	}
	wait := opts.LimitWait
	if s.NoWait {
		wait = 0
	}
	res, err := bank.Check(ctx, q, wait)
	if err != nil {
		return StepResult{}, err
	}
	tok.saw(res.Exchanges)
	sr := StepResult{Step: s, Result: res, Passed: true}
	switch got := res.Decision; {
	case got.Status != s.Expect.Status:
		sr.Passed, sr.Why = false, fmt.Sprintf("want %s, got %s", s.Expect.Status, got.Status)
	case s.Expect.Reason != "" && got.Reason != s.Expect.Reason:
		sr.Passed, sr.Why = false, fmt.Sprintf("want reason %s, got %q", s.Expect.Reason, got.Reason)
	case s.Expect.HTTPStatus != 0 && lastStatus(res) != s.Expect.HTTPStatus:
		sr.Passed, sr.Why = false, fmt.Sprintf("want HTTP %d, got %d", s.Expect.HTTPStatus, lastStatus(res))
	}
	return sr, nil
}

// lastStatus is the HTTP status of the step's last exchange (0: none).
func lastStatus(r CheckResult) int {
	if len(r.Exchanges) == 0 {
		return 0
	}
	return r.Exchanges[len(r.Exchanges)-1].Status
}

// tokenClock remembers when the last token was issued and for how long.
type tokenClock struct {
	at       time.Time
	lifetime time.Duration
}

func (t *tokenClock) saw(exs []Exchange) {
	for _, ex := range exs {
		if !ex.Token || ex.Status != http.StatusOK {
			continue
		}
		info := parseToken(ex)
		t.at, t.lifetime = ex.Start, time.Duration(info.ExpiresIn)*time.Second
		if t.lifetime <= 0 {
			t.lifetime = 300 * time.Second // the contract's lifetime
		}
	}
}

// untilExpired is how long until the last token is past its lifetime.
func (t *tokenClock) untilExpired(now time.Time) time.Duration {
	if t.at.IsZero() {
		return 0
	}
	return t.at.Add(t.lifetime + time.Second).Sub(now)
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
