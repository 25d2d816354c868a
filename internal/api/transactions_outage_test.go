package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/internal/pgtest"
)

func TestTransactionBackingServicesDown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		down func(t *testing.T, e *txEnv)
	}{
		{"store pool closed", func(t *testing.T, e *txEnv) { e.storeDB.Close() }},
		{"database dropped", func(t *testing.T, e *txEnv) {
			admin, err := sqlx.Open("postgres", pgtest.ServerURL())
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.ExecContext(context.Background(), `DROP DATABASE "`+e.db.Name+`" WITH (FORCE)`); err != nil {
				t.Fatalf("drop: %v", err)
			}
		}},
		// Auth checks revocation in Redis on every request, so nothing gets through.
		{"redis stopped", func(t *testing.T, e *txEnv) { e.redis.Stop() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := txSetup(t, nil)
			a := e.newUser(t, allTxPerms...)
			v := e.create(t, a, e.txBody())
			path := "/api/v1/transactions/" + v.TransactionID
			tt.down(t, e)
			calls := []struct {
				method, path string
				body         any
			}{
				{http.MethodPost, "/api/v1/transactions", e.txBody()},
				{http.MethodGet, path, nil},
				{http.MethodGet, path + "/status", nil},
				{http.MethodGet, path + "/events", nil},
				{http.MethodGet, "/api/v1/transactions?status=IN_PROGRESS", nil},
				{http.MethodPost, path + "/verify", nil},
				{http.MethodPatch, path, map[string]string{"status": "CANCELED"}},
				{http.MethodDelete, path, nil},
			}
			for _, c := range calls {
				t.Run(c.method+" "+c.path, func(t *testing.T) {
					e.do(t, c.method, c.path, a.token, c.body).wantUnavailable(t)
				})
			}
			if strings.Contains(e.logs.String(), `"status":500`) {
				t.Errorf("an outage was answered with 500:\n%s", e.logs.String())
			}
		})
	}
}
