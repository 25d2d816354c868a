package banksandbox

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestDemoSettles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		query      map[string]any
		wantAmount string // "" means it never settles
	}{
		{"mobile with amount", mobileQuery(), "1240.00"},
		{"mobile without amount", func() map[string]any {
			q := mobileQuery()
			delete(q, "amount")
			return q
		}(), "100.00"},
		{"transfer, amount as a string", transferQuery(), "50.50"},
		{"ending in 9999 settles with another amount", func() map[string]any {
			q := mobileQuery()
			q["referenceNumber"] = "129999"
			return q
		}(), "1241.00"},
		{"ending in 0000 never settles", func() map[string]any {
			q := mobileQuery()
			q["referenceNumber"] = "120000"
			return q
		}(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, Config{Demo: true, SettleAfter: 15 * time.Second})
			tok := b.token(t)

			if code := b.check(t, tok, tt.query).statusCode(t); code != "70001" {
				t.Fatalf("first query: %s, want 70001", code)
			}
			b.clock.Advance(14 * time.Second)
			if code := b.check(t, tok, tt.query).statusCode(t); code != "70001" {
				t.Fatalf("before SettleAfter: %s, want 70001", code)
			}
			b.clock.Advance(60 * time.Second) // past SettleAfter, and out of the limit window
			res := b.check(t, tok, tt.query)
			if tt.wantAmount == "" {
				if code := res.statusCode(t); code != "70001" {
					t.Fatalf("after SettleAfter: %s, want 70001 forever", code)
				}
				return
			}
			wantStatus(t, res, http.StatusOK)
			rows := res.rows(t)
			if len(rows) != 1 {
				t.Fatalf("%d rows, want the one demo payment: %s", len(rows), res.body)
			}
			var amount string
			switch a := rows[0]["amount"].(type) {
			case string:
				amount = a
			case json.Number:
				amount = a.String()
			}
			if c, _ := parseCents(amount); formatCents(c) != tt.wantAmount {
				t.Fatalf("amount %s, want %s", amount, tt.wantAmount)
			}
		})
	}
}

func TestDemoOffLeavesUnknownPaymentsUnknown(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{})
	tok := b.token(t)
	b.check(t, tok, mobileQuery())
	b.clock.Advance(time.Hour)
	if code := b.check(t, b.token(t), mobileQuery()).statusCode(t); code != "70001" {
		t.Fatalf("statusCode %s, want 70001", code)
	}
}

func TestDemoIgnoresMalformedQueries(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{Demo: true, SettleAfter: time.Second})
	tok := b.token(t)
	q := transferQuery()
	q["startDt"] = "2026-08-06" // a transfer query with a date never finds anything
	b.check(t, tok, q)
	b.clock.Advance(time.Hour)
	delete(q, "startDt")
	if code := b.check(t, b.token(t), q).statusCode(t); code != "70001" {
		t.Fatalf("statusCode %s: a query the bank cannot answer must not register a demo payment", code)
	}
}
