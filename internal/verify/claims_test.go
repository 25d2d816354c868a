package verify_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// claimBody is a create body for the reference, bank and type.
func (b *bundle) claimBody(bank, typ, ref, amount string) map[string]any {
	n := b.seq.Add(1)
	body := map[string]any{
		"transaction_id": fmt.Sprintf("CLM-%d", n), "bank": bank, "transaction_type": typ, "reference": ref,
		"payer_bank_code": payerBank,
		"customer":        map[string]any{"full_name": "Ana Pérez", "phone": payerPhone, "national_id": "V12345678"},
	}
	if amount != "" {
		body["amount"] = amount
	}
	return body
}

// file POSTs a body with token and returns the status and the view.
func (b *bundle) file(t *testing.T, token string, body map[string]any) (int, transaction.View, errorBody) {
	t.Helper()
	r := b.do(t, http.MethodPost, "/api/v1/transactions", token, body)
	var v transaction.View
	var e errorBody
	if r.status == http.StatusCreated {
		r.decode(t, &v)
	} else {
		r.decode(t, &e)
	}
	return r.status, v, e
}

// view GETs a transaction as token sees it.
func (b *bundle) view(t *testing.T, token, id string) transaction.View {
	t.Helper()
	r := b.do(t, http.MethodGet, "/api/v1/transactions/"+id, token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", id, r.status, r.body)
	}
	var v transaction.View
	r.decode(t, &v)
	return v
}

// waitView waits until the transaction, as token sees it, leaves IN_PROGRESS.
func (b *bundle) waitSettled(t *testing.T, token, id string) transaction.View {
	t.Helper()
	var v transaction.View
	eventually(t, 20*time.Second, func() (bool, string) {
		v = b.view(t, token, id)
		return v.Status != transaction.StatusInProgress, id + " still IN_PROGRESS"
	})
	return v
}

// apiEvents GETs a history as token sees it.
func (b *bundle) apiEvents(t *testing.T, token, id string) []apiEvent {
	t.Helper()
	r := b.do(t, http.MethodGet, "/api/v1/transactions/"+id+"/events", token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("events of %s: %d %s", id, r.status, r.body)
	}
	var page struct {
		Items []apiEvent `json:"items"`
	}
	r.decode(t, &page)
	return page.Items
}

// holderSeen returns the holder named in the history as token sees it ("" if none).
func holderSeen(events []apiEvent) string {
	for _, e := range events {
		if c, ok := e.Metadata["claim"].(map[string]any); ok {
			if h, ok := c["holder"].(map[string]any); ok {
				s, _ := h["transaction_id"].(string)
				return s
			}
		}
	}
	return ""
}

// wantRefused asserts a transaction ended TO_REVIEW because its payment is
// another's: the owner sees only the reason; an admin sees who holds it.
func (b *bundle) wantRefused(t *testing.T, ownerToken, id, holder string) {
	t.Helper()
	v := b.waitSettled(t, ownerToken, id)
	if v.Status != transaction.StatusToReview || v.StatusReason == nil || *v.StatusReason != transaction.ReasonPaymentAlreadyClaimed {
		t.Errorf("%s: %s %v, want TO_REVIEW payment_already_claimed", id, v.Status, v.StatusReason)
	}
	if v.BankDetails != nil {
		t.Errorf("%s: bank_details %s shows the owner another transaction's bank row", id, *v.BankDetails)
	}
	if ownerToken != b.adminToken {
		for _, e := range b.apiEvents(t, ownerToken, id) {
			if _, leaked := e.Metadata["claim"]; leaked {
				t.Errorf("%s: the owner's history shows the claim: %v", id, e.Metadata)
			}
		}
	}
	if got := holderSeen(b.apiEvents(t, b.adminToken, id)); got != holder {
		t.Errorf("%s: an admin sees holder %q, want %q", id, got, holder)
	}
}

// wantNeverMatched asserts that checks of a transaction found nothing at the
// bank (the row the bank returned belongs to another reference), then deletes
// it so its checks stop sharing the reference's bank budget.
func (b *bundle) wantNeverMatched(t *testing.T, token, id string) {
	t.Helper()
	eventually(t, 20*time.Second, func() (bool, string) {
		n := 0
		for _, e := range b.apiEvents(t, token, id) {
			if e.Reason == "bank_check" && e.Metadata["outcome"] == "not_found" && e.Metadata["bank_status_code"] == "200" {
				n++
			}
		}
		return n >= 2, fmt.Sprintf("%s: %d checks that saw the row and found it is not this payment, want 2", id, n)
	})
	if v := b.view(t, token, id); v.Status != transaction.StatusInProgress || v.BankDetails != nil {
		t.Errorf("%s: %s with bank_details %v, want IN_PROGRESS with none", id, v.Status, v.BankDetails)
	}
	if r := b.do(t, http.MethodDelete, "/api/v1/transactions/"+id, b.adminToken, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete %s: %d", id, r.status)
	}
}

