package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/banesco"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/internal/verify"
	"github.com/banesco-verifier/verifier/tasks"
)

const (
	merchantAccount = "01340000000000000000"
	payerPhone      = "04141234567"
	payerBank       = "0102"
	testAmount      = "1240.00"
	jwtSecret       = "test-only-jwt-secret-0123456789abcdef"
	userEmail       = "user@example.test"
	userPassword    = "user-password-0123"
	adminEmail      = "admin@example.test"
	adminPassword   = "admin-password-0123"
)

// options shape one test's pipeline; zero values are fast, permissive defaults.
type options struct {
	schedule     []time.Duration            // VERIFY_SCHEDULE (default 200ms,500ms)
	byBank       map[string][]time.Duration // VERIFY_SCHEDULE_<bank>
	deadlineBank map[string]time.Duration   // VERIFY_DEADLINE_<bank> (the API's)
	outage       []time.Duration            // VERIFY_OUTAGE_BACKOFF (default 300ms,600ms)
	rangeReview  int                        // VERIFY_RANGE_TOO_WIDE_REVIEW_AFTER (default 3)
	perMinute    int                        // BANESCO_PER_TRANSACTION_PER_MINUTE (default 600: 1.1 s spacing)
	maxRPS       int                        // BANESCO_MAX_RPS (default 1000)
	workers      int                        // asynq servers started by setup (default 1; -1 for none)
	concurrency  int                        // per server (default 20)
	deadline     time.Duration              // VERIFY_DEADLINE (default 1h)
	shutdown     time.Duration              // ServerOptions.ShutdownTimeout (default 3s)
	sweepEvery   time.Duration              // SWEEP_INTERVAL (default 1m)
	sandbox      banksandbox.Config
	withAPI      bool
	bankTimeout  time.Duration // BANESCO_TIMEOUT (default 5s)
	sharedClient bool          // every worker shares one bank client (one token cache)
	bankConfig   func(*banesco.Config)
}

// policy is the handler's Policy for these options.
func (o options) policy() verify.Policy {
	return verify.Policy{Schedule: o.schedule, ScheduleByBank: o.byBank, OutageBackoff: o.outage, RangeTooWideReviewAfter: o.rangeReview}
}

// worker is one replica: its own Redis connection, bank client, limiter and
// handler, as cmd/worker builds them, around one asynq.Server.
type worker struct {
	srv     *asynq.Server
	handler *verify.Handler
	limiter *verify.Limiter
	sweeper *verify.Sweeper
}

// bundle is the whole pipeline over a private Postgres database, a private
// redis-server and the bank sandbox on a real listener.
type bundle struct {
	o         options
	db        *pgtest.DB
	redis     *redistest.Server
	rdb       *redis.Client
	bank      *banksandbox.Server
	bankURL   string
	arrivals  *arrivals
	client    *banesco.Client // the bank client of the test's own handler
	store     *transaction.Store
	queue     *asynq.Client
	inspector *asynq.Inspector
	limiter   *verify.Limiter
	scheduler *queue.Scheduler
	handler   *verify.Handler // not served: for direct ProcessTask calls
	sweeper   *verify.Sweeper
	workers   []*worker
	userID    string
	logs      *syncBuffer
	log       zerolog.Logger
	seq       atomic.Int64

	// API (withAPI)
	url        string
	httpc      *http.Client
	userToken  string
	adminToken string
}

