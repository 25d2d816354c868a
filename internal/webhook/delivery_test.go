package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/webhook"
	"github.com/banesco-verifier/verifier/internal/webhooktest"
)

// syncBuffer collects the API's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAStatusChangeReachesTheReceiverSigned walks the whole path: register,
// a status change, a signed delivery that the client package verifies, the
// delivery's record, and the same event in the feed. The secret is shown once
// and is nowhere else: not in the endpoint's views, the logs or the database.
func TestAStatusChangeReachesTheReceiverSigned(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	e := newEnv(t, envOptions{logOutput: logs})
	ep := e.register(t)
	if !strings.HasPrefix(ep.Secret, "whsec_") || len(ep.Secret) < 6+32 {
		t.Fatalf("secret %q: want whsec_ + base64 of ≥ 24 bytes", ep.Secret)
	}
	if len(ep.EventTypes) != 0 || !ep.Enabled {
		t.Errorf("new endpoint %+v: want enabled, every event type", ep)
	}
	id := e.cancelNew(t)

	ds := e.settled(t, ep.ID, 1)
	if len(ds) != 1 || ds[0].Status != webhook.StatusSucceeded || ds[0].Attempts != 1 || ds[0].LastHTTPStatus == nil ||
		*ds[0].LastHTTPStatus != 204 || ds[0].EventType != webhook.TypeCanceled || ds[0].NextAttemptAt != nil {
		t.Fatalf("deliveries %+v: want one succeeded transaction.canceled on the first attempt", ds)
	}
	got := e.rcv.Deliveries()
	if len(got) != 1 || !got[0].Valid || got[0].ID != ds[0].EventID || got[0].Type != webhook.TypeCanceled {
		t.Fatalf("receiver got %+v, want one valid delivery of %s", got, ds[0].EventID)
	}
	var tx struct {
		TransactionID string `json:"transaction_id"`
		Status        string `json:"status"`
	}
	if err := json.Unmarshal(got[0].Data, &tx); err != nil || tx.TransactionID != id || tx.Status != "CANCELED" {
		t.Errorf("data %s: want the canceled transaction %s", got[0].Data, id)
	}
	if strings.Count(got[0].Signatures, "v1,") != 1 {
		t.Errorf("signature header %q: want one v1 signature", got[0].Signatures)
	}

	// The feed has the same event.
	r := e.do(t, http.MethodGet, "/api/v1/events", nil)
	var feed struct {
		Items []struct {
			ID   string          `json:"id"`
			Type string          `json:"type"`
			Data json.RawMessage `json:"data"`
		} `json:"items"`
		NextCursor *string `json:"next_cursor"`
	}
	r.decode(t, &feed)
	if r.status != 200 || len(feed.Items) != 1 || feed.Items[0].ID != ds[0].EventID || feed.NextCursor != nil {
		t.Errorf("feed %d %s: want the one event and no next cursor", r.status, r.body)
	}

	// The secret: not in GET, list, logs, or the database in clear.
	for _, path := range []string{"/api/v1/webhooks/" + ep.ID, "/api/v1/webhooks"} {
		if r := e.do(t, http.MethodGet, path, nil); r.status != 200 || bytes.Contains(r.body, []byte(ep.Secret)) || bytes.Contains(r.body, []byte(`"secret"`)) {
			t.Errorf("GET %s = %d %s: must not show the secret", path, r.status, r.body)
		}
	}
	if strings.Contains(logs.String(), strings.TrimPrefix(ep.Secret, "whsec_")) {
		t.Error("the secret is in the API's logs")
	}
	var stored []byte
	if err := e.srv.DB.GetContext(context.Background(), &stored, `SELECT secret FROM webhook_endpoints WHERE id = $1`, ep.ID); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stored, []byte(strings.TrimPrefix(ep.Secret, "whsec_"))) {
		t.Error("the secret is stored in clear")
	}
}

