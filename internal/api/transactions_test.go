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
	"net/url"
	"slices"
	"strings"
	"sync"
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
	"github.com/banesco-verifier/verifier/internal/queue"
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

// task returns the transaction's verify task in queue, or nil when there is none.
func (e *txEnv) task(t *testing.T, queue, id string) *asynq.TaskInfo {
	t.Helper()
	info, err := e.insp.GetTaskInfo(queue, tasks.VerifyTaskID(id))
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

func TestTransactionCreateValidation(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	base := e.txBody()
	raw := func(s string) any { return s }
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		fields []string
	}{
		{"transaction_id missing", with(base, "transaction_id", txDelete), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id with a space", with(base, "transaction_id", "ORD 1"), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id with a slash", with(base, "transaction_id", "ORD/1"), 422, "validation_failed", []string{"transaction_id"}},
		{"transaction_id 101 chars", with(base, "transaction_id", strings.Repeat("a", 101)), 422, "validation_failed", []string{"transaction_id"}},
		{"bank missing", with(base, "bank", txDelete), 422, "validation_failed", []string{"bank"}},
		{"bank unknown", with(base, "bank", "MERCANTIL"), 422, "validation_failed", []string{"bank"}},
		{"transaction_type unknown", with(base, "transaction_type", "REFUND"), 422, "validation_failed", []string{"transaction_type"}},
		{"reference missing", with(base, "reference", txDelete), 422, "validation_failed", []string{"reference"}},
		{"reference 5 digits", with(base, "reference", "12345"), 422, "validation_failed", []string{"reference"}},
		{"reference 21 digits", with(base, "reference", strings.Repeat("1", 21)), 422, "validation_failed", []string{"reference"}},
		{"reference letters", with(base, "reference", "1234567A"), 422, "validation_failed", []string{"reference"}},
		{"reference as a number", with(base, "reference", 12345678), 422, "validation_failed", []string{"reference"}},
		{"amount 0", with(base, "amount", "0"), 422, "validation_failed", []string{"amount"}},
		{"amount -1", with(base, "amount", "-1"), 422, "validation_failed", []string{"amount"}},
		{"amount 1.234", with(base, "amount", "1.234"), 422, "validation_failed", []string{"amount"}},
		{"amount abc", with(base, "amount", "abc"), 422, "validation_failed", []string{"amount"}},
		{"amount as a number", with(base, "amount", 1240), 422, "validation_failed", []string{"amount"}},
		{"amount as a decimal number", raw(`{"transaction_id":"X1","amount":1240.00}`), 422, "validation_failed", []string{"amount"}},
		{"payer_bank_code 3 digits", with(base, "payer_bank_code", "102"), 422, "validation_failed", []string{"payer_bank_code"}},
		{"payer_bank_code letters", with(base, "payer_bank_code", "ABCD"), 422, "validation_failed", []string{"payer_bank_code"}},
		{"paid_on not a date", with(base, "paid_on", "05/01/2026"), 422, "validation_failed", []string{"paid_on"}},
		{"paid_on in the future", with(base, "paid_on", "2999-01-01"), 422, "validation_failed", []string{"paid_on"}},
		{"full_name missing", with(base, "customer.full_name", txDelete), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name one letter", with(base, "customer.full_name", "A"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name digits", with(base, "customer.full_name", "Ana 2"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name script", with(base, "customer.full_name", "<script>alert(1)</script>"), 422, "validation_failed", []string{"customer.full_name"}},
		{"full_name 256", with(base, "customer.full_name", strings.Repeat("a", 256)), 422, "validation_failed", []string{"customer.full_name"}},
		{"phone bad operator", with(base, "customer.phone", "04151234567"), 422, "validation_failed", []string{"customer.phone"}},
		{"phone short", with(base, "customer.phone", "0414123456"), 422, "validation_failed", []string{"customer.phone"}},
		{"phone as a number", with(base, "customer.phone", 4141234567), 422, "validation_failed", []string{"customer.phone"}},
		{"national_id J", with(base, "customer.national_id", "J12345678"), 422, "validation_failed", []string{"customer.national_id"}},
		{"national_id 3 digits", with(base, "customer.national_id", "V123"), 422, "validation_failed", []string{"customer.national_id"}},
		{"concept 501", with(base, "customer.concept", strings.Repeat("x", 501)), 422, "validation_failed", []string{"customer.concept"}},
		{"customer missing", with(base, "customer", txDelete), 422, "validation_failed",
			[]string{"customer.full_name", "customer.national_id", "customer.phone"}},
		{"several bad fields", with(base, "bank", "X", "reference", "1", "amount", "-1", "paid_on", "2999-12-31",
			"customer.phone", "1", "customer.national_id", "X1"), 422, "validation_failed",
			[]string{"amount", "bank", "customer.national_id", "customer.phone", "paid_on", "reference"}},
		{"empty object", raw(`{}`), 422, "validation_failed",
			[]string{"bank", "customer.full_name", "customer.national_id", "customer.phone", "reference", "transaction_id"}},
		{"unknown field", with(base, "status", "COMPLETED"), 422, "validation_failed", []string{"status"}},
		// encoding/json names a nested unknown field without its path ("email"), so
		// only the status and code are pinned here.
		{"unknown customer field", with(base, "customer.email", "a@b.c"), 422, "validation_failed", nil},
		{"malformed JSON", raw(`{"transaction_id":`), 400, "malformed_json", nil},
		{"not JSON", raw(`transaction_id=ORD-1`), 400, "malformed_json", nil},
		{"empty body", raw(``), 400, "malformed_json", nil},
		{"an array", raw(`[]`), 400, "malformed_json", nil},
		{"two objects", raw(`{}{}`), 400, "malformed_json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e.do(t, http.MethodPost, "/api/v1/transactions", a.token, tt.body).wantErr(t, tt.status, tt.code, tt.fields...)
		})
	}
	t.Cleanup(func() {
		if n := e.countRows(t, `SELECT count(*) FROM transactions`); n != 0 {
			t.Errorf("%d rows stored by invalid requests", n)
		}
	})
}

func TestTransactionCreate(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	body := with(e.txBody(), "customer.full_name", "  maría   o'neil-pérez ", "customer.concept", "Pago de consulta")
	r, err := e.send(http.MethodPost, "/api/v1/transactions", a.token, body, map[string]string{"X-Request-ID": "req-create-1"})
	if err != nil {
		t.Fatal(err)
	}
	r.want(t, http.StatusCreated)
	if got, want := r.header.Get("Location"), "/api/v1/transactions/"+body["transaction_id"].(string); got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	if r.header.Get("Idempotent-Replayed") != "" {
		t.Errorf("a first create says Idempotent-Replayed: %q", r.header.Get("Idempotent-Replayed"))
	}
	wantKeys := []string{"amount", "attempts", "bank", "bank_details", "created_at", "customer", "id", "last_checked_at",
		"next_check_at", "paid_on", "payer_bank_code", "reference", "status", "status_reason", "transaction_id",
		"transaction_type", "updated_at"}
	if got := keysOf(t, r.body); !slices.Equal(got, wantKeys) {
		t.Errorf("keys = %v, want %v", got, wantKeys)
	}
	var v txView
	r.decode(t, &v)
	checks := []struct{ what, got, want string }{
		{"status", v.Status, "IN_PROGRESS"},
		{"transaction_id", v.TransactionID, body["transaction_id"].(string)},
		{"amount", deref(v.Amount), "1240.00"},
		{"bank", v.Bank, "MOBILE_TRANSFER"},
		{"transaction_type", v.TransactionType, "TRANSACTION"},
		{"reference", v.Reference, body["reference"].(string)},
		{"payer_bank_code", v.PayerBankCode, "0102"},
		{"paid_on", v.PaidOn, "2026-01-05"},
		{"full_name", v.Customer.FullName, "María O'Neil-Pérez"},
		{"phone", v.Customer.Phone, "04141234567"},
		{"national_id", v.Customer.NationalID, "V12345678"},
		{"concept", deref(v.Customer.Concept), "Pago de consulta"},
		{"bank_details", string(v.BankDetails), "null"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
		}
	}
	if v.ID == "" || v.Attempts != 0 || v.LastCheckedAt != nil || v.NextCheckAt == nil || v.StatusReason != nil {
		t.Errorf("scheduling fields of a new transaction: %s", r.body)
	}
	if time.Since(v.CreatedAt).Abs() > time.Minute || v.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at = %v, want now in UTC", v.CreatedAt)
	}

	// Defaults: type, bank code, no amount, paid_on today in Caracas.
	d := e.create(t, a, with(e.txBody(), "transaction_type", txDelete, "payer_bank_code", txDelete, "amount", txDelete,
		"paid_on", txDelete, "customer.concept", txDelete))
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	if d.TransactionType != "TRANSACTION" || d.PayerBankCode != "0134" || d.Amount != nil || d.PaidOn != today || d.Customer.Concept != nil {
		t.Errorf("defaults: type %q, bank code %q, amount %v, paid_on %q (want %s), concept %v",
			d.TransactionType, d.PayerBankCode, d.Amount, d.PaidOn, today, d.Customer.Concept)
	}

	// One creation event, by the user.
	evs := e.events(t, a, v.TransactionID)
	if len(evs) != 1 {
		t.Fatalf("events = %+v, want one", evs)
	}
	if ev := evs[0]; ev.OldStatus != nil || ev.NewStatus != "IN_PROGRESS" || ev.ActorType != "USER" || ev.ActorID != a.id {
		t.Errorf("creation event = %+v", ev)
	}

	// The check is queued: one task, ids only.
	info := e.task(t, tasks.QueueVerify, v.ID)
	if info == nil {
		t.Fatalf("no task %s in queue %s", tasks.VerifyTaskID(v.ID), tasks.QueueVerify)
	}
	if info.ID != "verify:"+v.ID || info.Type != tasks.TypeVerify || info.Queue != "verify" {
		t.Errorf("task = id %q type %q queue %q", info.ID, info.Type, info.Queue)
	}
	if got := keysOf(t, info.Payload); !slices.Equal(got, []string{"request_id", "transaction_id"}) {
		t.Errorf("payload keys = %v, want request_id and transaction_id (%s)", got, info.Payload)
	}
	var p tasks.VerifyPayload
	if err := json.Unmarshal(info.Payload, &p); err != nil || p.TransactionID != v.ID || p.RequestID != "req-create-1" {
		t.Errorf("payload = %s, want transaction_id %s and request_id req-create-1 (%v)", info.Payload, v.ID, err)
	}
	if e.task(t, tasks.QueueVerifyNow, v.ID) != nil {
		t.Errorf("a routine check landed in %s", tasks.QueueVerifyNow)
	}
	// No customer data anywhere in Redis: not in the payload, not in any key.
	secrets := []string{"04141234567", "12345678", "María", "Mar\\u00eda", "Pérez", "O'Neil", "consulta"}
	for _, s := range secrets {
		if bytes.Contains(bytes.ToLower(info.Payload), bytes.ToLower([]byte(s))) {
			t.Errorf("task payload %s contains %q", info.Payload, s)
		}
	}
	ctx := context.Background()
	keys, err := e.rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		dump, err := e.rdb.Dump(ctx, k).Result()
		if err != nil {
			t.Fatalf("dump %s: %v", k, err)
		}
		for _, s := range secrets {
			if strings.Contains(strings.ToLower(k+dump), strings.ToLower(s)) {
				t.Errorf("redis key %s holds %q", k, s)
			}
		}
	}

	// Status and events on the fresh transaction.
	sr := e.do(t, http.MethodGet, "/api/v1/transactions/"+v.TransactionID+"/status", a.token, nil)
	sr.want(t, http.StatusOK)
	if got, want := keysOf(t, sr.body), []string{"attempts", "last_checked_at", "next_check_at", "status", "transaction_id", "updated_at"}; !slices.Equal(got, want) {
		t.Errorf("status keys = %v, want %v", got, want)
	}
	var st struct {
		TransactionID string     `json:"transaction_id"`
		Status        string     `json:"status"`
		Attempts      int        `json:"attempts"`
		LastCheckedAt *time.Time `json:"last_checked_at"`
		NextCheckAt   *time.Time `json:"next_check_at"`
		UpdatedAt     time.Time  `json:"updated_at"`
	}
	sr.decode(t, &st)
	if st.TransactionID != v.TransactionID || st.Status != "IN_PROGRESS" || st.Attempts != 0 || st.LastCheckedAt != nil ||
		st.NextCheckAt == nil || !st.UpdatedAt.Equal(v.UpdatedAt) {
		t.Errorf("status = %s", sr.body)
	}
	if got := e.get(t, a, v.TransactionID); got.ID != v.ID || got.Customer.FullName != v.Customer.FullName {
		t.Errorf("GET = %+v, want the created transaction", got)
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

func TestTransactionIdempotency(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a, b := e.newUser(t), e.newUser(t)
	body := e.txBody()
	id := body["transaction_id"].(string)
	first := e.create(t, a, body)

	tests := []struct {
		name    string
		who     txAccount
		body    map[string]any
		status  int
		code    string
		fields  []string
		replays bool
	}{
		{"same body", a, body, 200, "", nil, true},
		{"same body written differently", a, with(body, "amount", "1240.00", "customer.national_id", "V12345678",
			"customer.full_name", "ANA PÉREZ"), 200, "", nil, true},
		{"other amount", a, with(body, "amount", "1240.01"), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"other phone", a, with(body, "customer.phone", "04121234567"), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"paid_on dropped", a, with(body, "paid_on", txDelete), 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"same body from another user", b, body, 409, "transaction_id_conflict", []string{"transaction_id"}, false},
		{"same reference and type under another id", a, with(body, "transaction_id", id+"-B"), 409, "duplicate_reference", []string{"reference"}, false},
		{"same reference and type from another user", b, with(body, "transaction_id", id+"-C"), 409, "duplicate_reference", []string{"reference"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, "/api/v1/transactions", tt.who.token, tt.body)
			if tt.code != "" {
				r.wantErr(t, tt.status, tt.code, tt.fields...)
				return
			}
			r.want(t, tt.status)
			if r.header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("Idempotent-Replayed = %q, want true", r.header.Get("Idempotent-Replayed"))
			}
			if got := r.header.Get("Location"); got != "/api/v1/transactions/"+id {
				t.Errorf("Location = %q", got)
			}
			var v txView
			r.decode(t, &v)
			if v.ID != first.ID || v.Status != "IN_PROGRESS" || deref(v.Amount) != "1240.00" {
				t.Errorf("replay = %s, want the stored transaction %s", r.body, first.ID)
			}
		})
	}
	if n := e.countRows(t, `SELECT count(*) FROM transactions`); n != 1 {
		t.Errorf("%d rows, want 1", n)
	}
	if evs := e.events(t, a, id); len(evs) != 1 {
		t.Errorf("%d events after replays, want 1", len(evs))
	}

	// Another type with the same reference is another payment.
	other := e.create(t, a, with(body, "transaction_id", id+"-D", "transaction_type", "COMMISSION"))
	if other.TransactionType != "COMMISSION" || other.Reference != first.Reference {
		t.Errorf("commission = %+v", other)
	}
	if e.task(t, tasks.QueueVerify, other.ID) == nil {
		t.Errorf("no task for the commission")
	}
}

