package certify

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
)

// WriteToken prints what a token fetch may show: status, lifetime, scope and
// type, never the token.
func (b *Bank) WriteToken(w io.Writer, info TokenInfo) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "environment: %s\ntoken URL: %s\ngrant type: %s\n", b.cfg.Environment, b.cfg.TokenURL, grantOf(b.cfg))
	switch {
	case info.Err != nil && info.Status == 0:
		fmt.Fprintf(&buf, "token: FAILED (no reply from the bank): %v\n", info.Err)
	case info.Err != nil:
		fmt.Fprintf(&buf, "token: REFUSED (HTTP %d) in %s: %v\n", info.Status, ms(info.Latency), info.Err)
	case !info.Fetched:
		fmt.Fprintln(&buf, "token: cached (no request sent)")
	default:
		fmt.Fprintf(&buf, "token: obtained (HTTP %d) in %s\n  type: %s\n  lifetime: %d s (expires_in)\n  scope: %q\n",
			info.Status, ms(info.Latency), info.TokenType, info.ExpiresIn, info.Scope)
	}
	for _, ex := range info.Exchanges {
		writeExchange(&buf, b.mask, ex)
	}
	_, err := io.WriteString(w, b.mask.Text(buf.String()))
	return err
}

// WriteCheck prints one check: query, limiter, every exchange (masked), the
// bank's verdict and the verifier's decision.
func (b *Bank) WriteCheck(w io.Writer, r CheckResult) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "environment: %s\ncheck URL: %s\n", b.cfg.Environment, b.cfg.CheckURL)
	fmt.Fprintf(&buf, "query: %s\n", describeQuery(r.Query))
	switch {
	case r.Limit != "":
		fmt.Fprintf(&buf, "limiter: HELD by %s (asked to wait %s): nothing sent\n", r.Limit, r.LimitWait.Round(time.Millisecond))
	case r.LimitWait > 0:
		fmt.Fprintf(&buf, "limiter: slot granted after waiting %s\n", r.LimitWait.Round(time.Millisecond))
	case r.Sent():
		fmt.Fprintln(&buf, "limiter: slot granted")
	}
	for _, ex := range r.Exchanges {
		writeExchange(&buf, b.mask, ex)
	}
	if !r.Sent() {
		fmt.Fprintln(&buf, "check: not sent")
	}
	fmt.Fprintf(&buf, "bank verdict: %s\n", describeVerdict(r.Verdict, r.Err))
	fmt.Fprintf(&buf, "verifier decision: %s\n", describeDecision(r))
	fmt.Fprintf(&buf, "elapsed: %s\n", ms(r.Elapsed))
	_, err := io.WriteString(w, b.mask.Text(buf.String()))
	return err
}

// writeExchange prints one HTTP call, masked.
func writeExchange(buf *bytes.Buffer, m *Masker, ex Exchange) {
	kind := "check"
	if ex.Token {
		kind = "token"
	}
	fmt.Fprintf(buf, "--- %s request: %s %s\n", kind, ex.Method, ex.URL)
	if ex.Token {
		fmt.Fprintf(buf, "%s\n", m.Form(ex.ReqBody))
	} else {
		fmt.Fprintf(buf, "Authorization: Bearer %s\n%s\n", redacted, m.JSON(ex.ReqBody))
	}
	if ex.Err != nil {
		fmt.Fprintf(buf, "--- %s reply: none after %s: %v\n", kind, ms(ex.Elapsed), ex.Err)
		return
	}
	fmt.Fprintf(buf, "--- %s reply: HTTP %d in %s", kind, ex.Status, ms(ex.Elapsed))
	if ra := ex.RespHeader.Get("Retry-After"); ra != "" {
		fmt.Fprintf(buf, " (Retry-After: %s)", ra)
	}
	fmt.Fprintf(buf, "\n%s\n", m.JSON(ex.RespBody))
}

func grantOf(cfg banesco.Config) string {
	if cfg.GrantType == "" {
		return banesco.GrantPassword + " (default)"
	}
	return cfg.GrantType
}

// describeQuery shows a query with the phone masked.
func describeQuery(q banesco.Query) string {
	parts := []string{"mode=" + q.Mode.String(), "reference=" + q.Reference}
	if q.Mode == banesco.ModeMobile {
		parts = append(parts, "phone="+KeepLast4(q.Phone), "payer_bank="+q.BankID, "date="+q.Date)
	}
	if q.Amount != "" {
		parts = append(parts, "amount="+q.Amount)
	}
	return strings.Join(parts, " ")
}

func describeVerdict(v banesco.Verdict, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	s := fmt.Sprintf("outcome=%s status_code=%s http=%d", v.Outcome, v.StatusCode, v.HTTPStatus)
	if v.Reason != "" {
		s += " reason=" + v.Reason
	}
	if v.Row != nil {
		s += fmt.Sprintf(" row: reference=%s amount=%s date=%s type=%s", v.Row.ReferenceNumber, v.Row.Amount, v.Row.TrnDate, v.Row.TrnType)
	}
	return s
}

func describeDecision(r CheckResult) string {
	d := r.Decision
	s := d.Status
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	if d.RetryAfter > 0 {
		s += fmt.Sprintf(", wait at least %s", d.RetryAfter)
	}
	return s
}

// ms shows a latency in milliseconds with one decimal: loopback calls to the
// sandbox take well under one.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
