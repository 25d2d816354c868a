package transaction

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Movement identifies one bank movement (one row the bank returns) by what the
// bank gives back about it, already normalised by the bank client: the same
// payment reads as the same Movement whichever of our transactions asked about
// it, padded or not, by its 6-digit tail or by its whole reference.
type Movement struct {
	Reference  string // digits without leading zeros ("0" for all zeros)
	Date       string // booking date as the bank gives it, YYYY-MM-DD
	Amount     string // "1240.00"
	TrnType    string // "CR"
	SourceBank string // 4 digits
	Account    string // as the bank shows it (masked)
}

// Key is the movement's identity, equal to payment_claims.movement_key (a
// generated column built the same way).
func (m Movement) Key() string {
	return strings.Join([]string{m.Reference, m.Date, m.Amount, m.TrnType, m.SourceBank, m.Account}, "|")
}

// Candidate is a bank row that could settle a transaction.
type Candidate struct {
	Movement Movement
	Row      json.RawMessage // exactly as the bank sent it
	Reason   string          // near misses: why it does not confirm (amount_mismatch, amount_unreadable)
}

// ClaimRequest is what a bank check found for a transaction, before claims are
// taken into account. Matches confirm; near misses (same reference, another or
// unreadable amount) send the transaction to review.
type ClaimRequest struct {
	Matches    []Candidate // in the bank's order; the first one not claimed by another transaction wins
	NearMisses []Candidate
	// OneOnly: the transaction has no amount, so when several unclaimed
	// movements match we cannot tell which one the customer meant.
	OneOnly bool
}

// Status reasons and refusal causes of claims.
const (
	ReasonPaymentAlreadyClaimed = "payment_already_claimed"
	ReasonAmbiguousMatch        = "ambiguous_match"
	ReasonBankConfirmed         = "bank_confirmed"

	// ClaimAlreadyClaimed: every matching movement was held when the check looked.
	ClaimAlreadyClaimed = "already_claimed"
	// ClaimRaceLost: the movement was free when the check looked, and another
	// transaction claimed it in the same instant (the unique index decided).
	ClaimRaceLost = "race_lost"
)

// Holder is the transaction that holds a movement.
type Holder struct {
	ID            string `json:"id" db:"id"`
	TransactionID string `json:"transaction_id" db:"transaction_id"`
}

// claimInfo is the admin-only "claim" object of an event's metadata: which
// movement, and who holds it. Owners never see it (see StripRestricted).
type claimInfo struct {
	Movement string          `json:"movement"`
	Holder   *Holder         `json:"holder,omitempty"`
	Row      json.RawMessage `json:"row,omitempty"`
}

// settlement is what a ClaimRequest comes to once claims are considered.
type settlement struct {
	status  Status // IN_PROGRESS: nothing usable (the caller's fallback applies)
	reason  string
	payload json.RawMessage
	claim   *claimInfo
	refused string // a ClaimAlreadyClaimed / ClaimRaceLost refusal, for metrics
	outcome string // the check's outcome as recorded in its event
	// bankDate is the booking date of the movement that confirmed: it may
	// differ from paid_on (booked after midnight, reported the day after).
	bankDate string
}

// holders returns who holds each of the movements (live claims only).
func holders(ctx context.Context, tx *sqlx.Tx, keys []string) (map[string]Holder, error) {
	rows := []struct {
		Key string `db:"movement_key"`
		Holder
	}{}
	err := tx.SelectContext(ctx, &rows, `SELECT c.movement_key, c.transaction_id AS id, t.transaction_id
		FROM payment_claims c JOIN transactions t ON t.id = c.transaction_id
		WHERE c.released_at IS NULL AND c.movement_key = ANY($1)`, pq.Array(keys))
	if err != nil {
		return nil, fmt.Errorf("read claims: %w", err)
	}
	out := make(map[string]Holder, len(rows))
	for _, r := range rows {
		out[r.Key] = r.Holder
	}
	return out, nil
}

// claim inserts the claim of m for the transaction id. It reports false when
// another transaction holds m: the partial unique index decides, so of two
// transactions racing for one movement exactly one gets true, whatever each
// read before.
func claim(ctx context.Context, tx *sqlx.Tx, id string, c Candidate) (bool, error) {
	m := c.Movement
	res, err := tx.ExecContext(ctx, `INSERT INTO payment_claims
			(transaction_id, reference_digits, trn_date, amount, trn_type, source_bank, account_id, bank_row)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (movement_key) WHERE released_at IS NULL DO NOTHING`,
		id, m.Reference, m.Date, m.Amount, m.TrnType, m.SourceBank, m.Account, string(c.Row)) // jsonb: a string (database.Open)
	if err != nil {
		return false, fmt.Errorf("claim movement: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim movement: %w", err)
	}
	return n == 1, nil
}