func TestTransactionConcurrentCreate(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	const n = 20

	race := func(t *testing.T, bodies func(i int) map[string]any) map[string]int {
		t.Helper()
		var wg sync.WaitGroup
		var mu sync.Mutex
		codes := map[string]int{}
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				r, err := e.send(http.MethodPost, "/api/v1/transactions", a.token, bodies(i), nil)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[err.Error()]++
					return
				}
				key := fmt.Sprint(r.status)
				if r.status == http.StatusOK && r.header.Get("Idempotent-Replayed") == "true" {
					key += " replayed"
				}
				if r.status == http.StatusConflict {
					var eb struct {
						Error struct{ Code string } `json:"error"`
					}
					_ = json.Unmarshal(r.body, &eb)
					key += " " + eb.Error.Code
				}
				codes[key]++
			})
		}
		close(start)
		wg.Wait()
		return codes
	}

	t.Run("same transaction_id", func(t *testing.T) {
		body := e.txBody()
		codes := race(t, func(int) map[string]any { return body })
		if want := map[string]int{"201": 1, "200 replayed": n - 1}; !maps.Equal(codes, want) {
			t.Errorf("replies = %v, want %v", codes, want)
		}
		if c := e.countRows(t, `SELECT count(*) FROM transactions WHERE transaction_id = $1`, body["transaction_id"]); c != 1 {
			t.Errorf("%d rows, want 1", c)
		}
		if c := e.countRows(t, `SELECT count(*) FROM transaction_events ev JOIN transactions tx ON tx.id = ev.transaction_id
			WHERE tx.transaction_id = $1`, body["transaction_id"]); c != 1 {
			t.Errorf("%d events, want 1", c)
		}
	})
	t.Run("same reference under different ids", func(t *testing.T) {
		body := e.txBody()
		codes := race(t, func(i int) map[string]any { return with(body, "transaction_id", fmt.Sprintf("RACE-%d", i)) })
		if want := map[string]int{"201": 1, "409 duplicate_reference": n - 1}; !maps.Equal(codes, want) {
			t.Errorf("replies = %v, want %v", codes, want)
		}
		if c := e.countRows(t, `SELECT count(*) FROM transactions WHERE reference = $1`, body["reference"]); c != 1 {
			t.Errorf("%d rows, want 1", c)
		}
	})
}

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

