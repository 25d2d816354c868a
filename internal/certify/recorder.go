package certify

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// maxRecorded bounds what one exchange keeps of a body; the bank's replies are a few KB.
const maxRecorded = 1 << 20

// Exchange is one HTTP call the bank client made, as it went over the wire.
type Exchange struct {
	Token      bool // a token request (form-encoded), else a check
	Method     string
	URL        string
	ReqBody    []byte
	Status     int
	RespHeader http.Header
	RespBody   []byte
	Err        error
	Start      time.Time
	Elapsed    time.Duration
}

// recorder is the transport wrapper (banesco.Config.WrapTransport) that keeps
// every exchange for the evidence. It passes requests and replies through
// untouched; it only reads copies of the bodies. Tokens seen in replies are
// handed to the masker at once, before anything can print them.
type recorder struct {
	base http.RoundTripper
	mask *Masker

	mu  sync.Mutex
	log []Exchange
}

// RoundTrip implements http.RoundTripper.
func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	ex := Exchange{Method: req.Method, URL: req.URL.String(), Start: time.Now(),
		Token: strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded")}
	if req.Body != nil && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			ex.ReqBody, _ = io.ReadAll(io.LimitReader(body, maxRecorded))
			body.Close()
		}
	}
	resp, err := r.base.RoundTrip(req)
	ex.Elapsed = time.Since(ex.Start)
	if err != nil {
		ex.Err = err
		r.add(ex)
		return nil, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxRecorded+1))
	resp.Body.Close()
	// The client reads the same bytes we did; a read error reaches it as one.
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
	ex.Elapsed = time.Since(ex.Start)
	ex.Status, ex.RespHeader, ex.RespBody = resp.StatusCode, resp.Header.Clone(), body
	if ex.Token {
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if json.Unmarshal(body, &tok) == nil {
			r.mask.AddSecret(tok.AccessToken)
			r.mask.AddSecret(tok.RefreshToken)
			r.mask.AddSecret(tok.IDToken)
		}
	}
	r.add(ex)
	return resp, nil
}

func (r *recorder) add(ex Exchange) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, ex)
}

// mark is the position to read new exchanges from (since).
func (r *recorder) mark() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.log)
}

// since returns the exchanges recorded after mark.
func (r *recorder) since(mark int) []Exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Exchange(nil), r.log[mark:]...)
}

// errReader returns err (io.EOF when nil) on every read.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) {
	if e.err == nil {
		return 0, io.EOF
	}
	return 0, fmt.Errorf("read bank reply: %w", e.err)
}