// TestOnePaymentConfirmsOneTransaction: the bank knows ONE pago móvil payment
// and ONE Banesco transfer. Each is claimed by the transaction that reported
// it; every other way of reusing them that was once accepted (another leading
// part of the reference, only its last digits, a leading zero, another
// transaction_type, another user) is refused at create (409), at the check
// (TO_REVIEW payment_already_claimed), or never matches the bank's row at all
// (a reference whose leading digits contradict the row's full reference).
// Two COMPLETED in all.
func TestOnePaymentConfirmsOneTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true})
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	b.bank.AddPayment(banksandbox.Payment{Reference: "4455123456", Amount: testAmount, Mode: banksandbox.ModeMobile,
		Phone: payerPhone, BankID: payerBank, Date: today})
	b.bank.AddPayment(banksandbox.Payment{Reference: "987654321", Amount: testAmount, Mode: banksandbox.ModeTransfer})

	holders := map[string]transaction.View{}
	for bank, ref := range map[string]string{transaction.BankMobileTransfer: "4455123456", transaction.BankBanesco: "987654321"} {
		status, v, e := b.file(t, b.userToken, b.claimBody(bank, "TRANSACTION", ref, testAmount))
		if status != http.StatusCreated {
			t.Fatalf("holder %s: %d %s", ref, status, e.Error.Code)
		}
		if v = b.waitSettled(t, b.userToken, v.TransactionID); v.Status != transaction.StatusCompleted {
			t.Fatalf("holder %s ended %s %v", ref, v.Status, v.StatusReason)
		}
		holders[bank] = v
	}

	for _, tc := range []struct {
		name, bank, typ, ref string
		byAdmin              bool // another user files it
		amount               string
		wantCreate           int
		neverMatches         bool // the row's full reference contradicts it: found nothing, ever
	}{
		{"pago móvil: other leading digits", transaction.BankMobileTransfer, "TRANSACTION", "9955123456", false, testAmount, 201, true},
		{"pago móvil: only the last digits", transaction.BankMobileTransfer, "TRANSACTION", "123456", false, testAmount, 201, false},
		{"pago móvil: a leading zero", transaction.BankMobileTransfer, "TRANSACTION", "04455123456", false, testAmount, 409, false},
		{"pago móvil: another transaction_type", transaction.BankMobileTransfer, "COMMISSION", "4455123456", false, testAmount, 201, false},
		{"pago móvil: another type, no amount", transaction.BankMobileTransfer, "OTHER", "4455123456", false, "", 201, false},
		{"pago móvil: another user", transaction.BankMobileTransfer, "TRANSACTION", "55123456", true, testAmount, 201, false},
		{"pago móvil: another user, other leading digits", transaction.BankMobileTransfer, "TRANSACTION", "7755123456", true, testAmount, 201, true},
		{"pago móvil: another user, same reference", transaction.BankMobileTransfer, "TRANSACTION", "4455123456", true, testAmount, 409, false},
		{"transfer: a leading zero", transaction.BankBanesco, "TRANSACTION", "0987654321", false, testAmount, 409, false},
		{"transfer: another transaction_type", transaction.BankBanesco, "OTHER", "987654321", false, testAmount, 201, false},
		{"transfer: another user, another type, zeros", transaction.BankBanesco, "COMMISSION", "000987654321", true, "", 201, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := b.userToken
			if tc.byAdmin {
				token = b.adminToken
			}
			status, v, e := b.file(t, token, b.claimBody(tc.bank, tc.typ, tc.ref, tc.amount))
			if status != tc.wantCreate {
				t.Fatalf("create: %d (%s), want %d", status, e.Error.Code, tc.wantCreate)
			}
			if status == http.StatusConflict {
				if e.Error.Code != "duplicate_reference" {
					t.Errorf("409 %s, want duplicate_reference", e.Error.Code)
				}
				return
			}
			if tc.neverMatches {
				b.wantNeverMatched(t, token, v.TransactionID)
				return
			}
			b.wantRefused(t, token, v.TransactionID, holders[tc.bank].TransactionID)
		})
	}

	var completed, claims int
	if err := b.db.GetContext(t.Context(), &completed, `SELECT count(*) FROM transactions WHERE status = 'COMPLETED'`); err != nil {
		t.Fatal(err)
	}
	if err := b.db.GetContext(t.Context(), &claims, `SELECT count(*) FROM payment_claims WHERE released_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	if completed != 2 || claims != 2 {
		t.Errorf("%d COMPLETED and %d claims from two payments, want 2 and 2", completed, claims)
	}
}

// TestCommissionSharesTheReference: a payment and its commission are two
// movements with one reference (bank-api.md: "the transaction and its
// commission share a reference"). Each confirms its own transaction, with its
// own row, whichever is checked first.
func TestCommissionSharesTheReference(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true})
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	for _, tc := range []struct{ bank, ref string }{
		{transaction.BankMobileTransfer, "3311654321"},
		{transaction.BankBanesco, "55443322"},
	} {
		t.Run(tc.bank, func(t *testing.T) {
			t.Parallel()
			for _, amount := range []string{"1240.00", "12.40"} {
				p := banksandbox.Payment{Reference: tc.ref, Amount: amount, Mode: banksandbox.ModeTransfer}
				if tc.bank == transaction.BankMobileTransfer {
					p = banksandbox.Payment{Reference: tc.ref, Amount: amount, Mode: banksandbox.ModeMobile, Phone: payerPhone, BankID: payerBank, Date: today}
				}
				b.bank.AddPayment(p)
			}
			ids := map[string]string{}
			for typ, amount := range map[string]string{"COMMISSION": "12.40", "TRANSACTION": "1240.00"} {
				status, v, e := b.file(t, b.userToken, b.claimBody(tc.bank, typ, tc.ref, amount))
				if status != http.StatusCreated {
					t.Fatalf("%s: %d %s", typ, status, e.Error.Code)
				}
				ids[amount] = v.TransactionID
			}
			for amount, id := range ids {
				v := b.waitSettled(t, b.userToken, id)
				if v.Status != transaction.StatusCompleted || v.BankDetails == nil {
					t.Fatalf("%s (%s): %s %v", id, amount, v.Status, v.StatusReason)
				}
				var row map[string]json.RawMessage
				if err := json.Unmarshal(*v.BankDetails, &row); err != nil {
					t.Fatalf("bank_details %s: %v", *v.BankDetails, err)
				}
				rowAmount := strings.Trim(string(row["amount"]), `"`)
				if !sameAmount(rowAmount, amount) {
					t.Errorf("%s confirmed by the row of %s, want its own %s", id, rowAmount, amount)
				}
			}
		})
	}
}

