// Package webhooktest is a webhook receiver for tests: a real HTTP server on
// 127.0.0.1 that verifies every delivery with client/webhook (the package
// client apps use) and can be told to misbehave as receivers do in the wild:
// answer 500, hang past the sender's timeout, redirect, or close the
// connection without answering.
package webhooktest

import (
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client/webhook"
)

// Behavior is how the receiver answers one attempt.
type Behavior int

const (
	OK       Behavior = iota // 204
	Fail                     // 500
	Hang                     // no answer until the test ends (the sender times out)
	Redirect                 // 307 to another URL of this receiver
	Close                    // hijack and close the connection without a reply
	Rejected                 // 401: the signature did not verify (what a real receiver answers)
)

// Delivery is one request the receiver got.
type Delivery struct {
	ID         string // webhook-id
	Type       string
	Data       json.RawMessage
	Signatures string // the webhook-signature header as sent
	Valid      bool   // the signature verified under the receiver's secrets
	Answered   Behavior
	At         time.Time
}

// Receiver records deliveries. Decide picks the answer of each attempt
// (attempt counts from 1 per webhook-id); nil answers OK.
type Receiver struct {
	URL string

	mu       sync.Mutex
	secrets  []string
	decide   func(id string, attempt int) Behavior
	got      []Delivery
	attempts map[string]int
	hung     chan struct{}
	srv      *http.Server
}

// Start serves a receiver until the test ends.
func Start(t testing.TB) *Receiver {
	t.Helper()
	r, err := Serve()
	if err != nil {
		t.Fatalf("webhooktest: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// Serve starts a receiver outside a test (the benchmarks); Close stops it.
func Serve() (*Receiver, error) {
	r := &Receiver{attempts: map[string]int{}, hung: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	r.URL = "http://" + ln.Addr().String() + "/hook"
	return r, nil
}

// Close stops the receiver and releases hanging requests.
func (r *Receiver) Close() {
	close(r.hung)
	_ = r.srv.Close()
}

// SetSecrets sets the secrets deliveries are verified with (what the
// endpoint's owner deployed).
func (r *Receiver) SetSecrets(secrets ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets = secrets
}

// Secrets returns the secrets in use.
func (r *Receiver) Secrets() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

// Decide sets the answer policy.
func (r *Receiver) Decide(f func(id string, attempt int) Behavior) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decide = f
}

// Deliveries returns what arrived so far.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.got...)
}

// Accepted returns, per webhook-id, how many validly signed attempts were
// answered 2xx. (Badly signed ones are answered 401 once secrets are set.)
func (r *Receiver) Accepted() map[string]int {
	out := map[string]int{}
	for _, d := range r.Deliveries() {
		if d.Valid && d.Answered == OK {
			out[d.ID]++
		}
	}
	return out
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/elsewhere" {
		w.WriteHeader(http.StatusNoContent) // a redirect target that must never be reached
		r.mu.Lock()
		r.got = append(r.got, Delivery{ID: "redirect-followed", At: time.Now()})
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	secrets, decide := r.secrets, r.decide
	r.mu.Unlock()
	d := Delivery{At: time.Now(), Signatures: req.Header.Get(webhook.HeaderSignature), ID: req.Header.Get(webhook.HeaderID)}
	if v, err := webhook.NewVerifier(secrets...); err == nil {
		if ev, err := v.Request(req); err == nil {
			d.Valid, d.Type, d.Data = true, ev.Type, ev.Data
		}
	}
	r.mu.Lock()
	r.attempts[d.ID]++
	n := r.attempts[d.ID]
	r.mu.Unlock()
	d.Answered = OK
	switch {
	case !d.Valid && secrets != nil:
		d.Answered = Rejected
	case decide != nil:
		d.Answered = decide(d.ID, n)
	}
	r.mu.Lock()
	r.got = append(r.got, d)
	r.mu.Unlock()
	switch d.Answered {
	case Rejected:
		http.Error(w, "bad signature", http.StatusUnauthorized)
	case Fail:
		http.Error(w, "receiver failing on purpose", http.StatusInternalServerError)
	case Hang:
		select {
		case <-r.hung:
		case <-req.Context().Done():
		}
	case Redirect:
		http.Redirect(w, req, "/elsewhere", http.StatusTemporaryRedirect)
	case Close:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
			}
		}
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
