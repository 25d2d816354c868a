package api_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/banesco-verifier/verifier/internal/auth"
)

// allBut returns every permission except drop.
func allBut(drop string) []string {
	var out []string
	for _, p := range auth.AllPermissions {
		if p != drop {
			out = append(out, p)
		}
	}
	return out
}

func TestProtectedRoutes(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	target := b.newUser(t, nil)
	routes := []struct {
		method, path string
		body         any
		perm         string // "" when a valid token is enough
		okStatus     int
	}{
		{http.MethodPost, "/api/v1/auth/logout", nil, "", http.StatusNoContent},
		{http.MethodGet, "/api/v1/auth/me", nil, "", http.StatusOK},
		{http.MethodGet, "/api/v1/users", nil, auth.PermAdmin, http.StatusOK},
		{http.MethodPut, "/api/v1/users/" + target.ID + "/permissions", map[string]any{"permissions": auth.DefaultPermissions}, auth.PermAdmin, http.StatusOK},
		{http.MethodPatch, "/api/v1/users/" + target.ID, map[string]any{"is_active": true}, auth.PermAdmin, http.StatusOK},
	}
	for _, rt := range routes {
		t.Run(rt.method+" "+rt.path, func(t *testing.T) {
			t.Parallel()
			call := func(token string) response {
				return b.do(t, request{method: rt.method, path: rt.path, token: token, body: rt.body})
			}
			wantError(t, call(""), http.StatusUnauthorized, "unauthorized")
			wantError(t, call("garbage"), http.StatusUnauthorized, "unauthorized")
			if rt.perm != "" {
				// Every permission but the one needed is not enough.
				wantError(t, call(b.newUser(t, allBut(rt.perm)).tokens.AccessToken), http.StatusForbidden, "forbidden")
				wantError(t, call(b.newUser(t, []string{}).tokens.AccessToken), http.StatusForbidden, "forbidden")
				wantStatus(t, call(b.newUser(t, []string{rt.perm}).tokens.AccessToken), rt.okStatus)
				return
			}
			wantStatus(t, call(b.newUser(t, []string{}).tokens.AccessToken), rt.okStatus)
		})
	}
}

func TestPermissionsTakeEffectOnNextRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	adminTok := b.adminToken(t)
	a := b.newUser(t, nil)
	tok := a.tokens.AccessToken
	setPerms := func(perms []string) response {
		return b.do(t, request{method: http.MethodPut, path: "/api/v1/users/" + a.ID + "/permissions", token: adminTok,
			body: map[string]any{"permissions": perms}})
	}

	wantError(t, b.get(t, "/api/v1/users", tok), http.StatusForbidden, "forbidden")

	r := setPerms([]string{auth.PermTransactionRead, auth.PermAdmin})
	wantStatus(t, r, http.StatusOK)
	var u user
	r.decode(t, &u)
	if u.ID != a.ID || !reflect.DeepEqual(u.Permissions, []string{auth.PermTransactionRead, auth.PermAdmin}) {
		t.Errorf("PUT permissions reply = %+v", u)
	}
	// Same token, issued before the change: the database decides.
	wantStatus(t, b.get(t, "/api/v1/users", tok), http.StatusOK)

	wantStatus(t, setPerms([]string{}), http.StatusOK)
	wantError(t, b.get(t, "/api/v1/users", tok), http.StatusForbidden, "forbidden")
	me := b.get(t, "/api/v1/auth/me", tok)
	wantStatus(t, me, http.StatusOK)
	me.decode(t, &u)
	if len(u.Permissions) != 0 {
		t.Errorf("/auth/me permissions = %v after they were all removed", u.Permissions)
	}
}

func TestSetPermissionsValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	adminTok := b.adminToken(t)
	a := b.newUser(t, nil)
	var adminUser user
	b.get(t, "/api/v1/auth/me", adminTok).decode(t, &adminUser)

	tests := []struct {
		name   string
		id     string
		body   any
		status int
		code   string
		field  string
	}{
		{"unknown permission", a.ID, map[string]any{"permissions": []string{"transaction:read", "root"}}, http.StatusUnprocessableEntity, "validation_failed", "permissions"},
		{"permissions missing", a.ID, map[string]any{}, http.StatusUnprocessableEntity, "validation_failed", "permissions"},
		{"permissions not an array", a.ID, map[string]any{"permissions": "admin:access"}, http.StatusUnprocessableEntity, "validation_failed", "permissions"},
		{"unknown user", "00000000-0000-0000-0000-000000000000", map[string]any{"permissions": []string{}}, http.StatusNotFound, "not_found", ""},
		{"id not a uuid", "nope", map[string]any{"permissions": []string{}}, http.StatusNotFound, "not_found", ""},
		{"admin drops own admin", adminUser.ID, map[string]any{"permissions": []string{"transaction:read"}}, http.StatusConflict, "invalid_transition", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := b.do(t, request{method: http.MethodPut, path: "/api/v1/users/" + tt.id + "/permissions", token: adminTok, body: tt.body})
			e := wantError(t, r, tt.status, tt.code)
			if tt.field != "" && e.Error.Fields[tt.field] == "" {
				t.Errorf("error.fields = %v, want %q named", e.Error.Fields, tt.field)
			}
		})
	}
	// Nothing above changed the user.
	var got user
	b.get(t, "/api/v1/auth/me", a.tokens.AccessToken).decode(t, &got)
	if !reflect.DeepEqual(got.Permissions, auth.DefaultPermissions) {
		t.Errorf("permissions after refused updates = %v, want %v", got.Permissions, auth.DefaultPermissions)
	}
}

