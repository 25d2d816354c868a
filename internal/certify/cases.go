package certify

import (
	"embed"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/verify"
)

// Case files shipped with the kit: sandbox.json runs against the sandbox
// (and in the test suite); qa.example.json is the template to fill with the
// test data the bank hands over.
//
//go:embed cases/*.json
var caseFiles embed.FS

// SandboxCases is the name of the built-in case file for the sandbox.
const SandboxCases = "cases/sandbox.json"

// CaseFile is a certification run's cases.
type CaseFile struct {
	Cases []Case `json:"cases"`
}

// Case is one certification case: its steps run in order.
type Case struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Credentials "wrong" runs the case with a client whose secret is
	// wrong (a fresh one per run, never printed).
	Credentials string `json:"credentials,omitempty"`
	// Sandbox is what the sandbox must know before the case runs; ignored
	// against the bank, whose test data is the bank's.
	Sandbox *SandboxSetup `json:"sandbox,omitempty"`
	Steps   []Step        `json:"steps"`
}

// SandboxSetup is posted to the sandbox's admin API.
type SandboxSetup struct {
	Payments []banksandbox.Payment `json:"payments,omitempty"`
	Scripts  []json.RawMessage     `json:"scripts,omitempty"` // POST /sandbox/scripts bodies
}

// Step is one check and what it must decide.
type Step struct {
	Query QueryJSON `json:"query"`
	// Before "expire_tokens" makes the bank's token die before the check:
	// the sandbox expires it (POST /sandbox/expire-tokens); against the bank
	// the run waits until the token's announced lifetime has passed.
	Before string `json:"before,omitempty"`
	// NoWait reports a check the limiter holds back instead of waiting for
	// its slot.
	NoWait bool   `json:"no_wait,omitempty"`
	Expect Expect `json:"expect"`
}

// QueryJSON is a banesco.Query in the case file; Date "today" is today in
// Venezuela (the bank's day).
type QueryJSON struct {
	Mode      string `json:"mode"` // mobile | transfer
	Reference string `json:"reference"`
	Phone     string `json:"phone,omitempty"`
	BankID    string `json:"bank_id,omitempty"`
	Date      string `json:"date,omitempty"`
	Amount    string `json:"amount,omitempty"`
}

// Expect is the decision a step must reach.
type Expect struct {
	Status string `json:"status"`           // verify.Decision* status
	Reason string `json:"reason,omitempty"` // "" accepts any
	// HTTPStatus, when set, is the status the last exchange must have had.
	HTTPStatus int `json:"http_status,omitempty"`
}

// venezuela is the bank's day boundary (UTC−4, no DST).
var venezuela = time.FixedZone("VET", -4*60*60)

// Query converts q, resolving "today" with now.
func (q QueryJSON) query(now time.Time) (banesco.Query, error) {
	out := banesco.Query{Reference: q.Reference, Phone: q.Phone, BankID: q.BankID, Date: resolveDate(q.Date, now), Amount: q.Amount}
	switch q.Mode {
	case "mobile":
		out.Mode = banesco.ModeMobile
	case "transfer":
		out.Mode = banesco.ModeTransfer
	default:
		return out, fmt.Errorf("mode %q: want mobile or transfer", q.Mode)
	}
	return out, nil
}

func resolveDate(d string, now time.Time) string {
	if d == "today" {
		return now.In(venezuela).Format(time.DateOnly)
	}
	return d
}

// LoadCases reads a case file: a path on disk, or a built-in name
// (cases/sandbox.json, cases/qa.example.json).
func LoadCases(name string) (CaseFile, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		var embedErr error
		if b, embedErr = caseFiles.ReadFile(name); embedErr != nil {
			return CaseFile{}, fmt.Errorf("case file: %w", err)
		}
	}
	var cf CaseFile
	if err := json.Unmarshal(b, &cf); err != nil {
		return CaseFile{}, fmt.Errorf("case file %s: %w", name, err)
	}
	if err := cf.validate(); err != nil {
		return CaseFile{}, fmt.Errorf("case file %s: %w", name, err)
	}
	return cf, nil
}

var statuses = []string{verify.DecisionCompleted, verify.DecisionToReview, verify.DecisionNotFoundYet, verify.DecisionTransient, verify.DecisionNotSent}

func (cf CaseFile) validate() error {
	if len(cf.Cases) == 0 {
		return fmt.Errorf("no cases")
	}
	seen := map[string]bool{}
	for _, c := range cf.Cases {
		if c.ID == "" || seen[c.ID] {
			return fmt.Errorf("case id %q: empty or repeated", c.ID)
		}
		seen[c.ID] = true
		if len(c.Steps) == 0 {
			return fmt.Errorf("case %s: no steps", c.ID)
		}
		if c.Credentials != "" && c.Credentials != "wrong" {
			return fmt.Errorf("case %s: credentials %q: want wrong or nothing", c.ID, c.Credentials)
		}
		for i, s := range c.Steps {
			if _, err := s.Query.query(time.Now()); err != nil {
				return fmt.Errorf("case %s step %d: %w", c.ID, i+1, err)
			}
			if !contains(statuses, s.Expect.Status) {
				return fmt.Errorf("case %s step %d: expect.status %q: want one of %s", c.ID, i+1, s.Expect.Status, strings.Join(statuses, ", "))
			}
			if s.Before != "" && s.Before != "expire_tokens" {
				return fmt.Errorf("case %s step %d: before %q: want expire_tokens", c.ID, i+1, s.Before)
			}
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
