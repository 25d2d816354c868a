package banesco

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxReplyBytes bounds how much of a reply we read; real replies are a few KB.
const maxReplyBytes = 1 << 20

// Bank status codes (bank-api.md §2). statusCode arrives as a string or a
// number; it is normalised to its text before comparison.
const (
	codeOK            = "200"
	codeNoResults     = "70001"
	codeRangeTooWide  = "70005"
	codeInvalidInput1 = "VDE01"
	codeInvalidInput2 = "VDE02"
	codeBadCreds      = "VRN01"
	codeMaintenance   = "VRN04"
	codeMaintenance2  = "CRT503" // also maintenance, seen in the bank's nightly window
	codeRateLimited   = "VRN05"
	codeUnavailable   = "VRN06"
)

// knownCodes bounds the metric label set: a bank inventing codes must not
// inflate our time series.
var knownCodes = map[string]bool{
	codeOK: true, codeNoResults: true, codeRangeTooWide: true,
	codeInvalidInput1: true, codeInvalidInput2: true, codeBadCreds: true,
	codeMaintenance: true, codeMaintenance2: true, codeRateLimited: true, codeUnavailable: true,
}

// errMalformed marks a reply we could not read; it is always transient.
var errMalformed = errors.New("malformed bank reply")

// result is one interpreted reply: a verdict or an error, and the metric label.
type result struct {
	verdict      Verdict
	err          error
	label        string
	authRejected bool          // the check endpoint refused the token (401/403): refresh and retry once
	gated        time.Duration // time spent in the caller's send gate, not the bank's
}

// interpret turns one HTTP reply into a verdict or a typed error, following
// the status table of bank-api.md §2. It never returns Confirmed except via
// match, and anything it does not recognise is transient, never a verdict.
func interpret(status int, header http.Header, body []byte, p preparedQuery) result {
	httpLabel := strconv.Itoa(status)
	env, envErr := parseEnvelope(body)
	code := ""
	if envErr == nil {
		code = env.code
	}
	label := httpLabel
	if code != "" {
		label = "other"
		if knownCodes[code] {
			label = code
		}
	}
	statusCode := code
	if statusCode == "" {
		statusCode = httpLabel
	}
	base := Verdict{StatusCode: statusCode, HTTPStatus: status}
	fail := func(kind Kind, cause error) result {
		return result{verdict: base, label: label, err: &Error{Kind: kind, HTTPStatus: status, StatusCode: code, Err: cause}}
	}

	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || code == codeBadCreds:
		// A missing/expired token (401 in QA, 403 in production, no envelope),
		// or VRN01 in the envelope, whatever HTTP status carries it.
		r := fail(KindAuth, errors.New("check rejected the access token"))
		r.authRejected = true
		return r
	case status == http.StatusTooManyRequests || code == codeRateLimited:
		r := fail(KindRateLimited, errors.New("bank rate limit"))
		r.err.(*Error).RetryAfter = parseRetryAfter(header.Get("Retry-After"))
		return r
	}
	if envErr != nil {
		if status == http.StatusOK {
			return result{verdict: base, label: "malformed", err: &Error{Kind: KindTransient, HTTPStatus: status, Err: envErr}}
		}
		// 500/503/504 pages from proxies carry no envelope.
		return fail(KindTransient, fmt.Errorf("bank answered HTTP %d without an envelope", status))
	}
	okOr400 := status == http.StatusOK || status == http.StatusBadRequest
	switch {
	case code == codeNoResults && okOr400:
		base.Outcome = NotFound
		return result{verdict: base, label: label}
	case code == codeRangeTooWide && okOr400:
		base.Outcome, base.Reason = Rejected, ReasonDateRangeTooWide
		return result{verdict: base, label: label}
	case (code == codeInvalidInput1 || code == codeInvalidInput2) && okOr400:
		base.Outcome, base.Reason = Rejected, "bank_rejected_"+code
		return result{verdict: base, label: label}
	case code == codeOK && status == http.StatusOK:
		rows, err := env.rows()
		if err != nil {
			return result{verdict: base, label: "malformed", err: &Error{Kind: KindTransient, HTTPStatus: status, StatusCode: code, Err: err}}
		}
		v := match(rows, p)
		v.StatusCode, v.HTTPStatus = base.StatusCode, base.HTTPStatus
		return result{verdict: v, label: label}
	case code == "":
		return fail(KindTransient, fmt.Errorf("bank answered HTTP %d without a status code", status))
	case code == codeMaintenance || code == codeMaintenance2:
		return fail(KindTransient, fmt.Errorf("bank in maintenance (%s on HTTP %d)", code, status))
	default:
		// VRN06 unavailable, 500/503/504 and anything new: conservative, ask
		// again later.
		return fail(KindTransient, fmt.Errorf("bank answered %s on HTTP %d", clip(code), status))
	}
}

