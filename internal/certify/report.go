package certify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/banesco-verifier/verifier/internal/buildinfo"
)

// Markdown renders the evidence: the run's context, a summary table and
// each case's masked requests and replies. The whole text is masked once
// more at the end, so no secret can reach the file by any path.
func (r Report) Markdown() []byte {
	var b bytes.Buffer
	result := "every case passed"
	if !r.Passed() {
		result = fmt.Sprintf("%d of %d cases FAILED", r.failed(), len(r.Cases))
	}
	fmt.Fprintf(&b, "# Certification evidence: %s\n\n", r.Environment)
	fmt.Fprintf(&b, "Result: **%s**.\n\n", result)
	fmt.Fprintf(&b, "- Started %s, finished %s (%s)\n", r.Started.UTC().Format(time.RFC3339), r.Finished.UTC().Format(time.RFC3339),
		r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(&b, "- Build: %s\n", buildinfo.String("worker"))
	fmt.Fprintf(&b, "- Cases: %s\n", r.CasesName)
	fmt.Fprintf(&b, "- Token URL: %s (grant %s)\n- Check URL: %s\n", r.TokenURL, r.GrantType, r.CheckURL)
	if r.Token.Err != nil {
		fmt.Fprintf(&b, "- First token: REFUSED: %v\n", r.Token.Err)
	} else {
		fmt.Fprintf(&b, "- First token: HTTP %d in %s, lifetime %d s, scope %q, type %s\n", r.Token.Status, ms(r.Token.Latency),
			r.Token.ExpiresIn, r.Token.Scope, r.Token.TokenType)
	}
	b.WriteString("\nSecrets, tokens and account numbers are masked; phones and national ids show their last 4 characters.\n")

	b.WriteString("\n## Summary\n\n| # | Case | Step | Expected | Decision | HTTP | Latency | Result |\n|---|---|---|---|---|---|---|---|\n")
	for i, c := range r.Cases {
		if c.Err != nil {
			fmt.Fprintf(&b, "| %d | %s | – | – | – | – | – | **FAIL**: %s |\n", i+1, c.Case.ID, cell(c.Err.Error()))
			continue
		}
		for j, s := range c.Steps {
			res := "PASS"
			if !s.Passed {
				res = "**FAIL**: " + cell(s.Why)
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %s | %s | %s | %s | %s |\n", i+1, c.Case.ID, j+1, expectText(s.Step.Expect),
				cell(describeDecision(s.Result)), httpText(s.Result), latencyText(s.Result), res)
		}
	}

	b.WriteString("\n## Cases\n")
	for i, c := range r.Cases {
		fmt.Fprintf(&b, "\n### %d. %s\n\n%s\n", i+1, c.Case.ID, c.Case.Title)
		if c.Case.Credentials == "wrong" {
			b.WriteString("\nRun with a client whose secret is wrong (random, never printed).\n")
		}
		if c.Err != nil {
			fmt.Fprintf(&b, "\n**Could not run**: %v\n", c.Err)
		}
		for j, s := range c.Steps {
			fmt.Fprintf(&b, "\n#### Step %d\n\n", j+1)
			if s.Step.Before != "" {
				fmt.Fprintf(&b, "- Before: %s\n", s.Step.Before)
			}
			fmt.Fprintf(&b, "- Query: %s\n", describeQuery(s.Result.Query))
			fmt.Fprintf(&b, "- Expected: %s\n", expectText(s.Step.Expect))
			fmt.Fprintf(&b, "- Bank verdict: %s\n", describeVerdict(s.Result.Verdict, s.Result.Err))
			fmt.Fprintf(&b, "- Decision: %s\n", describeDecision(s.Result))
			switch {
			case s.Result.Limit != "":
				fmt.Fprintf(&b, "- Limiter: held by %s (wait %s): nothing sent\n", s.Result.Limit, s.Result.LimitWait.Round(time.Millisecond))
			case s.Result.LimitWait > 0:
				fmt.Fprintf(&b, "- Limiter: slot after %s\n", s.Result.LimitWait.Round(time.Millisecond))
			}
			fmt.Fprintf(&b, "- Step time: %s (limiter, token and check)\n", ms(s.Result.Elapsed))
			if s.Passed {
				b.WriteString("- Result: PASS\n")
			} else {
				fmt.Fprintf(&b, "- Result: **FAIL**: %s\n", s.Why)
			}
			var ex bytes.Buffer
			for _, e := range s.Result.Exchanges {
				writeExchange(&ex, r.mask, e)
			}
			if ex.Len() > 0 {
				fmt.Fprintf(&b, "\n```\n%s```\n", ex.String())
			} else {
				b.WriteString("\nNothing was sent to the bank.\n")
			}
		}
	}
	return []byte(r.mask.Text(b.String()))
}

// WriteFile writes the report under dir/<YYYY-MM-DD>/ and returns its path.
func (r Report) WriteFile(dir string) (string, error) {
	day := filepath.Join(dir, r.Started.Format(time.DateOnly))
	if err := os.MkdirAll(day, 0o755); err != nil {
		return "", fmt.Errorf("evidence folder: %w", err)
	}
	path := filepath.Join(day, fmt.Sprintf("certify-%s-%s.md", r.Environment, r.Started.Format("150405")))
	if err := os.WriteFile(path, r.Markdown(), 0o644); err != nil {
		return "", fmt.Errorf("write evidence: %w", err)
	}
	return path, nil
}

func (r Report) failed() int {
	n := 0
	for _, c := range r.Cases {
		if !c.Passed() {
			n++
		}
	}
	return n
}

func expectText(e Expect) string {
	s := e.Status
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	if e.HTTPStatus != 0 {
		s += fmt.Sprintf(", HTTP %d", e.HTTPStatus)
	}
	return s
}

func httpText(r CheckResult) string {
	if st := lastStatus(r); st != 0 {
		return fmt.Sprint(st)
	}
	return "–"
}

// latencyText is the bank's time on the check (the token's when no check went out).
func latencyText(r CheckResult) string {
	if ex, ok := r.CheckExchange(); ok {
		return ms(ex.Elapsed)
	}
	if len(r.Exchanges) > 0 {
		return ms(r.Exchanges[len(r.Exchanges)-1].Elapsed) + " (token)"
	}
	return "–"
}

// cell keeps a table cell on one line.
func cell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
