package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/webhook"
	"github.com/banesco-verifier/verifier/internal/webhooktest"
	"github.com/banesco-verifier/verifier/openapi/spectest"
	"github.com/banesco-verifier/verifier/tasks"
)

// env is the API (apitest) with a webhook worker beside it — the Deliverer
// and the sweeper on their own Asynq server, as cmd/worker runs them — and a
// receiver.
type env struct {
	srv     *apitest.Server
	rcv     *webhooktest.Receiver
	token   string // a client app with the transaction permissions and webhook:manage
	userID  string
	reg     *prometheus.Registry
	sweeper *webhook.Sweeper
	seq     atomic.Int64
	opts    webhook.Options
	t       *testing.T
	// checked validates every request and response against openapi.yaml;
	// raw (srv.HTTP) is for requests that are meant to be refused.
	checked *http.Client
}

type envOptions struct {
	api       apitest.Options
	delivery  webhook.Options
	noWorker  bool // start it later with startWorker
	logOutput io.Writer
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.logOutput != nil {
		o.api.Log = o.logOutput
	}
	srv := apitest.Start(t, o.api)
	e := &env{srv: srv, rcv: webhooktest.Start(t), reg: prometheus.NewRegistry(), t: t}
	e.checked = &http.Client{Timeout: 15 * time.Second, Transport: spectest.NewTransport(t, srv.URL, nil)}
	ctx := context.Background()
	u, err := srv.Auth.Register(ctx, "app@webhook.test", "app-password-0123", "Client App")
	if err != nil {
		t.Fatal(err)
	}
	perms := []string{auth.PermTransactionCreate, auth.PermTransactionRead, auth.PermTransactionUpdate, auth.PermWebhookManage}
	if _, err := srv.Auth.Store().SetPermissions(ctx, u.ID, perms); err != nil {
		t.Fatal(err)
	}
	e.userID, e.token = u.ID, srv.Login(t, "app@webhook.test", "app-password-0123").AccessToken
	if o.delivery.Schedule == nil {
		o.delivery.Schedule = []time.Duration{100 * time.Millisecond, 100 * time.Millisecond, 100 * time.Millisecond}
	}
	if o.delivery.Timeout == 0 {
		o.delivery.Timeout = 2 * time.Second
	}
	o.delivery.Guard = webhook.Guard{AllowHTTP: true, AllowPrivate: true}
	e.opts = o.delivery
	e.sweeper = webhook.NewSweeper(srv.Webhooks, srv.Enqueuer, srv.Queue, time.Hour, 30*24*time.Hour, srv.Log)
	if !o.noWorker {
		e.startWorker()
	}
	return e
}

// startWorker runs the delivery server until the test ends.
func (e *env) startWorker() {
	e.t.Helper()
	d := webhook.NewDeliverer(e.srv.Webhooks, e.srv.Sealer, e.opts, webhook.NewMetrics(e.reg), e.srv.Log)
	s := queue.NewServer(e.srv.RDB, tasks.WebhookQueues(), queue.ServerOptions{
		Concurrency: 8, PollInterval: 50 * time.Millisecond, ShutdownTimeout: 11 * time.Second, Logger: zerolog.Nop(),
	})
	if err := s.Start(webhook.NewMux(d, e.sweeper)); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(s.Shutdown)
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *env) call(t *testing.T, token, method, path string, body any) reply {
	t.Helper()
	return e.send(t, e.checked, token, method, path, body)
}

// raw sends a request without checking it against the spec (bad input on
// purpose); the reply is still an error the tests inspect.
func (e *env) raw(t *testing.T, method, path string, body any) reply {
	t.Helper()
	return e.send(t, e.srv.HTTP, e.token, method, path, body)
}

// callRaw is raw with another token.
func (e *env) callRaw(t *testing.T, token, method, path string, body any) reply {
	t.Helper()
	return e.send(t, e.srv.HTTP, token, method, path, body)
}

func (e *env) send(t *testing.T, client *http.Client, token, method, path string, body any) reply {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

func (e *env) do(t *testing.T, method, path string, body any) reply {
	t.Helper()
	return e.call(t, e.token, method, path, body)
}

type endpoint struct {
	ID             string   `json:"id"`
	URL            string   `json:"url"`
	Secret         string   `json:"secret"`
	Enabled        bool     `json:"enabled"`
	DisabledReason *string  `json:"disabled_reason"`
	EventTypes     []string `json:"event_types"`
}

// register adds an endpoint for the receiver and deploys its secret there.
func (e *env) register(t *testing.T, types ...string) endpoint {
	t.Helper()
	body := map[string]any{"url": e.rcv.URL, "description": "test receiver"}
	if types != nil {
		body["event_types"] = types
	}
	r := e.do(t, http.MethodPost, "/api/v1/webhooks", body)
	if r.status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	var ep endpoint
	r.decode(t, &ep)
	e.rcv.SetSecrets(ep.Secret)
	return ep
}

// cancelNew creates a transaction and cancels it (PATCH), which emits a
// transaction.canceled event; it returns the client's transaction id.
func (e *env) cancelNew(t *testing.T) string {
	t.Helper()
	n := e.seq.Add(1)
	id := fmt.Sprintf("WH-%d", n)
	r := e.do(t, http.MethodPost, "/api/v1/transactions", map[string]any{"transaction_id": id, "bank": "MOBILE_TRANSFER",
		"reference": fmt.Sprintf("8%011d", n), "customer": map[string]any{"full_name": "Ana Pérez", "phone": "04141234567", "national_id": "V12345678"}})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := e.do(t, http.MethodPatch, "/api/v1/transactions/"+id, map[string]any{"status": "CANCELED", "reason": "customer left"}); r.status != http.StatusOK {
		t.Fatalf("cancel: %d %s", r.status, r.body)
	}
	return id
}

type delivery struct {
	ID             string     `json:"id"`
	EventID        string     `json:"event_id"`
	EventType      string     `json:"event_type"`
	Status         string     `json:"status"`
	Attempts       int        `json:"attempts"`
	LastHTTPStatus *int       `json:"last_http_status"`
	LastError      *string    `json:"last_error"`
	NextAttemptAt  *time.Time `json:"next_attempt_at"`
}

func (e *env) deliveries(t *testing.T, endpointID string) []delivery {
	t.Helper()
	r := e.do(t, http.MethodGet, "/api/v1/webhooks/"+endpointID+"/deliveries?limit=100", nil)
	if r.status != http.StatusOK {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	var page struct{ Items []delivery }
	r.decode(t, &page)
	return page.Items
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settled waits until every delivery of the endpoint left pending.
func (e *env) settled(t *testing.T, endpointID string, n int) []delivery {
	t.Helper()
	var ds []delivery
	eventually(t, fmt.Sprintf("%d settled deliveries", n), func() bool {
		ds = e.deliveries(t, endpointID)
		if len(ds) < n {
			return false
		}
		for _, d := range ds {
			if d.Status == webhook.StatusPending {
				return false
			}
		}
		return true
	})
	return ds
}
