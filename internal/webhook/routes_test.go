package webhook_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/webhook"
)

type apiError struct {
	Error struct {
		Code   string            `json:"code"`
		Fields map[string]string `json:"fields"`
	} `json:"error"`
}

func wantError(t *testing.T, r reply, status int, code, field string) {
	t.Helper()
	var e apiError
	_ = json.Unmarshal(r.body, &e)
	if r.status != status || e.Error.Code != code || (field != "" && e.Error.Fields[field] == "") {
		t.Errorf("got %d %s, want %d %s naming %q", r.status, r.body, status, code, field)
	}
}

// TestRegistrationRefusesBadInput: the production guard (https, public
// addresses only) and the fields' rules, each answered 422 naming the field,
// with nothing stored.
func TestRegistrationRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{api: apitest.Options{WebhookGuard: &webhook.Guard{}}, noWorker: true})
	cases := []struct {
		name  string
		body  any
		field string
	}{
		{"no url", map[string]any{}, "url"},
		{"http", map[string]any{"url": "http://93.184.215.14/hook"}, "url"},
		{"loopback", map[string]any{"url": "https://127.0.0.1/hook"}, "url"},
		{"localhost by name", map[string]any{"url": "https://localhost:8443/hook"}, "url"},
		{"private", map[string]any{"url": "https://10.1.2.3/hook"}, "url"},
		{"metadata", map[string]any{"url": "https://169.254.169.254/latest/meta-data/"}, "url"},
		{"ipv6 loopback", map[string]any{"url": "https://[::1]/hook"}, "url"},
		{"credentials", map[string]any{"url": "https://user:pass@93.184.215.14/hook"}, "url"},
		{"unknown event type", map[string]any{"url": "https://93.184.215.14/hook", "event_types": []string{"transaction.exploded"}}, "event_types"},
		{"long description", map[string]any{"url": "https://93.184.215.14/hook", "description": strings.Repeat("d", 501)}, "description"},
	}
	for _, c := range cases {
		wantError(t, e.raw(t, http.MethodPost, "/api/v1/webhooks", c.body), http.StatusUnprocessableEntity, "validation_failed", c.field)
	}
	wantError(t, e.raw(t, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "https://93.184.215.14/hook", "secret": "mine"}),
		http.StatusUnprocessableEntity, "validation_failed", "")
	if n := e.count(t, "webhook_endpoints"); n != 0 {
		t.Errorf("%d endpoints stored from refused requests", n)
	}
	// A public https address is fine, and PATCH runs the same checks.
	r := e.do(t, http.MethodPost, "/api/v1/webhooks", map[string]any{"url": "https://93.184.215.14/hook", "event_types": []string{"transaction.completed", "transaction.completed"}})
	var ep endpoint
	r.decode(t, &ep)
	if r.status != http.StatusCreated || r.header.Get("Location") != "/api/v1/webhooks/"+ep.ID || len(ep.EventTypes) != 1 {
		t.Fatalf("register a public https URL: %d %s (Location %q)", r.status, r.body, r.header.Get("Location"))
	}
	wantError(t, e.raw(t, http.MethodPatch, "/api/v1/webhooks/"+ep.ID, map[string]any{"url": "https://192.168.0.10/hook"}),
		http.StatusUnprocessableEntity, "validation_failed", "url")
	var still endpoint
	e.do(t, http.MethodGet, "/api/v1/webhooks/"+ep.ID, nil).decode(t, &still)
	if still.URL != "https://93.184.215.14/hook" {
		t.Errorf("a refused PATCH changed the URL to %q", still.URL)
	}
}

