package banesco

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseReply feeds arbitrary bodies to the reply interpreter in both
// modes. It must never panic, and a Confirmed verdict must always rest on a
// CR row whose reference really matches (checked here independently of
// refMatches) and whose amount is the queried one.
func FuzzParseReply(f *testing.F) {
	f.Add(200, []byte(hitBody(testRow)))
	f.Add(200, []byte(noResults))
	f.Add(400, []byte(noResults))
	f.Add(400, []byte(envelopeBody("VDE01", "x")))
	f.Add(429, []byte(envelopeBody("VRN05", "x")))
	f.Add(200, []byte(hitBody(row(map[string]string{"referenceNumber": `123457`}))))

	c, err := New(Config{TokenURL: "http://bank/token", CheckURL: "http://bank/check", ClientID: "id", ClientSecret: "s", AccountID: testAccount})
	if err != nil {
		f.Fatal(err)
	}
	mobile, err := c.prepare(Query{Mode: ModeMobile, Reference: "99000123456", Phone: testPhone, BankID: "0102", Date: "2026-08-06", Amount: "1240.00"})
	if err != nil {
		f.Fatal(err)
	}
	transfer, err := c.prepare(Query{Mode: ModeTransfer, Reference: "000123456", Amount: "1240.00"})
	if err != nil {
		f.Fatal(err)
	}
	header := http.Header{"Retry-After": {"3"}}

	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, p := range []preparedQuery{mobile, transfer} {
			res := interpret(status, header, body, p)
			v := res.verdict
			if res.label == "" {
				t.Fatalf("empty metric label for HTTP %d %q", status, body)
			}
			if res.err != nil && v.Outcome == Confirmed {
				t.Fatalf("error %v with Confirmed", res.err)
			}
			if v.Outcome != Confirmed {
				continue
			}
			if status != 200 || v.Row == nil {
				t.Fatalf("Confirmed on HTTP %d with row %v", status, v.Row)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(v.RawRow, &raw); err != nil {
				t.Fatalf("RawRow %q is not an object: %v", v.RawRow, err)
			}
			if !bytes.Contains(body, v.RawRow) {
				t.Fatalf("RawRow %q not found verbatim in body", v.RawRow)
			}
			ref := fuzzText(raw["referenceNumber"])
			if !independentRefMatch(ref, p) {
				t.Fatalf("Confirmed row reference %q does not match %s query", ref, p.mode)
			}
			if typ := strings.ToUpper(fuzzText(raw["trnType"])); typ != "CR" {
				t.Fatalf("Confirmed a %q row", typ)
			}
			if v.Row.Amount != "1240.00" {
				t.Fatalf("Confirmed amount %q, queried 1240.00", v.Row.Amount)
			}
			if p.mode == ModeMobile && !strings.HasPrefix(fuzzText(raw["trnDate"]), "2026-08-06") {
				t.Fatalf("Confirmed mobile row of another date: %s", raw["trnDate"])
			}
		}
	})
}

// fuzzText reads a JSON string or number as trimmed text.
func fuzzText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// independentRefMatch restates §4 without sharing code with refMatches.
func independentRefMatch(ref string, p preparedQuery) bool {
	if ref == "" || strings.Trim(ref, "0123456789") != "" {
		return false
	}
	if p.mode == ModeMobile {
		return strings.HasSuffix("000000"+ref, p.tail) && len(p.tail) == 6
	}
	return strings.TrimLeft("0"+ref, "0") == strings.TrimLeft("0"+p.tail, "0")
}
