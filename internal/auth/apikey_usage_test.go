package auth

import (
	"strings"
	"testing"
	"time"
)

// TestKeyUsageIsBounded: past max distinct keys a use is dropped (memory stays
// bounded) and an early flush is asked for; a known key keeps its latest use.
func TestKeyUsageIsBounded(t *testing.T) {
	u := &keyUsage{max: 2, pending: map[string]time.Time{}, kick: make(chan struct{}, 1)}
	t0 := time.Unix(1_800_000_000, 0)
	u.record("a", t0)
	u.record("b", t0)
	u.record("c", t0) // full: dropped, flush asked for
	u.record("d", t0) // still full: dropped, one pending kick is enough
	u.record("a", t0.Add(time.Second))
	u.record("a", t0) // an older use never moves last_used_at back
	if len(u.pending) != 2 || !u.pending["a"].Equal(t0.Add(time.Second)) {
		t.Errorf("pending = %v, want a (latest) and b", u.pending)
	}
	select {
	case <-u.kick:
	default:
		t.Error("a full map did not ask for an early flush")
	}
}

func TestAPIKeyFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		key, lookup := newAPIKey()
		got, ok := parseAPIKey(key)
		if !ok || got != lookup || len(key) != len(APIKeyPrefix)+apiKeyBodyLen || !strings.HasPrefix(key, APIKeyPrefix) {
			t.Fatalf("newAPIKey() = %q, %q; parse = %q, %v", key, lookup, got, ok)
		}
		if seen[lookup] {
			t.Fatalf("lookup prefix %q drawn twice", lookup)
		}
		seen[lookup] = true
	}
	for _, bad := range []string{"", "vk_", "vk_abc", "VK_" + strings.Repeat("a", 43), "vk_" + strings.Repeat("a", 42) + "=",
		"vk_" + strings.Repeat("a", 44), "vk_" + strings.Repeat("é", 21) + "a", "eyJhbGciOiJIUzI1NiJ9.e30.sig"} {
		if _, ok := parseAPIKey(bad); ok {
			t.Errorf("parseAPIKey(%q) accepted", bad)
		}
	}
}
