package banesco

import "testing"

func TestParseCents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string // formatted; "" means an error is expected
		wantCts int64
	}{
		{"1240.00", "1240.00", 124000},
		{"1240", "1240.00", 124000},
		{"1240.1", "1240.10", 124010},
		{"1240.10", "1240.10", 124010},
		{"1240.100", "1240.10", 124010},
		{" 0.01 ", "0.01", 1},
		{"0", "0.00", 0},
		{"000120.5", "120.50", 12050},
		{"999999999999999.99", "999999999999999.99", 99999999999999999},
		{"1240.001", "", 0},
		{"1240.", "", 0},
		{".50", "", 0},
		{"-1", "", 0},
		{"+1", "", 0},
		{"1,240.00", "", 0},
		{"1240,00", "", 0},
		{"1.24e3", "", 0},
		{"NaN", "", 0},
		{"Bs 10", "", 0},
		{"", "", 0},
		{"1234567890123456", "", 0},
	}
	for _, tt := range tests {
		got, err := parseCents(tt.in)
		if tt.want == "" {
			if err == nil {
				t.Errorf("parseCents(%q) = %d, want error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCents(%q): %v", tt.in, err)
			continue
		}
		if got != tt.wantCts || formatCents(got) != tt.want {
			t.Errorf("parseCents(%q) = %d (%s), want %d (%s)", tt.in, got, formatCents(got), tt.wantCts, tt.want)
		}
	}
}
