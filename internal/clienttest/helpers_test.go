package clienttest_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/api"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/health"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/redistest"
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
	db, rs := pgtest.New(t), redistest.Start(t)
	rdb := rs.Client()
	log := zerolog.Nop()
	svc := auth.NewService(auth.NewStore(db.DB), rdb, auth.Options{JWTSecret: testSecret, AccessTokenTTL: o.accessTTL,
		RefreshTokenTTL: time.Hour, BcryptCost: bcrypt.MinCost, LoginMaxFailures: 50, LoginFailureWindow: time.Minute, Logger: log})
	if _, err := svc.EnsureAdmin(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatalf("EnsureAdmin: %v", err)
	}
	qc := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { qc.Close() })
	inspector := asynq.NewInspectorFromRedisClient(rdb)
	sched := queue.NewScheduler(qc, inspector, queue.Spacing(2))
	e := &env{store: transaction.NewStore(db.DB, nil)}
	app := api.New(api.Deps{
		Logger: log, Redis: rdb, Auth: svc, Health: health.NewChecker(db.DB, rdb),
		RateLimit: o.rateLimit, RegistrationOpen: true,
		Transactions: transaction.NewHandler(e.store, sched, 24*time.Hour, log),
		Registry:     prometheus.NewRegistry(), AsynqRedis: asynq.RedisClientOpt{Addr: rs.Addr},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	go func() { _ = app.Listener(ln) }()
	t.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second) })
	e.url = "http://" + ln.Addr().String()
	e.spec = spectest.NewTransport(t, e.url, &http.Transport{})

	if o.worker {
		// As cmd/worker wires it, with the sandbox as the bank.
		e.bank = banksandbox.New(banksandbox.Config{Flavor: banksandbox.FlavorQA, MaxRPS: 1000})
		bankSrv := httptest.NewServer(e.bank.Handler())
		t.Cleanup(bankSrv.Close)
		bank, err := banesco.New(banesco.Config{Environment: banesco.EnvironmentQA,
			TokenURL: bankSrv.URL + "/token", CheckURL: bankSrv.URL + "/transactions/financial-account/transactions",
			ClientID: "sandbox-client", ClientSecret: "sandbox-secret", AccountID: "01340000000000000000",
			Timeout: 2 * time.Second, Logger: log})
		if err != nil {
			t.Fatalf("bank client: %v", err)
		}
		limiter := verify.NewLimiter(rdb, 100, 2, nil)
		handler := verify.NewHandler(e.store, bank, limiter, verify.Policy{Schedule: []time.Duration{time.Second}}, nil, log)
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