func TestTransactionPatch(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t, allTxPerms...)
	tests := []struct {
		name   string
		from   transaction.Status
		body   any
		status int
		code   string
		fields []string
	}{
		{"IN_PROGRESS to CANCELED", "IN_PROGRESS", map[string]string{"status": "CANCELED", "reason": "client gave up"}, 200, "", nil},
		{"IN_PROGRESS to COMPLETED", "IN_PROGRESS", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		{"TO_REVIEW to COMPLETED", "TO_REVIEW", map[string]string{"status": "COMPLETED", "reason": "seen in the statement"}, 200, "", nil},
		{"TO_REVIEW to CANCELED", "TO_REVIEW", map[string]string{"status": "CANCELED", "reason": "fraud"}, 200, "", nil},
		{"UNKNOWN to COMPLETED", "UNKNOWN", map[string]string{"status": "COMPLETED", "reason": "late"}, 200, "", nil},
		{"UNKNOWN to CANCELED", "UNKNOWN", map[string]string{"status": "CANCELED"}, 200, "", nil},
		{"COMPLETED to COMPLETED", "COMPLETED", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		// A reviewer may reverse a confirmation, saying why.
		{"COMPLETED to CANCELED", "COMPLETED", map[string]string{"status": "CANCELED", "reason": "confirmed by a payment that belongs to another order"}, 200, "", nil},
		{"COMPLETED to CANCELED without a reason", "COMPLETED", map[string]string{"status": "CANCELED"}, 422, "validation_failed", []string{"reason"}},
		{"release_claim with COMPLETED", "TO_REVIEW", map[string]any{"status": "COMPLETED", "release_claim": true}, 422, "validation_failed", []string{"release_claim"}},
		{"release_claim not a boolean", "COMPLETED", map[string]any{"status": "CANCELED", "reason": "x", "release_claim": "yes"}, 422, "validation_failed", []string{"release_claim"}},
		{"CANCELED to COMPLETED", "CANCELED", map[string]string{"status": "COMPLETED"}, 409, "invalid_transition", nil},
		{"CANCELED to CANCELED", "CANCELED", map[string]string{"status": "CANCELED"}, 409, "invalid_transition", nil},
		{"to IN_PROGRESS", "TO_REVIEW", map[string]string{"status": "IN_PROGRESS"}, 422, "validation_failed", []string{"status"}},
		{"to TO_REVIEW", "IN_PROGRESS", map[string]string{"status": "TO_REVIEW"}, 422, "validation_failed", []string{"status"}},
		{"to UNKNOWN", "IN_PROGRESS", map[string]string{"status": "UNKNOWN"}, 422, "validation_failed", []string{"status"}},
		{"lower case", "TO_REVIEW", map[string]string{"status": "completed"}, 422, "validation_failed", []string{"status"}},
		{"no status", "TO_REVIEW", map[string]string{"reason": "x"}, 422, "validation_failed", []string{"status"}},
		{"sql in status", "TO_REVIEW", map[string]string{"status": "COMPLETED' OR 1=1 --"}, 422, "validation_failed", []string{"status"}},
		{"reason too long", "TO_REVIEW", map[string]string{"status": "COMPLETED", "reason": strings.Repeat("x", 501)}, 422, "validation_failed", []string{"reason"}},
		{"unknown field", "TO_REVIEW", map[string]string{"status": "COMPLETED", "amount": "1"}, 422, "validation_failed", []string{"amount"}},
		{"malformed", "TO_REVIEW", `{"status":`, 400, "malformed_json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := e.create(t, a, e.txBody())
			if tt.from != transaction.StatusInProgress {
				e.setStatus(t, v.ID, tt.from)
			}
			before := e.events(t, a, v.TransactionID)
			r, err := e.send(http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, tt.body,
				map[string]string{"X-Request-ID": "req-patch-" + v.TransactionID})
			if err != nil {
				t.Fatal(err)
			}
			after := e.events(t, a, v.TransactionID)
			got := e.get(t, a, v.TransactionID)
			if tt.code != "" {
				r.wantErr(t, tt.status, tt.code, tt.fields...)
				if len(after) != len(before) || got.Status != string(tt.from) {
					t.Errorf("a refused change wrote: status %s, %d events (was %d)", got.Status, len(after), len(before))
				}
				if tt.from == transaction.StatusInProgress && e.task(t, tasks.QueueVerify, v.ID) == nil {
					t.Errorf("a refused change removed the pending check")
				}
				return
			}
			r.want(t, tt.status)
			var rv txView
			r.decode(t, &rv)
			req := tt.body.(map[string]string)
			wantReason := req["reason"]
			if wantReason == "" {
				wantReason = "<nil>" // no reason given: status_reason stays null
			}
			if rv.Status != req["status"] || got.Status != req["status"] || deref(rv.StatusReason) != wantReason {
				t.Errorf("reply status %s reason %s, stored %s; want %s %q", rv.Status, deref(rv.StatusReason), got.Status, req["status"], req["reason"])
			}
			if rv.NextCheckAt != nil {
				t.Errorf("a settled transaction still has next_check_at %v", rv.NextCheckAt)
			}
			if len(after) != len(before)+1 {
				t.Fatalf("%d events after the change, want %d", len(after), len(before)+1)
			}
			// Oldest first: the creation, then every change in order.
			if after[0].OldStatus != nil || after[0].NewStatus != "IN_PROGRESS" || after[0].Reason != "created" {
				t.Errorf("first event = %+v, want the creation", after[0])
			}
			for i := 1; i < len(after); i++ {
				if after[i].ID <= after[i-1].ID || after[i].CreatedAt.Before(after[i-1].CreatedAt) {
					t.Errorf("events out of order: %+v before %+v", after[i-1], after[i])
				}
			}
			ev := after[len(after)-1]
			if deref(ev.OldStatus) != string(tt.from) || ev.NewStatus != req["status"] || ev.ActorType != "USER" ||
				ev.ActorID != a.id || ev.Reason != req["reason"] {
				t.Errorf("event = %+v, want %s → %s by USER %s", ev, tt.from, req["status"], a.id)
			}
			var meta map[string]any
			if err := json.Unmarshal(ev.Metadata, &meta); err != nil || meta["request_id"] != "req-patch-"+v.TransactionID {
				t.Errorf("event metadata = %s", ev.Metadata)
			}
			if tt.from == transaction.StatusInProgress {
				e.wantNoTask(t, v.ID)
			}
			// A second identical change is refused: the status is final.
			e.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, tt.body).wantErr(t, 409, "invalid_transition")
		})
	}
}