// TestFailedAttemptsAreRetriedWithTheSameID: a receiver that answers 500, then
// closes the connection, then redirects, then hangs past the timeout gets the
// same event again after each wait of the schedule, under the same
// webhook-id, and the redirect is never followed.
func TestFailedAttemptsAreRetriedWithTheSameID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{delivery: webhook.Options{
		Schedule: []time.Duration{300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond},
		Timeout:  500 * time.Millisecond,
	}})
	plan := []webhooktest.Behavior{webhooktest.Fail, webhooktest.Close, webhooktest.Redirect, webhooktest.Hang, webhooktest.OK}
	e.rcv.Decide(func(_ string, attempt int) webhooktest.Behavior { return plan[min(attempt, len(plan))-1] })
	ep := e.register(t)
	e.cancelNew(t)

	ds := e.settled(t, ep.ID, 1)
	if ds[0].Status != webhook.StatusSucceeded || ds[0].Attempts != 5 {
		t.Fatalf("delivery %+v: want succeeded on the 5th attempt", ds[0])
	}
	got := e.rcv.Deliveries()
	if len(got) != 5 {
		t.Fatalf("receiver got %d requests, want 5: %+v", len(got), got)
	}
	for i, d := range got {
		if d.ID != ds[0].EventID || !d.Valid {
			t.Errorf("attempt %d: webhook-id %q valid=%v, want %s, valid", i+1, d.ID, d.Valid, ds[0].EventID)
		}
		if i > 0 {
			// The wait of the schedule, after the previous attempt ended (the
			// hang ends at the 500 ms timeout).
			if gap := d.At.Sub(got[i-1].At); gap < 300*time.Millisecond {
				t.Errorf("attempt %d came %v after the previous one, before the 300ms of the schedule", i+1, gap)
			}
		}
	}
}

// TestARedirectIsAFailureAndNotFollowed and the error each failure records.
func TestEachFailureIsRecorded(t *testing.T) {
	t.Parallel()
	cases := []struct {
		b       webhooktest.Behavior
		status  int
		errPart string
	}{
		{webhooktest.Fail, 500, "HTTP 500"},
		{webhooktest.Redirect, 307, "redirect"},
		{webhooktest.Close, 0, "EOF"},
		{webhooktest.Hang, 0, "no answer within 300ms"},
	}
	for _, c := range cases {
		e := newEnv(t, envOptions{delivery: webhook.Options{Schedule: []time.Duration{}, Timeout: 300 * time.Millisecond}})
		e.rcv.Decide(func(string, int) webhooktest.Behavior { return c.b })
		ep := e.register(t)
		e.cancelNew(t)
		d := e.settled(t, ep.ID, 1)[0]
		gotStatus := 0
		if d.LastHTTPStatus != nil {
			gotStatus = *d.LastHTTPStatus
		}
		if d.Status != webhook.StatusFailed || d.Attempts != 1 || gotStatus != c.status || d.LastError == nil || !strings.Contains(*d.LastError, c.errPart) {
			t.Errorf("behaviour %d: delivery %+v (error %v), want failed after 1 attempt, HTTP %d, error with %q", c.b, d, strOf(d.LastError), c.status, c.errPart)
		}
		for _, g := range e.rcv.Deliveries() {
			if g.ID == "redirect-followed" {
				t.Error("the redirect was followed")
			}
		}
	}
}

func strOf(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestTheScheduleEnds: after the last wait the delivery is failed and is not
// tried again.
func TestTheScheduleEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{delivery: webhook.Options{Schedule: []time.Duration{100 * time.Millisecond, 100 * time.Millisecond}}})
	e.rcv.Decide(func(string, int) webhooktest.Behavior { return webhooktest.Fail })
	ep := e.register(t)
	e.cancelNew(t)
	d := e.settled(t, ep.ID, 1)[0]
	if d.Status != webhook.StatusFailed || d.Attempts != 3 || d.NextAttemptAt != nil {
		t.Fatalf("delivery %+v: want failed after 3 attempts, nothing scheduled", d)
	}
	time.Sleep(500 * time.Millisecond) // room for a wrong extra attempt
	if n := len(e.rcv.Deliveries()); n != 3 {
		t.Errorf("receiver got %d attempts, want 3", n)
	}
	// A person can still send it again: one more attempt, now answered.
	e.rcv.Decide(nil)
	if r := e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/deliveries/"+d.ID+"/retry", nil); r.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	eventually(t, "the retried delivery to succeed", func() bool {
		ds := e.deliveries(t, ep.ID)
		return ds[0].Status == webhook.StatusSucceeded && ds[0].Attempts == 4
	})
	if acc := e.rcv.Accepted()[d.EventID]; acc != 1 {
		t.Errorf("accepted %d times, want 1", acc)
	}
}