// sameAmount compares bank amounts by value ("1240", "1240.0", "1240.00").
func sameAmount(a, b string) bool {
	norm := func(s string) string {
		w, f, _ := strings.Cut(s, ".")
		return w + "." + (f + "00")[:2]
	}
	return norm(a) == norm(b)
}

// TestReviewerReleasesAClaim: a reviewer who cancels the holder keeps its
// claim (the refused transaction, checked again, is still refused) until the
// PATCH asks release_claim; then a new check confirms the other transaction.
func TestReviewerReleasesAClaim(t *testing.T) {
	t.Parallel()
	b := setup(t, options{withAPI: true})
	today := time.Now().In(transaction.Caracas).Format(time.DateOnly)
	b.bank.AddPayment(banksandbox.Payment{Reference: "2211000777", Amount: testAmount, Mode: banksandbox.ModeMobile,
		Phone: payerPhone, BankID: payerBank, Date: today})
	_, holder, _ := b.file(t, b.userToken, b.claimBody(transaction.BankMobileTransfer, "TRANSACTION", "2211000777", testAmount))
	if v := b.waitSettled(t, b.userToken, holder.TransactionID); v.Status != transaction.StatusCompleted {
		t.Fatalf("holder: %s", v.Status)
	}
	// Only the last digits of the holder's reference: the same payment.
	_, other, _ := b.file(t, b.userToken, b.claimBody(transaction.BankMobileTransfer, "TRANSACTION", "11000777", testAmount))
	b.wantRefused(t, b.userToken, other.TransactionID, holder.TransactionID)

	patch := func(id string, body map[string]any) response {
		return b.do(t, http.MethodPatch, "/api/v1/transactions/"+id, b.adminToken, body)
	}
	recheck := func(wantStatus transaction.Status) transaction.View {
		t.Helper()
		if r := b.do(t, http.MethodPost, "/api/v1/transactions/"+other.TransactionID+"/verify", b.adminToken, nil); r.status != http.StatusAccepted {
			t.Fatalf("verify: %d %s", r.status, r.body)
		}
		v := b.waitSettled(t, b.adminToken, other.TransactionID)
		if v.Status != wantStatus {
			t.Fatalf("after the recheck %s is %s %v, want %s", other.TransactionID, v.Status, v.StatusReason, wantStatus)
		}
		return v
	}

	// Cancelled without release: the claim stays.
	if r := patch(holder.TransactionID, map[string]any{"status": "CANCELED", "reason": "paid for another order"}); r.status != http.StatusOK {
		t.Fatalf("cancel holder: %d %s", r.status, r.body)
	}
	recheck(transaction.StatusToReview)
	b.wantRefused(t, b.userToken, other.TransactionID, holder.TransactionID)

	// Released afterwards, audited with the actor.
	if r := patch(holder.TransactionID, map[string]any{"status": "CANCELED", "release_claim": true}); r.status != http.StatusOK {
		t.Fatalf("release: %d %s", r.status, r.body)
	}
	var released bool
	for _, e := range b.apiEvents(t, b.adminToken, holder.TransactionID) {
		released = released || (e.Reason == "claim_released" && e.ActorType == "USER" && e.ActorID != "")
	}
	if !released {
		t.Error("no claim_released event with its actor")
	}
	// Nothing left to release.
	if r := patch(holder.TransactionID, map[string]any{"status": "CANCELED", "release_claim": true}); r.status != http.StatusConflict {
		t.Errorf("second release: %d %s, want 409", r.status, r.body)
	}
	v := recheck(transaction.StatusCompleted)
	if v.BankDetails == nil || !strings.Contains(string(*v.BankDetails), "2211000777") {
		t.Errorf("bank_details %v, want the released movement", v.BankDetails)
	}
}
