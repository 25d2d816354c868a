package certify

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// redacted replaces a secret wherever it would appear.
const redacted = "[redacted]"

// Masker removes from evidence what must never leave the session: the client
// secret, every token the bank issued, and full account numbers; phones and
// national ids keep their last 4 characters. Evidence is handed to the bank
// and kept in tickets, so masking happens before anything is printed.
type Masker struct {
	mu      sync.Mutex
	secrets []string
}

// NewMasker masks secrets (empty ones are ignored).
func NewMasker(secrets ...string) *Masker {
	m := &Masker{}
	for _, s := range secrets {
		m.AddSecret(s)
	}
	return m
}

// AddSecret adds one more string never to print (a token as it is issued).
func (m *Masker) AddSecret(s string) {
	if len(s) < 4 { // too short to be a secret, and masking it would shred the text
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.secrets = append(m.secrets, s)
	// Longest first, so a secret containing another is replaced whole.
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
}

// secretFields are JSON keys whose values are replaced whole; partialFields
// keep their last 4 characters. Keys compare case-insensitively.
var (
	secretFields  = []string{"access_token", "refresh_token", "id_token", "client_secret", "password", "session_state"}
	partialFields = []string{"accountId", "account_id", "phoneNum", "phone", "customerIdBen", "customer_id_ben", "customerId", "nationalId", "national_id"}
	fieldRE       = regexp.MustCompile(`(?i)"(` + strings.Join(append(append([]string{}, secretFields...), partialFields...), "|") +
		`)"(\s*:\s*)("(?:[^"\\]|\\.)*"|-?[0-9][0-9.eE+-]*)`)
	// Any 20-digit run is an account number (Venezuelan accounts have 20 digits).
	accountRE = regexp.MustCompile(`\d{20}`)
)

// KeepLast4 masks all but the last 4 characters of s.
func KeepLast4(s string) string {
	if len(s) <= 4 {
		return strings.Repeat("*", len(s))
	}
	return strings.Repeat("*", len(s)-4) + s[len(s)-4:]
}

// JSON masks a JSON body field by field, keeping its bytes otherwise (key
// order and the bank's quirks are evidence too), then indents it for reading.
// A body that is not JSON is masked as text.
func (m *Masker) JSON(body []byte) string {
	masked := fieldRE.ReplaceAllFunc(body, func(match []byte) []byte {
		sub := fieldRE.FindSubmatch(match)
		key, sep, val := sub[1], sub[2], sub[3]
		quoted := len(val) > 0 && val[0] == '"'
		text := string(val)
		if quoted {
			var s string
			if json.Unmarshal(val, &s) == nil {
				text = s
			}
		}
		out := redacted
		if !isSecretField(string(key)) {
			out = KeepLast4(text)
		}
		enc, _ := json.Marshal(out)
		return append(append(append([]byte(`"`), key...), append([]byte(`"`), sep...)...), enc...)
	})
	var buf bytes.Buffer
	if json.Indent(&buf, bytes.TrimSpace(masked), "", "  ") == nil {
		masked = buf.Bytes()
	}
	return m.Text(string(masked))
}

func isSecretField(key string) bool {
	for _, f := range secretFields {
		if strings.EqualFold(f, key) {
			return true
		}
	}
	return false
}

// Form masks a form-encoded body (a token request): credentials are redacted,
// the rest is kept.
func (m *Masker) Form(body []byte) string {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return redacted
	}
	for _, k := range []string{"client_secret", "password"} {
		if vals.Has(k) {
			vals.Set(k, redacted)
		}
	}
	return m.Text(strings.ReplaceAll(vals.Encode(), url.QueryEscape(redacted), redacted))
}

// Text masks free text: every known secret, then every full account number.
func (m *Masker) Text(s string) string {
	m.mu.Lock()
	secrets := append([]string(nil), m.secrets...)
	m.mu.Unlock()
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, redacted)
		// Form and URL encodings of the secret, as a token request carries it.
		if q := url.QueryEscape(sec); q != sec {
			s = strings.ReplaceAll(s, q, redacted)
		}
	}
	return accountRE.ReplaceAllStringFunc(s, KeepLast4)
}
