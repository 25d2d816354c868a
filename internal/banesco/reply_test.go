package banesco

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestStatusTable walks every row of the status table in bank-api.md §2, in
// both environments' shapes, over real HTTP.
func TestStatusTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		rep        reply
		wantOut    Outcome
		wantReason string
		wantCode   string // Verdict.StatusCode
		wantKind   Kind   // 0: a verdict is expected
		wantRetry  time.Duration
		wantLabel  string // bank_requests_total outcome
	}{
		{name: "200 hit", rep: reply{status: 200, body: hitBody(testRow)}, wantOut: Confirmed, wantCode: "200", wantLabel: "200"},
		{name: "200 hit numeric statusCode", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":200,"statusDesc":"OK"},"dataResponse":{"transactionDetail":[` + testRow + `]}}`}, wantOut: Confirmed, wantCode: "200", wantLabel: "200"},
		{name: "200 with no rows", rep: reply{status: 200, body: hitBody()}, wantOut: NotFound, wantCode: "200", wantLabel: "200"},
		{name: "200 with dataResponse null", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":"200","statusDesc":"OK"},"dataResponse":null}`}, wantOut: NotFound, wantCode: "200", wantLabel: "200"},
		{name: "200 with transactionDetail null", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":"200"},"dataResponse":{"transactionDetail":null}}`}, wantOut: NotFound, wantCode: "200", wantLabel: "200"},
		{name: "70001 on HTTP 200 (QA)", rep: reply{status: 200, body: noResults}, wantOut: NotFound, wantCode: "70001", wantLabel: "70001"},
		{name: "70001 on HTTP 400 (production)", rep: reply{status: 400, body: noResults}, wantOut: NotFound, wantCode: "70001", wantLabel: "70001"},
		{name: "70001 as a number", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":70001,"statusDesc":"Consulta sin resultados"},"dataResponse":null}`}, wantOut: NotFound, wantCode: "70001", wantLabel: "70001"},
		{name: "70005 on HTTP 200", rep: reply{status: 200, body: envelopeBody("70005", "Rango de fechas excedido")}, wantOut: Rejected, wantReason: "date_range_too_wide", wantCode: "70005", wantLabel: "70005"},
		{name: "70005 on HTTP 400", rep: reply{status: 400, body: envelopeBody("70005", "Rango de fechas excedido")}, wantOut: Rejected, wantReason: "date_range_too_wide", wantCode: "70005", wantLabel: "70005"},
		{name: "VDE01", rep: reply{status: 400, body: envelopeBody("VDE01", "Datos invalidos")}, wantOut: Rejected, wantReason: "bank_rejected_VDE01", wantCode: "VDE01", wantLabel: "VDE01"},
		{name: "VDE02", rep: reply{status: 400, body: envelopeBody("VDE02", "Datos invalidos")}, wantOut: Rejected, wantReason: "bank_rejected_VDE02", wantCode: "VDE02", wantLabel: "VDE02"},
		{name: "VRN04 maintenance 503", rep: reply{status: 503, body: envelopeBody("VRN04", "Mantenimiento")}, wantKind: KindTransient, wantCode: "VRN04", wantLabel: "VRN04"},
		{name: "VRN06 unavailable 424", rep: reply{status: 424, body: envelopeBody("VRN06", "No disponible")}, wantKind: KindTransient, wantCode: "VRN06", wantLabel: "VRN06"},
		{name: "VRN05 429 with Retry-After", rep: reply{status: 429, body: envelopeBody("VRN05", "Too many"), header: map[string]string{"Retry-After": "7"}}, wantKind: KindRateLimited, wantRetry: 7 * time.Second, wantCode: "VRN05", wantLabel: "VRN05"},
		{name: "429 without Retry-After", rep: reply{status: 429}, wantKind: KindRateLimited, wantRetry: time.Second, wantCode: "429", wantLabel: "429"},
		{name: "429 with Retry-After 0", rep: reply{status: 429, header: map[string]string{"Retry-After": "0"}}, wantKind: KindRateLimited, wantRetry: time.Second, wantCode: "429", wantLabel: "429"},
		{name: "500 html", rep: reply{status: 500, body: "<html>oops</html>", header: map[string]string{"Content-Type": "text/html"}}, wantKind: KindTransient, wantCode: "500", wantLabel: "500"},
		{name: "503 empty", rep: reply{status: 503}, wantKind: KindTransient, wantCode: "503", wantLabel: "503"},
		{name: "504 gateway timeout", rep: reply{status: 504, body: "upstream timed out"}, wantKind: KindTransient, wantCode: "504", wantLabel: "504"},
		{name: "200 malformed JSON", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":"200"`}, wantKind: KindTransient, wantCode: "200", wantLabel: "malformed"},
		{name: "200 html", rep: reply{status: 200, body: "<html>login</html>"}, wantKind: KindTransient, wantCode: "200", wantLabel: "malformed"},
		{name: "200 statusCode object", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":{"x":1}}}`}, wantKind: KindTransient, wantCode: "200", wantLabel: "malformed"},
		{name: "200 rows not an array", rep: reply{status: 200, body: `{"httpStatus":{"statusCode":"200"},"dataResponse":{"transactionDetail":"nope"}}`}, wantKind: KindTransient, wantCode: "200", wantLabel: "malformed"},
		{name: "200 without httpStatus", rep: reply{status: 200, body: `{"dataResponse":null}`}, wantKind: KindTransient, wantCode: "200", wantLabel: "200"},
		{name: "unknown code on 400", rep: reply{status: 400, body: envelopeBody("VXX99", "?")}, wantKind: KindTransient, wantCode: "VXX99", wantLabel: "other"},
		{name: "unknown 4xx without envelope", rep: reply{status: 418}, wantKind: KindTransient, wantCode: "418", wantLabel: "418"},
		{name: "70001 on HTTP 500 is not a miss", rep: reply{status: 500, body: noResults}, wantKind: KindTransient, wantCode: "70001", wantLabel: "70001"},
		{name: "200 code on HTTP 400 is not a hit", rep: reply{status: 400, body: hitBody(testRow)}, wantKind: KindTransient, wantCode: "200", wantLabel: "200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bank := newFakeBank(t)
			bank.check = func(int64, capturedCheck) reply { return tt.rep }
			reg := prometheus.NewRegistry()
			cfg := bank.config()
			cfg.Metrics = NewMetrics(reg)
			c := newTestClient(t, cfg)

			v, err := c.Verify(ctxT(t), mobileQuery())
			if tt.wantKind != 0 {
				e := wantKind(t, err, tt.wantKind)
				if got, ok := RetryAfter(err); ok != (tt.wantKind == KindRateLimited) || got != tt.wantRetry {
					t.Errorf("RetryAfter = %s, %v; want %s", got, ok, tt.wantRetry)
				}
				if e.HTTPStatus != tt.rep.status {
					t.Errorf("Error.HTTPStatus = %d, want %d", e.HTTPStatus, tt.rep.status)
				}
				if v.Outcome == Confirmed {
					t.Errorf("error came with a Confirmed verdict")
				}
			} else if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if v.Outcome != tt.wantOut || v.Reason != tt.wantReason {
				t.Errorf("verdict = %s/%q, want %s/%q", v.Outcome, v.Reason, tt.wantOut, tt.wantReason)
			}
			if v.StatusCode != tt.wantCode || v.HTTPStatus != tt.rep.status {
				t.Errorf("status = %q/HTTP %d, want %q/HTTP %d", v.StatusCode, v.HTTPStatus, tt.wantCode, tt.rep.status)
			}
			if got := metricValue(t, reg, "bank_requests_total", map[string]string{"outcome": tt.wantLabel}); got != 1 {
				t.Errorf("bank_requests_total{outcome=%q} = %v, want 1", tt.wantLabel, got)
			}
			if n := bank.checkCalls.Load(); n != 1 {
				t.Errorf("checks = %d, want 1 (the client must not retry by itself)", n)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	future := time.Now().Add(10 * time.Second).UTC().Format(time.RFC1123)
	tests := []struct {
		in   string
		want time.Duration
		tol  time.Duration
	}{
		{"", time.Second, 0},
		{"7", 7 * time.Second, 0},
		{" 30 ", 30 * time.Second, 0},
		{"0", time.Second, 0},
		{"-5", time.Second, 0},
		{"1.5", 1500 * time.Millisecond, 0},
		{"0.2", time.Second, 0},
		{"soon", time.Second, 0},
		{"999999999", 24 * time.Hour, 0},
		{strings.Replace(future, "UTC", "GMT", 1), 10 * time.Second, 2 * time.Second},
	}
	for _, tt := range tests {
		got := parseRetryAfter(tt.in)
		if d := got - tt.want; d < -tt.tol || d > tt.tol {
			t.Errorf("parseRetryAfter(%q) = %s, want %s±%s", tt.in, got, tt.want, tt.tol)
		}
	}
}
