// Package webhook verifies the webhooks the verifier sends, as the Standard
// Webhooks specification defines them, so a client app does not write the
// HMAC, the timestamp check and the secret rotation handling itself.
//
//	v, err := webhook.NewVerifier(os.Getenv("VERIFIER_WEBHOOK_SECRET"))
//	...
//	http.HandleFunc("/hooks/verifier", func(w http.ResponseWriter, r *http.Request) {
//		ev, err := v.Request(r) // reads at most 1 MiB of body
//		if err != nil {
//			http.Error(w, "bad signature", http.StatusBadRequest)
//			return
//		}
//		// ev.ID is the same on every retry: skip it if already handled.
//		w.WriteHeader(http.StatusNoContent)
//	})
//
// Standard library only.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Tolerance is how far a delivery's timestamp may be from the receiver's
// clock (either way) before it is refused as a possible replay.
const Tolerance = 5 * time.Minute

// MaxBody is how much of a request body Request reads.
const MaxBody = 1 << 20

// Errors Verify returns; compare with errors.Is.
var (
	ErrMissingHeaders = errors.New("webhook: missing webhook-id, webhook-timestamp or webhook-signature")
	ErrTimestamp      = errors.New("webhook: timestamp too old or too new")
	ErrSignature      = errors.New("webhook: no signature matches")
	ErrSecret         = errors.New("webhook: secret is not whsec_<base64>")
)

// Event is a verified delivery.
type Event struct {
	ID        string          // webhook-id: deduplicate by it
	Type      string          // e.g. transaction.completed
	Timestamp time.Time       // when the status changed
	Data      json.RawMessage // the transaction after the change
}

// Verifier checks deliveries against one or more secrets: keep the old and
// the new one while you roll out a rotated secret.
type Verifier struct {
	keys [][]byte
	now  func() time.Time
}

// NewVerifier takes the endpoint's secrets ("whsec_…"; empty strings are
// skipped, so an unset second secret can be passed as is).
func NewVerifier(secrets ...string) (*Verifier, error) {
	v := &Verifier{now: time.Now}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || len(key) == 0 {
			return nil, ErrSecret
		}
		v.keys = append(v.keys, key)
	}
	if len(v.keys) == 0 {
		return nil, ErrSecret
	}
	return v, nil
}

// Request verifies an incoming request and decodes its event. It reads the
// body (at most MaxBody bytes).
func (v *Verifier) Request(r *http.Request) (Event, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return Event{}, fmt.Errorf("webhook: read body: %w", err)
	}
	if len(body) > MaxBody {
		return Event{}, errors.New("webhook: body over 1 MiB")
	}
	return v.Verify(r.Header, body)
}

// Verify checks the headers and the raw body (exactly as received: do not
// re-encode it) and decodes the event.
func (v *Verifier) Verify(h http.Header, body []byte) (Event, error) {
	id, ts, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || ts == "" || sigs == "" {
		return Event{}, ErrMissingHeaders
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return Event{}, ErrTimestamp
	}
	if d := v.now().Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return Event{}, ErrTimestamp
	}
	if !v.matches(id, ts, body, sigs) {
		return Event{}, ErrSignature
	}
	var p struct {
		Type      string          `json:"type"`
		Timestamp time.Time       `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return Event{}, fmt.Errorf("webhook: signed body is not an event: %w", err)
	}
	return Event{ID: id, Type: p.Type, Timestamp: p.Timestamp, Data: p.Data}, nil
}

// matches reports whether any v1 signature of the header is the HMAC of
// "id.timestamp.body" under any key, compared in constant time.
func (v *Verifier) matches(id, ts string, body []byte, header string) bool {
	for _, key := range v.keys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, part := range strings.Fields(header) {
			version, sig, ok := strings.Cut(part, ",")
			if !ok || version != "v1" {
				continue // other schemes (v1a…) are not ours
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}
