// Package transaction owns the payments a client app asks us to verify: their
// validation, storage (rows and their event history), the HTTP handlers of the
// Transactions routes, and the guarded status transitions the worker and people
// make. Every status change and every bank check is an event, written in the same
// Postgres transaction as the change itself.
package transaction

import (
	"database/sql"
	"encoding/json"
	"time"
)

// Status of a transaction.
type Status string

// Statuses (docs/api.md).
const (
	StatusInProgress Status = "IN_PROGRESS"
	StatusCompleted  Status = "COMPLETED"
	StatusCanceled   Status = "CANCELED"
	StatusToReview   Status = "TO_REVIEW"
	StatusUnknown    Status = "UNKNOWN"
)

// Final reports whether no bank check will change the status any more.
func (s Status) Final() bool { return s == StatusCompleted || s == StatusCanceled }

// Checkable reports whether the worker still checks transactions in this status.
func (s Status) Checkable() bool { return s == StatusInProgress }

// Bank values.
const (
	BankBanesco        = "BANESCO"
	BankMobileTransfer = "MOBILE_TRANSFER"
)

// Actor types of events.
const (
	ActorUser     = "USER"
	ActorSystem   = "SYSTEM"
	ActorExternal = "EXTERNAL"
)

// Transaction is a stored row.
type Transaction struct {
	ID                 string           `db:"id"`
	TransactionID      string           `db:"transaction_id"`
	UserID             string           `db:"user_id"`
	Status             Status           `db:"status"`
	Bank               string           `db:"bank"`
	TransactionType    string           `db:"transaction_type"`
	Reference          string           `db:"reference"`
	Amount             sql.NullString   `db:"amount"`
	PayerBankCode      string           `db:"payer_bank_code"`
	PaidOn             time.Time        `db:"paid_on"`
	CustomerFullName   string           `db:"customer_full_name"`
	CustomerPhone      string           `db:"customer_phone"`
	CustomerNationalID string           `db:"customer_national_id"`
	CustomerConcept    sql.NullString   `db:"customer_concept"`
	RequestHash        []byte           `db:"request_hash"`
	Attempts           int              `db:"attempts"`
	LastCheckedAt      sql.NullTime     `db:"last_checked_at"`
	NextCheckAt        sql.NullTime     `db:"next_check_at"`
	DeadlineAt         time.Time        `db:"deadline_at"`
	StatusReason       sql.NullString   `db:"status_reason"`
	BankPayload        *json.RawMessage `db:"bank_payload"`
	CreatedAt          time.Time        `db:"created_at"`
	UpdatedAt          time.Time        `db:"updated_at"`
	DeletedAt          sql.NullTime     `db:"deleted_at"`
	// BankFailures counts the checks in a row that got no real answer from the
	// bank; RangeTooWide the 70005 answers in a row.
	BankFailures int `db:"bank_failures"`
	RangeTooWide int `db:"range_too_wide"`
	// TaskSeq numbers the live verify task (tasks.VerifyTaskID): a check that
	// waits hands over to a successor with the next number.
	TaskSeq int `db:"task_seq"`
}

// Customer is the payer as the client app gave it (normalised).
type Customer struct {
	FullName   string  `json:"full_name"`
	Phone      string  `json:"phone"`
	NationalID string  `json:"national_id"`
	Concept    *string `json:"concept"`
}

// View is the JSON shape of a transaction (docs/api.md "Transaction").
type View struct {
	ID              string           `json:"id"`
	TransactionID   string           `json:"transaction_id"`
	Status          Status           `json:"status"`
	Bank            string           `json:"bank"`
	TransactionType string           `json:"transaction_type"`
	Reference       string           `json:"reference"`
	Amount          *string          `json:"amount"`
	PayerBankCode   string           `json:"payer_bank_code"`
	PaidOn          string           `json:"paid_on"`
	Customer        Customer         `json:"customer"`
	Attempts        int              `json:"attempts"`
	LastCheckedAt   *time.Time       `json:"last_checked_at"`
	NextCheckAt     *time.Time       `json:"next_check_at"`
	BankDetails     *json.RawMessage `json:"bank_details"`
	StatusReason    *string          `json:"status_reason"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
}

func nullString(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	v := s.String
	return &v
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// View renders the row for clients.
func (t Transaction) View() View {
	return View{
		ID: t.ID, TransactionID: t.TransactionID, Status: t.Status, Bank: t.Bank,
		TransactionType: t.TransactionType, Reference: t.Reference, Amount: nullString(t.Amount),
		PayerBankCode: t.PayerBankCode, PaidOn: t.PaidOn.Format(time.DateOnly),
		Customer: Customer{FullName: t.CustomerFullName, Phone: t.CustomerPhone,
			NationalID: t.CustomerNationalID, Concept: nullString(t.CustomerConcept)},
		Attempts: t.Attempts, LastCheckedAt: nullTime(t.LastCheckedAt), NextCheckAt: nullTime(t.NextCheckAt),
		BankDetails: t.BankPayload, StatusReason: nullString(t.StatusReason),
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC(),
	}
}

// StatusView is the reply of GET …/status.
type StatusView struct {
	TransactionID string     `json:"transaction_id"`
	Status        Status     `json:"status"`
	Attempts      int        `json:"attempts"`
	LastCheckedAt *time.Time `json:"last_checked_at"`
	NextCheckAt   *time.Time `json:"next_check_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
}

// Event is one entry of a transaction's history.
type Event struct {
	ID        int64           `db:"id" json:"id"`
	OldStatus *Status         `db:"old_status" json:"old_status"`
	NewStatus Status          `db:"new_status" json:"new_status"`
	Reason    string          `db:"reason" json:"reason"`
	ActorType string          `db:"actor_type" json:"actor_type"`
	ActorID   string          `db:"actor_id" json:"actor_id"`
	Metadata  json.RawMessage `db:"metadata" json:"metadata"`
	CreatedAt time.Time       `db:"created_at" json:"created_at"`
}
