package certify

import (
	"strings"
	"testing"
)

func TestMaskerJSON(t *testing.T) {
	t.Parallel()
	m := NewMasker("s3cr3t-value", "tok-abcdef")
	got := m.JSON([]byte(`{"access_token":"tok-abcdef","refresh_token":"r-1234567","expires_in":300,
		"transaction":{"accountId":"01340000000000001234","phoneNum":584141234567,"customerIdBen":"V-12345678","referenceNumber":"123456"},
		"note":"secret s3cr3t-value and account 01340000000000009999 in text"}`))
	for _, bad := range []string{"tok-abcdef", "r-1234567", "01340000000000001234", "584141234567", "12345678", "s3cr3t-value", "01340000000000009999"} {
		if strings.Contains(got, bad) {
			t.Errorf("masked JSON still has %q:\n%s", bad, got)
		}
	}
	for _, want := range []string{`"****************1234"`, `"********4567"`, `"******5678"`, `"referenceNumber": "123456"`, `"expires_in": 300`, "****************9999"} {
		if !strings.Contains(got, want) {
			t.Errorf("masked JSON lacks %s:\n%s", want, got)
		}
	}
}

func TestMaskerFormAndText(t *testing.T) {
	t.Parallel()
	m := NewMasker("p@ss word", "ab") // too short to mask: ignored
	form := m.Form([]byte("grant_type=password&username=client&password=p%40ss+word&client_secret=p%40ss+word"))
	if strings.Contains(form, "p%40ss") || strings.Contains(form, "p@ss") || !strings.Contains(form, "client_secret=[redacted]") {
		t.Errorf("form not masked: %s", form)
	}
	if got := m.Text("a b ab p@ss word p%40ss+word"); got != "a b ab [redacted] [redacted]" {
		t.Errorf("text: %q", got)
	}
	if got := m.Form([]byte("%zz")); got != redacted {
		t.Errorf("unreadable form: %q", got)
	}
	if got := m.JSON([]byte("not json 01340000000000001234")); got != "not json ****************1234" {
		t.Errorf("non-JSON body: %q", got)
	}
	if got := KeepLast4("123"); got != "***" {
		t.Errorf("KeepLast4 short: %q", got)
	}
}
