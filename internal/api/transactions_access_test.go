package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/tasks"
)

func TestTransactionOwnership(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	owner := e.newUser(t, allTxPerms...)
	other := e.newUser(t, allTxPerms...)
	mine := e.create(t, owner, e.txBody())
	theirs := e.create(t, other, e.txBody())
	path := "/api/v1/transactions/" + mine.TransactionID

	routes := []struct {
		method, path string
		body         any
	}{
		{http.MethodGet, path, nil},
		{http.MethodGet, path + "/status", nil},
		{http.MethodGet, path + "/events", nil},
		{http.MethodPost, path + "/verify", nil},
		{http.MethodPatch, path, map[string]string{"status": "CANCELED", "reason": "not mine"}},
		{http.MethodDelete, path, nil},
	}
	for _, rt := range routes {
		t.Run("other user "+rt.method+" "+strings.TrimPrefix(rt.path, path), func(t *testing.T) {
			e.do(t, rt.method, rt.path, other.token, rt.body).wantErr(t, http.StatusNotFound, "not_found")
		})
	}
	// Nothing the other user tried took effect.
	if v := e.get(t, owner, mine.TransactionID); v.Status != "IN_PROGRESS" || !v.UpdatedAt.Equal(mine.UpdatedAt) {
		t.Errorf("after the other user's attempts: %+v", v)
	}
	if evs := e.events(t, owner, mine.TransactionID); len(evs) != 1 {
		t.Errorf("%d events, want 1", len(evs))
	}
	if e.task(t, tasks.QueueVerify, mine.ID) == nil {
		t.Errorf("the other user's attempts removed the owner's check")
	}
	// An unknown id answers the same as someone else's.
	e.do(t, http.MethodGet, "/api/v1/transactions/NO-SUCH-ID", other.token, nil).wantErr(t, http.StatusNotFound, "not_found")

	// The admin sees everyone's.
	for _, suffix := range []string{"", "/status", "/events"} {
		e.do(t, http.MethodGet, path+suffix, e.admin.token, nil).want(t, http.StatusOK)
	}

	list := func(a txAccount) []string {
		r := e.do(t, http.MethodGet, "/api/v1/transactions", a.token, nil)
		r.want(t, http.StatusOK)
		var p txPage
		r.decode(t, &p)
		var ids []string
		for _, v := range p.Items {
			ids = append(ids, v.TransactionID)
		}
		if p.Total != len(ids) {
			t.Errorf("total %d for %d items", p.Total, len(ids))
		}
		return ids
	}
	if got := list(owner); !slices.Equal(got, []string{mine.TransactionID}) {
		t.Errorf("owner lists %v", got)
	}
	if got := list(other); !slices.Equal(got, []string{theirs.TransactionID}) {
		t.Errorf("other lists %v", got)
	}
	if got := list(e.admin); !slices.Equal(got, []string{theirs.TransactionID, mine.TransactionID}) {
		t.Errorf("admin lists %v", got)
	}
}

func TestTransactionPermissions(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	reader := e.newUser(t, auth.PermTransactionRead)
	creator := e.newUser(t) // defaults: create and read
	v := e.create(t, creator, e.txBody())
	path := "/api/v1/transactions/" + v.TransactionID
	tests := []struct {
		who          txAccount
		method, path string
		body         any
	}{
		{reader, http.MethodPost, "/api/v1/transactions", e.txBody()},
		{reader, http.MethodPost, path + "/verify", nil},
		{creator, http.MethodPatch, path, map[string]string{"status": "CANCELED"}},
		{creator, http.MethodDelete, path, nil},
	}
	for _, tt := range tests {
		e.do(t, tt.method, tt.path, tt.who.token, tt.body).wantErr(t, http.StatusForbidden, "forbidden")
	}
	e.do(t, http.MethodGet, "/api/v1/transactions", "", nil).wantErr(t, http.StatusUnauthorized, "unauthorized")
	e.do(t, http.MethodGet, path, "", nil).wantErr(t, http.StatusUnauthorized, "unauthorized")
}
