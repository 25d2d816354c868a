package clienttest_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/openapi/spectest"
)

// wantAPIError asserts err is an *APIError with status and code, carrying the
// request id, and returns it.
func wantAPIError(t *testing.T, err error, status int, code string) *client.APIError {
	t.Helper()
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T) is not an *APIError; want %d %s", err, err, status, code)
	}
	if apiErr.StatusCode != status || apiErr.Code != code {
		t.Fatalf("error = %d %s, want %d %s (%v)", apiErr.StatusCode, apiErr.Code, status, code, apiErr)
	}
	if apiErr.RequestID == "" || apiErr.Message == "" {
		t.Errorf("error lacks a request id or message: %+v", apiErr)
	}
	if !client.HasCode(err, code) {
		t.Errorf("HasCode(err, %q) = false", code)
	}
	return apiErr
}

// TestClientTransactions drives every transaction route through the client
// against the real API; the spec transport checks each exchange.
func TestClientTransactions(t *testing.T) {
	t.Parallel()
	e := setup(t, options{})
	ctx := ctxT(t)
	c, me := e.newUser(t)
	admin := e.admin(t)

	// Create: 201, then the same request again: 200 and Replayed.
	req := order("ORD-1001", "000123456789")
	created, err := c.CreateTransaction(client.WithRequestID(ctx, "test-create-1"), req)
	if err != nil {
		t.Fatalf("CreateTransaction: %v", err)
	}
	if created.Replayed || created.Status != client.StatusInProgress || created.TransactionID != "ORD-1001" ||
		created.Customer.FullName != "Ana Pérez" || created.Customer.NationalID != "V12345678" || created.Amount != "1240.00" {
		t.Errorf("created = %+v", created)
	}
	replay, err := c.CreateTransaction(ctx, req)
	if err != nil || !replay.Replayed || replay.ID != created.ID {
		t.Errorf("replay = %+v, %v; want the same transaction, Replayed", replay, err)
	}

	// 409s.
	other := req
	other.Amount = "99.00"
	_, err = c.CreateTransaction(ctx, other)
	if apiErr := wantAPIError(t, err, http.StatusConflict, client.CodeTransactionIDConflict); apiErr.Fields["transaction_id"] == "" {
		t.Errorf("conflict fields = %v", apiErr.Fields)
	}
	dup := req
	dup.TransactionID = "ORD-1002"
	_, err = c.CreateTransaction(ctx, dup)
	wantAPIError(t, err, http.StatusConflict, client.CodeDuplicateReference)

	// 422 naming each field; the spec must reject the same request.
	bad := client.CreateTransaction{TransactionID: "ORD 1", Bank: "PAYPAL", Reference: "12", Amount: "-1",
		Customer: client.Customer{FullName: "A", Phone: "0400", NationalID: "X1"}}
	_, err = c.CreateTransaction(spectest.ExpectInvalid(ctx), bad)
	apiErr := wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed)
	for _, f := range []string{"transaction_id", "bank", "reference", "amount", "customer.full_name", "customer.phone", "customer.national_id"} {
		if apiErr.Fields[f] == "" {
			t.Errorf("422 fields %v lack %q", apiErr.Fields, f)
		}
	}
	_, err = c.ListTransactions(spectest.ExpectInvalid(ctx), client.ListOptions{Status: "DONE", Size: 1000})
	wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed)

	// Reads.
	got, err := c.Transaction(ctx, "ORD-1001")
	if err != nil || got.ID != created.ID || got.Reference != "000123456789" {
		t.Errorf("Transaction = %+v, %v", got, err)
	}
	st, err := c.Status(ctx, "ORD-1001")
	if err != nil || st.TransactionID != "ORD-1001" || st.Status != client.StatusInProgress {
		t.Errorf("Status = %+v, %v", st, err)
	}
	events, err := c.Events(ctx, "ORD-1001")
	if err != nil || len(events) == 0 || events[0].Reason != "created" || events[0].OldStatus != "" || events[0].ActorID != me.ID {
		t.Errorf("Events = %+v, %v", events, err)
	}
	if _, err := c.CreateTransaction(ctx, order("ORD-2001", "000999888777")); err != nil {
		t.Fatalf("second create: %v", err)
	}
	page, err := c.ListTransactions(ctx, client.ListOptions{Status: client.StatusInProgress, Bank: client.BankMobileTransfer,
		FromDate: today(), ToDate: today(), Size: 1})
	if err != nil || page.Total != 2 || len(page.Items) != 1 || page.Pages != 2 || page.Items[0].TransactionID != "ORD-2001" {
		t.Errorf("ListTransactions = %+v, %v; want 2 in 2 pages, newest first", page, err)
	}
	page, err = c.ListTransactions(ctx, client.ListOptions{Reference: "000123456789"})
	if err != nil || page.Total != 1 {
		t.Errorf("ListTransactions by reference = %+v, %v", page, err)
	}
	_, err = c.Transaction(ctx, "NOPE")
	wantAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	// Verify: 202 with a time.
	at, err := c.Verify(ctx, "ORD-1001")
	if err != nil || at.IsZero() {
		t.Errorf("Verify = %v, %v", at, err)
	}

	// The user may not patch or delete (403); the admin may.
	_, err = c.PatchTransaction(ctx, "ORD-1001", client.Patch{Status: client.StatusCanceled, Reason: "x"})
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	canceled, err := admin.PatchTransaction(ctx, "ORD-1001", client.Patch{Status: client.StatusCanceled, Reason: "customer asked to cancel"})
	if err != nil || canceled.Status != client.StatusCanceled || canceled.StatusReason != "customer asked to cancel" || canceled.NextCheckAt != nil {
		t.Errorf("PatchTransaction = %+v, %v", canceled, err)
	}
	_, err = admin.PatchTransaction(ctx, "ORD-1001", client.Patch{Status: client.StatusCompleted, Reason: "x"})
	wantAPIError(t, err, http.StatusConflict, client.CodeInvalidTransition)
	_, err = c.Verify(ctx, "ORD-1001")
	wantAPIError(t, err, http.StatusConflict, client.CodeInvalidTransition)
	_, err = admin.PatchTransaction(spectest.ExpectInvalid(ctx), "ORD-2001", client.Patch{Status: client.StatusToReview})
	wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed)

	err = c.DeleteTransaction(ctx, "ORD-2001")
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	if err := admin.DeleteTransaction(ctx, "ORD-2001"); err != nil {
		t.Fatalf("DeleteTransaction: %v", err)
	}
	_, err = c.Status(ctx, "ORD-2001")
	wantAPIError(t, err, http.StatusNotFound, client.CodeNotFound)

	t.Logf("validated exchanges:\n  %s", strings.Join(e.spec.Seen(), "\n  "))
}