func TestDeactivatedUserIsLockedOut(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	adminTok := b.adminToken(t)
	a := b.newUser(t, nil)
	patch := func(id string, body any) response {
		return b.do(t, request{method: http.MethodPatch, path: "/api/v1/users/" + id, token: adminTok, body: body})
	}

	r := patch(a.ID, map[string]any{"is_active": false})
	wantStatus(t, r, http.StatusOK)
	var u user
	r.decode(t, &u)
	if u.ID != a.ID || u.IsActive {
		t.Errorf("PATCH reply = %+v, want is_active false", u)
	}
	wantError(t, b.get(t, "/api/v1/auth/me", a.tokens.AccessToken), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.tokens.RefreshToken}), http.StatusUnauthorized, "unauthorized")
	wantError(t, b.post(t, "/api/v1/auth/login", "", map[string]string{"email": a.Email, "password": a.password}), http.StatusUnauthorized, "invalid_credentials")

	// Reactivated, the user can log in again (old refresh tokens stay revoked).
	wantStatus(t, patch(a.ID, map[string]any{"is_active": true}), http.StatusOK)
	b.login(t, a.Email, a.password)
	wantError(t, b.post(t, "/api/v1/auth/refresh", "", map[string]string{"refresh_token": a.tokens.RefreshToken}), http.StatusUnauthorized, "unauthorized")

	var adminUser user
	b.get(t, "/api/v1/auth/me", adminTok).decode(t, &adminUser)
	wantError(t, patch(adminUser.ID, map[string]any{"is_active": false}), http.StatusConflict, "invalid_transition")
	wantError(t, patch(a.ID, map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
	wantError(t, patch("00000000-0000-0000-0000-000000000000", map[string]any{"is_active": false}), http.StatusNotFound, "not_found")
}

func TestListUsersPaginated(t *testing.T) {
	t.Parallel()
	b := setup(t, options{})
	adminTok := b.adminToken(t)
	for range 4 {
		b.newUser(t, nil)
	}
	type page struct {
		Items []user `json:"items"`
		Total int    `json:"total"`
		Page  int    `json:"page"`
		Size  int    `json:"size"`
		Pages int    `json:"pages"`
	}
	seen := map[string]bool{}
	for _, tt := range []struct {
		query                                    string
		wantItems, wantPage, wantSize, wantPages int
	}{
		{"?page=1&size=2", 2, 1, 2, 3},
		{"?page=2&size=2", 2, 2, 2, 3},
		{"?page=3&size=2", 1, 3, 2, 3},
		{"?page=4&size=2", 0, 4, 2, 3},
		{"", 5, 1, 20, 1},
	} {
		r := b.get(t, "/api/v1/users"+tt.query, adminTok)
		wantStatus(t, r, http.StatusOK)
		var p page
		r.decode(t, &p)
		if p.Items == nil {
			t.Errorf("%s: items is null, want an array: %s", tt.query, r.body)
		}
		if len(p.Items) != tt.wantItems || p.Total != 5 || p.Page != tt.wantPage || p.Size != tt.wantSize || p.Pages != tt.wantPages {
			t.Errorf("%s: got %d items, total %d, page %d, size %d, pages %d; want %d items, total 5, page %d, size %d, pages %d",
				tt.query, len(p.Items), p.Total, p.Page, p.Size, p.Pages, tt.wantItems, tt.wantPage, tt.wantSize, tt.wantPages)
		}
		if tt.query == "" {
			for i := 1; i < len(p.Items); i++ {
				if p.Items[i].CreatedAt.After(p.Items[i-1].CreatedAt) {
					t.Errorf("users not newest first: %v before %v", p.Items[i-1].CreatedAt, p.Items[i].CreatedAt)
				}
			}
			continue
		}
		for _, u := range p.Items {
			if seen[u.ID] {
				t.Errorf("%s: user %s already seen on an earlier page", tt.query, u.ID)
			}
			seen[u.ID] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("pages covered %d users, want 5", len(seen))
	}
	for _, q := range []string{"?size=101", "?size=0", "?page=0", "?page=x"} {
		e := wantError(t, b.get(t, "/api/v1/users"+q, adminTok), http.StatusUnprocessableEntity, "validation_failed")
		if len(e.Error.Fields) != 1 {
			t.Errorf("%s: error.fields = %v, want the one bad parameter", q, e.Error.Fields)
		}
	}
}
