package client

import "time"

// TransactionStatus is where a transaction stands.
type TransactionStatus string

// Statuses.
const (
	// StatusInProgress: being checked with the bank.
	StatusInProgress TransactionStatus = "IN_PROGRESS"
	// StatusCompleted: the bank confirmed the payment (final).
	StatusCompleted TransactionStatus = "COMPLETED"
	// StatusToReview: a mismatch or an ambiguous match; a person decides.
	StatusToReview TransactionStatus = "TO_REVIEW"
	// StatusUnknown: not found by the verification deadline; a person decides.
	StatusUnknown TransactionStatus = "UNKNOWN"
	// StatusCanceled: canceled by the client or a reviewer (final).
	StatusCanceled TransactionStatus = "CANCELED"
)

// Checking reports whether the bank is still being asked (IN_PROGRESS). Any
// other status changes only when a person acts.
func (s TransactionStatus) Checking() bool { return s == StatusInProgress }

// Bank is where the payment was made.
type Bank string

// Banks.
const (
	BankBanesco        Bank = "BANESCO"         // a transfer into the merchant's Banesco account
	BankMobileTransfer Bank = "MOBILE_TRANSFER" // a mobile payment (pago móvil)
)

// TransactionType distinguishes payments with the same reference.
type TransactionType string

// Transaction types.
const (
	TypeTransaction TransactionType = "TRANSACTION"
	TypeCommission  TransactionType = "COMMISSION"
	TypeOther       TransactionType = "OTHER"
)

// Some status reasons (Transaction.StatusReason) a client app acts on.
const (
	ReasonBankConfirmed = "bank_confirmed"
	// ReasonPaymentAlreadyClaimed: the bank's payment already confirmed
	// another transaction (one payment confirms one transaction); TO_REVIEW.
	ReasonPaymentAlreadyClaimed = "payment_already_claimed"
	ReasonAmountMismatch        = "amount_mismatch"
	ReasonAmbiguousMatch        = "ambiguous_match"
	ReasonNotFoundByDeadline    = "not_found_by_deadline"
)

// Permissions a user may hold.
const (
	PermTransactionCreate = "transaction:create"
	PermTransactionRead   = "transaction:read"
	PermTransactionUpdate = "transaction:update"
	PermTransactionDelete = "transaction:delete"
	PermAdmin             = "admin:access"
)

// CreateTransaction is the body of a create request. TransactionID is your own
// id and the idempotency key: resending the same request is safe.
type CreateTransaction struct {
	TransactionID   string          `json:"transaction_id"`             // ^[A-Za-z0-9_-]{1,100}$
	Bank            Bank            `json:"bank"`                       // BankBanesco or BankMobileTransfer
	TransactionType TransactionType `json:"transaction_type,omitempty"` // default TypeTransaction
	Reference       string          `json:"reference"`                  // 6 to 20 digits
	Amount          string          `json:"amount,omitempty"`           // optional, "1240.00"
	PayerBankCode   string          `json:"payer_bank_code,omitempty"`  // optional, 4 digits, default "0134"
	PaidOn          string          `json:"paid_on,omitempty"`          // optional YYYY-MM-DD, default today in Caracas
	Customer        Customer        `json:"customer"`
}

// Customer is the payer.
type Customer struct {
	FullName   string `json:"full_name"`         // 2–255 letters, spaces, apostrophes, hyphens
	Phone      string `json:"phone"`             // ^04(12|14|16|22|24|26)\d{7}$
	NationalID string `json:"national_id"`       // ^[VE]\d{4,9}$
	Concept    string `json:"concept,omitempty"` // optional, ≤ 500 characters
}