func TestTransactionDelete(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t, allTxPerms...)
	body := e.txBody()
	v := e.create(t, a, body)
	kept := e.create(t, a, e.txBody())
	path := "/api/v1/transactions/" + v.TransactionID
	if e.task(t, tasks.QueueVerify, v.ID) == nil {
		t.Fatal("no task before the delete")
	}

	r := e.do(t, http.MethodDelete, path, a.token, nil)
	r.want(t, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}
	for _, p := range []string{path, path + "/status", path + "/events"} {
		e.do(t, http.MethodGet, p, a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
		e.do(t, http.MethodGet, p, e.admin.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	}
	e.do(t, http.MethodPost, path+"/verify", a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	e.do(t, http.MethodPatch, path, a.token, map[string]string{"status": "CANCELED"}).wantErr(t, http.StatusNotFound, "not_found")
	e.do(t, http.MethodDelete, path, a.token, nil).wantErr(t, http.StatusNotFound, "not_found")
	e.wantNoTask(t, v.ID)

	for _, who := range []txAccount{a, e.admin} {
		lr := e.do(t, http.MethodGet, "/api/v1/transactions", who.token, nil)
		lr.want(t, http.StatusOK)
		var p txPage
		lr.decode(t, &p)
		if p.Total != 1 || len(p.Items) != 1 || p.Items[0].ID != kept.ID {
			t.Errorf("list after delete = %s", lr.body)
		}
	}
	// The row is kept (soft delete) with a "deleted" event by the user.
	if n := e.countRows(t, `SELECT count(*) FROM transaction_events WHERE transaction_id = $1 AND reason = 'deleted'
		AND actor_type = 'USER' AND actor_id = $2`, v.ID, a.id); n != 1 {
		t.Errorf("%d deletion events, want 1", n)
	}
	// The transaction_id stays taken, for the same body (a replay would show a
	// transaction every other route calls not found) and for another body.
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, body).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, with(body, "amount", "99.99")).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	e.do(t, http.MethodPost, "/api/v1/transactions", a.token, with(body, "reference", "999999999")).
		wantErr(t, http.StatusConflict, "transaction_id_conflict", "transaction_id")
	// Its reference is free again for a new transaction_id.
	e.create(t, a, with(body, "transaction_id", "NEW-"+v.TransactionID))
}