// TestEndpointsAreTheirOwners: another user's endpoint is 404 on every route,
// ids that are not ids are 404 (not 500), and lists page with cursors.
func TestEndpointsAreTheirOwners(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	ep := e.register(t)
	ctx := context.Background()
	u, err := e.srv.Auth.Register(ctx, "other@webhook.test", "other-password-0123", "Other")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.Auth.Store().SetPermissions(ctx, u.ID, []string{auth.PermWebhookManage, auth.PermTransactionRead}); err != nil {
		t.Fatal(err)
	}
	other := e.srv.Login(t, "other@webhook.test", "other-password-0123").AccessToken
	for _, id := range []string{ep.ID, "not-a-uuid", "00000000-0000-0000-0000-000000000000", "{" + ep.ID + "}", strings.ToUpper(ep.ID) + "x"} {
		for _, c := range []struct{ method, suffix string }{
			{http.MethodGet, ""}, {http.MethodPatch, ""}, {http.MethodDelete, ""}, {http.MethodPost, "/rotate-secret"},
			{http.MethodPost, "/test"}, {http.MethodGet, "/deliveries"}, {http.MethodPost, "/deliveries/dlv_1/retry"},
		} {
			var body any
			if c.method == http.MethodPatch {
				body = map[string]any{"description": "mine now"}
			}
			wantError(t, e.callRaw(t, other, c.method, "/api/v1/webhooks/"+id+c.suffix, body), http.StatusNotFound, "not_found", "")
		}
	}
	wantError(t, e.raw(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/deliveries/nope/retry", nil), http.StatusNotFound, "not_found", "")
	wantError(t, e.raw(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/deliveries/dlv_999/retry", nil), http.StatusNotFound, "not_found", "")
	var list struct{ Items []endpoint }
	e.call(t, other, http.MethodGet, "/api/v1/webhooks", nil).decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("another user lists %+v", list.Items)
	}
	// An admin sees it.
	admin := e.srv.Login(t, apitest.AdminEmail, apitest.AdminPassword).AccessToken
	if r := e.call(t, admin, http.MethodGet, "/api/v1/webhooks/"+ep.ID, nil); r.status != 200 {
		t.Errorf("admin GET: %d %s", r.status, r.body)
	}

	// Paging: 5 endpoints, 2 a page, each once, in order.
	for range 4 {
		e.register(t)
	}
	var seen []string
	cursor := ""
	for page := 0; page < 5; page++ {
		path := "/api/v1/webhooks?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		var p struct {
			Items      []endpoint
			NextCursor *string `json:"next_cursor"`
		}
		e.do(t, http.MethodGet, path, nil).decode(t, &p)
		for _, it := range p.Items {
			seen = append(seen, it.ID)
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != 5 || seen[0] != ep.ID {
		t.Errorf("paged through %d endpoints %v, want 5 starting with the oldest", len(seen), seen)
	}
	for _, q := range []string{"limit=0", "limit=101", "limit=x", "cursor=garbage", "cursor=" + strings.Repeat("A", 40)} {
		wantError(t, e.raw(t, http.MethodGet, "/api/v1/webhooks?"+q, nil), http.StatusUnprocessableEntity, "validation_failed", strings.SplitN(q, "=", 2)[0])
	}

	// Delete: gone for its owner too.
	if r := e.do(t, http.MethodDelete, "/api/v1/webhooks/"+ep.ID, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	wantError(t, e.raw(t, http.MethodGet, "/api/v1/webhooks/"+ep.ID, nil), http.StatusNotFound, "not_found", "")
}

// TestTheFeed: the caller's events only, oldest first, paged by cursor and
// filtered by type; bad parameters are 422; and an event still being
// committed holds back every later one, so a reader's cursor never passes it.
func TestTheFeed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	var ids []string
	for range 5 {
		ids = append(ids, e.cancelNew(t))
	}
	type item struct {
		ID   string `json:"id"`
		Type string `json:"type"`
		Data struct {
			TransactionID string `json:"transaction_id"`
		} `json:"data"`
	}
	type page struct {
		Items      []item
		NextCursor *string `json:"next_cursor"`
	}
	var got []item
	after := ""
	for range 10 {
		var p page
		path := "/api/v1/events?limit=2"
		if after != "" {
			path += "&cursor=" + after
		}
		r := e.do(t, http.MethodGet, path, nil)
		r.decode(t, &p)
		got = append(got, p.Items...)
		if p.NextCursor == nil {
			break
		}
		after = *p.NextCursor
	}
	if len(got) != 5 {
		t.Fatalf("feed has %d events, want 5: %+v", len(got), got)
	}
	for i, it := range got {
		if it.Data.TransactionID != ids[i] || it.Type != webhook.TypeCanceled {
			t.Errorf("event %d = %+v, want the cancellation of %s", i, it, ids[i])
		}
	}
	var p page
	e.do(t, http.MethodGet, "/api/v1/events?after="+got[2].ID, nil).decode(t, &p)
	if len(p.Items) != 2 || p.Items[0].ID != got[3].ID {
		t.Errorf("after=%s gave %+v, want the last two", got[2].ID, p.Items)
	}
	e.do(t, http.MethodGet, "/api/v1/events?type=transaction.completed", nil).decode(t, &p)
	if len(p.Items) != 0 {
		t.Errorf("type=transaction.completed gave %+v", p.Items)
	}
	for _, q := range []string{"after=12", "after=evt_x", "cursor=evt_-1", "type=transaction.lost", "limit=1000"} {
		wantError(t, e.raw(t, http.MethodGet, "/api/v1/events?"+q, nil), http.StatusUnprocessableEntity, "validation_failed", strings.SplitN(q, "=", 2)[0])
	}

	// Someone else sees none of them.
	ctx := context.Background()
	u, err := e.srv.Auth.Register(ctx, "reader@webhook.test", "reader-password-0123", "Reader")
	if err != nil {
		t.Fatal(err)
	}
	reader := e.srv.Login(t, "reader@webhook.test", "reader-password-0123").AccessToken
	_ = u
	e.call(t, reader, http.MethodGet, "/api/v1/events", nil).decode(t, &p)
	if len(p.Items) != 0 {
		t.Errorf("another user's feed has %+v", p.Items)
	}

	// A writer still committing its event holds the next one back: the
	// status change after it waits for it, so no reader ever sees a later id
	// while an earlier one is uncommitted. The waiting change takes its event
	// id only once it has the lock: the open writer, which inserts its event
	// only after the change started waiting, still gets the earlier id.
	open, err := e.srv.DB.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer open.Rollback()
	if _, err := open.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, webhook.OutboxLockKey); err != nil {
		t.Fatal(err)
	}
	done := make(chan string)
	go func() { done <- e.cancelNew(t) }()
	select {
	case id := <-done:
		t.Fatalf("the cancellation of %s committed its event while an earlier one was uncommitted", id)
	case <-time.After(500 * time.Millisecond):
	}
	if _, err := open.ExecContext(ctx, `INSERT INTO outbox_events (type, user_id, data) VALUES ('webhook.test', $1, '{}')`, e.userID); err != nil {
		t.Fatal(err)
	}
	e.do(t, http.MethodGet, "/api/v1/events?after="+got[4].ID, nil).decode(t, &p)
	if len(p.Items) != 0 {
		t.Fatalf("the feed showed %+v past an event still being committed", p.Items)
	}
	if err := open.Commit(); err != nil {
		t.Fatal(err)
	}
	late := <-done
	e.do(t, http.MethodGet, "/api/v1/events?after="+got[4].ID, nil).decode(t, &p)
	if len(p.Items) != 2 || p.Items[0].Type != webhook.TypeTest || p.Items[1].Data.TransactionID != late {
		t.Errorf("after the commit the feed has %+v, want the test event then %s", p.Items, late)
	}
}

// TestRetentionDeletesOldEventsInBatches: events older than EVENT_RETENTION
// leave the feed with their deliveries; younger ones stay.
func TestRetentionDeletesOldEventsInBatches(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{noWorker: true})
	e.register(t)
	ctx := context.Background()
	// 2 500 old events (more than one batch) and one new one.
	if _, err := e.srv.DB.ExecContext(ctx, `INSERT INTO outbox_events (type, user_id, data, created_at)
		SELECT 'webhook.test', $1, '{}', now() - interval '40 days' FROM generate_series(1, 2500)`, e.userID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.srv.DB.ExecContext(ctx, `INSERT INTO webhook_deliveries (event_id, endpoint_id, status)
		SELECT id, (SELECT id FROM webhook_endpoints LIMIT 1), 'succeeded' FROM outbox_events`); err != nil {
		t.Fatal(err)
	}
	keep := e.cancelNew(t)
	n, err := e.sweeper.Retain(ctx)
	if err != nil || n != 2500 {
		t.Fatalf("Retain = %d, %v; want 2500", n, err)
	}
	if got := e.count(t, "outbox_events"); got != 1 {
		t.Errorf("%d events left, want 1", got)
	}
	if got := e.count(t, "webhook_deliveries"); got != 1 {
		t.Errorf("%d deliveries left, want the young event's one", got)
	}
	var p struct {
		Items []struct {
			Data struct {
				TransactionID string `json:"transaction_id"`
			}
		}
	}
	e.do(t, http.MethodGet, "/api/v1/events", nil).decode(t, &p)
	if len(p.Items) != 1 || p.Items[0].Data.TransactionID != keep {
		t.Errorf("feed after retention %+v", p.Items)
	}
}
