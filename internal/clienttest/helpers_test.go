package clienttest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/openapi/spectest"
)

const (
	adminEmail    = "admin@example.test"
	adminPassword = "admin-password-0123"
	testSecret    = "test-only-jwt-secret-0123456789abcdef"
)

// options adjust one test's system.
type options struct {
	worker    bool          // run a verify worker against the bank sandbox
	accessTTL time.Duration // default 10m
	rateLimit int           // requests per minute per client, default 100000
}

// env is the real API (api.New with every dependency, on a real listener,
// over its own Postgres database and Redis) and optionally a worker checking
// with the bank sandbox. Every request a client makes through env.httpClient
// is validated against openapi.yaml, and so is every response.
type env struct {
	url   string
	spec  *spectest.Transport
	bank  *banksandbox.Server
	seq   atomic.Int64
	store *transaction.Store
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	if o.accessTTL == 0 {
		o.accessTTL = 10 * time.Minute
	}
	if o.rateLimit == 0 {
		o.rateLimit = 100_000
	}
	srv := apitest.Start(t, apitest.Options{AccessTTL: o.accessTTL, RateLimit: o.rateLimit, LoginMaxFailures: 50})
	rdb, sched, qc, log := srv.RDB, srv.Scheduler, srv.Queue, srv.Log
	e := &env{store: srv.Store, url: srv.URL}
	e.spec = spectest.NewTransport(t, e.url, &http.Transport{})

	if o.worker {
		// As cmd/worker wires it, with the sandbox as the bank.
		e.bank = banksandbox.New(banksandbox.Config{Flavor: banksandbox.FlavorQA, MaxRPS: 1000})
		bankSrv := httptest.NewServer(e.bank.Handler())
		t.Cleanup(bankSrv.Close)
		limiter := verify.NewLimiter(rdb, srv.DB.DB, 100, 2, nil)
		bank, err := banesco.New(banesco.Config{Environment: banesco.EnvironmentQA,
			TokenURL: bankSrv.URL + "/token", CheckURL: bankSrv.URL + "/transactions/financial-account/transactions",
			ClientID: "sandbox-client", ClientSecret: "sandbox-secret", AccountID: "01340000000000000000",
			Timeout: 2 * time.Second, Logger: log})
		if err != nil {
			t.Fatalf("bank client: %v", err)
		}
		handler := verify.NewHandler(e.store, bank, limiter, sched, verify.Policy{Schedule: []time.Duration{time.Second}}, nil, log)
		sweeper := verify.NewSweeper(e.store, sched, qc, time.Minute, nil, log)
		srv := verify.NewServer(rdb, verify.ServerOptions{Concurrency: 2, PollInterval: 100 * time.Millisecond,
			ShutdownTimeout: 5 * time.Second, Logger: log})
		if err := srv.Start(verify.NewMux(handler, sweeper)); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		t.Cleanup(srv.Shutdown)
	}
	return e
}

// client returns a client of the env whose traffic is checked against the spec.
func (e *env) client(t *testing.T, opts ...client.Option) *client.Client {
	t.Helper()
	opts = append([]client.Option{client.WithHTTPClient(&http.Client{Timeout: 15 * time.Second, Transport: e.spec}),
		client.WithPolling(50*time.Millisecond, 500*time.Millisecond)}, opts...)
	c, err := client.New(e.url, opts...)
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	return c
}

// admin is a client logged in as the bootstrapped admin.
func (e *env) admin(t *testing.T) *client.Client {
	t.Helper()
	return e.client(t, client.WithCredentials(adminEmail, adminPassword))
}

// newUser registers a user with the default permissions and returns a client
// holding its credentials (it logs in on first use), and the user.
func (e *env) newUser(t *testing.T) (*client.Client, client.User) {
	t.Helper()
	n := e.seq.Add(1)
	reg := client.Registration{Email: "user" + string(rune('a'+n)) + "@example.test", Password: "password-0123456", FullName: "Test User"}
	u, err := e.client(t).Register(ctxT(t), reg)
	if err != nil {
		t.Fatalf("Register: %v", err)
	}
	return e.client(t, client.WithCredentials(reg.Email, reg.Password)), u
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// today is the payment date the server defaults to (Caracas, UTC−4).
func today() string { return time.Now().In(time.FixedZone("VET", -4*60*60)).Format(time.DateOnly) }

func order(id, reference string) client.CreateTransaction {
	return client.CreateTransaction{
		TransactionID: id, Bank: client.BankMobileTransfer, TransactionType: client.TypeTransaction,
		Reference: reference, Amount: "1240.00", PayerBankCode: "0102", PaidOn: today(),
		Customer: client.Customer{FullName: "ana  pérez", Phone: "04141234567", NationalID: "v12345678", Concept: "Consulta"},
	}
}