// settle decides what a check's rows mean for transaction id, taking claims in
// the same Postgres transaction as the status change that follows:
//   - the first matching movement not held by another transaction is claimed and
//     confirms (COMPLETED); one already held by id itself confirms again;
//   - matches that are all held by others → TO_REVIEW payment_already_claimed;
//   - no amount on the transaction and several free matches → TO_REVIEW
//     ambiguous_match (a person decides which movement the customer meant);
//   - no match, and a near miss not held by another → TO_REVIEW with its reason;
//   - near misses that all belong to other transactions are someone else's
//     movements: nothing usable, the check counts as "not found yet".
func settle(ctx context.Context, tx *sqlx.Tx, id string, req ClaimRequest) (settlement, error) {
	keys := make([]string, 0, len(req.Matches)+len(req.NearMisses))
	for _, c := range append(append([]Candidate(nil), req.Matches...), req.NearMisses...) {
		keys = append(keys, c.Movement.Key())
	}
	held, err := holders(ctx, tx, keys)
	if err != nil {
		return settlement{}, err
	}
	freeOf := func(cs []Candidate) []Candidate {
		var free []Candidate
		for _, c := range cs {
			if h, ok := held[c.Movement.Key()]; !ok || h.ID == id {
				free = append(free, c)
			}
		}
		return free
	}

	if len(req.Matches) > 0 {
		free := freeOf(req.Matches)
		if req.OneOnly && len(free) > 1 {
			rows := make([]json.RawMessage, len(free))
			for i, c := range free {
				rows[i] = c.Row
			}
			all, err := json.Marshal(rows)
			if err != nil {
				return settlement{}, fmt.Errorf("encode ambiguous rows: %w", err)
			}
			return settlement{status: StatusToReview, reason: ReasonAmbiguousMatch, payload: all, outcome: "ambiguous"}, nil
		}
		for _, c := range free {
			if h, ok := held[c.Movement.Key()]; ok && h.ID == id {
				return confirmed(c), nil // ours already (a duplicate run of the task)
			}
			won, err := claim(ctx, tx, id, c)
			if err != nil {
				return settlement{}, err
			}
			if won {
				return confirmed(c), nil
			}
		}
		refused := ClaimAlreadyClaimed
		if len(free) > 0 {
			// Free when we looked, taken by the time we inserted: read who won.
			refused = ClaimRaceLost
			if held, err = holders(ctx, tx, keys); err != nil {
				return settlement{}, err
			}
		}
		first := req.Matches[0]
		info := &claimInfo{Movement: first.Movement.Key(), Row: first.Row}
		if h, ok := held[first.Movement.Key()]; ok {
			info.Holder = &h
		}
		// bank_details stays empty: the row is another transaction's, and only
		// admins see it (in the event's claim).
		return settlement{status: StatusToReview, reason: ReasonPaymentAlreadyClaimed, claim: info,
			refused: refused, outcome: "already_claimed"}, nil
	}

	if free := freeOf(req.NearMisses); len(free) > 0 {
		return settlement{status: StatusToReview, reason: free[0].Reason, payload: free[0].Row, outcome: "review"}, nil
	}
	if len(req.NearMisses) > 0 {
		return settlement{status: StatusInProgress, outcome: "claimed_elsewhere"}, nil
	}
	return settlement{status: StatusInProgress, outcome: "not_found"}, nil
}

func confirmed(c Candidate) settlement {
	return settlement{status: StatusCompleted, reason: ReasonBankConfirmed, payload: c.Row,
		claim: &claimInfo{Movement: c.Movement.Key()}, outcome: "confirmed", bankDate: c.Movement.Date}
}

// releaseClaims frees the movements a transaction holds, so another
// transaction may claim them, and records who did it as a "claim_released"
// event. The claims stay as history. It returns how many it freed.
func releaseClaims(ctx context.Context, tx *sqlx.Tx, id string, status Status, actorType, actorID string, requestID any) (int, error) {
	released := []string{}
	err := tx.SelectContext(ctx, &released, `UPDATE payment_claims SET released_at = now(), released_by = $2
		WHERE transaction_id = $1 AND released_at IS NULL RETURNING movement_key`, id, actorID)
	if err != nil {
		return 0, fmt.Errorf("release claims: %w", err)
	}
	if len(released) == 0 {
		return 0, nil
	}
	meta := map[string]any{restrictedKey: map[string]any{"released": released}}
	if requestID != nil {
		meta["request_id"] = requestID
	}
	if err := insertEvent(ctx, tx, id, EventInput{Old: &status, New: status, Reason: "claim_released",
		ActorType: actorType, ActorID: actorID, Metadata: meta}); err != nil {
		return 0, err
	}
	return len(released), nil
}

// restrictedKey is the event metadata that only admins see: which movement a
// check found and which transaction holds it.
const restrictedKey = "claim"

// StripRestricted removes the admin-only parts of events, for their owner.
func StripRestricted(events []Event) []Event {
	for i, e := range events {
		if !strings.Contains(string(e.Metadata), `"`+restrictedKey+`"`) {
			continue
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(e.Metadata, &m) != nil {
			events[i].Metadata = json.RawMessage(`{}`) // unreadable: show nothing rather than too much
			continue
		}
		delete(m, restrictedKey)
		b, err := json.Marshal(m)
		if err != nil {
			b = []byte(`{}`)
		}
		events[i].Metadata = b
	}
	return events
}

// Unopposed is what settle decides when no other transaction holds any of the
// movements in r: the certification kit's one-off checks have nothing to
// compete with, and say what the worker would do from this.
func (r ClaimRequest) Unopposed() (Status, string) {
	switch {
	case r.OneOnly && len(r.Matches) > 1:
		return StatusToReview, ReasonAmbiguousMatch
	case len(r.Matches) > 0:
		return StatusCompleted, ReasonBankConfirmed
	case len(r.NearMisses) > 0:
		return StatusToReview, r.NearMisses[0].Reason
	}
	return StatusInProgress, ""
}