// Transaction is a stored transaction.
type Transaction struct {
	ID              string            `json:"id"`             // our id
	TransactionID   string            `json:"transaction_id"` // yours
	Status          TransactionStatus `json:"status"`
	Bank            Bank              `json:"bank"`
	TransactionType TransactionType   `json:"transaction_type"`
	Reference       string            `json:"reference"`
	Amount          string            `json:"amount"` // "" when none was given
	PayerBankCode   string            `json:"payer_bank_code"`
	PaidOn          string            `json:"paid_on"` // YYYY-MM-DD
	Customer        Customer          `json:"customer"`
	Attempts        int               `json:"attempts"`
	LastCheckedAt   *time.Time        `json:"last_checked_at"`
	NextCheckAt     *time.Time        `json:"next_check_at"`
	BankDetails     map[string]any    `json:"bank_details"` // the matched bank row, nil when none
	StatusReason    string            `json:"status_reason"`
	CreatedAt       time.Time         `json:"created_at"`
	UpdatedAt       time.Time         `json:"updated_at"`
}

// Created is the result of CreateTransaction.
type Created struct {
	Transaction
	// Replayed is true when an identical request was made before: Transaction
	// is the stored one, as it is now.
	Replayed bool
}

// Status is the small view of a transaction to poll.
type Status struct {
	TransactionID string            `json:"transaction_id"`
	Status        TransactionStatus `json:"status"`
	Attempts      int               `json:"attempts"`
	LastCheckedAt *time.Time        `json:"last_checked_at"`
	NextCheckAt   *time.Time        `json:"next_check_at"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

// Event is one entry of a transaction's history.
type Event struct {
	ID        int64             `json:"id"`
	OldStatus TransactionStatus `json:"old_status"` // "" on the creation event
	NewStatus TransactionStatus `json:"new_status"`
	Reason    string            `json:"reason"`
	ActorType string            `json:"actor_type"` // USER, SYSTEM or EXTERNAL
	ActorID   string            `json:"actor_id"`
	Metadata  map[string]any    `json:"metadata"`
	CreatedAt time.Time         `json:"created_at"`
}

// Patch settles or cancels a transaction by hand.
type Patch struct {
	Status TransactionStatus `json:"status"`           // StatusCompleted or StatusCanceled
	Reason string            `json:"reason,omitempty"` // required to cancel a COMPLETED transaction
	// ReleaseClaim, with StatusCanceled, frees the bank payment the transaction
	// holds so that another transaction may be confirmed by it.
	ReleaseClaim bool `json:"release_claim,omitempty"`
}

// Page is one page of a list.
type Page[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Size  int `json:"size"`
	Pages int `json:"pages"`
	// TotalEstimated is true when Total is the server's estimate (transaction
	// listings with more than 10 000 matches).
	TotalEstimated bool `json:"total_estimated,omitempty"`
}

// ListOptions filter ListTransactions; zero values mean "any".
type ListOptions struct {
	Status          TransactionStatus
	Bank            Bank
	TransactionType TransactionType
	Reference       string
	Phone           string
	NationalID      string
	FromDate        string // YYYY-MM-DD, created on or after (Caracas time)
	ToDate          string // YYYY-MM-DD, created on or before
	// Sort is SortNewestFirst (the list's default) or SortOldestFirst (the
	// export's default; a reviewer's TO_REVIEW queue).
	Sort Sort
	Page int // from 1 (ListTransactions only)
	Size int // 1..100, default 20 (ListTransactions only)
}

// Sort orders transaction lists and exports by creation time.
type Sort string

// Sorts.
const (
	SortNewestFirst Sort = "-created_at"
	SortOldestFirst Sort = "created_at"
)

// CursorPage is a keyset page: pass NextCursor back for the next one; it is
// empty on the last page.
type CursorPage[T any] struct {
	Items      []T     `json:"items"`
	NextCursor *string `json:"next_cursor"`
}

// User is an account.
type User struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	FullName    string    `json:"full_name"`
	IsActive    bool      `json:"is_active"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
}

// Registration is the body of Register.
type Registration struct {
	Email    string `json:"email"`
	Password string `json:"password"` // 10 to 72 characters
	FullName string `json:"full_name"`
}

// Tokens is a token pair as login and refresh return it.
type Tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"` // seconds
}