func TestTransactionVerify(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	v := e.create(t, a, e.txBody())
	path := "/api/v1/transactions/" + v.TransactionID + "/verify"

	before := time.Now()
	r := e.do(t, http.MethodPost, path, a.token, nil)
	r.want(t, http.StatusAccepted)
	if got := keysOf(t, r.body); !slices.Equal(got, []string{"next_check_at"}) {
		t.Errorf("keys = %v, want [next_check_at]", got)
	}
	var out struct {
		NextCheckAt time.Time `json:"next_check_at"`
	}
	r.decode(t, &out)
	if out.NextCheckAt.Before(before.Add(-time.Second)) || out.NextCheckAt.After(time.Now().Add(time.Second)) {
		t.Errorf("next_check_at = %v, want now (never checked)", out.NextCheckAt)
	}
	// The check moved to the on-demand queue: one task, not two.
	if e.task(t, tasks.QueueVerifyNow, v.ID) == nil {
		t.Errorf("no task in %s", tasks.QueueVerifyNow)
	}
	if e.task(t, tasks.QueueVerify, v.ID) != nil {
		t.Errorf("the routine task is still in %s", tasks.QueueVerify)
	}
	// Asking again is fine.
	e.do(t, http.MethodPost, path, a.token, nil).want(t, http.StatusAccepted)

	// Checked a moment ago: the next check waits for the per-transaction spacing.
	last := time.Now().UTC().Truncate(time.Microsecond)
	if _, err := e.db.ExecContext(context.Background(), `UPDATE transactions SET last_checked_at = $2 WHERE id = $1`, v.ID, last); err != nil {
		t.Fatal(err)
	}
	r = e.do(t, http.MethodPost, path, a.token, nil)
	r.want(t, http.StatusAccepted)
	r.decode(t, &out)
	if want := last.Add(queue.Spacing(2)); !out.NextCheckAt.Equal(want) {
		t.Errorf("next_check_at = %v, want last check + spacing = %v", out.NextCheckAt, want)
	}

	for _, final := range []transaction.Status{transaction.StatusCompleted, transaction.StatusCanceled} {
		f := e.create(t, a, e.txBody())
		e.setStatus(t, f.ID, final)
		e.do(t, http.MethodPost, "/api/v1/transactions/"+f.TransactionID+"/verify", a.token, nil).
			wantErr(t, http.StatusConflict, "invalid_transition")
	}
}

