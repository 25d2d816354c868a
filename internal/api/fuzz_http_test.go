package api_test

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzHTTPSurface sends whatever the fuzzer makes of a method, a path, a query,
// one header, a content type and a body, as raw bytes on a TCP connection, to
// the real app (real Postgres, real Redis, the real scheduler) with no
// credentials, an admin's bearer token, a garbage token or Basic credentials.
// The property: never a 5xx, and every error is the documented JSON shape.
//
//	go test -run '^$' -fuzz FuzzHTTPSurface -fuzztime 10m ./internal/api/
func FuzzHTTPSurface(f *testing.F) {
	e := txSetup(f, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(txAdminEmail+":"+txAdminPassword))
	valid, _ := json.Marshal(e.txBody())
	seeds := []struct {
		method, path, query, header, ctype, body string
		auth                                     uint8
	}{
		{"GET", "/api/v1/transactions", "status=COMPLETED&size=5", "X-Request-ID: abc", "", "", 1},
		{"POST", "/api/v1/transactions", "", "", "application/json", string(valid), 1},
		{"POST", "/api/v1/transactions", "", "Content-Encoding: gzip", "application/json", "\x1f\x8b\x08\x00", 1},
		{"POST", "/api/v1/auth/login", "", "", "application/json", `{"email":"a\u0000@b.c","password":"x"}`, 0},
		{"POST", "/api/v1/auth/login", "", "", "application/json", "{\"email\":\"\xff\",\"password\":\"x\"}", 0},
		{"GET", "/api/v1/transactions/\xff", "", "", "", "", 1},
		{"GET", "/api/v1/transactions", "reference=%00&phone=%ff", "", "", "", 1},
		{"PATCH", "/api/v1/transactions/ORD-1", "", "", "application/json", `{"status":"CANCELED","STATUS":"x"}`, 1},
		{"POST", "/monitoring/api/queues/verify:pause", "", "Origin: http://evil", "text/plain", "x", 3},
		{"GET", "/monitoring/api/queues", "", "", "", "", 3},
		{"DELETE", "/api/v1/transactions/%2e%2e", "", "", "", "", 2},
		{"PUT", "/api/v1/users/x/permissions", "", "", "application/json", `{"permissions":["admin:access","admin:access"]}`, 1},
		{"GE\x01T", "/", "", "", "", "", 0},
		{"GET", "/health/ready", "", "X Bad: y", "", "", 0},
		{"POST", "/api/v1/auth/refresh", "", "", "application/json; charset=utf-8", `{"refresh_token":"` + strings.Repeat("A", 500) + `"}`, 0},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.query, s.header, s.ctype, []byte(s.body), s.auth)
	}
	addr := strings.TrimPrefix(e.url, "http://")
	f.Fuzz(func(t *testing.T, method, path, query, header, ctype string, body []byte, authKind uint8) {
		if len(method) == 0 || len(method) > 16 || len(path) > 2048 || len(query) > 2048 || len(header) > 2048 || len(ctype) > 256 || len(body) > 70<<10 {
			return
		}
		// CR and LF would end the request line or a header early: the fuzzer
		// may put anything else anywhere.
		for _, s := range []string{method, path, query, header, ctype} {
			if strings.ContainsAny(s, "\r\n") {
				return
			}
		}
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		var req strings.Builder
		fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", method, target, addr)
		switch authKind % 4 {
		case 1:
			fmt.Fprintf(&req, "Authorization: Bearer %s\r\n", e.admin.token)
		case 2:
			req.WriteString("Authorization: Bearer not.a.token\r\n")
		case 3:
			fmt.Fprintf(&req, "Authorization: %s\r\n", basic)
		}
		if header != "" {
			req.WriteString(header + "\r\n")
		}
		if ctype != "" {
			fmt.Fprintf(&req, "Content-Type: %s\r\n", ctype)
		}
		fmt.Fprintf(&req, "Content-Length: %d\r\n\r\n", len(body))
		req.Write(body)

		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := io.WriteString(conn, req.String()); err != nil {
			return // the server may close on a request it refuses early
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			// No answer at all: only for requests the HTTP parser is still
			// waiting on (a header line it cannot end); never for a 5xx.
			return
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %q → %d %s", method, target, resp.StatusCode, raw)
		}
		if resp.StatusCode >= 400 {
			var eb errorBody
			if err := json.Unmarshal(raw, &eb); err != nil || eb.Error.Code == "" || eb.RequestID == "" {
				t.Fatalf("%s %q → %d with a body that is not the error shape: %q", method, target, resp.StatusCode, raw)
			}
		}
	})
}