// TestClientAuth covers login, refresh (on expiry and after a 401), logout,
// registration errors and the user admin calls.
func TestClientAuth(t *testing.T) {
	t.Parallel()
	e := setup(t, options{accessTTL: 2 * time.Second})
	ctx := ctxT(t)
	anon := e.client(t)

	// Calls that need a token fail clearly without credentials.
	if _, err := anon.Me(ctx); !errors.Is(err, client.ErrNoCredentials) {
		t.Errorf("Me without credentials: %v, want ErrNoCredentials", err)
	}
	_, err := anon.Login(ctx, adminEmail, "wrong-password-123")
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeInvalidCredentials)
	_, err = anon.Register(ctx, client.Registration{Email: adminEmail, Password: "password-0123456", FullName: "Again"})
	wantAPIError(t, err, http.StatusConflict, client.CodeEmailTaken)
	_, err = anon.Register(spectest.ExpectInvalid(ctx), client.Registration{Email: "x", Password: "short", FullName: "A"})
	if apiErr := wantAPIError(t, err, http.StatusUnprocessableEntity, client.CodeValidationFailed); len(apiErr.Fields) != 3 {
		t.Errorf("fields = %v, want email, password and full_name", apiErr.Fields)
	}

	c, u := e.newUser(t)
	me, err := c.Me(ctx) // logs in by itself
	if err != nil || me.ID != u.ID {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	first := c.Tokens()
	if first.TokenType != "Bearer" || first.ExpiresIn != 2 {
		t.Errorf("tokens = %+v", first)
	}

	// Expiry: the client refreshes before using an expired token.
	time.Sleep(2100 * time.Millisecond)
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me after expiry: %v", err)
	}
	second := c.Tokens()
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Errorf("tokens were not refreshed on expiry")
	}

	// A 401 (the access token revoked elsewhere) is answered by one refresh.
	revoker := e.client(t, client.WithTokens(client.Tokens{AccessToken: second.AccessToken}))
	if err := revoker.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me after the access token was revoked: %v", err)
	}
	third := c.Tokens()
	if third.AccessToken == second.AccessToken || third.RefreshToken == second.RefreshToken {
		t.Errorf("tokens were not refreshed after a 401")
	}

	// Both tokens revoked: the refresh fails (401) and the client logs in again.
	revoker = e.client(t, client.WithTokens(third))
	if err := revoker.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := c.Me(ctx); err != nil {
		t.Fatalf("Me after both tokens were revoked: %v", err)
	}
	if c.Tokens().RefreshToken == third.RefreshToken {
		t.Errorf("no new login after the refresh token was revoked")
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Errorf("Refresh: %v", err)
	}

	// Without credentials, a dead token is a typed 401.
	stale := e.client(t, client.WithTokens(client.Tokens{AccessToken: "not-a-token"}))
	_, err = stale.Me(ctx)
	wantAPIError(t, err, http.StatusUnauthorized, client.CodeUnauthorized)

	// User admin.
	admin := e.admin(t)
	users, err := admin.ListUsers(ctx, 1, 1)
	if err != nil || users.Total != 2 || len(users.Items) != 1 {
		t.Errorf("ListUsers = %+v, %v", users, err)
	}
	_, err = c.ListUsers(ctx, 0, 0)
	wantAPIError(t, err, http.StatusForbidden, client.CodeForbidden)
	updated, err := admin.SetPermissions(ctx, u.ID, []string{client.PermTransactionRead, client.PermTransactionUpdate})
	if err != nil || len(updated.Permissions) != 2 {
		t.Errorf("SetPermissions = %+v, %v", updated, err)
	}
	_, err = admin.SetPermissions(ctx, "00000000-0000-0000-0000-000000000000", []string{})
	wantAPIError(t, err, http.StatusNotFound, client.CodeNotFound)
	off, err := admin.SetActive(ctx, u.ID, false)
	if err != nil || off.IsActive {
		t.Errorf("SetActive(false) = %+v, %v", off, err)
	}
	_, err = c.Me(ctx) // refused, refresh refused, login refused
	if err == nil {
		t.Errorf("Me of a deactivated user succeeded")
	}
	adminUser, err := admin.Me(ctx)
	if err != nil {
		t.Fatalf("admin Me: %v", err)
	}
	_, err = admin.SetActive(ctx, adminUser.ID, false)
	wantAPIError(t, err, http.StatusConflict, client.CodeInvalidTransition)

	// Logout forgets everything.
	if err := admin.Logout(ctx); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := admin.Me(ctx); !errors.Is(err, client.ErrNoCredentials) {
		t.Errorf("Me after Logout: %v, want ErrNoCredentials", err)
	}
}

