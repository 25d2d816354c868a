package api_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/tasks"
)

// Hostile input as it arrives: each test sends what an attacker sent and
// asserts the documented answer and what did NOT happen.

// raw sends bytes on a fresh TCP connection and reads one HTTP response.
func raw(t *testing.T, baseURL, request string) response {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(baseURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", request[:min(len(request), 60)], err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// documented asserts the error shape, the code and the security headers.
func documented(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: HTTP %d, want %d (%s)", what, r.status, status, r.body)
		return
	}
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Code != code || e.Error.Message == "" || e.RequestID == "" {
		t.Errorf("%s: body %s, want the error shape with code %s", what, r.body, code)
	}
	for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "X-Request-Id"} {
		if r.header.Get(h) == "" {
			t.Errorf("%s: no %s header", what, h)
		}
	}
}

// bomb is a doubly gzipped body that decodes to size zero bytes.
func bomb(t *testing.T, size int) []byte {
	t.Helper()
	var inner bytes.Buffer
	zw := gzip.NewWriter(&inner)
	zeros := make([]byte, 1<<20)
	for written := 0; written < size; written += len(zeros) {
		_, _ = zw.Write(zeros)
	}
	_ = zw.Close()
	var outer bytes.Buffer
	zw = gzip.NewWriter(&outer)
	_, _ = zw.Write(inner.Bytes())
	_ = zw.Close()
	return outer.Bytes()
}

// TestCompressedBodiesAreRefused (not parallel: it measures the process's
// allocations): a few hundred bytes of doubly gzipped body that decode to
// 256 MiB are answered 415 before anything decodes them, on every route, with
// and without credentials.
func TestCompressedBodiesAreRefused(t *testing.T) {
	e := txSetup(t, nil)
	body := bomb(t, 256<<20)
	if len(body) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(body))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, path := range []string{"/api/v1/auth/login", "/api/v1/transactions", "/api/v1/auth/register"} {
		for _, token := range []string{"", e.admin.token} {
			for _, enc := range []string{"gzip", "gzip, gzip", "deflate", "br"} {
				r, err := e.send(http.MethodPost, path, token, string(body), map[string]string{"Content-Encoding": enc})
				if err != nil {
					t.Fatal(err)
				}
				documented(t, path+" "+enc, response(r), http.StatusUnsupportedMediaType, "unsupported_media_type")
			}
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("24 compressed requests allocated %d MiB, want under 8", grew>>20)
	}
	var users, txs int
	_ = e.db.GetContext(context.Background(), &users, `SELECT count(*) FROM users`)
	_ = e.db.GetContext(context.Background(), &txs, `SELECT count(*) FROM transactions`)
	if users != 1 || txs != 0 {
		t.Errorf("%d users and %d transactions after the bombs, want only the admin", users, txs)
	}
}

