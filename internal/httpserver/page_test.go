package httpserver

import (
	"encoding/json"
	"testing"
)

func TestNewPage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		total, size, wantPages int
	}{
		{0, 20, 0}, {1, 20, 1}, {20, 20, 1}, {21, 20, 2}, {5, 2, 3}, {100, 100, 1},
	}
	for _, tt := range tests {
		if got := NewPage[int](nil, tt.total, 1, tt.size).Pages; got != tt.wantPages {
			t.Errorf("total %d size %d: pages = %d, want %d", tt.total, tt.size, got, tt.wantPages)
		}
	}
	raw, err := json.Marshal(NewPage[string](nil, 0, 1, 20))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"items":[],"total":0,"page":1,"size":20,"pages":0}`; string(raw) != want {
		t.Errorf("empty page = %s, want %s", raw, want)
	}
}
