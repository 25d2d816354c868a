package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/hibiken/asynq"
	"github.com/lib/pq"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/tasks"
)

// The actors of the authorization matrix.
const (
	anonymous   = "anonymous"
	plain       = "plain user"    // default permissions (create, read, webhook:manage), not the owner
	noPerm      = "no permission" // no permissions at all
	owner       = "owner"         // every transaction permission; created the transaction
	other       = "other user"    // every transaction permission; not the owner
	admin       = "admin"
	deactivated = "deactivated"
	loggedOut   = "logged out"
	// API keys of the owner: one with transaction:read alone, one revoked.
	keyRead    = "api key (read only)"
	keyRevoked = "api key (revoked)"
)

// onlyPerm names the caller that holds exactly one permission, perm. There is
// one for every permission (auth.AllPermissions; the setup checks that the
// permissions table names the same ones). Such a caller owns the resources its
// requests target, so nothing but the permission stands between it and the
// route: its expected status is derived from the route's required permission
// (matrixEntry.perm), not written by hand.
func onlyPerm(perm string) string { return "only " + perm }

// singlePerm maps each single-permission caller to its permission.
var singlePerm = func() map[string]string {
	m := map[string]string{}
	for _, p := range auth.AllPermissions {
		m[onlyPerm(p)] = p
	}
	return m
}()

var actors = append([]string{anonymous, plain, noPerm, owner, other, admin, deactivated, loggedOut, keyRead, keyRevoked},
	func() []string {
		var a []string
		for _, p := range auth.AllPermissions {
			a = append(a, onlyPerm(p))
		}
		return a
	}()...)

// authzEmail is an actor's login (permission names hold a colon).
func authzEmail(a string) string {
	return strings.NewReplacer(" ", "-", ":", "-").Replace(a) + "@authz.test"
}

// resourceOwner is who owns the transactions and webhook endpoints an actor's
// requests target: a single-permission caller its own, everyone else the owner's.
func resourceOwner(a string) string {
	if _, ok := singlePerm[a]; ok {
		return a
	}
	return owner
}

// authzEnv is the whole API with its actors.
type authzEnv struct {
	app    *fiber.App
	url    string
	svc    *auth.Service
	db     *pgtest.DB
	insp   *asynq.Inspector
	tables []string // every table of the schema, for the snapshots of refused requests
	tokens map[string]string
	ids    map[string]string
	pwd    map[string]string
	seq    atomic.Int64
}

