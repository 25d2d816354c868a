// Package spectest checks HTTP traffic against the OpenAPI document in tests:
// Transport wraps an http.RoundTripper and validates every request and every
// response it carries with kin-openapi, so a handler whose reply drifts from
// openapi.yaml fails the test that exercised it.
package spectest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/banesco-verifier/verifier/openapi"
)

func init() {
	// Bodies the spec describes as plain strings (the docs page and its assets).
	for _, ct := range []string{"text/html", "text/javascript", "text/css", "image/png"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
}

// Load parses and validates the embedded spec.
func Load(t testing.TB) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Spec())
	if err != nil {
		t.Fatalf("spectest: load openapi.yaml: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("spectest: openapi.yaml is not a valid OpenAPI document: %v", err)
	}
	return doc
}

type invalidKey struct{}

// ExpectInvalid marks the requests made with ctx as deliberately breaking the
// spec (a test of a 422): the request must then FAIL validation — proving the
// spec states the rule the server enforces — and the response is still checked.
func ExpectInvalid(ctx context.Context) context.Context {
	return context.WithValue(ctx, invalidKey{}, true)
}

// Transport validates the traffic it carries against the spec.
type Transport struct {
	t      testing.TB
	next   http.RoundTripper
	router routers.Router

	mu   sync.Mutex
	seen map[string]int // "METHOD /path status" → count
}

// NewTransport returns a validating transport for a server at baseURL (next
// nil means http.DefaultTransport). Failures are reported with t.Errorf.
func NewTransport(t testing.TB, baseURL string, next http.RoundTripper) *Transport {
	t.Helper()
	doc := Load(t)
	doc.Servers = openapi3.Servers{{URL: strings.TrimRight(baseURL, "/")}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("spectest: router: %v", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &Transport{t: t, next: next, router: router, seen: map[string]int{}}
}

// RoundTrip sends req and validates it and its response.
func (tr *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		reqBody = b
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	what := req.Method + " " + req.URL.Path
	route, params, err := tr.router.FindRoute(req)
	if err != nil {
		tr.t.Errorf("spectest: %s: no operation in openapi.yaml: %v", what, err)
		return tr.next.RoundTrip(req)
	}
	ctx := req.Context()
	check := req.Clone(ctx)
	check.Body = io.NopCloser(bytes.NewReader(reqBody))
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, MultiError: true}
	in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
	reqErr := openapi3filter.ValidateRequest(ctx, in)
	expectInvalid, _ := ctx.Value(invalidKey{}).(bool)
	switch {
	case reqErr != nil && !expectInvalid:
		tr.t.Errorf("spectest: request %s does not match openapi.yaml:\n%v\nbody: %s", what, reqErr, reqBody)
	case reqErr == nil && expectInvalid:
		tr.t.Errorf("spectest: request %s was meant to break a rule, but openapi.yaml accepts it (a rule the spec does not state?)\nbody: %s", what, reqBody)
	}

	resp, err := tr.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	tr.mu.Lock()
	tr.seen[fmt.Sprintf("%s %s %d", req.Method, route.Path, resp.StatusCode)]++
	tr.mu.Unlock()

	in.Request = req
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		tr.t.Errorf("spectest: response %d to %s does not match openapi.yaml:\n%v\nbody: %.2000s", resp.StatusCode, what, err, body)
	}
	if resp.Header.Get("X-Request-ID") == "" {
		tr.t.Errorf("spectest: response %d to %s has no X-Request-ID", resp.StatusCode, what)
	}
	return resp, nil
}

// Seen lists the "METHOD /path status" exchanges validated so far, sorted.
func (tr *Transport) Seen() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := make([]string, 0, len(tr.seen))
	for k := range tr.seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
