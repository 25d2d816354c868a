package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/auth"
)

// apiKey is the API-key object of the contract; Key only in the create reply.
type apiKey struct {
	ID          string     `json:"id"`
	Name        string     `json:"name"`
	Prefix      string     `json:"prefix"`
	Permissions []string   `json:"permissions"`
	ExpiresAt   *time.Time `json:"expires_at"`
	CreatedAt   time.Time  `json:"created_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
	Key         string     `json:"key"`
}

var keyShape = regexp.MustCompile(`^vk_[A-Za-z0-9_-]{43}$`)

// newKey creates an API key over HTTP as token and returns it.
func (b *testBundle) newKey(t *testing.T, token string, perms []string) apiKey {
	t.Helper()
	if perms == nil {
		perms = []string{}
	}
	n := b.seq.Add(1)
	r := b.post(t, "/api/v1/api-keys", token, map[string]any{"name": fmt.Sprintf("key %d", n), "permissions": perms})
	wantStatus(t, r, http.StatusCreated)
	var k apiKey
	r.decode(t, &k)
	return k
}

func (b *testBundle) del(t *testing.T, path, token string) response {
	t.Helper()
	return b.do(t, request{method: http.MethodDelete, path: path, token: token})
}

// TestAPIKeyLifecycle: a key is shown once, listed without it, stored only as
// its SHA-256, works as its owner within its permissions, and is refused from
// the request after its revocation.
func TestAPIKeyLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)

	r := b.post(t, "/api/v1/api-keys", a.tokens.AccessToken, map[string]any{"name": "  billing sync ", "permissions": []string{"transaction:read"}})
	wantStatus(t, r, http.StatusCreated)
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	var fields map[string]json.RawMessage
	r.decode(t, &fields)
	if len(fields) != 8 {
		t.Errorf("create reply has %d fields, want the 8 of the contract: %s", len(fields), r.body)
	}
	var k apiKey
	r.decode(t, &k)
	if !keyShape.MatchString(k.Key) || k.Prefix != k.Key[:15] || k.Name != "billing sync" ||
		strings.Join(k.Permissions, ",") != "transaction:read" || k.ExpiresAt != nil || k.LastUsedAt != nil || time.Since(k.CreatedAt) > time.Minute {
		t.Errorf("created key = %+v", k)
	}

	// The list never shows the key.
	r = b.get(t, "/api/v1/api-keys", a.tokens.AccessToken)
	wantStatus(t, r, http.StatusOK)
	if bytes.Contains(r.body, []byte(k.Key)) || bytes.Contains(r.body, []byte(`"key"`)) {
		t.Errorf("the list shows the key: %s", r.body)
	}
	var list struct {
		Items      []apiKey `json:"items"`
		NextCursor *string  `json:"next_cursor"`
	}
	r.decode(t, &list)
	if len(list.Items) != 1 || list.Items[0].ID != k.ID || list.Items[0].Prefix != k.Prefix || list.NextCursor != nil {
		t.Errorf("list = %s", r.body)
	}

	// Postgres holds the SHA-256 and the lookup prefix, never the key.
	var row struct {
		Hash []byte `db:"key_hash"`
		Text string `db:"text"`
	}
	if err := b.db.GetContext(context.Background(), &row, `SELECT key_hash, k::text AS text FROM api_keys k WHERE id = $1`, k.ID); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(k.Key))
	if !bytes.Equal(row.Hash, sum[:]) || bytes.Equal(row.Hash, []byte(k.Key)) {
		t.Errorf("key_hash %x is not the SHA-256 of the key", row.Hash)
	}
	if strings.Contains(row.Text, k.Key[15:]) || strings.Contains(row.Text, k.Key) {
		t.Errorf("the row holds the key's secret part: %s", row.Text)
	}

	// The key acts as its owner, within its permissions.
	r = b.get(t, "/api/v1/auth/me", k.Key)
	wantStatus(t, r, http.StatusOK)
	var me user
	r.decode(t, &me)
	if me.ID != a.ID {
		t.Errorf("/auth/me with the key = %s, want the owner %s", me.ID, a.ID)
	}
	wantStatus(t, b.get(t, "/api/v1/transactions", k.Key), http.StatusOK)
	wantError(t, b.post(t, "/api/v1/transactions", k.Key, map[string]any{"transaction_id": "KEY-1"}), http.StatusForbidden, "forbidden")

	// Revoked: refused on the very next request; revoking again is 404.
	wantStatus(t, b.del(t, "/api/v1/api-keys/"+k.ID, a.tokens.AccessToken), http.StatusNoContent)
	wantError(t, b.get(t, "/api/v1/transactions", k.Key), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.del(t, "/api/v1/api-keys/"+k.ID, a.tokens.AccessToken), http.StatusNotFound, "not_found")
	wantError(t, b.del(t, "/api/v1/api-keys/not-a-uuid", a.tokens.AccessToken), http.StatusNotFound, "not_found")
	r = b.get(t, "/api/v1/api-keys", a.tokens.AccessToken)
	if !bytes.Contains(r.body, []byte(`"items":[]`)) {
		t.Errorf("a revoked key is still listed: %s", r.body)
	}
	if strings.Contains(b.logs.String(), k.Key[3:]) {
		t.Error("a log line carries the key")
	}
	if !strings.Contains(b.logs.String(), `"api_key_id":"`+k.ID+`"`) {
		t.Error("the access log does not name the key requests authenticated with")
	}
}

// TestAPIKeyOwnership: a user sees and revokes only their own keys (another's
// is 404); an admin sees and revokes everyone's.
func TestAPIKeyOwnership(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	admin := b.adminToken(t)
	a, other := b.newUser(t, nil), b.newUser(t, nil)
	ka := b.newKey(t, a.tokens.AccessToken, nil)
	ko := b.newKey(t, other.tokens.AccessToken, nil)
	r := b.get(t, "/api/v1/api-keys", a.tokens.AccessToken)
	if !bytes.Contains(r.body, []byte(ka.ID)) || bytes.Contains(r.body, []byte(ko.ID)) {
		t.Errorf("a's list: %s", r.body)
	}
	r = b.get(t, "/api/v1/api-keys", admin)
	if !bytes.Contains(r.body, []byte(ka.ID)) || !bytes.Contains(r.body, []byte(ko.ID)) {
		t.Errorf("the admin's list lacks a key: %s", r.body)
	}
	wantError(t, b.del(t, "/api/v1/api-keys/"+ko.ID, a.tokens.AccessToken), http.StatusNotFound, "not_found")
	wantStatus(t, b.get(t, "/api/v1/auth/me", ko.Key), http.StatusOK)
	wantStatus(t, b.del(t, "/api/v1/api-keys/"+ko.ID, admin), http.StatusNoContent)
	wantError(t, b.get(t, "/api/v1/auth/me", ko.Key), http.StatusUnauthorized, "unauthorized")
}

func TestAPIKeyValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil) // transaction:create, transaction:read, webhook:manage
	tok := a.tokens.AccessToken
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	for _, tt := range []struct {
		name  string
		body  any
		field string
	}{
		{"no name", map[string]any{"permissions": []string{}}, "name"},
		{"blank name", map[string]any{"name": "   ", "permissions": []string{}}, "name"},
		{"long name", map[string]any{"name": strings.Repeat("é", 101), "permissions": []string{}}, "name"},
		{"no permissions", map[string]any{"name": "k"}, "permissions"},
		{"unknown permission", map[string]any{"name": "k", "permissions": []string{"transaction:everything"}}, "permissions"},
		{"permission the caller lacks", map[string]any{"name": "k", "permissions": []string{"transaction:read", "transaction:update"}}, "permissions"},
		{"admin the caller lacks", map[string]any{"name": "k", "permissions": []string{"admin:access"}}, "permissions"},
		{"expiry in the past", map[string]any{"name": "k", "permissions": []string{}, "expires_at": past}, "expires_at"},
		{"expiry not a time", map[string]any{"name": "k", "permissions": []string{}, "expires_at": "tomorrow"}, "expires_at"},
		{"unknown field", map[string]any{"name": "k", "permissions": []string{}, "user_id": a.ID}, "user_id"},
	} {
		e := wantError(t, b.post(t, "/api/v1/api-keys", tok, tt.body), http.StatusUnprocessableEntity, "validation_failed")
		if _, ok := e.Error.Fields[tt.field]; !ok || len(e.Error.Fields) != 1 {
			t.Errorf("%s: fields %v, want %s only", tt.name, e.Error.Fields, tt.field)
		}
	}
	// 100 characters, a future expiry and every permission held are fine.
	future := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	r := b.post(t, "/api/v1/api-keys", tok, map[string]any{"name": strings.Repeat("é", 100),
		"permissions": []string{"webhook:manage", "transaction:read", "transaction:read"}, "expires_at": future.Format(time.RFC3339)})
	wantStatus(t, r, http.StatusCreated)
	var k apiKey
	r.decode(t, &k)
	if k.ExpiresAt == nil || !k.ExpiresAt.Equal(future) || strings.Join(k.Permissions, ",") != "transaction:read,webhook:manage" {
		t.Errorf("created %+v", k)
	}
}

// TestAPIKeyNeverExceedsItsOwner: a key's permissions are cut to what its
// owner holds at each request.
func TestAPIKeyNeverExceedsItsOwner(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	k := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read", "webhook:manage"})
	wantStatus(t, b.get(t, "/api/v1/webhooks", k.Key), http.StatusOK)
	if _, err := b.svc.Store().SetPermissions(context.Background(), a.ID, []string{"transaction:read"}); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.get(t, "/api/v1/webhooks", k.Key), http.StatusForbidden, "forbidden")
	wantStatus(t, b.get(t, "/api/v1/transactions", k.Key), http.StatusOK)
	// The same through the admin route.
	admin := b.adminToken(t)
	r := b.do(t, request{method: http.MethodPut, path: "/api/v1/users/" + a.ID + "/permissions", token: admin,
		body: map[string]any{"permissions": []string{"transaction:create"}}})
	wantStatus(t, r, http.StatusOK)
	wantError(t, b.get(t, "/api/v1/transactions", k.Key), http.StatusForbidden, "forbidden")
	// Never more than the key's own, whatever the owner gets.
	if _, err := b.svc.Store().SetPermissions(context.Background(), a.ID, auth.AllPermissions); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, b.get(t, "/api/v1/transactions", k.Key), http.StatusOK)
	wantError(t, b.get(t, "/api/v1/users", k.Key), http.StatusForbidden, "forbidden")
}

func TestAPIKeyExpiryAndOwnerDeactivation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	admin := b.adminToken(t)
	a := b.newUser(t, nil)
	expiring := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	kept := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	wantStatus(t, b.get(t, "/api/v1/transactions", expiring.Key), http.StatusOK)
	// The API refuses a past expiry, so the clock of this one is moved in Postgres.
	if _, err := b.db.ExecContext(context.Background(), `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, expiring.ID); err != nil {
		t.Fatal(err)
	}
	wantError(t, b.get(t, "/api/v1/transactions", expiring.Key), http.StatusUnauthorized, "unauthorized")
	wantStatus(t, b.get(t, "/api/v1/transactions", kept.Key), http.StatusOK)

	r := b.do(t, request{method: http.MethodPatch, path: "/api/v1/users/" + a.ID, token: admin, body: map[string]any{"is_active": false}})
	wantStatus(t, r, http.StatusOK)
	wantError(t, b.get(t, "/api/v1/transactions", kept.Key), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.get(t, "/api/v1/auth/me", kept.Key), http.StatusUnauthorized, "unauthorized")
}