func TestTransactionList(t *testing.T) {
	t.Parallel()
	e := txSetup(t, nil)
	a := e.newUser(t)
	b := e.newUser(t)
	ctx := context.Background()

	const script = `<script>alert(1)</script>' OR 1=1 --`
	mk := func(bank, typ, phone, nid string, extra ...any) txView {
		return e.create(t, a, with(e.txBody(), append([]any{"bank", bank, "transaction_type", typ,
			"customer.phone", phone, "customer.national_id", nid}, extra...)...))
	}
	r1 := mk("BANESCO", "TRANSACTION", "04121111111", "V1111")
	r2 := mk("MOBILE_TRANSFER", "COMMISSION", "04142222222", "E2222", "customer.concept", script,
		"customer.full_name", "o'brien-ñáñez")
	r3 := mk("BANESCO", "OTHER", "04121111111", "V3333")
	r4 := mk("MOBILE_TRANSFER", "TRANSACTION", "04163333333", "V1111")
	r5 := mk("BANESCO", "TRANSACTION", "04244444444", "E5555")
	rb := e.create(t, b, with(e.txBody(), "customer.phone", "04125555555"))
	e.setStatus(t, r2.ID, transaction.StatusToReview)
	e.setStatus(t, r3.ID, transaction.StatusCompleted)
	// Creation times around Caracas midnights (UTC−4); r5 stays "now".
	for id, at := range map[string]string{
		r1.ID: "2026-01-10T03:30:00Z", // 2026-01-09 23:30 in Caracas
		r2.ID: "2026-01-10T04:30:00Z", // 2026-01-10 00:30
		r3.ID: "2026-01-12T03:59:59Z", // 2026-01-11 23:59:59
		r4.ID: "2026-01-12T04:00:00Z", // 2026-01-12 00:00
	} {
		if _, err := e.db.ExecContext(ctx, `UPDATE transactions SET created_at = $2 WHERE id = $1`, id, at); err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]string{r1.ID: "r1", r2.ID: "r2", r3.ID: "r3", r4.ID: "r4", r5.ID: "r5", rb.ID: "rb"}
	list := func(t *testing.T, who txAccount, query string) (txPage, []string) {
		t.Helper()
		r := e.do(t, http.MethodGet, "/api/v1/transactions?"+query, who.token, nil)
		r.want(t, http.StatusOK)
		if got := keysOf(t, r.body); !slices.Equal(got, []string{"items", "page", "pages", "size", "total"}) {
			t.Errorf("page keys = %v", got)
		}
		var p txPage
		r.decode(t, &p)
		got := []string{}
		for _, v := range p.Items {
			got = append(got, names[v.ID])
		}
		return p, got
	}

	t.Run("filters", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			who   txAccount
			query url.Values
			want  []string
		}{
			{a, url.Values{}, []string{"r5", "r4", "r3", "r2", "r1"}},
			{a, url.Values{"status": {"IN_PROGRESS"}}, []string{"r5", "r4", "r1"}},
			{a, url.Values{"status": {"TO_REVIEW"}}, []string{"r2"}},
			{a, url.Values{"status": {"COMPLETED"}}, []string{"r3"}},
			{a, url.Values{"status": {"UNKNOWN"}}, []string{}},
			{a, url.Values{"bank": {"BANESCO"}}, []string{"r5", "r3", "r1"}},
			{a, url.Values{"bank": {"MOBILE_TRANSFER"}}, []string{"r4", "r2"}},
			{a, url.Values{"transaction_type": {"COMMISSION"}}, []string{"r2"}},
			{a, url.Values{"transaction_type": {"TRANSACTION"}}, []string{"r5", "r4", "r1"}},
			{a, url.Values{"reference": {r3.Reference}}, []string{"r3"}},
			{a, url.Values{"reference": {r3.Reference[:8]}}, []string{}},
			{a, url.Values{"phone": {"04121111111"}}, []string{"r3", "r1"}},
			{a, url.Values{"national_id": {"V1111"}}, []string{"r4", "r1"}},
			{a, url.Values{"national_id": {"v1111"}}, []string{"r4", "r1"}},
			{a, url.Values{"national_id": {"e2222"}}, []string{"r2"}},
			{a, url.Values{"from_date": {"2026-01-10"}, "to_date": {"2026-01-11"}}, []string{"r3", "r2"}},
			{a, url.Values{"from_date": {"2026-01-10"}, "to_date": {"2026-01-10"}}, []string{"r2"}},
			{a, url.Values{"from_date": {"2026-01-12"}}, []string{"r5", "r4"}},
			{a, url.Values{"to_date": {"2026-01-09"}}, []string{"r1"}},
			{a, url.Values{"to_date": {"2026-01-11"}}, []string{"r3", "r2", "r1"}},
			{a, url.Values{"bank": {"BANESCO"}, "phone": {"04121111111"}, "status": {"IN_PROGRESS"}}, []string{"r1"}},
			{a, url.Values{"phone": {"04125555555"}}, []string{}},
			{a, url.Values{"reference": {rb.Reference}}, []string{}},
			{b, url.Values{}, []string{"rb"}},
			{b, url.Values{"phone": {"04121111111"}}, []string{}},
			{e.admin, url.Values{"phone": {"04125555555"}}, []string{"rb"}},
			{e.admin, url.Values{"bank": {"MOBILE_TRANSFER"}}, []string{"rb", "r4", "r2"}},
			{e.admin, url.Values{}, []string{"rb", "r5", "r4", "r3", "r2", "r1"}},
		}
		for _, tt := range tests {
			p, got := list(t, tt.who, tt.query.Encode())
			if !slices.Equal(got, tt.want) {
				t.Errorf("?%s = %v, want %v", tt.query.Encode(), got, tt.want)
			}
			if p.Total != len(tt.want) {
				t.Errorf("?%s total = %d, want %d", tt.query.Encode(), p.Total, len(tt.want))
			}
		}
	})

	t.Run("pagination", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			query             string
			want              []string
			page, size, pages int
		}{
			{"", []string{"r5", "r4", "r3", "r2", "r1"}, 1, 20, 1},
			{"size=2", []string{"r5", "r4"}, 1, 2, 3},
			{"size=2&page=2", []string{"r3", "r2"}, 2, 2, 3},
			{"size=2&page=3", []string{"r1"}, 3, 2, 3},
			{"size=2&page=4", []string{}, 4, 2, 3},
			{"size=100", []string{"r5", "r4", "r3", "r2", "r1"}, 1, 100, 1},
			{"size=1&page=5", []string{"r1"}, 5, 1, 5},
		}
		for _, tt := range tests {
			p, got := list(t, a, tt.query)
			if !slices.Equal(got, tt.want) || p.Total != 5 || p.Page != tt.page || p.Size != tt.size || p.Pages != tt.pages {
				t.Errorf("?%s = %v total %d page %d size %d pages %d; want %v 5 %d %d %d",
					tt.query, got, p.Total, p.Page, p.Size, p.Pages, tt.want, tt.page, tt.size, tt.pages)
			}
		}
	})

	t.Run("bad parameters", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			query  url.Values
			fields []string
		}{
			{url.Values{"size": {"101"}}, []string{"size"}},
			{url.Values{"size": {"0"}}, []string{"size"}},
			{url.Values{"size": {"ten"}}, []string{"size"}},
			{url.Values{"page": {"0"}}, []string{"page"}},
			{url.Values{"page": {"-1"}}, []string{"page"}},
			{url.Values{"page": {"1 OR 1=1"}}, []string{"page"}},
			{url.Values{"status": {"DONE"}}, []string{"status"}},
			{url.Values{"status": {"in_progress"}}, []string{"status"}},
			{url.Values{"status": {"' OR 1=1 --"}}, []string{"status"}},
			{url.Values{"bank": {"MERCANTIL"}}, []string{"bank"}},
			{url.Values{"bank": {"<script>alert(1)</script>"}}, []string{"bank"}},
			{url.Values{"transaction_type": {"REFUND"}}, []string{"transaction_type"}},
			{url.Values{"from_date": {"2026-13-01"}}, []string{"from_date"}},
			{url.Values{"to_date": {"yesterday"}}, []string{"to_date"}},
			{url.Values{"from_date": {"' OR 1=1 --"}}, []string{"from_date"}},
			{url.Values{"from_date": {"2026-01-12"}, "to_date": {"2026-01-10"}}, []string{"to_date"}},
			{url.Values{"reference": {strings.Repeat("1", 101)}}, []string{"reference"}},
			{url.Values{"status": {"X"}, "bank": {"Y"}, "national_id": {strings.Repeat("v", 101)}}, []string{"bank", "national_id", "status"}},
			{url.Values{"page": {"0"}, "size": {"500"}}, []string{"page", "size"}},
		}
		for _, tt := range tests {
			e.do(t, http.MethodGet, "/api/v1/transactions?"+tt.query.Encode(), a.token, nil).
				wantErr(t, http.StatusUnprocessableEntity, "validation_failed", tt.fields...)
		}
	})

	t.Run("hostile text filters match literally", func(t *testing.T) {
		t.Parallel()
		payloads := []string{`' OR 1=1 --`, `' OR '1'='1`, `1; DROP TABLE transactions; --`, `<script>alert(1)</script>`,
			`%`, `_`, `*`, `\`, `04121111111' OR 'x'='x`, `V1111%`, `$1`, `" OR ""="`, `%' --`}
		for _, name := range []string{"reference", "phone", "national_id"} {
			for _, payload := range payloads {
				for _, who := range []txAccount{a, e.admin} {
					p, got := list(t, who, url.Values{name: {payload}}.Encode())
					if len(got) != 0 || p.Total != 0 {
						t.Errorf("?%s=%q matched %v (total %d)", name, payload, got, p.Total)
					}
				}
			}
		}
		if n := e.countRows(t, `SELECT count(*) FROM transactions`); n != 6 {
			t.Errorf("%d rows left, want 6", n)
		}
	})

	t.Run("hostile customer text is stored and returned literally", func(t *testing.T) {
		t.Parallel()
		v := e.get(t, a, r2.TransactionID)
		if deref(v.Customer.Concept) != script || v.Customer.FullName != "O'Brien-Ñáñez" {
			t.Errorf("GET customer = %+v", v.Customer)
		}
		p, _ := list(t, a, url.Values{"national_id": {"E2222"}}.Encode())
		if len(p.Items) != 1 || deref(p.Items[0].Customer.Concept) != script || p.Items[0].Customer.FullName != "O'Brien-Ñáñez" {
			t.Errorf("listed = %+v", p.Items)
		}
		var stored string
		if err := e.db.GetContext(ctx, &stored, `SELECT customer_concept FROM transactions WHERE id = $1`, r2.ID); err != nil || stored != script {
			t.Errorf("stored concept = %q (%v)", stored, err)
		}
	})
}