// TestClientRateLimited gets a real 429 from the API and checks it is typed
// with its Retry-After (and matches the spec).
func TestClientRateLimited(t *testing.T) {
	t.Parallel()
	e := setup(t, options{rateLimit: 6}) // a burst of 1 per client, then one per 10 s
	ctx := ctxT(t)
	c := e.client(t, client.WithCredentials(adminEmail, adminPassword), client.WithRetries(1, time.Second))
	if _, err := c.Me(ctx); err != nil { // login (per IP) and Me (per user): one each
		t.Fatalf("Me: %v", err)
	}
	_, err := c.Me(ctx)
	apiErr := wantAPIError(t, err, http.StatusTooManyRequests, client.CodeRateLimited)
	if apiErr.RetryAfter < time.Second || !apiErr.Temporary() {
		t.Errorf("RetryAfter = %v, Temporary = %v", apiErr.RetryAfter, apiErr.Temporary())
	}
}

// TestWaitFinal creates a transaction whose payment the bank sandbox knows and
// waits with the client while a real worker checks it.
func TestWaitFinal(t *testing.T) {
	t.Parallel()
	e := setup(t, options{worker: true})
	ctx := ctxT(t)
	e.bank.AddPayment(banksandbox.Payment{Reference: "000123456789", Amount: "1240.00", Phone: "04141234567",
		BankID: "0102", Date: today(), Concept: "Consulta"})
	c, _ := e.newUser(t)

	created, err := c.CreateTransaction(ctx, order("ORD-3001", "000123456789"))
	if err != nil {
		t.Fatalf("CreateTransaction: %v", err)
	}
	st, err := c.WaitFinal(ctx, created.TransactionID)
	if err != nil || st.Status != client.StatusCompleted || st.Attempts < 1 || st.LastCheckedAt == nil {
		t.Fatalf("WaitFinal = %+v, %v; want COMPLETED after a check", st, err)
	}
	tx, err := c.Transaction(ctx, created.TransactionID)
	if err != nil || tx.BankDetails == nil || tx.StatusReason == "" {
		t.Errorf("Transaction after COMPLETED = %+v, %v; want bank details and a reason", tx, err)
	}
	events, err := c.Events(ctx, created.TransactionID)
	if err != nil || len(events) < 3 || events[len(events)-1].NewStatus != client.StatusCompleted {
		t.Errorf("Events = %+v, %v; want created, bank_check, COMPLETED", events, err)
	}

	// A payment the bank does not know: WaitFinal ends with the context, with
	// the last status seen.
	if _, err := c.CreateTransaction(ctx, order("ORD-3002", "000555444333")); err != nil {
		t.Fatalf("CreateTransaction: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	st, err = c.WaitFinal(short, "ORD-3002")
	if !errors.Is(err, context.DeadlineExceeded) || st.Status != client.StatusInProgress {
		t.Errorf("WaitFinal of an unknown payment = %+v, %v; want IN_PROGRESS and DeadlineExceeded", st, err)
	}
}