// TestConcurrentGuessesStopAtTheLimit: 60 concurrent logins for one account,
// 59 wrong and the right one. The attempt is reserved before bcrypt, so at
// most LoginMaxFailures (5) are checked at all; the rest are 429. Basic on
// /monitoring shares the counter, and one IP is capped across accounts.
func TestConcurrentGuessesStopAtTheLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	u := b.newUser(t, nil)
	var before int
	if err := b.db.GetContext(context.Background(), &before, `SELECT count(*) FROM refresh_tokens WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	byStatus := map[int]int{}
	var wg sync.WaitGroup
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			password := fmt.Sprintf("wrong-password-%02d", i)
			if i == 37 {
				password = u.password
			}
			raw, _ := json.Marshal(map[string]string{"email": u.Email, "password": password})
			resp, err := b.client.Post(b.url+"/api/v1/auth/login", "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			byStatus[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	checked := byStatus[http.StatusOK] + byStatus[http.StatusUnauthorized]
	if checked > defaultFailMax || byStatus[http.StatusTooManyRequests] < 60-defaultFailMax || checked+byStatus[http.StatusTooManyRequests] != 60 {
		t.Errorf("answers %v: at most %d may reach bcrypt, the rest 429", byStatus, defaultFailMax)
	}
	var issued int
	if err := b.db.GetContext(context.Background(), &issued, `SELECT count(*) - $2 FROM refresh_tokens WHERE user_id = $1`, u.ID, before); err != nil || issued != byStatus[http.StatusOK] {
		t.Errorf("%d refresh tokens for %d successful logins (%v)", issued, byStatus[http.StatusOK], err)
	}
	// The same account over /monitoring Basic, with the right password: locked too.
	r := b.do(t, request{method: http.MethodGet, path: "/monitoring/api/queues",
		header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(u.Email+":"+u.password))}})
	if byStatus[http.StatusOK] == 0 && r.status != http.StatusTooManyRequests && r.status != http.StatusNotFound {
		t.Errorf("Basic with the right password while locked: %d", r.status)
	}
	// One IP across many accounts: capped at 4 × 5.
	var limited int
	for i := range 25 {
		r := b.post(t, "/api/v1/auth/login", "", map[string]string{"email": fmt.Sprintf("nobody-%d@example.test", i), "password": "wrong-password-123"})
		if r.status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Error("25 failures on 25 accounts from one IP were never capped")
	}
}

// TestNoByteSequenceIsA500: NUL and invalid UTF-8 in JSON strings, query
// parameters, the path and Basic credentials are refused as 4xx with the
// documented shape; nothing reaches Postgres as is.
func TestNoByteSequenceIsA500(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	tok := e.admin.token
	body := func(mod func(m map[string]any)) string {
		m := e.txBody()
		mod(m)
		raw, _ := json.Marshal(m)
		return string(raw)
	}
	cases := []struct {
		name, method, path, token, body string
		status                          int
	}{
		{"NUL in a JSON string", "POST", "/api/v1/transactions", tok, body(func(m map[string]any) { m["transaction_id"] = "A\u0000B" }), 422},
		{"NUL in a nested string", "POST", "/api/v1/transactions", tok, body(func(m map[string]any) { m["customer"].(map[string]any)["concept"] = "x\u0000" }), 422},
		{"invalid UTF-8 in a JSON string", "POST", "/api/v1/transactions", tok, strings.Replace(body(func(m map[string]any) { m["customer"].(map[string]any)["concept"] = "MARK" }), "MARK", "\xff\xfe", 1), 400},
		{"NUL in the login email", "POST", "/api/v1/auth/login", "", `{"email":"a\u0000@x.test","password":"whatever-password"}`, 422},
		{"invalid UTF-8 in the login email", "POST", "/api/v1/auth/login", "", "{\"email\":\"\xff@x.test\",\"password\":\"whatever-password\"}", 400},
		{"NUL in a query parameter", "GET", "/api/v1/transactions?reference=12%00", tok, "", 400},
		{"invalid UTF-8 in a query parameter", "GET", "/api/v1/transactions?phone=%FF%FE", tok, "", 400},
		{"invalid UTF-8 in a query key", "GET", "/api/v1/transactions?%FF=1", tok, "", 400},
		{"NUL in a path", "GET", "/api/v1/transactions/ORD%00X", tok, "", 400},
		{"invalid UTF-8 in a path", "GET", "/api/v1/transactions/ORD%FFX/events", tok, "", 400},
		{"invalid UTF-8 in a user id", "PATCH", "/api/v1/users/%C3%28", tok, `{"is_active":false}`, 400},
	}
	for _, tc := range cases {
		r, err := e.send(tc.method, tc.path, tc.token, nilIfEmpty(tc.body), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.status >= 500 || r.status != tc.status {
			t.Errorf("%s: HTTP %d %s, want %d", tc.name, r.status, r.body, tc.status)
			continue
		}
		var eb errorBody
		if json.Unmarshal(r.body, &eb) != nil || eb.Error.Code == "" {
			t.Errorf("%s: body %s is not the error shape", tc.name, r.body)
		}
	}
	// A raw 0xff byte in the path (a client library would escape it).
	r := raw(t, e.url, "GET /api/v1/transactions/\xff HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+"\r\n\r\n")
	documented(t, "raw 0xff in the path", r, http.StatusBadRequest, "invalid_request")
	// NUL inside Basic credentials.
	basic := base64.StdEncoding.EncodeToString([]byte("adm\x00in@x.test:pw\xff"))
	rr, err := e.send("GET", "/monitoring/api/queues", "", nil, map[string]string{"Authorization": "Basic " + basic})
	if err != nil || rr.status != http.StatusUnauthorized {
		t.Errorf("NUL in Basic credentials: %d %s %v, want 401", rr.status, rr.body, err)
	}
	var n int
	_ = e.db.GetContext(context.Background(), &n, `SELECT count(*) FROM transactions`)
	if n != 0 {
		t.Errorf("%d transactions written from hostile bodies", n)
	}
	if strings.Contains(e.logs.String(), `"level":"error"`) {
		t.Errorf("an internal error was logged:\n%s", e.logs.String())
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestErrorsBeforeRoutingAreDocumented: a malformed header line, a body over
// the limit, headers too large and an invalid method never reach a route; they
// still get the error shape, a documented code and the security headers, and a
// 400 never quotes the request back (its Authorization header included).
func TestErrorsBeforeRoutingAreDocumented(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	const secret = "Bearer sup3r-secret-token-value"
	r := raw(t, b.url, "GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: "+secret+"\r\nX Bad Header: with a space in its name\r\n\r\n")
	documented(t, "malformed header line", r, http.StatusBadRequest, "bad_request")
	if bytes.Contains(r.body, []byte("sup3r-secret")) || bytes.Contains(r.body, []byte("Authorization")) {
		t.Errorf("the 400 quotes the request: %s", r.body)
	}
	r = raw(t, b.url, "G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r.status != http.StatusBadRequest && r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
		t.Errorf("invalid method: %d", r.status)
	} else if r.status == http.StatusBadRequest {
		documented(t, "invalid method", r, http.StatusBadRequest, "bad_request")
	}
	big := strings.Repeat("x", 70<<10)
	r = raw(t, b.url, fmt.Sprintf("POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	documented(t, "body over 64 KiB", r, http.StatusRequestEntityTooLarge, "body_too_large")
	r = raw(t, b.url, "GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("y", 16<<10)+"\r\n\r\n")
	documented(t, "headers too large", r, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large")
}

// TestStrictJSON: keys in another case, duplicated keys and bodies not sent
// as JSON are refused, and nothing is written.
func TestStrictJSON(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	valid, _ := json.Marshal(e.txBody())
	for _, tc := range []struct {
		name, body, field string
	}{
		{"key in another case", strings.Replace(string(valid), `"bank"`, `"BANK"`, 1), "BANK"},
		{"nested key in another case", strings.Replace(string(valid), `"phone"`, `"Phone"`, 1), "customer.Phone"},
		{"duplicated key", strings.Replace(string(valid), `"bank":"MOBILE_TRANSFER"`, `"bank":"MOBILE_TRANSFER","bank":"BANESCO"`, 1), "bank"},
		{"duplicated nested key", strings.Replace(string(valid), `"phone":`, `"phone":"04141234567","phone":`, 1), "customer.phone"},
	} {
		r, err := e.send("POST", "/api/v1/transactions", e.admin.token, tc.body, nil)
		if err != nil {
			t.Fatal(err)
		}
		var eb errorBody
		_ = json.Unmarshal(r.body, &eb)
		if r.status != http.StatusUnprocessableEntity || eb.Error.Fields[tc.field] == "" {
			t.Errorf("%s: %d %s, want 422 naming %s", tc.name, r.status, r.body, tc.field)
		}
	}
	r, err := e.send("POST", "/api/v1/auth/login", "", `{"email":"a@b.c","PassWord":"x"}`, nil)
	if err != nil || r.status != http.StatusUnprocessableEntity {
		t.Errorf(`"PassWord" on login: %d %s`, r.status, r.body)
	}
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		r, err := e.send("POST", "/api/v1/transactions", e.admin.token, string(valid), map[string]string{"Content-Type": ct})
		if err != nil {
			t.Fatal(err)
		}
		documented(t, "Content-Type "+ct, response(r), http.StatusUnsupportedMediaType, "unsupported_media_type")
	}
	var n int
	_ = e.db.GetContext(context.Background(), &n, `SELECT count(*) FROM transactions`)
	if n != 0 {
		t.Errorf("%d transactions written", n)
	}
}

// TestPersonalRepliesAreNotCached: tokens and personal data carry
// Cache-Control: no-store.
func TestPersonalRepliesAreNotCached(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	v := e.create(t, e.admin, e.txBody())
	login, err := e.send("POST", "/api/v1/auth/login", "", map[string]string{"email": txAdminEmail, "password": txAdminPassword}, nil)
	if err != nil {
		t.Fatal(err)
	}
	replies := map[string]txResp{"login": login}
	for _, path := range []string{"/api/v1/auth/me", "/api/v1/users", "/api/v1/transactions", "/api/v1/transactions/" + v.TransactionID,
		"/api/v1/transactions/" + v.TransactionID + "/events", "/api/v1/transactions/" + v.TransactionID + "/status", "/api/v1/transactions/nope"} {
		replies[path] = e.do(t, "GET", path, e.admin.token, nil)
	}
	for name, r := range replies {
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store", name, got)
		}
	}
}

// TestGarbageBearerTokensAreCapped: invalid tokens from one IP are answered
// 429 past 60 a minute, before any lookup.
func TestGarbageBearerTokensAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	var last response
	statuses := map[int]int{}
	for i := range 70 {
		last = b.get(t, "/api/v1/auth/me", fmt.Sprintf("garbage.token.%d", i))
		statuses[last.status]++
	}
	if statuses[http.StatusUnauthorized] != 60 || statuses[http.StatusTooManyRequests] != 10 {
		t.Errorf("answers %v, want 60 × 401 then 429", statuses)
	}
	if last.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
}

// TestRefreshRaceAfterReuse: the same refresh token sent twice at once. One
// rotation wins; the other is reuse and revokes the family, so the winner's
// new refresh token and its access token stop working too.
func TestRefreshRaceAfterReuse(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	u := b.newUser(t, nil)
	for round := range 5 {
		pair := b.login(t, u.Email, u.password)
		results := make([]response, 2)
		var wg sync.WaitGroup
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				raw, _ := json.Marshal(map[string]string{"refresh_token": pair.RefreshToken})
				resp, err := b.client.Post(b.url+"/api/v1/auth/refresh", "application/json", bytes.NewReader(raw))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				results[i] = response{status: resp.StatusCode, body: body}
			}()
		}
		wg.Wait()
		var winner *tokenPair
		for _, r := range results {
			if r.status == http.StatusOK {
				var p tokenPair
				r.decode(t, &p)
				winner = &p
			}
		}
		if winner == nil {
			t.Fatalf("round %d: no refresh succeeded: %d %d", round, results[0].status, results[1].status)
		}
		if results[0].status == http.StatusOK && results[1].status == http.StatusOK {
			t.Fatalf("round %d: both refreshes succeeded", round)
		}
		wantError(t, b.get(t, "/api/v1/auth/me", winner.AccessToken), http.StatusUnauthorized, "unauthorized")
		wantError(t, b.get(t, "/api/v1/auth/me", pair.AccessToken), http.StatusUnauthorized, "unauthorized")
		wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": winner.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	}
}

// TestMonitoringRefusesCrossSite: a cross-site POST with an admin's Basic
// credentials (what a browser replays) cannot pause a queue; the same request
// from the dashboard itself, or from a non-browser client, can.
func TestMonitoringRefusesCrossSite(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(txAdminEmail+":"+txAdminPassword))
	host := strings.TrimPrefix(e.url, "http://")
	pause := "/monitoring/api/queues/" + tasks.QueueVerify + ":pause"
	paused := func() bool {
		q, err := e.insp.GetQueueInfo(tasks.QueueVerify)
		return err == nil && q.Paused
	}
	// The queue must exist to be paused: give it one task.
	e.create(t, e.admin, e.txBody())
	for name, h := range map[string]map[string]string{
		"foreign Origin, text/plain": {"Origin": "http://evil.example", "Content-Type": "text/plain"},
		"Sec-Fetch-Site cross-site":  {"Sec-Fetch-Site": "cross-site"},
		"Sec-Fetch-Site same-site":   {"Sec-Fetch-Site": "same-site", "Origin": "http://sub." + host},
		"Origin null":                {"Origin": "null"},
	} {
		h["Authorization"] = basic
		r, err := e.send("POST", pause, "", nil, h)
		if err != nil {
			t.Fatal(err)
		}
		documented(t, name, response(r), http.StatusForbidden, "forbidden")
		if paused() {
			t.Fatalf("%s paused the queue", name)
		}
	}
	r, err := e.send("POST", pause, "", nil, map[string]string{"Authorization": basic, "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"})
	if err != nil || r.status >= 300 || !paused() {
		t.Fatalf("the dashboard's own request: %d %s %v (paused %v)", r.status, r.body, err, paused())
	}
	// Every page of the dashboard sends the security headers.
	for _, path := range []string{"/monitoring", "/monitoring/api/queues", "/monitoring/queues/verify"} {
		r, err := e.send("GET", path, "", nil, map[string]string{"Authorization": basic})
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", path, r.status, err)
		}
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "Referrer-Policy"} {
			if r.header.Get(h) == "" {
				t.Errorf("GET %s: no %s", path, h)
			}
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s: Cache-Control %q", path, r.header.Get("Cache-Control"))
		}
	}
}