// TestAPIKeysCannotManageKeys: with a key, the API-key routes and logout are 403.
func TestAPIKeysCannotManageKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	k := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read", "transaction:create", "webhook:manage"})
	wantError(t, b.post(t, "/api/v1/api-keys", k.Key, map[string]any{"name": "child", "permissions": []string{}}), http.StatusForbidden, "forbidden")
	wantError(t, b.get(t, "/api/v1/api-keys", k.Key), http.StatusForbidden, "forbidden")
	wantError(t, b.del(t, "/api/v1/api-keys/"+k.ID, k.Key), http.StatusForbidden, "forbidden")
	wantError(t, b.post(t, "/api/v1/auth/logout", k.Key, nil), http.StatusForbidden, "forbidden")
	// Nothing of that changed anything: the key still works and is the only one.
	wantStatus(t, b.get(t, "/api/v1/auth/me", k.Key), http.StatusOK)
	var n int
	if err := b.db.GetContext(context.Background(), &n, `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`); err != nil || n != 1 {
		t.Errorf("live keys = %d (%v), want 1", n, err)
	}
}

// TestAPIKeyCap: the 101st live key is 409 too_many_api_keys; revoking one
// makes room.
func TestAPIKeyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	var first apiKey
	for i := range 100 {
		k := b.newKey(t, a.tokens.AccessToken, nil)
		if i == 0 {
			first = k
		}
	}
	body := map[string]any{"name": "one too many", "permissions": []string{}}
	wantError(t, b.post(t, "/api/v1/api-keys", a.tokens.AccessToken, body), http.StatusConflict, "too_many_api_keys")
	wantStatus(t, b.del(t, "/api/v1/api-keys/"+first.ID, a.tokens.AccessToken), http.StatusNoContent)
	wantStatus(t, b.post(t, "/api/v1/api-keys", a.tokens.AccessToken, body), http.StatusCreated)
}

