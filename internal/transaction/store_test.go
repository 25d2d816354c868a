package transaction_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

// TestStoreCreateAndRead: the row and its creation event in one step; the same
// request again is a replay, another body a conflict; owners see their own.
func TestStoreCreateAndRead(t *testing.T) {
	t.Parallel()
	e := newClaimEnv(t)
	ctx := context.Background()
	tx := e.create(t, "123456789012", "TRANSACTION")
	if tx.Status != transaction.StatusInProgress || !tx.NextCheckAt.Valid || tx.DeadlineAt.Sub(tx.CreatedAt) != time.Hour {
		t.Fatalf("created %+v", tx)
	}
	events, err := e.store.Events(ctx, tx.ID)
	if err != nil || len(events) != 1 || events[0].Reason != "created" || events[0].OldStatus != nil {
		t.Fatalf("events %+v, %v", events, err)
	}
	amount := "1240.00"
	req := transaction.CreateRequest{TransactionID: tx.TransactionID, Bank: transaction.BankMobileTransfer, TransactionType: "TRANSACTION",
		Reference: "123456789012", Amount: &amount, PayerBankCode: "0102",
		Customer: transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"}}
	n, _ := req.Validate(time.Now())
	again, replayed, err := e.store.Create(ctx, e.user, n, time.Hour, "test")
	if err != nil || !replayed || again.ID != tx.ID {
		t.Errorf("same request: %v replayed=%v id=%s, want the stored one", err, replayed, again.ID)
	}
	other := "1.00"
	req.Amount = &other
	n, _ = req.Validate(time.Now())
	if _, _, err := e.store.Create(ctx, e.user, n, time.Hour, "test"); !errors.Is(err, transaction.ErrIDConflict) {
		t.Errorf("other body: %v, want ErrIDConflict", err)
	}
	if _, err := e.store.Get(ctx, tx.TransactionID, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, transaction.ErrNotFound) {
		t.Errorf("another owner: %v, want ErrNotFound", err)
	}
	if got, err := e.store.Get(ctx, tx.TransactionID, ""); err != nil || got.ID != tx.ID {
		t.Errorf("admin: %v", err)
	}
	if _, err := e.store.ByID(ctx, "not-a-uuid"); !errors.Is(err, transaction.ErrNotFound) {
		t.Errorf("ByID(not a uuid): %v, want ErrNotFound", err)
	}
}