func setup(t *testing.T, o options) *bundle {
	t.Helper()
	if o.schedule == nil {
		o.schedule = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}
	}
	if o.outage == nil {
		o.outage = []time.Duration{300 * time.Millisecond, 600 * time.Millisecond}
	}
	if o.perMinute == 0 {
		o.perMinute = 600
	}
	if o.maxRPS == 0 {
		o.maxRPS = 1000
	}
	if o.workers == 0 {
		o.workers = 1
	}
	if o.concurrency == 0 {
		o.concurrency = 20
	}
	if o.deadline == 0 {
		o.deadline = time.Hour
	}
	if o.shutdown == 0 {
		o.shutdown = 3 * time.Second
	}
	if o.sweepEvery == 0 {
		o.sweepEvery = time.Minute
	}
	if o.bankTimeout == 0 {
		o.bankTimeout = 5 * time.Second
	}
	if o.sandbox.MaxRPS == 0 {
		o.sandbox.MaxRPS = 100_000
	}
	if o.sandbox.PerReferencePerMinute == 0 {
		o.sandbox.PerReferencePerMinute = 100_000
	}
	if o.sandbox.AccountID == "" {
		o.sandbox.AccountID = merchantAccount
	}

	b := &bundle{o: o, db: pgtest.New(t), redis: redistest.Start(t), logs: &syncBuffer{}}
	b.log = zerolog.New(b.logs).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", b.logs.tail(20_000))
		}
	})
	b.rdb = b.redis.Client()
	b.bank = banksandbox.New(o.sandbox)
	b.arrivals = &arrivals{byRef: map[string][]time.Time{}}
	bankSrv := httptest.NewServer(b.arrivals.wrap(b.bank.Handler()))
	t.Cleanup(bankSrv.Close)
	b.bankURL = bankSrv.URL

	ctx := context.Background()
	b.store = transaction.NewStore(b.db.DB, nil)
	authSvc := auth.NewService(auth.NewStore(b.db.DB), b.rdb, auth.Options{
		JWTSecret: jwtSecret, AccessTokenTTL: 10 * time.Minute, RefreshTokenTTL: time.Hour,
		BcryptCost: bcrypt.MinCost, LoginMaxFailures: 100, LoginFailureWindow: time.Minute, Logger: b.log,
	})
	u, err := authSvc.Register(ctx, userEmail, userPassword, "Test User")
	if err != nil {
		t.Fatalf("register user: %v", err)
	}
	b.userID = u.ID

	b.queue = asynq.NewClientFromRedisClient(b.rdb)
	t.Cleanup(func() { b.queue.Close() })
	b.inspector = asynq.NewInspectorFromRedisClient(b.rdb)
	b.limiter = verify.NewLimiter(b.rdb, b.db.DB, o.maxRPS, o.perMinute, nil)
	b.client = b.newBankClient(t)
	b.scheduler = queue.NewScheduler(b.queue, b.inspector, b.limiter.PerTransactionSpacing())
	b.handler = verify.NewHandler(b.store, b.client, b.limiter, b.scheduler, o.policy(), nil, b.log)
	b.sweeper = verify.NewSweeper(b.store, b.scheduler, b.queue, o.sweepEvery, nil, b.log)

	for range max(o.workers, 0) {
		b.startWorker(t)
	}

	if o.withAPI {
		// The real API over the same database and Redis, whose "check now"
		// goes through this bundle's scheduler (and its limiter's spacing).
		srv := apitest.Start(t, apitest.Options{DB: b.db, Redis: b.redis, Checks: b.scheduler, Deadline: o.deadline, DeadlineByBank: o.deadlineBank,
			RateLimit: 100_000, Log: b.logs, Level: zerolog.WarnLevel})
		b.url, b.httpc = srv.URL, srv.HTTP
		b.userToken = srv.Login(t, userEmail, userPassword).AccessToken
		b.adminToken = srv.Login(t, apitest.AdminEmail, apitest.AdminPassword).AccessToken
	}
	return b
}

// newBankClient is a bank client pointed at the sandbox, configured as
// banesco.ConfigFromEnv would with BANESCO_ENVIRONMENT=qa.
func (b *bundle) newBankClient(t *testing.T) *banesco.Client {
	t.Helper()
	cfg := banesco.Config{
		Environment: banesco.EnvironmentQA, TokenURL: b.bankURL + "/token",
		CheckURL: b.bankURL + "/transactions/financial-account/transactions",
		ClientID: "sandbox-client", ClientSecret: "sandbox-secret", AccountID: merchantAccount,
		Timeout: b.o.bankTimeout, Logger: b.log,
	}
	if b.o.bankConfig != nil {
		b.o.bankConfig(&cfg)
	}
	c, err := banesco.New(cfg)
	if err != nil {
		t.Fatalf("bank client: %v", err)
	}
	return c
}

// startWorker starts one more replica, built like cmd/worker builds it.
func (b *bundle) startWorker(t *testing.T) *worker {
	t.Helper()
	rdb := b.redis.Client()
	client := b.client
	if !b.o.sharedClient && len(b.workers) > 0 {
		client = b.newBankClient(t)
	}
	w := &worker{limiter: verify.NewLimiter(rdb, b.db.DB, b.o.maxRPS, b.o.perMinute, nil)}
	qc := asynq.NewClientFromRedisClient(rdb)
	t.Cleanup(func() { qc.Close() })
	scheduler := queue.NewScheduler(qc, asynq.NewInspectorFromRedisClient(rdb), w.limiter.PerTransactionSpacing())
	w.handler = verify.NewHandler(b.store, client, w.limiter, scheduler, b.o.policy(), nil, b.log)
	w.sweeper = verify.NewSweeper(b.store, scheduler, qc, b.o.sweepEvery, nil, b.log)
	w.srv = b.serve(t, rdb, w.handler, w.sweeper)
	b.workers = append(b.workers, w)
	return w
}