// TestBadAPIKeysAreCapped: malformed, unknown and wrong keys are 401 and count
// toward the per-IP cap of failed authentications, then 429.
func TestBadAPIKeysAreCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, options{authFailuresPerIP: 6})
	a := b.newUser(t, nil)
	k := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	flip := func(c byte) byte {
		if c == 'A' {
			return 'B'
		}
		return 'A'
	}
	wrongTail := k.Key[:len(k.Key)-1] + string(flip(k.Key[len(k.Key)-1])) // known prefix, wrong hash
	bad := []string{
		"vk_", "vk_short", "vk_" + strings.Repeat("!", 43), "vk_" + strings.Repeat("A", 44),
		"vk_" + strings.Repeat("A", 43), // well-formed, unknown prefix
		wrongTail,
	}
	for _, key := range bad {
		wantError(t, b.get(t, "/api/v1/transactions", key), http.StatusUnauthorized, "unauthorized")
	}
	r := b.get(t, "/api/v1/transactions", "vk_"+strings.Repeat("B", 43))
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if strings.Contains(b.logs.String(), wrongTail[3:]) {
		t.Error("a log line carries a presented key")
	}
}

// keyUpdates is api_keys' n_tup_upd once the statistics show at least min
// (they reach pg_stat_user_tables within seconds, not at commit).
func (b *testBundle) keyUpdates(t *testing.T, min int64) int64 {
	t.Helper()
	var n int64
	for deadline := time.Now().Add(15 * time.Second); ; {
		if err := b.db.GetContext(context.Background(), &n, `SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'api_keys'`); err != nil {
			t.Fatal(err)
		}
		if n >= min || time.Now().After(deadline) {
			return n
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAPIKeyLastUsedIsBatched: requests only note the use in memory; a flush
// writes every key used since in one UPDATE, and shutdown flushes too.
func TestAPIKeyLastUsedIsBatched(t *testing.T) {
	t.Parallel()
	b := setup(t, options{keyUsageFlush: time.Hour}) // flushed by hand here
	a := b.newUser(t, nil)
	k1 := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	k2 := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	const n = 60
	for i := range n {
		key := k1.Key
		if i%3 == 0 {
			key = k2.Key
		}
		wantStatus(t, b.get(t, "/api/v1/transactions", key), http.StatusOK)
	}
	ctx := context.Background()
	var unset int
	if err := b.db.GetContext(ctx, &unset, `SELECT count(*) FROM api_keys WHERE last_used_at IS NULL`); err != nil || unset != 2 {
		t.Fatalf("%d keys without last_used_at before the flush (%v), want 2: a request wrote it", unset, err)
	}
	before := b.keyUpdates(t, 0)
	if err := b.svc.FlushKeyUsage(ctx); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		ID   string    `db:"id"`
		Used time.Time `db:"last_used_at"`
		Xmin string    `db:"xmin"`
	}
	if err := b.db.SelectContext(ctx, &rows, `SELECT id, last_used_at, xmin::text AS xmin FROM api_keys ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0].Xmin != rows[1].Xmin {
		t.Errorf("keys after the flush %+v: want both written by one transaction (same xmin)", rows)
	}
	for _, r := range rows {
		if time.Since(r.Used) > time.Minute {
			t.Errorf("key %s last_used_at = %v, want just now", r.ID, r.Used)
		}
	}
	updates := b.keyUpdates(t, before+2) - before
	t.Logf("%d requests with 2 keys: %d row updates of api_keys in one statement", n, updates)
	if updates != 2 {
		t.Errorf("%d requests caused %d row updates of api_keys, want 2 (one per key, one flush)", n, updates)
	}
	// The list shows it.
	r := b.get(t, "/api/v1/api-keys", a.tokens.AccessToken)
	if bytes.Contains(r.body, []byte(`"last_used_at":null`)) {
		t.Errorf("list after the flush: %s", r.body)
	}

	// Shutdown (Close, which cmd/api and apitest call after the server
	// stops) writes what is pending.
	mark := rows[0].Used
	time.Sleep(10 * time.Millisecond)
	wantStatus(t, b.get(t, "/api/v1/transactions", k1.Key), http.StatusOK)
	if err := b.svc.Close(); err != nil {
		t.Fatal(err)
	}
	var used time.Time
	if err := b.db.GetContext(ctx, &used, `SELECT last_used_at FROM api_keys WHERE id = $1`, k1.ID); err != nil || !used.After(mark) {
		t.Errorf("after Close last_used_at = %v (%v), want after %v", used, err, mark)
	}
}

// TestAPIKeyLastUsedFlushesByItself: with a short interval the flusher writes
// last_used_at without being asked.
func TestAPIKeyLastUsedFlushesByItself(t *testing.T) {
	t.Parallel()
	b := setup(t, options{keyUsageFlush: 200 * time.Millisecond})
	a := b.newUser(t, nil)
	k := b.newKey(t, a.tokens.AccessToken, nil)
	wantStatus(t, b.get(t, "/api/v1/auth/me", k.Key), http.StatusOK)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var set bool
		if err := b.db.GetContext(context.Background(), &set, `SELECT last_used_at IS NOT NULL FROM api_keys WHERE id = $1`, k.ID); err != nil {
			t.Fatal(err)
		}
		if set {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("last_used_at not written 5 s after a use with a 200 ms flush interval")
		}
	}
}

// walk follows next_cursor from the first page of path with limit and
// returns the ids in the order seen, failing on a repeated id.
func (b *testBundle) walk(t *testing.T, path, token string, limit int) (ids []string, pages int) {
	t.Helper()
	seen := map[string]bool{}
	cursor := ""
	for {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		r := b.get(t, path+"?"+q.Encode(), token)
		wantStatus(t, r, http.StatusOK)
		var top map[string]json.RawMessage
		r.decode(t, &top)
		if len(top) != 2 || top["items"] == nil || top["next_cursor"] == nil {
			t.Fatalf("%s: want exactly items and next_cursor: %s", path, r.body)
		}
		var page struct {
			Items []struct {
				ID string `json:"id"`
			} `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		r.decode(t, &page)
		pages++
		if len(page.Items) > limit {
			t.Fatalf("%s: %d items, limit %d", path, len(page.Items), limit)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Errorf("%s: %s seen twice", path, it.ID)
			}
			seen[it.ID] = true
			ids = append(ids, it.ID)
		}
		if page.NextCursor == nil {
			return ids, pages
		}
		if len(page.Items) != limit {
			t.Errorf("%s: a short page (%d) with a next_cursor", path, len(page.Items))
		}
		cursor = *page.NextCursor
	}
}

func TestAPIKeyListCursor(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	var want []string
	for range 7 {
		want = append([]string{b.newKey(t, a.tokens.AccessToken, nil).ID}, want...) // newest first
	}
	ids, pages := b.walk(t, "/api/v1/api-keys", a.tokens.AccessToken, 3)
	if strings.Join(ids, ",") != strings.Join(want, ",") || pages != 3 {
		t.Errorf("walked %v in %d pages, want %v in 3", ids, pages, want)
	}
	if ids, _ := b.walk(t, "/api/v1/api-keys", a.tokens.AccessToken, 7); len(ids) != 7 {
		t.Errorf("limit 7: %d keys", len(ids))
	}
	usersCursor := b.usersCursor(t)
	for _, q := range []string{"cursor=garbage!", "cursor=" + url.QueryEscape("dXNlcnN8eA"), "cursor=" + usersCursor} {
		e := wantError(t, b.get(t, "/api/v1/api-keys?"+q, a.tokens.AccessToken), http.StatusUnprocessableEntity, "validation_failed")
		if _, ok := e.Error.Fields["cursor"]; !ok {
			t.Errorf("%s: fields %v, want cursor", q, e.Error.Fields)
		}
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x"} {
		e := wantError(t, b.get(t, "/api/v1/api-keys?"+q, a.tokens.AccessToken), http.StatusUnprocessableEntity, "validation_failed")
		if _, ok := e.Error.Fields["limit"]; !ok {
			t.Errorf("%s: fields %v, want limit", q, e.Error.Fields)
		}
	}
}

// usersCursor is a next_cursor of GET /users (there are at least 2 users).
func (b *testBundle) usersCursor(t *testing.T) string {
	t.Helper()
	r := b.get(t, "/api/v1/users?limit=1", b.adminToken(t))
	wantStatus(t, r, http.StatusOK)
	var p struct {
		NextCursor *string `json:"next_cursor"`
	}
	r.decode(t, &p)
	if p.NextCursor == nil {
		t.Fatalf("no next_cursor: %s", r.body)
	}
	return *p.NextCursor
}

// TestListUsersKeyset: with cursor/limit, /users pages by keyset in the order
// of its numbered pages; page/size keep working and do not mix with them.
func TestListUsersKeyset(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	admin := b.adminToken(t)
	for range 6 {
		b.newUser(t, nil)
	}
	r := b.get(t, "/api/v1/users?size=100", admin)
	wantStatus(t, r, http.StatusOK)
	var all struct {
		Items []user `json:"items"`
		Total int    `json:"total"`
	}
	r.decode(t, &all)
	var want []string
	for _, u := range all.Items {
		want = append(want, u.ID)
	}
	for _, limit := range []int{1, 2, 3, 7, 100} {
		ids, _ := b.walk(t, "/api/v1/users", admin, limit)
		if strings.Join(ids, ",") != strings.Join(want, ",") || len(ids) != 7 {
			t.Errorf("limit %d: walked %v, want the page order %v", limit, ids, want)
		}
	}
	// ?limit alone answers the keyset envelope.
	r = b.get(t, "/api/v1/users?limit=2", admin)
	if !bytes.Contains(r.body, []byte(`"next_cursor":"`)) || bytes.Contains(r.body, []byte(`"total"`)) {
		t.Errorf("?limit=2: %s", r.body)
	}
	cur := b.usersCursor(t)
	for q, field := range map[string]string{
		"cursor=" + cur + "&page=2": "page", "limit=2&size=2": "size", "cursor=x": "cursor",
		"cursor=" + httpCursor("api-keys", "2026-01-01T00:00:00Z", all.Items[0].ID): "cursor",
		"cursor=" + httpCursor("users", "yesterday", all.Items[0].ID):               "cursor",
		"cursor=" + httpCursor("users", "2026-01-01T00:00:00Z", "not-a-uuid"):       "cursor",
	} {
		e := wantError(t, b.get(t, "/api/v1/users?"+q, admin), http.StatusUnprocessableEntity, "validation_failed")
		if _, ok := e.Error.Fields[field]; !ok {
			t.Errorf("%s: fields %v, want %s", q, e.Error.Fields, field)
		}
	}
}

// httpCursor forges a cursor the way the server encodes them.
func httpCursor(parts ...string) string {
	return url.QueryEscape(base64RawURL(strings.Join(parts, "|")))
}

// TestAPIKeyPostgresDown: with Postgres gone, a key is answered 503, never 500 or 401.
func TestAPIKeyPostgresDown(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	a := b.newUser(t, nil)
	k := b.newKey(t, a.tokens.AccessToken, []string{"transaction:read"})
	b.db.Close()
	wantUnavailable(t, b.get(t, "/api/v1/auth/me", k.Key))
	wantUnavailable(t, b.get(t, "/api/v1/transactions", k.Key))
	if strings.Contains(b.logs.String(), `"status":500`) {
		t.Errorf("an outage was logged as a 500:\n%s", b.logs.String())
	}
	if strings.Contains(b.logs.String(), k.Key[3:]) {
		t.Error("a log line carries the key")
	}
}

func base64RawURL(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