// parsedEnvelope is an envelope with its status code normalised.
type parsedEnvelope struct {
	code string
	data json.RawMessage
}

// parseEnvelope reads the reply envelope. A body that is not a JSON object is
// malformed; an object without httpStatus has an empty code.
func parseEnvelope(body []byte) (parsedEnvelope, error) {
	env, ok := objectFields(body)
	if !ok {
		return parsedEnvelope{}, fmt.Errorf("%w: not a JSON object", errMalformed)
	}
	var p parsedEnvelope
	if !isNull(env["httpStatus"]) {
		status, ok := objectFields(env["httpStatus"])
		if !ok {
			return parsedEnvelope{}, fmt.Errorf("%w: httpStatus is not an object", errMalformed)
		}
		code, ok := scalarText(status["statusCode"])
		if !ok {
			return parsedEnvelope{}, fmt.Errorf("%w: statusCode is not a string or number", errMalformed)
		}
		p.code = strings.ToUpper(strings.TrimSpace(code))
	}
	p.data = env["dataResponse"]
	return p, nil
}

// objectFields decodes a JSON object into its raw fields. Keys are matched
// exactly, unlike encoding/json's struct decoding, so "Amount" next to
// "amount" cannot make us read a different field than the bank meant.
func objectFields(raw []byte) (map[string]json.RawMessage, bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(t, &fields); err != nil {
		return nil, false
	}
	return fields, true
}

// rows returns the raw transaction rows. dataResponse may be null, and
// transactionDetail may be null, one object or an array.
func (p parsedEnvelope) rows() ([]json.RawMessage, error) {
	if isNull(p.data) {
		return nil, nil
	}
	// Rows stay raw so the chosen one can be stored exactly as the bank sent it.
	dr, ok := objectFields(p.data)
	if !ok {
		return nil, fmt.Errorf("%w: dataResponse is not an object", errMalformed)
	}
	detail := bytes.TrimSpace(dr["transactionDetail"])
	switch {
	case isNull(detail):
		return nil, nil
	case detail[0] == '{':
		return []json.RawMessage{detail}, nil
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(detail, &rows); err != nil {
		return nil, fmt.Errorf("%w: transactionDetail: %v", errMalformed, err)
	}
	return rows, nil
}

// isNull reports whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// scalarText returns the text of a JSON string or number ("1240", 1240 and
// "1240.00" all become text; numbers keep their literal, never a float).
// null and absence give "". Objects, arrays and booleans are not scalars.
func scalarText(raw json.RawMessage) (string, bool) {
	t := bytes.TrimSpace(raw)
	if isNull(t) {
		return "", true
	}
	switch {
	case t[0] == '"':
		var s string
		if err := json.Unmarshal(t, &s); err != nil {
			return "", false
		}
		return s, true
	case t[0] == '-' || (t[0] >= '0' && t[0] <= '9'):
		var n json.Number
		if err := json.Unmarshal(t, &n); err != nil {
			return "", false
		}
		return n.String(), true
	default:
		return "", false
	}
}
