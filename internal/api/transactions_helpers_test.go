package api_test

// Tests of the Transactions routes (docs/api.md "Transactions") over a real
// listener, a real Postgres database and a private Redis whose Asynq queues the
// real queue.Scheduler fills. Names here start with "tx" so they never collide
// with the helpers of the other test files of this package.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/apitest"
	"github.com/banesco-verifier/verifier/internal/auth"
	"github.com/banesco-verifier/verifier/internal/database"
	"github.com/banesco-verifier/verifier/internal/pgtest"
	"github.com/banesco-verifier/verifier/internal/redistest"
	"github.com/banesco-verifier/verifier/internal/transaction"
	"github.com/banesco-verifier/verifier/tasks"
)

// The transactions tests log in as the same bootstrap admin as the auth tests.
const (
	txAdminEmail    = adminEmail
	txAdminPassword = adminPassword
)

// txEnv is one API with the Transactions routes, its database, Redis and queue.
type txEnv struct {
	url     string
	db      *pgtest.DB // the database (auth uses this pool)
	storeDB *sqlx.DB   // the transaction store's own pool, to break it alone
	store   *transaction.Store
	redis   *redistest.Server
	rdb     *redis.Client
	insp    *asynq.Inspector
	svc     *auth.Service
	logs    *syncBuffer
	client  *http.Client
	admin   txAccount
	seq     atomic.Int64
}

// txAccount is a user with an access token.
type txAccount struct {
	id, email, token string
}

// txSetup starts the API; checks replaces the real scheduler when not nil.
func txSetup(t testing.TB, checks transaction.Checks) *txEnv {
	t.Helper()
	db := pgtest.New(t)
	storeDB, err := database.Open(context.Background(), db.URL, 10)
	if err != nil {
		t.Fatalf("open store pool: %v", err)
	}
	t.Cleanup(func() { storeDB.Close() })
	e := &txEnv{logs: &syncBuffer{}, storeDB: storeDB}
	srv := apitest.Start(t, apitest.Options{DB: db, StorePool: storeDB, Checks: checks, Log: e.logs})
	e.db, e.redis, e.rdb, e.insp, e.svc, e.store, e.url, e.client = srv.DB, srv.Redis, srv.RDB, srv.Inspector, srv.Auth, srv.Store, srv.URL, srv.HTTP
	e.admin = e.login(t, txAdminEmail, txAdminPassword)
	return e
}

