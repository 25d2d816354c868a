package webhook

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector
// (standard-webhooks/standard-webhooks, libraries' test suites).
func TestSignMatchesTheSpecVector(t *testing.T) {
	t.Parallel()
	got, err := Sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek",
		time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestSignatureHeaderSignsWithEverySecret(t *testing.T) {
	t.Parallel()
	a, b := NewSecret(), NewSecret()
	ts := time.Unix(1700000000, 0)
	h, err := signatureHeader([]string{a, b}, "evt_1", ts, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	sa, _ := Sign(a, "evt_1", ts, []byte("{}"))
	sb, _ := Sign(b, "evt_1", ts, []byte("{}"))
	if h != sa+" "+sb || sa == sb {
		t.Errorf("header %q, want %q", h, sa+" "+sb)
	}
}

func TestNewSecretIsStandardAndFresh(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		s := NewSecret()
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
		if !strings.HasPrefix(s, SecretPrefix) || err != nil || len(key) != 32 {
			t.Fatalf("secret %q: want whsec_ + base64 of 32 bytes (%v)", s, err)
		}
		if seen[s] {
			t.Fatal("NewSecret repeated itself")
		}
		seen[s] = true
	}
	if _, err := Sign("whsec_not base64!", "id", time.Now(), nil); err == nil {
		t.Error("Sign accepted a secret that is not base64")
	}
}

func TestSealerKeepsSecretsFromTheDatabase(t *testing.T) {
	t.Parallel()
	s, err := NewSealer("key-material-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	secret := NewSecret()
	sealed := s.Seal(secret)
	if strings.Contains(string(sealed), strings.TrimPrefix(secret, SecretPrefix)) {
		t.Fatal("the sealed form contains the secret")
	}
	if again := s.Seal(secret); string(again) == string(sealed) {
		t.Error("sealing twice gave the same bytes (nonce reuse)")
	}
	if got, err := s.Open(sealed); err != nil || got != secret {
		t.Fatalf("Open = %q, %v", got, err)
	}
	tampered := append([]byte{}, sealed...)
	tampered[len(tampered)-1] ^= 1
	if _, err := s.Open(tampered); err == nil {
		t.Error("a tampered secret opened")
	}
	other, _ := NewSealer("another-key-material-0123456789")
	if _, err := other.Open(sealed); err == nil {
		t.Error("another key opened the secret")
	}
	if _, err := s.Open([]byte("short")); err == nil {
		t.Error("garbage opened")
	}
}