// failingChecks is a queue that is down: the seam is the queue, not storage.
type failingChecks struct{ calls atomic.Int64 }

func (f *failingChecks) Enqueue(context.Context, string, string, time.Time) error {
	f.calls.Add(1)
	return errors.New("enqueue: redis: connection refused")
}

func (f *failingChecks) CheckNow(context.Context, transaction.Transaction, string) (time.Time, error) {
	return time.Time{}, errors.New("check now: redis: connection refused")
}

func (f *failingChecks) Cancel(context.Context, string) error {
	return errors.New("cancel: redis: connection refused")
}

func TestTransactionCreateWhenEnqueueFails(t *testing.T) {
	t.Parallel()
	checks := &failingChecks{}
	e := txSetup(t, checks)
	a := e.newUser(t, allTxPerms...)
	v := e.create(t, a, e.txBody())
	if checks.calls.Load() != 1 {
		t.Errorf("Enqueue called %d times, want 1", checks.calls.Load())
	}
	// Stored, with next_check_at set so the sweeper finds it overdue and enqueues it.
	got := e.get(t, a, v.TransactionID)
	if got.Status != "IN_PROGRESS" || got.NextCheckAt == nil {
		t.Errorf("stored = %+v, want IN_PROGRESS with next_check_at", got)
	}
	ids, err := e.store.Overdue(context.Background(), time.Now().Add(time.Second), "00000000-0000-0000-0000-000000000000", 10)
	if err != nil || !slices.Equal(ids, []string{v.ID}) {
		t.Errorf("overdue = %v (%v), want the transaction for the sweeper", ids, err)
	}
	if !strings.Contains(e.logs.String(), "enqueue failed") {
		t.Errorf("the failed enqueue was not logged")
	}
	// Cancelling still answers 200 (a leftover task is harmless), deleting 204.
	e.do(t, http.MethodPatch, "/api/v1/transactions/"+v.TransactionID, a.token, map[string]string{"status": "CANCELED"}).want(t, http.StatusOK)
	e.do(t, http.MethodDelete, "/api/v1/transactions/"+v.TransactionID, a.token, nil).want(t, http.StatusNoContent)
	if strings.Contains(e.logs.String(), `"status":500`) {
		t.Errorf("a queue failure became a 500:\n%s", e.logs.String())
	}
}

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
