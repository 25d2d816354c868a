package verify

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/banesco"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	row := banesco.Match{Raw: json.RawMessage(`{}`), Movement: banesco.Movement{Reference: "1"}}
	other := banesco.Match{Raw: json.RawMessage(`{}`), Movement: banesco.Movement{Reference: "2"}}
	near := banesco.Match{Raw: json.RawMessage(`{}`), Reason: banesco.ReasonAmountMismatch}
	for _, tc := range []struct {
		name      string
		v         banesco.Verdict
		err       error
		hasAmount bool
		want      Decision
	}{
		{"confirmed", banesco.Verdict{Outcome: banesco.Confirmed, Matches: []banesco.Match{row}}, nil, true, Decision{Status: DecisionCompleted, Reason: "bank_confirmed"}},
		{"two matches with an amount: the first", banesco.Verdict{Outcome: banesco.Confirmed, Matches: []banesco.Match{row, other}}, nil, true, Decision{Status: DecisionCompleted, Reason: "bank_confirmed"}},
		{"ambiguous", banesco.Verdict{Outcome: banesco.Ambiguous, Matches: []banesco.Match{row, other}}, nil, false, Decision{Status: DecisionToReview, Reason: "ambiguous_match"}},
		{"amount mismatch", banesco.Verdict{Outcome: banesco.AmountMismatch, NearMisses: []banesco.Match{near}}, nil, true, Decision{Status: DecisionToReview, Reason: "amount_mismatch"}},
		{"rows without candidates", banesco.Verdict{Outcome: banesco.Confirmed}, nil, true, Decision{Status: DecisionNotFoundYet}},
		{"not found", banesco.Verdict{Outcome: banesco.NotFound}, nil, true, Decision{Status: DecisionNotFoundYet}},
		{"VDE01", banesco.Verdict{Outcome: banesco.Rejected, Reason: "bank_rejected_VDE01"}, nil, true, Decision{Status: DecisionToReview, Reason: "bank_rejected_VDE01"}},
		{"70005 is retried", banesco.Verdict{Outcome: banesco.Rejected, Reason: banesco.ReasonDateRangeTooWide}, nil, true, Decision{Status: DecisionTransient, Reason: "date_range_too_wide"}},
		{"held", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindTransient, Held: true}, true, Decision{Status: DecisionNotSent, Reason: "held"}},
		{"no token", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindAuth, Token: true}, true, Decision{Status: DecisionTransient, Reason: "no_token"}},
		{"rate limited", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindRateLimited, RetryAfter: 3 * time.Second}, true, Decision{Status: DecisionTransient, Reason: "rate_limited", RetryAfter: 3 * time.Second}},
		{"token rejected", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindAuth, HTTPStatus: 401}, true, Decision{Status: DecisionTransient, Reason: "token_rejected"}},
		{"403 production", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindTransient, HTTPStatus: 403}, true, Decision{Status: DecisionTransient, Reason: "token_rejected"}},
		{"maintenance", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindTransient, HTTPStatus: 503, StatusCode: "CRT503"}, true, Decision{Status: DecisionTransient, Reason: "unavailable"}},
		{"not a bank error", banesco.Verdict{}, errors.New("boom"), true, Decision{Status: DecisionTransient, Reason: "unavailable"}},
		{"invalid query", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindInvalidQuery}, true, Decision{Status: DecisionNotSent, Reason: "invalid_query"}},
		{"no account", banesco.Verdict{}, &banesco.Error{Kind: banesco.KindConfig}, true, Decision{Status: DecisionNotSent, Reason: "invalid_query"}},
	} {
		if got := Decide(tc.v, tc.err, tc.hasAmount); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