func authzSetup(t *testing.T) *authzEnv {
	t.Helper()
	ctx := context.Background()
	e := &authzEnv{tokens: map[string]string{}, ids: map[string]string{}, pwd: map[string]string{}}
	// Every route is called with bad tokens several times: more than the
	// per-IP cap of invalid tokens, which is not what this test is about.
	// The keys' last_used_at is written only at cleanup: a flush between the
	// snapshots of a refused request would look like a side effect of it.
	srv := apitest.Start(t, apitest.Options{NoAdmin: true, AuthFailuresPerIP: 10_000, KeyUsageFlush: 24 * time.Hour})
	e.app, e.svc, e.url, e.db, e.insp = srv.App, srv.Auth, srv.URL, srv.DB, srv.Inspector
	var names []string
	if err := e.db.SelectContext(ctx, &names, `SELECT name FROM permissions ORDER BY name`); err != nil {
		t.Fatal(err)
	}
	if want := slices.Sorted(slices.Values(auth.AllPermissions)); !slices.Equal(names, want) {
		t.Fatalf("the permissions table names %v, auth.AllPermissions %v: every permission needs its single-permission caller", names, want)
	}
	if err := e.db.SelectContext(ctx, &e.tables, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'goose_db_version' ORDER BY 1`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.EnsureAdmin(ctx, "admin@authz.test", "admin-password-authz"); err != nil {
		t.Fatal(err)
	}

	e.pwd[admin] = "admin-password-authz"
	e.ids[admin] = e.mustUser(t, "admin@authz.test").ID
	perms := map[string][]string{
		plain: auth.DefaultPermissions, noPerm: {}, owner: append(allTxPerms, auth.PermWebhookManage),
		other:       append(allTxPerms, auth.PermWebhookManage),
		deactivated: allTxPerms, loggedOut: allTxPerms, "target": auth.DefaultPermissions,
	}
	users := []string{plain, noPerm, owner, other, deactivated, loggedOut, "target"}
	for a, p := range singlePerm {
		perms[a] = []string{p}
		users = append(users, a)
	}
	for _, a := range users {
		email, pwd := authzEmail(a), "password-"+strings.TrimSuffix(authzEmail(a), "@authz.test")
		u, err := e.svc.Register(ctx, email, pwd, "Authz User")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Store().SetPermissions(ctx, u.ID, perms[a]); err != nil {
			t.Fatal(err)
		}
		e.ids[a], e.pwd[a] = u.ID, pwd
	}
	for _, a := range actors {
		if a != anonymous && a != keyRead && a != keyRevoked {
			e.tokens[a] = e.login(t, a)
		}
	}
	read, err := e.svc.CreateAPIKey(ctx, e.ids[owner], "authz read only", []string{auth.PermTransactionRead}, nil)
	if err != nil {
		t.Fatal(err)
	}
	revoked, err := e.svc.CreateAPIKey(ctx, e.ids[owner], "authz revoked", allTxPerms, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.RevokeAPIKey(ctx, "", revoked.ID); err != nil {
		t.Fatal(err)
	}
	e.tokens[keyRead], e.tokens[keyRevoked] = read.Key, revoked.Key
	if _, err := e.svc.Store().SetActive(ctx, e.ids[deactivated], false); err != nil {
		t.Fatal(err)
	}
	if code, body := e.call(t, loggedOut, http.MethodPost, "/api/v1/auth/logout", nil); code != http.StatusNoContent {
		t.Fatalf("logout: %d %s", code, body)
	}
	return e
}

func (e *authzEnv) mustUser(t *testing.T, email string) auth.User {
	u, err := e.svc.Store().UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (e *authzEnv) login(t *testing.T, a string) string {
	t.Helper()
	pair, err := e.svc.Login(context.Background(), "127.0.0.1", authzEmail(a), e.pwd[a])
	if err != nil {
		t.Fatalf("login %s: %v", a, err)
	}
	return pair.AccessToken
}

func (e *authzEnv) call(t *testing.T, actor, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := e.tokens[actor]; tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// asOwner runs f as the owner of the resources actor a targets (see
// resourceOwner). A single-permission caller is given every transaction
// permission and webhook:manage while f runs, so it can create its own
// resources through the API, and gets back its one permission before the
// request under test.
func (e *authzEnv) asOwner(t *testing.T, a string, f func(who string)) {
	t.Helper()
	who := resourceOwner(a)
	if p, ok := singlePerm[a]; ok {
		ctx := context.Background()
		if _, err := e.svc.Store().SetPermissions(ctx, e.ids[a], append(slices.Clone(allTxPerms), auth.PermWebhookManage)); err != nil {
			t.Fatal(err)
		}
		defer func() {
			if _, err := e.svc.Store().SetPermissions(ctx, e.ids[a], []string{p}); err != nil {
				t.Fatal(err)
			}
		}()
	}
	f(who)
}

// newTx creates a fresh IN_PROGRESS transaction owned by resourceOwner(a) and
// returns its client id.
func (e *authzEnv) newTx(t *testing.T, a string) string {
	t.Helper()
	id := fmt.Sprintf("AUTHZ-%d", e.seq.Add(1))
	e.asOwner(t, a, func(who string) {
		code, body := e.call(t, who, http.MethodPost, "/api/v1/transactions", e.txBody(id))
		if code != http.StatusCreated {
			t.Fatalf("create as %s: %d %s", who, code, body)
		}
	})
	return id
}

func (e *authzEnv) txBody(id string) map[string]any {
	return map[string]any{"transaction_id": id, "bank": "MOBILE_TRANSFER", "reference": fmt.Sprintf("7%011d", e.seq.Add(1)),
		"customer": map[string]any{"full_name": "Ana Pérez", "phone": "04141234567", "national_id": "V12345678"}}
}

// Access levels of matrixEntry.perm besides the permission names.
const (
	anyone  = "(public)"        // no authentication
	anyUser = "(authenticated)" // any active user with a live token
)

// matrixEntry is one route: how to call it and what each actor must get.
type matrixEntry struct {
	// call returns the path and body for one request (a fresh resource each
	// time, owned by resourceOwner(actor)).
	call func(t *testing.T, e *authzEnv, actor string) (path string, body any)
	// perm is what the route requires: a permission, anyone or anyUser. The
	// single-permission callers' statuses are derived from it: the admin's
	// status (who holds every permission) when they hold it, else 403.
	perm string
	// want is what the other actors must get.
	want map[string]int
	// fresh sends a newly issued token for actors who can log in (logout
	// revokes the token it is sent with; the actor's main token must live on).
	fresh bool
	// noKeys: the route refuses requests made with an API key (403).
	noKeys bool
}

// expect builds a want map: public routes give every actor the same status;
// authenticated ones refuse anonymous, deactivated and logged-out callers with 401.
func authed(plainS, noPermS, ownerS, otherS, adminS int) map[string]int {
	return map[string]int{anonymous: 401, deactivated: 401, loggedOut: 401, keyRevoked: 401,
		plain: plainS, noPerm: noPermS, owner: ownerS, other: otherS, admin: adminS}
}

func public(status int) map[string]int {
	m := map[string]int{}
	for _, a := range actors {
		m[a] = status
	}
	return m
}

// wantFor is the status actor a must get from the route.
func (m matrixEntry) wantFor(a string) int {
	if a == keyRead && m.perm != anyone {
		// The owner's key with transaction:read: the owner's status where
		// that is enough, else 403.
		if !m.noKeys && (m.perm == anyUser || m.perm == auth.PermTransactionRead) {
			return m.want[owner]
		}
		return http.StatusForbidden
	}
	p, single := singlePerm[a]
	if !single {
		return m.want[a]
	}
	if m.perm == anyone || m.perm == anyUser || m.perm == p {
		return m.want[admin]
	}
	return http.StatusForbidden
}

func static(path string) func(*testing.T, *authzEnv, string) (string, any) {
	return func(*testing.T, *authzEnv, string) (string, any) { return path, nil }
}

// newWebhook registers a fresh endpoint as resourceOwner(a) and returns its path.
func (e *authzEnv) newWebhook(t *testing.T, a string) string {
	t.Helper()
	var path string
	e.asOwner(t, a, func(who string) {
		code, b := e.call(t, who, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"})
		if code != http.StatusCreated {
			t.Fatalf("register webhook as %s: %d %s", who, code, b)
		}
		var ep struct{ ID string }
		_ = json.Unmarshal(b, &ep)
		path = "/api/v1/webhooks/" + ep.ID
	})
	return path
}

// onWebhook registers a fresh endpoint as resourceOwner(actor) and calls suffix on it.
func onWebhook(suffix string, body any) func(*testing.T, *authzEnv, string) (string, any) {
	return func(t *testing.T, e *authzEnv, a string) (string, any) {
		return e.newWebhook(t, a) + suffix, body
	}
}

func onTx(suffix string, body any) func(*testing.T, *authzEnv, string) (string, any) {
	return func(t *testing.T, e *authzEnv, a string) (string, any) {
		return "/api/v1/transactions/" + e.newTx(t, a) + suffix, body
	}
}

// refused reports whether a status refuses the request: unauthenticated,
// forbidden, or not found (another user's resource).
func refused(status int) bool {
	return status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusNotFound
}

// authzState is what a refused request must leave as it was.
type authzState struct {
	tables map[string]string // every table: its row count and a digest of its rows
	target map[string]string // the rows of the resource the path names, as text
	queues map[string]string // every Asynq queue: its task counts by state
	task   string            // the verify task of the transaction the path names
}

// snapshot reads the whole database, the Asynq queues and, for the resource
// path names (a transaction, a webhook endpoint, a user), its rows and its
// transaction's verify task.
func (e *authzEnv) snapshot(t *testing.T, path string) authzState {
	t.Helper()
	ctx := context.Background()
	st := authzState{tables: map[string]string{}, target: map[string]string{}, queues: map[string]string{}}

	var parts []string
	for _, tbl := range e.tables {
		parts = append(parts, fmt.Sprintf(`SELECT %s AS name, format('%%s rows, md5 %%s', count(*), md5(coalesce(string_agg(t::text, E'\n' ORDER BY t::text), ''))) AS digest FROM %s t`,
			pq.QuoteLiteral(tbl), pq.QuoteIdentifier(tbl)))
	}
	var digests []struct{ Name, Digest string }
	if err := e.db.SelectContext(ctx, &digests, strings.Join(parts, " UNION ALL ")); err != nil {
		t.Fatalf("snapshot tables: %v", err)
	}
	for _, d := range digests {
		st.tables[d.Name] = d.Digest
	}

	rows := func(label, query string, args ...any) {
		var texts []string
		if err := e.db.SelectContext(ctx, &texts, query, args...); err != nil {
			t.Fatalf("snapshot %s: %v", label, err)
		}
		st.target[label] = strings.Join(texts, "\n")
	}
	seg := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	txID := ""
	switch {
	case len(seg) >= 2 && seg[0] == "transactions":
		rows("transaction "+seg[1], `SELECT t::text FROM transactions t WHERE transaction_id = $1`, seg[1])
		rows("its events", `SELECT ev::text FROM transaction_events ev JOIN transactions t ON t.id = ev.transaction_id
			WHERE t.transaction_id = $1 ORDER BY ev.id`, seg[1])
		rows("its outbox events", `SELECT o::text FROM outbox_events o JOIN transactions t ON t.id = o.transaction_id
			WHERE t.transaction_id = $1 ORDER BY o.id`, seg[1])
		_ = e.db.GetContext(ctx, &txID, `SELECT id::text FROM transactions WHERE transaction_id = $1`, seg[1])
	case len(seg) >= 2 && seg[0] == "webhooks":
		rows("webhook endpoint "+seg[1], `SELECT w::text FROM webhook_endpoints w WHERE id::text = $1`, seg[1])
		rows("its deliveries", `SELECT d::text FROM webhook_deliveries d WHERE endpoint_id::text = $1 ORDER BY d.id`, seg[1])
	case len(seg) >= 2 && seg[0] == "users":
		rows("user "+seg[1], `SELECT u::text FROM users u WHERE id::text = $1`, seg[1])
		rows("its permissions", `SELECT p.name FROM user_permissions up JOIN permissions p ON p.id = up.permission_id
			WHERE up.user_id::text = $1 ORDER BY p.name`, seg[1])
		rows("its refresh tokens", `SELECT r::text FROM refresh_tokens r WHERE user_id::text = $1 ORDER BY r.id`, seg[1])
	}

	names, err := e.insp.Queues()
	if err != nil {
		t.Fatalf("snapshot queues: %v", err)
	}
	for _, q := range names {
		info, err := e.insp.GetQueueInfo(q)
		if err != nil {
			t.Fatalf("snapshot queue %s: %v", q, err)
		}
		st.queues[q] = fmt.Sprintf("size %d: pending %d, active %d, scheduled %d, retry %d, archived %d, completed %d, aggregating %d, paused %v",
			info.Size, info.Pending, info.Active, info.Scheduled, info.Retry, info.Archived, info.Completed, info.Aggregating, info.Paused)
	}
	if txID != "" {
		var found []string
		for _, q := range tasks.VerifyQueues {
			// No worker runs here: the transaction's task is its first (seq 0).
			info, err := e.insp.GetTaskInfo(q, tasks.VerifyTaskID(txID, 0))
			if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("snapshot task %s: %v", tasks.VerifyTaskID(txID, 0), err)
			}
			// The inspector reports a pending task's NextProcessAt as the time
			// of the call; only a scheduled or retried task has one stored.
			next := ""
			if info.State == asynq.TaskStateScheduled || info.State == asynq.TaskStateRetry {
				next = ", next " + info.NextProcessAt.UTC().Format(time.RFC3339Nano)
			}
			found = append(found, fmt.Sprintf("%s in %s: %s%s, retried %d, payload %s",
				info.ID, info.Queue, info.State, next, info.Retried, info.Payload))
		}
		st.task = "absent"
		if len(found) > 0 {
			st.task = strings.Join(found, "; ")
		}
	}
	return st
}

// changes lists what differs between two snapshots.
func (b authzState) changes(a authzState) []string {
	var out []string
	diff := func(kind string, before, after map[string]string) {
		keys := slices.Sorted(maps.Keys(before))
		for k := range after {
			if _, ok := before[k]; !ok {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			if before[k] != after[k] {
				out = append(out, fmt.Sprintf("%s %s: before %q, after %q", kind, k, or(before[k], "(none)"), or(after[k], "(none)")))
			}
		}
	}
	diff("table", b.tables, a.tables)
	diff("row", b.target, a.target)
	diff("asynq queue", b.queues, a.queues)
	if b.task != a.task {
		out = append(out, fmt.Sprintf("verify task: before %s, after %s", b.task, a.task))
	}
	return out
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// TestAuthorizationMatrix calls every route the app serves as every kind of
// caller, among them one caller per permission holding that permission alone.
// The table is keyed by the app's own route list: a route added without an
// entry here fails the test, and so does an entry for a route that is gone.
// Every refused request (401, 403, 404 to a non-owner) must leave everything
// as it was: every table, the target's rows, the Asynq queues and the target
// transaction's verify task.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := authzSetup(t)
	matrix := map[string]matrixEntry{
		"GET /health/live":  {call: static("/health/live"), perm: anyone, want: public(200)},
		"GET /health/ready": {call: static("/health/ready"), perm: anyone, want: public(200)},
		"GET /metrics":      {call: static("/metrics"), perm: anyone, want: public(200)},
		"GET /openapi.yaml": {call: static("/openapi.yaml"), perm: anyone, want: public(200)},
		"GET /docs":         {call: static("/docs"), perm: anyone, want: public(200)},
		"GET /docs/:file":   {call: static("/docs/docs.js"), perm: anyone, want: public(200)},
		"POST /api/v1/auth/register": {call: func(t *testing.T, e *authzEnv, a string) (string, any) {
			n := e.seq.Add(1)
			return "/api/v1/auth/register", map[string]string{"email": fmt.Sprintf("reg%d@authz.test", n), "password": "password-0123456789", "full_name": "New User"}
		}, perm: anyone, want: public(201)},
		"POST /api/v1/auth/login": {call: func(*testing.T, *authzEnv, string) (string, any) {
			return "/api/v1/auth/login", map[string]string{"email": "target@authz.test", "password": "password-target"}
		}, perm: anyone, want: public(200)},
		"POST /api/v1/auth/refresh": {call: func(t *testing.T, e *authzEnv, _ string) (string, any) {
			pair, err := e.svc.Login(context.Background(), "127.0.0.1", "target@authz.test", "password-target")
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/auth/refresh", map[string]string{"refresh_token": pair.RefreshToken}
		}, perm: anyone, want: public(200)},
		"POST /api/v1/auth/logout": {call: static("/api/v1/auth/logout"), perm: anyUser, want: authed(204, 204, 204, 204, 204), fresh: true, noKeys: true},
		"GET /api/v1/auth/me":      {call: static("/api/v1/auth/me"), perm: anyUser, want: authed(200, 200, 200, 200, 200)},
		// API keys: any logged-in user, for themselves (admins: everyone's);
		// never with a key.
		"GET /api/v1/api-keys": {call: static("/api/v1/api-keys"), perm: anyUser, want: authed(200, 200, 200, 200, 200), noKeys: true},
		"POST /api/v1/api-keys": {call: func(*testing.T, *authzEnv, string) (string, any) {
			return "/api/v1/api-keys", map[string]any{"name": "authz", "permissions": []string{}}
		}, perm: anyUser, want: authed(201, 201, 201, 201, 201), noKeys: true},
		"DELETE /api/v1/api-keys/:id": {call: func(t *testing.T, e *authzEnv, a string) (string, any) {
			k, err := e.svc.CreateAPIKey(context.Background(), e.ids[resourceOwner(a)], "authz delete", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/api-keys/" + k.ID, nil
		}, perm: anyUser, want: authed(404, 404, 204, 404, 204), noKeys: true},
		"GET /api/v1/users": {call: static("/api/v1/users"), perm: auth.PermAdmin, want: authed(403, 403, 403, 403, 200)},
		"PUT /api/v1/users/:id/permissions": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/users/" + e.ids["target"] + "/permissions", map[string]any{"permissions": auth.DefaultPermissions}
		}, perm: auth.PermAdmin, want: authed(403, 403, 403, 403, 200)},
		"PATCH /api/v1/users/:id": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/users/" + e.ids["target"], map[string]any{"is_active": true}
		}, perm: auth.PermAdmin, want: authed(403, 403, 403, 403, 200)},
		"POST /api/v1/transactions": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/transactions", e.txBody(fmt.Sprintf("AUTHZ-NEW-%d", e.seq.Add(1)))
		}, perm: auth.PermTransactionCreate, want: authed(201, 403, 201, 201, 201)},
		"GET /api/v1/transactions": {call: static("/api/v1/transactions"), perm: auth.PermTransactionRead, want: authed(200, 403, 200, 200, 200)},
		// Reconciliation: the caller's own transactions (admins: all), so
		// every reader gets 200 (a non-owner's export is simply empty of the
		// owner's rows).
		"GET /api/v1/transactions/export": {call: static("/api/v1/transactions/export"), perm: auth.PermTransactionRead, want: authed(200, 403, 200, 200, 200)},
		"GET /api/v1/reports/summary":     {call: static("/api/v1/reports/summary"), perm: auth.PermTransactionRead, want: authed(200, 403, 200, 200, 200)},
		"GET /api/v1/transactions/:transaction_id": {call: onTx("", nil), perm: auth.PermTransactionRead,
			want: authed(404, 403, 200, 404, 200)},
		"GET /api/v1/transactions/:transaction_id/status": {call: onTx("/status", nil), perm: auth.PermTransactionRead,
			want: authed(404, 403, 200, 404, 200)},
		"GET /api/v1/transactions/:transaction_id/events": {call: onTx("/events", nil), perm: auth.PermTransactionRead,
			want: authed(404, 403, 200, 404, 200)},
		"POST /api/v1/transactions/:transaction_id/verify": {call: onTx("/verify", nil), perm: auth.PermTransactionCreate,
			want: authed(404, 403, 202, 404, 202)},
		"PATCH /api/v1/transactions/:transaction_id": {call: onTx("", map[string]string{"status": "CANCELED", "reason": "authz"}),
			perm: auth.PermTransactionUpdate, want: authed(403, 403, 200, 404, 200)},
		"DELETE /api/v1/transactions/:transaction_id": {call: onTx("", nil), perm: auth.PermTransactionDelete,
			want: authed(403, 403, 204, 404, 204)},

		// Webhooks: webhook:manage, own endpoints only (admins: all); the feed
		// is transaction:read.
		"GET /api/v1/events":   {call: static("/api/v1/events"), perm: auth.PermTransactionRead, want: authed(200, 403, 200, 200, 200)},
		"GET /api/v1/webhooks": {call: static("/api/v1/webhooks"), perm: auth.PermWebhookManage, want: authed(200, 403, 200, 200, 200)},
		"POST /api/v1/webhooks": {call: func(*testing.T, *authzEnv, string) (string, any) {
			return "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"}
		}, perm: auth.PermWebhookManage, want: authed(201, 403, 201, 201, 201)},
		"GET /api/v1/webhooks/:id": {call: onWebhook("", nil), perm: auth.PermWebhookManage, want: authed(404, 403, 200, 404, 200)},
		"PATCH /api/v1/webhooks/:id": {call: onWebhook("", map[string]any{"description": "authz"}), perm: auth.PermWebhookManage,
			want: authed(404, 403, 200, 404, 200)},
		"DELETE /api/v1/webhooks/:id": {call: onWebhook("", nil), perm: auth.PermWebhookManage, want: authed(404, 403, 204, 404, 204)},
		"POST /api/v1/webhooks/:id/rotate-secret": {call: onWebhook("/rotate-secret", nil), perm: auth.PermWebhookManage,
			want: authed(404, 403, 200, 404, 200)},
		"POST /api/v1/webhooks/:id/test": {call: onWebhook("/test", nil), perm: auth.PermWebhookManage,
			want: authed(404, 403, 202, 404, 202)},
		"GET /api/v1/webhooks/:id/deliveries": {call: onWebhook("/deliveries", nil), perm: auth.PermWebhookManage,
			want: authed(404, 403, 200, 404, 200)},
		"POST /api/v1/webhooks/:id/deliveries/:delivery_id/retry": {call: func(t *testing.T, e *authzEnv, a string) (string, any) {
			hook := e.newWebhook(t, a)
			var path string
			e.asOwner(t, a, func(who string) {
				if code, b := e.call(t, who, http.MethodPost, hook+"/test", nil); code != http.StatusAccepted {
					t.Fatalf("test event as %s: %d %s", who, code, b)
				}
				code, b := e.call(t, who, http.MethodGet, hook+"/deliveries", nil)
				var list struct{ Items []struct{ ID string } }
				if err := json.Unmarshal(b, &list); code != http.StatusOK || err != nil || len(list.Items) != 1 {
					t.Fatalf("deliveries as %s: %d %s", who, code, b)
				}
				path = hook + "/deliveries/" + list.Items[0].ID + "/retry"
			})
			return path, nil
		}, perm: auth.PermWebhookManage, want: authed(404, 403, 202, 404, 202)},
	}

	served := map[string]bool{}
	for _, r := range e.app.GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue // Fiber adds HEAD for every GET
		}
		key := r.Method + " " + r.Path
		served[key] = true
		if _, ok := matrix[key]; !ok {
			t.Errorf("route %s has no entry in the authorization matrix", key)
		}
	}
	var keys []string
	for k, entry := range matrix {
		if !served[k] {
			t.Errorf("the matrix names %s, which the app does not serve", k)
			continue
		}
		if entry.perm != anyone && entry.perm != anyUser && !auth.ValidPermission(entry.perm) {
			t.Errorf("the matrix entry %s requires %q: not a permission, anyone or anyUser", k, entry.perm)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var calls, checked int
	for _, key := range keys {
		entry := matrix[key]
		method := strings.Fields(key)[0]
		for _, a := range actors {
			want := entry.wantFor(a)
			path, body := entry.call(t, e, a)
			main := e.tokens[a]
			if entry.fresh && main != "" && a != deactivated && a != loggedOut && a != keyRead && a != keyRevoked {
				e.tokens[a] = e.login(t, a)
			}
			var before authzState
			if refused(want) {
				before = e.snapshot(t, path)
			}
			code, resp := e.call(t, a, method, path, body)
			e.tokens[a] = main
			calls++
			if code != want {
				t.Errorf("%s as %s: status %d, want %d (%s)", key, a, code, want, resp)
			}
			if refused(want) {
				checked++
				for _, c := range before.changes(e.snapshot(t, path)) {
					t.Errorf("%s as %s (status %d, want %d): the refused request changed %s", key, a, code, want, c)
				}
			}
		}
	}
	t.Logf("matrix: %d callers × %d routes = %d requests, %d of them refused and checked for side effects", len(actors), len(keys), calls, checked)

	// The dashboard is a prefix mount (not in the route list): admin only.
	dash := matrixEntry{perm: auth.PermAdmin, want: authed(403, 403, 403, 403, 200)}
	for _, a := range actors {
		if code, _ := e.call(t, a, http.MethodGet, "/monitoring/api/queues", nil); code != dash.wantFor(a) {
			t.Errorf("GET /monitoring/api/queues as %s: status %d, want %d", a, code, dash.wantFor(a))
		}
	}
}