// TestAFailingEndpointIsDisabled: an endpoint that only fails for
// WEBHOOK_DISABLE_AFTER is disabled with a reason; later events to it are
// recorded failed without a request; enabling it clears the reason.
func TestAFailingEndpointIsDisabled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{delivery: webhook.Options{
		Schedule:     []time.Duration{200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond},
		DisableAfter: 500 * time.Millisecond,
	}})
	e.rcv.Decide(func(string, int) webhooktest.Behavior { return webhooktest.Fail })
	ep := e.register(t)
	e.cancelNew(t)
	d := e.settled(t, ep.ID, 1)[0]
	if d.Status != webhook.StatusFailed || d.Attempts >= 6 {
		t.Fatalf("delivery %+v: want failed before the schedule ran out", d)
	}
	var got endpoint
	e.do(t, http.MethodGet, "/api/v1/webhooks/"+ep.ID, nil).decode(t, &got)
	if got.Enabled || got.DisabledReason == nil || !strings.Contains(*got.DisabledReason, "failed") {
		t.Fatalf("endpoint %+v: want disabled with a reason", got)
	}
	before := len(e.rcv.Deliveries())

	// The outbox writes no delivery for a disabled endpoint; a delivery that
	// was already queued when it was disabled fails without a request.
	e.cancelNew(t)
	time.Sleep(300 * time.Millisecond)
	if ds := e.deliveries(t, ep.ID); len(ds) != 1 {
		t.Errorf("deliveries after disabling: %+v, want none new", ds)
	}
	if r := e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/deliveries/"+d.ID+"/retry", nil); r.status != http.StatusAccepted {
		t.Fatalf("retry: %d %s", r.status, r.body)
	}
	eventually(t, "the retry to a disabled endpoint to be recorded", func() bool {
		d2 := e.deliveries(t, ep.ID)[0]
		return d2.Status == webhook.StatusFailed && d2.LastError != nil && strings.Contains(*d2.LastError, "endpoint disabled")
	})
	if after := len(e.rcv.Deliveries()); after != before {
		t.Errorf("a disabled endpoint got %d requests", after-before)
	}
	if r := e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/test", nil); r.status != http.StatusConflict {
		t.Errorf("test event to a disabled endpoint: %d %s, want 409", r.status, r.body)
	}

	r := e.do(t, http.MethodPatch, "/api/v1/webhooks/"+ep.ID, map[string]any{"enabled": true})
	r.decode(t, &got)
	if r.status != 200 || !got.Enabled || got.DisabledReason != nil {
		t.Errorf("enable: %d %s", r.status, r.body)
	}
}

// TestRotationSignsWithBothSecrets: after a rotation both the new and the old
// secret verify deliveries, each on its own (receivers deploy the new secret
// when they can); a third secret does not.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	t.Parallel()
	// No retries: the badly signed attempt (answered 401) must stay one request.
	e := newEnv(t, envOptions{delivery: webhook.Options{Schedule: []time.Duration{}}})
	ep := e.register(t)
	r := e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/rotate-secret", nil)
	var rot struct {
		Secret string    `json:"secret"`
		Until  time.Time `json:"previous_secret_signs_until"`
	}
	r.decode(t, &rot)
	if r.status != 200 || !strings.HasPrefix(rot.Secret, "whsec_") || rot.Secret == ep.Secret ||
		rot.Until.Before(time.Now().Add(23*time.Hour)) || rot.Until.After(time.Now().Add(25*time.Hour)) {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	for i, secrets := range [][]string{{rot.Secret}, {ep.Secret}, {webhook.NewSecret()}} {
		e.rcv.SetSecrets(secrets...)
		if r := e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/test", nil); r.status != http.StatusAccepted {
			t.Fatalf("test event: %d %s", r.status, r.body)
		}
		eventually(t, "the test event", func() bool { return len(e.rcv.Deliveries()) == i+1 })
		d := e.rcv.Deliveries()[i]
		if want := i < 2; d.Valid != want || strings.Count(d.Signatures, "v1,") != 2 {
			t.Errorf("secrets %d: valid=%v with header %q, want valid=%v and two signatures", i, d.Valid, d.Signatures, want)
		}
		if i < 2 && d.Type != webhook.TypeTest {
			t.Errorf("type %q, want webhook.test", d.Type)
		}
	}
	// Past the overlap only the new secret signs.
	if _, err := e.srv.DB.ExecContext(context.Background(), `UPDATE webhook_endpoints SET previous_until = now() - interval '1 second' WHERE id = $1`, ep.ID); err != nil {
		t.Fatal(err)
	}
	e.rcv.SetSecrets(rot.Secret)
	e.do(t, http.MethodPost, "/api/v1/webhooks/"+ep.ID+"/test", nil)
	eventually(t, "the last test event", func() bool { return len(e.rcv.Deliveries()) == 4 })
	if d := e.rcv.Deliveries()[3]; !d.Valid || strings.Count(d.Signatures, "v1,") != 1 {
		t.Errorf("after the overlap: valid=%v header %q, want one valid signature", d.Valid, d.Signatures)
	}
}

// TestEventTypesFilter: an endpoint subscribed to completed events only gets
// no delivery for a cancellation (the event is still in the feed).
func TestEventTypesFilter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	ep := e.register(t, webhook.TypeCompleted)
	all := e.register(t)
	e.cancelNew(t)
	e.settled(t, all.ID, 1)
	if ds := e.deliveries(t, ep.ID); len(ds) != 0 {
		t.Errorf("a transaction.completed-only endpoint got %+v", ds)
	}
}