// serve runs an asynq server for the given handlers until the test ends.
func (b *bundle) serve(t *testing.T, rdb redis.UniversalClient, h *verify.Handler, s *verify.Sweeper) *asynq.Server {
	t.Helper()
	srv := verify.NewServer(rdb, verify.ServerOptions{
		Concurrency: b.o.concurrency, PollInterval: 50 * time.Millisecond,
		ShutdownTimeout: b.o.shutdown, Logger: b.log,
	})
	if err := srv.Start(verify.NewMux(h, s)); err != nil {
		t.Fatalf("start asynq server: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// newTx stores a transaction the way the API does, without enqueuing its check
// (as when the enqueue after the commit failed).
func (b *bundle) newTx(t *testing.T, bank string) transaction.Transaction {
	t.Helper()
	return b.newTxRef(t, bank, "")
}

// newTxRef is newTx with a chosen reference ("" picks one whose last 6
// digits no other test transaction has).
func (b *bundle) newTxRef(t *testing.T, bank, ref string) transaction.Transaction {
	t.Helper()
	return b.newTxWith(t, bank, ref, "")
}

// newTxWith is newTxRef with a transaction_type ("" for the default).
func (b *bundle) newTxWith(t *testing.T, bank, ref, txType string) transaction.Transaction {
	t.Helper()
	n := b.seq.Add(1)
	amount := testAmount
	if ref == "" {
		// Distinct last 6 digits: pago móvil is asked (and limited) by them.
		ref = fmt.Sprintf("0004%02d%06d", n%100, 100000+n)
	}
	req := transaction.CreateRequest{
		TransactionID: fmt.Sprintf("ORD-%d", n), Bank: bank, TransactionType: txType,
		Reference: ref, Amount: &amount, PayerBankCode: payerBank,
		Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: payerPhone, NationalID: "V12345678"},
	}
	nt, fields := req.Validate(time.Now())
	if fields != nil {
		t.Fatalf("invalid test transaction: %v", fields)
	}
	tx, _, err := b.store.Create(context.Background(), b.userID, nt, b.o.deadline, "test")
	if err != nil {
		t.Fatalf("create transaction: %v", err)
	}
	return tx
}

// create stores a transaction and enqueues its first check, as POST does.
func (b *bundle) create(t *testing.T, bank string) transaction.Transaction {
	t.Helper()
	tx := b.newTx(t, bank)
	if err := b.scheduler.Enqueue(context.Background(), tx.ID, "test", tx.NextCheckAt.Time); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return tx
}

// tail is what the sandbox sees of a reference (and what Script matches).
func tail(tx transaction.Transaction) string {
	if tx.Bank == transaction.BankMobileTransfer {
		return tx.Reference[len(tx.Reference)-6:]
	}
	return tx.Reference
}

// payment is the bank's record of tx's payment.
func payment(tx transaction.Transaction) banksandbox.Payment {
	p := banksandbox.Payment{Reference: tx.Reference, Amount: tx.Amount.String, Mode: banksandbox.ModeTransfer}
	if tx.Bank == transaction.BankMobileTransfer {
		p = banksandbox.Payment{Reference: tx.Reference, Amount: tx.Amount.String, Mode: banksandbox.ModeMobile,
			Phone: tx.CustomerPhone, BankID: tx.PayerBankCode, Date: tx.PaidOn.Format(time.DateOnly)}
	}
	return p
}

func (b *bundle) get(t *testing.T, id string) transaction.Transaction {
	t.Helper()
	tx, err := b.store.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return tx
}

func (b *bundle) events(t *testing.T, id string) []transaction.Event {
	t.Helper()
	ev, err := b.store.Events(context.Background(), id)
	if err != nil {
		t.Fatalf("events of %s: %v", id, err)
	}
	return ev
}

// waitStatus waits until the transaction has the status and returns it.
func (b *bundle) waitStatus(t *testing.T, id string, want transaction.Status, timeout time.Duration) transaction.Transaction {
	t.Helper()
	var tx transaction.Transaction
	eventually(t, timeout, func() (bool, string) {
		tx = b.get(t, id)
		return tx.Status == want, fmt.Sprintf("transaction %s is %s (attempts %d), want %s", tx.TransactionID, tx.Status, tx.Attempts, want)
	})
	return tx
}

// waitAll waits until every transaction has the status.
func (b *bundle) waitAll(t *testing.T, txs []transaction.Transaction, want transaction.Status, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() (bool, string) {
		var pending []string
		for _, tx := range txs {
			if got := b.get(t, tx.ID); got.Status != want {
				pending = append(pending, fmt.Sprintf("%s=%s", got.TransactionID, got.Status))
			}
		}
		return len(pending) == 0, fmt.Sprintf("%d of %d not %s: %v", len(pending), len(txs), want, pending)
	})
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// transitions are the status changes in a history (not the creation, not the
// checks that changed nothing).
func transitions(events []transaction.Event) []string {
	var out []string
	for _, e := range events {
		if e.OldStatus != nil && *e.OldStatus != e.NewStatus {
			out = append(out, fmt.Sprintf("%s→%s", *e.OldStatus, e.NewStatus))
		}
	}
	return out
}

// checks are the bank-check events of a history.
func checks(events []transaction.Event) []transaction.Event {
	var out []transaction.Event
	for _, e := range events {
		if e.Reason == "bank_check" {
			out = append(out, e)
		}
	}
	return out
}

func meta(t *testing.T, e transaction.Event) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Metadata, &m); err != nil {
		t.Fatalf("event %d metadata %s: %v", e.ID, e.Metadata, err)
	}
	return m
}

