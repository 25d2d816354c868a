package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gofiber/fiber/v2"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
)

// The actors of the authorization matrix.
const (
	anonymous   = "anonymous"
	plain       = "plain user"    // default permissions (create, read), not the owner
	noPerm      = "no permission" // no permissions at all
	owner       = "owner"         // every transaction permission; created the transaction
	other       = "other user"    // every transaction permission; not the owner
	admin       = "admin"
	deactivated = "deactivated"
	loggedOut   = "logged out"
)

var actors = []string{anonymous, plain, noPerm, owner, other, admin, deactivated, loggedOut}

// authzEnv is the whole API with its actors.
type authzEnv struct {
	app    *fiber.App
	url    string
	svc    *auth.Service
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
	srv := apitest.Start(t, apitest.Options{NoAdmin: true, AuthFailuresPerIP: 10_000})
	e.app, e.svc, e.url = srv.App, srv.Auth, srv.URL
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
	for _, a := range []string{plain, noPerm, owner, other, deactivated, loggedOut, "target"} {
		email, pwd := strings.ReplaceAll(a, " ", "-")+"@authz.test", "password-"+strings.ReplaceAll(a, " ", "-")
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
		if a != anonymous {
			e.tokens[a] = e.login(t, a)
		}
	}
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
	email := strings.ReplaceAll(a, " ", "-") + "@authz.test"
	pair, err := e.svc.Login(context.Background(), "127.0.0.1", email, e.pwd[a])
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

// newTx creates a fresh IN_PROGRESS transaction owned by the owner and returns its client id.
func (e *authzEnv) newTx(t *testing.T) string {
	t.Helper()
	id := fmt.Sprintf("AUTHZ-%d", e.seq.Add(1))
	code, body := e.call(t, owner, http.MethodPost, "/api/v1/transactions", e.txBody(id))
	if code != http.StatusCreated {
		t.Fatalf("create as owner: %d %s", code, body)
	}
	return id
}

func (e *authzEnv) txBody(id string) map[string]any {
	return map[string]any{"transaction_id": id, "bank": "MOBILE_TRANSFER", "reference": fmt.Sprintf("7%011d", e.seq.Add(1)),
		"customer": map[string]any{"full_name": "Ana Pérez", "phone": "04141234567", "national_id": "V12345678"}}
}

// matrixEntry is one route: how to call it and what each actor must get.
type matrixEntry struct {
	// call returns the path and body for one request (a fresh resource each time).
	call func(t *testing.T, e *authzEnv, actor string) (path string, body any)
	want map[string]int
	// fresh sends a newly issued token for actors who can log in (logout
	// revokes the token it is sent with; the actor's main token must live on).
	fresh bool
}

// expect builds a want map: public routes give every actor the same status;
// authenticated ones refuse anonymous, deactivated and logged-out callers with 401.
func authed(plainS, noPermS, ownerS, otherS, adminS int) map[string]int {
	return map[string]int{anonymous: 401, deactivated: 401, loggedOut: 401,
		plain: plainS, noPerm: noPermS, owner: ownerS, other: otherS, admin: adminS}
}

func public(status int) map[string]int {
	m := map[string]int{}
	for _, a := range actors {
		m[a] = status
	}
	return m
}

func static(path string) func(*testing.T, *authzEnv, string) (string, any) {
	return func(*testing.T, *authzEnv, string) (string, any) { return path, nil }
}

// onWebhook registers a fresh endpoint as the owner and calls suffix on it.
func onWebhook(suffix string, body any) func(*testing.T, *authzEnv, string) (string, any) {
	return func(t *testing.T, e *authzEnv, _ string) (string, any) {
		code, b := e.call(t, owner, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"})
		if code != http.StatusCreated {
			t.Fatalf("register webhook as owner: %d %s", code, b)
		}
		var ep struct{ ID string }
		_ = json.Unmarshal(b, &ep)
		return "/api/v1/webhooks/" + ep.ID + strings.ReplaceAll(suffix, ":id", ep.ID), body
	}
}

func onTx(suffix string, body any) func(*testing.T, *authzEnv, string) (string, any) {
	return func(t *testing.T, e *authzEnv, _ string) (string, any) {
		return "/api/v1/transactions/" + e.newTx(t) + suffix, body
	}
}

// TestAuthorizationMatrix calls every route the app serves as every kind of
// caller. The table is keyed by the app's own route list: a route added without
// an entry here fails the test, and so does an entry for a route that is gone.
func TestAuthorizationMatrix(t *testing.T) {
	t.Parallel()
	e := authzSetup(t)
	matrix := map[string]matrixEntry{
		"GET /health/live":  {call: static("/health/live"), want: public(200)},
		"GET /health/ready": {call: static("/health/ready"), want: public(200)},
		"GET /metrics":      {call: static("/metrics"), want: public(200)},
		"GET /openapi.yaml": {call: static("/openapi.yaml"), want: public(200)},
		"GET /docs":         {call: static("/docs"), want: public(200)},
		"GET /docs/:file":   {call: static("/docs/docs.js"), want: public(200)},
		"POST /api/v1/auth/register": {call: func(t *testing.T, e *authzEnv, a string) (string, any) {
			n := e.seq.Add(1)
			return "/api/v1/auth/register", map[string]string{"email": fmt.Sprintf("reg%d@authz.test", n), "password": "password-0123456789", "full_name": "New User"}
		}, want: public(201)},
		"POST /api/v1/auth/login": {call: func(*testing.T, *authzEnv, string) (string, any) {
			return "/api/v1/auth/login", map[string]string{"email": "target@authz.test", "password": "password-target"}
		}, want: public(200)},
		"POST /api/v1/auth/refresh": {call: func(t *testing.T, e *authzEnv, _ string) (string, any) {
			pair, err := e.svc.Login(context.Background(), "127.0.0.1", "target@authz.test", "password-target")
			if err != nil {
				t.Fatal(err)
			}
			return "/api/v1/auth/refresh", map[string]string{"refresh_token": pair.RefreshToken}
		}, want: public(200)},
		"POST /api/v1/auth/logout": {call: static("/api/v1/auth/logout"), want: authed(204, 204, 204, 204, 204), fresh: true},
		"GET /api/v1/auth/me":      {call: static("/api/v1/auth/me"), want: authed(200, 200, 200, 200, 200)},
		"GET /api/v1/users":        {call: static("/api/v1/users"), want: authed(403, 403, 403, 403, 200)},
		"PUT /api/v1/users/:id/permissions": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/users/" + e.ids["target"] + "/permissions", map[string]any{"permissions": auth.DefaultPermissions}
		}, want: authed(403, 403, 403, 403, 200)},
		"PATCH /api/v1/users/:id": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/users/" + e.ids["target"], map[string]any{"is_active": true}
		}, want: authed(403, 403, 403, 403, 200)},
		"POST /api/v1/transactions": {call: func(_ *testing.T, e *authzEnv, _ string) (string, any) {
			return "/api/v1/transactions", e.txBody(fmt.Sprintf("AUTHZ-NEW-%d", e.seq.Add(1)))
		}, want: authed(201, 403, 201, 201, 201)},
		"GET /api/v1/transactions":                         {call: static("/api/v1/transactions"), want: authed(200, 403, 200, 200, 200)},
		"GET /api/v1/transactions/:transaction_id":         {call: onTx("", nil), want: authed(404, 403, 200, 404, 200)},
		"GET /api/v1/transactions/:transaction_id/status":  {call: onTx("/status", nil), want: authed(404, 403, 200, 404, 200)},
		"GET /api/v1/transactions/:transaction_id/events":  {call: onTx("/events", nil), want: authed(404, 403, 200, 404, 200)},
		"POST /api/v1/transactions/:transaction_id/verify": {call: onTx("/verify", nil), want: authed(404, 403, 202, 404, 202)},
		"PATCH /api/v1/transactions/:transaction_id":       {call: onTx("", map[string]string{"status": "CANCELED", "reason": "authz"}), want: authed(403, 403, 200, 404, 200)},
		"DELETE /api/v1/transactions/:transaction_id":      {call: onTx("", nil), want: authed(403, 403, 204, 404, 204)},

		// Webhooks: webhook:manage, own endpoints only (admins: all); the feed
		// is transaction:read.
		"GET /api/v1/events":   {call: static("/api/v1/events"), want: authed(200, 403, 200, 200, 200)},
		"GET /api/v1/webhooks": {call: static("/api/v1/webhooks"), want: authed(403, 403, 200, 200, 200)},
		"POST /api/v1/webhooks": {call: func(*testing.T, *authzEnv, string) (string, any) {
			return "/api/v1/webhooks", map[string]any{"url": "http://127.0.0.1:9/hook"}
		}, want: authed(403, 403, 201, 201, 201)},
		"GET /api/v1/webhooks/:id":                {call: onWebhook("", nil), want: authed(403, 403, 200, 404, 200)},
		"PATCH /api/v1/webhooks/:id":              {call: onWebhook("", map[string]any{"description": "authz"}), want: authed(403, 403, 200, 404, 200)},
		"DELETE /api/v1/webhooks/:id":             {call: onWebhook("", nil), want: authed(403, 403, 204, 404, 204)},
		"POST /api/v1/webhooks/:id/rotate-secret": {call: onWebhook("/rotate-secret", nil), want: authed(403, 403, 200, 404, 200)},
		"POST /api/v1/webhooks/:id/test":          {call: onWebhook("/test", nil), want: authed(403, 403, 202, 404, 202)},
		"GET /api/v1/webhooks/:id/deliveries":     {call: onWebhook("/deliveries", nil), want: authed(403, 403, 200, 404, 200)},
		"POST /api/v1/webhooks/:id/deliveries/:delivery_id/retry": {call: func(t *testing.T, e *authzEnv, a string) (string, any) {
			path, _ := onWebhook("/test", nil)(t, e, a)
			if code, b := e.call(t, owner, http.MethodPost, path, nil); code != http.StatusAccepted {
				t.Fatalf("test event as owner: %d %s", code, b)
			}
			hook := strings.TrimSuffix(path, "/test")
			code, b := e.call(t, owner, http.MethodGet, hook+"/deliveries", nil)
			var list struct{ Items []struct{ ID string } }
			if err := json.Unmarshal(b, &list); code != http.StatusOK || err != nil || len(list.Items) != 1 {
				t.Fatalf("deliveries as owner: %d %s", code, b)
			}
			return hook + "/deliveries/" + list.Items[0].ID + "/retry", nil
		}, want: authed(403, 403, 202, 404, 202)},
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
	for k := range matrix {
		if !served[k] {
			t.Errorf("the matrix names %s, which the app does not serve", k)
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		entry := matrix[key]
		method := strings.Fields(key)[0]
		for _, a := range actors {
			path, body := entry.call(t, e, a)
			main := e.tokens[a]
			if entry.fresh && main != "" && a != deactivated && a != loggedOut {
				e.tokens[a] = e.login(t, a)
			}
			code, resp := e.call(t, a, method, path, body)
			e.tokens[a] = main
			if want := entry.want[a]; code != want {
				t.Errorf("%s as %s: status %d, want %d (%s)", key, a, code, want, resp)
			}
		}
	}

	// The dashboard is a prefix mount (not in the route list): admin only.
	dash := authed(403, 403, 403, 403, 200)
	for _, a := range actors {
		if code, _ := e.call(t, a, http.MethodGet, "/monitoring/api/queues", nil); code != dash[a] {
			t.Errorf("GET /monitoring/api/queues as %s: status %d, want %d", a, code, dash[a])
		}
	}
}
