package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/internal/auth"
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
			a := e.newUser(t, append(allTxPerms, auth.PermWebhookManage)...)
			v := e.create(t, a, e.txBody())
			path := "/api/v1/transactions/" + v.TransactionID
			hook := e.do(t, http.MethodPost, "/api/v1/webhooks", a.token, map[string]string{"url": "http://127.0.0.1:9/hook"})
			var ep struct{ ID string }
			if err := json.Unmarshal(hook.body, &ep); hook.status != http.StatusCreated || err != nil {
				t.Fatalf("register webhook: %d %s", hook.status, hook.body)
			}
			wh := "/api/v1/webhooks/" + ep.ID
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
				{http.MethodPost, "/api/v1/webhooks", map[string]string{"url": "http://127.0.0.1:9/hook"}},
				{http.MethodGet, "/api/v1/webhooks", nil},
				{http.MethodGet, wh, nil},
				{http.MethodPatch, wh, map[string]string{"description": "x"}},
				{http.MethodPost, wh + "/rotate-secret", nil},
				{http.MethodPost, wh + "/test", nil},
				{http.MethodGet, wh + "/deliveries", nil},
				{http.MethodPost, wh + "/deliveries/dlv_1/retry", nil},
				{http.MethodDelete, wh, nil},
				{http.MethodGet, "/api/v1/events", nil},
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