func (e *txEnv) login(t testing.TB, email, password string) txAccount {
	t.Helper()
	pair, err := e.svc.Login(context.Background(), "127.0.0.1", email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	u, err := e.svc.Store().UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return txAccount{id: u.ID, email: email, token: pair.AccessToken}
}

// newUser registers a user with perms (nil: the defaults, create and read).
func (e *txEnv) newUser(t *testing.T, perms ...string) txAccount {
	t.Helper()
	n := e.seq.Add(1)
	email, password := fmt.Sprintf("tx-user-%d@example.test", n), "password-0123456789"
	u, err := e.svc.Register(context.Background(), email, password, fmt.Sprintf("User %d", n))
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if perms != nil {
		if _, err := e.svc.Store().SetPermissions(context.Background(), u.ID, perms); err != nil {
			t.Fatalf("set permissions: %v", err)
		}
	}
	return e.login(t, email, password)
}

// allTxPerms are every transaction permission, without admin:access.
var allTxPerms = []string{auth.PermTransactionCreate, auth.PermTransactionRead, auth.PermTransactionUpdate, auth.PermTransactionDelete}

type txResp struct {
	status int
	header http.Header
	body   []byte
}

// send makes one call; body is sent as is when string, else as JSON. It is safe
// from any goroutine (it returns errors instead of failing the test).
func (e *txEnv) send(method, path, token string, body any, header map[string]string) (txResp, error) {
	var rd io.Reader
	switch v := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return txResp{}, err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		return txResp{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return txResp{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return txResp{}, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return txResp{status: resp.StatusCode, header: resp.Header, body: raw}, nil
}

func (e *txEnv) do(t *testing.T, method, path, token string, body any) txResp {
	t.Helper()
	r, err := e.send(method, path, token, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r txResp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r txResp) want(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
}

// wantErr checks the status, the error code and, when fields is not nil, the
// exact set of error.fields keys.
func (r txResp) wantErr(t *testing.T, status int, code string, fields ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %s)", r.status, status, r.body)
	}
	var e struct {
		Error struct {
			Code    string            `json:"code"`
			Message string            `json:"message"`
			Fields  map[string]string `json:"fields"`
		} `json:"error"`
		RequestID string `json:"request_id"`
	}
	r.decode(t, &e)
	if e.Error.Code != code {
		t.Errorf("error.code = %q, want %q (body %s)", e.Error.Code, code, r.body)
	}
	if e.Error.Message == "" || e.RequestID == "" || e.RequestID != r.header.Get("X-Request-ID") {
		t.Errorf("error reply without message or request_id matching X-Request-ID: %s", r.body)
	}
	if fields != nil {
		slices.Sort(fields)
		if got := slices.Sorted(maps.Keys(e.Error.Fields)); !slices.Equal(got, fields) {
			t.Errorf("error.fields keys = %v, want %v (body %s)", got, fields, r.body)
		}
	}
}

func (r txResp) wantUnavailable(t *testing.T) {
	t.Helper()
	r.wantErr(t, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Errorf("503 without Retry-After")
	}
}

// txView is the Transaction object of the API.
type txView struct {
	ID              string  `json:"id"`
	TransactionID   string  `json:"transaction_id"`
	Status          string  `json:"status"`
	Bank            string  `json:"bank"`
	TransactionType string  `json:"transaction_type"`
	Reference       string  `json:"reference"`
	Amount          *string `json:"amount"`
	PayerBankCode   string  `json:"payer_bank_code"`
	PaidOn          string  `json:"paid_on"`
	Customer        struct {
		FullName   string  `json:"full_name"`
		Phone      string  `json:"phone"`
		NationalID string  `json:"national_id"`
		Concept    *string `json:"concept"`
	} `json:"customer"`
	Attempts      int             `json:"attempts"`
	LastCheckedAt *time.Time      `json:"last_checked_at"`
	NextCheckAt   *time.Time      `json:"next_check_at"`
	BankDetails   json.RawMessage `json:"bank_details"`
	StatusReason  *string         `json:"status_reason"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

type txEvent struct {
	ID        int64           `json:"id"`
	OldStatus *string         `json:"old_status"`
	NewStatus string          `json:"new_status"`
	Reason    string          `json:"reason"`
	ActorType string          `json:"actor_type"`
	ActorID   string          `json:"actor_id"`
	Metadata  json.RawMessage `json:"metadata"`
	CreatedAt time.Time       `json:"created_at"`
}

type txPage struct {
	Items []txView `json:"items"`
	Total int      `json:"total"`
	Page  int      `json:"page"`
	Size  int      `json:"size"`
	Pages int      `json:"pages"`
}

// txBody is a valid create body; every call has its own transaction_id and
// reference unless the caller overrides them.
func (e *txEnv) txBody() map[string]any {
	n := e.seq.Add(1)
	return map[string]any{
		"transaction_id": fmt.Sprintf("ORD-%d", n), "bank": "MOBILE_TRANSFER", "transaction_type": "TRANSACTION",
		"reference": fmt.Sprintf("%012d", 100000+n), "amount": "1240", "payer_bank_code": "0102",
		"paid_on": "2026-01-05",
		"customer": map[string]any{"full_name": "ana pérez", "phone": "04141234567",
			"national_id": "v12345678", "concept": "Consulta"},
	}
}

// with returns a copy of body with dotted keys ("customer.phone") set, or
// removed when the value is txDelete.
func with(body map[string]any, kv ...any) map[string]any {
	out := maps.Clone(body)
	out["customer"] = maps.Clone(body["customer"].(map[string]any))
	for i := 0; i < len(kv); i += 2 {
		key, v := kv[i].(string), kv[i+1]
		m := out
		if k, ok := strings.CutPrefix(key, "customer."); ok {
			m, key = out["customer"].(map[string]any), k
		}
		if v == txDelete {
			delete(m, key)
		} else {
			m[key] = v
		}
	}
	return out
}

type txDeleteMarker struct{}

var txDelete = txDeleteMarker{}

func (e *txEnv) create(t *testing.T, a txAccount, body map[string]any) txView {
	t.Helper()
	r := e.do(t, http.MethodPost, "/api/v1/transactions", a.token, body)
	r.want(t, http.StatusCreated)
	var v txView
	r.decode(t, &v)
	return v
}

func (e *txEnv) events(t *testing.T, a txAccount, clientID string) []txEvent {
	t.Helper()
	r := e.do(t, http.MethodGet, "/api/v1/transactions/"+clientID+"/events", a.token, nil)
	r.want(t, http.StatusOK)
	var out struct {
		Items []txEvent `json:"items"`
	}
	r.decode(t, &out)
	return out.Items
}

func (e *txEnv) get(t *testing.T, a txAccount, clientID string) txView {
	t.Helper()
	r := e.do(t, http.MethodGet, "/api/v1/transactions/"+clientID, a.token, nil)
	r.want(t, http.StatusOK)
	var v txView
	r.decode(t, &v)
	return v
}

// task returns the transaction's verify task in queue, or nil when there is
// none. No worker runs in these tests, so it is always the first (seq 0).
func (e *txEnv) task(t *testing.T, queue, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := e.insp.GetTaskInfo(queue, tasks.VerifyTaskID(id, 0))
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("inspect %s/%s: %v", queue, id, err)
	}
	return info
}

func (e *txEnv) wantNoTask(t *testing.T, id string) {
	t.Helper()
	for _, q := range tasks.VerifyQueues {
		if info := e.task(t, q, id); info != nil {
			t.Errorf("a verify task is left in %s: %+v", q, info)
		}
	}
}

func (e *txEnv) countRows(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.GetContext(context.Background(), &n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// setStatus moves a transaction to a status directly, as the worker would.
func (e *txEnv) setStatus(t *testing.T, id string, to transaction.Status) {
	t.Helper()
	all := []transaction.Status{transaction.StatusInProgress, transaction.StatusToReview, transaction.StatusUnknown}
	if _, err := e.store.Transition(context.Background(), transaction.Change{ID: id, From: all, To: to, Reason: "test setup",
		ActorType: transaction.ActorSystem, ActorID: "test"}); err != nil {
		t.Fatalf("transition %s to %s: %v", id, to, err)
	}
}

func keysOf(t *testing.T, raw []byte) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return slices.Sorted(maps.Keys(m))
}