// taskOf returns the transaction's live verify task, the one Postgres names
// (task_seq), or nil when it has none.
func (b *bundle) taskOf(t *testing.T, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := b.scheduler.Task(b.get(t, id).Task())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitsFor is why a verify task waits: the reason its predecessor handed over
// with (tasks.VerifyPayload.After).
func waitsFor(t *testing.T, info *asynq.TaskInfo) string {
	t.Helper()
	p, err := tasks.ParseVerify(asynq.NewTask(info.Type, info.Payload))
	if err != nil {
		t.Fatal(err)
	}
	return p.After
}

// tasksOf lists every verify task of a transaction in the queue and state, by
// id prefix (whatever its number).
func (b *bundle) tasksOf(t *testing.T, id, queue string, state asynq.TaskState) []*asynq.TaskInfo {
	t.Helper()
	var list func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error)
	switch state {
	case asynq.TaskStateScheduled:
		list = b.inspector.ListScheduledTasks
	case asynq.TaskStateRetry:
		list = b.inspector.ListRetryTasks
	case asynq.TaskStatePending:
		list = b.inspector.ListPendingTasks
	case asynq.TaskStateActive:
		list = b.inspector.ListActiveTasks
	default:
		t.Fatalf("tasksOf: state %s", state)
	}
	all, err := list(queue, asynq.PageSize(1000))
	if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
		t.Fatal(err)
	}
	var out []*asynq.TaskInfo
	for _, info := range all {
		if info.ID == tasks.VerifyTaskID(id, 0) || strings.HasPrefix(info.ID, tasks.VerifyTaskID(id, 0)+":") {
			out = append(out, info)
		}
	}
	return out
}

// arrivals records when the bank saw each check, by referenceNumber: what the
// bank measures its limits on.
type arrivals struct {
	mu    sync.Mutex
	byRef map[string][]time.Time
}

func (a *arrivals) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/financial-account/transactions") {
			at := time.Now()
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			var req struct {
				DataRequest struct {
					Transaction struct {
						ReferenceNumber json.RawMessage `json:"referenceNumber"`
					} `json:"transaction"`
				} `json:"dataRequest"`
			}
			if json.Unmarshal(body, &req) == nil {
				ref := strings.Trim(string(req.DataRequest.Transaction.ReferenceNumber), `"`)
				a.mu.Lock()
				a.byRef[ref] = append(a.byRef[ref], at)
				a.mu.Unlock()
			}
		}
		h.ServeHTTP(w, r)
	})
}

func (a *arrivals) of(ref string) []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.byRef[ref]...)
}

// syncBuffer is a log sink safe for the server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.buf.String()
	if len(out) > n {
		out = "…" + out[len(out)-n:]
	}
	return out
}

// HTTP helpers.

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

func (b *bundle) do(t *testing.T, method, path, token string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.url+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

// createBody is a valid POST /api/v1/transactions body.
func (b *bundle) createBody(bank string) map[string]any {
	n := b.seq.Add(1)
	return map[string]any{
		"transaction_id": fmt.Sprintf("ORD-%d", n), "bank": bank, "transaction_type": "TRANSACTION",
		"reference": fmt.Sprintf("0007%02d%06d", n%100, 200000+n), "amount": testAmount, "payer_bank_code": payerBank,
		"customer": map[string]any{"full_name": "ana pérez", "phone": payerPhone, "national_id": "v12345678", "concept": "Consulta"},
	}
}

// postTx creates a transaction over HTTP as the user and returns it.
func (b *bundle) postTx(t *testing.T, bank string) transaction.View {
	t.Helper()
	r := b.do(t, http.MethodPost, "/api/v1/transactions", b.userToken, b.createBody(bank))
	if r.status != http.StatusCreated {
		t.Fatalf("POST /api/v1/transactions: %d %s", r.status, r.body)
	}
	var v transaction.View
	r.decode(t, &v)
	return v
}

// apiEvent is an event as the API shows it.
type apiEvent struct {
	OldStatus *string        `json:"old_status"`
	NewStatus string         `json:"new_status"`
	Reason    string         `json:"reason"`
	ActorType string         `json:"actor_type"`
	ActorID   string         `json:"actor_id"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}
