package api_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/banesco-verifier/verifier/internal/transaction"
)

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

func (f *failingChecks) Cancel(context.Context, transaction.TaskRef) error {
	return errors.New("cancel: redis: connection refused")
}
