package webhook

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = "1614265330"
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func at(v *Verifier, t time.Time) *Verifier { v.now = func() time.Time { return t }; return v }

func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, ts)
	h.Set(HeaderSignature, sig)
	return h
}

func TestVerifyTheSpecVector(t *testing.T) {
	v, err := NewVerifier(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	at(v, time.Unix(1614265330, 0).Add(2*time.Minute))
	// The vector's body is not our payload shape, so decoding reports it;
	// the signature itself must pass.
	if !v.matches(vectorID, vectorTS, []byte(vectorBody), vectorSig) {
		t.Fatal("the spec's test vector does not verify")
	}
	if v.matches(vectorID, vectorTS, []byte(`{"test": 2432232315}`), vectorSig) {
		t.Error("a changed body verifies")
	}
	if v.matches("msg_other", vectorTS, []byte(vectorBody), vectorSig) {
		t.Error("another message id verifies")
	}
}

func TestVerifyCases(t *testing.T) {
	body := []byte(`{"type":"transaction.completed","timestamp":"2021-02-21T17:02:10Z","data":{"transaction_id":"ORD-1"}}`)
	sign := func(secret, id, ts string) string { return "v1," + signForTest(t, secret, id, ts, body) }
	now := time.Unix(1614265330, 0)
	old := "whsec_" + "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	good := sign(vectorSecret, "evt_1", vectorTS)
	tests := []struct {
		name    string
		secrets []string
		h       http.Header
		now     time.Time
		want    error
	}{
		{"valid", []string{vectorSecret}, headers("evt_1", vectorTS, good), now, nil},
		{"valid among several signatures", []string{vectorSecret}, headers("evt_1", vectorTS, "v1,Zm9v "+good), now, nil},
		{"old and new secret: signed by the old", []string{old, vectorSecret}, headers("evt_1", vectorTS, good), now, nil},
		{"wrong secret", []string{old}, headers("evt_1", vectorTS, good), now, ErrSignature},
		{"other scheme only", []string{vectorSecret}, headers("evt_1", vectorTS, "v1a,"+good[3:]), now, ErrSignature},
		{"too old", []string{vectorSecret}, headers("evt_1", vectorTS, good), now.Add(Tolerance + time.Second), ErrTimestamp},
		{"from the future", []string{vectorSecret}, headers("evt_1", vectorTS, good), now.Add(-Tolerance - time.Second), ErrTimestamp},
		{"timestamp not a number", []string{vectorSecret}, headers("evt_1", "soon", good), now, ErrTimestamp},
		{"no signature", []string{vectorSecret}, headers("evt_1", vectorTS, ""), now, ErrMissingHeaders},
		{"id changed", []string{vectorSecret}, headers("evt_2", vectorTS, good), now, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(tt.secrets...)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := at(v, tt.now).Verify(tt.h, body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if tt.want == nil && (ev.ID != "evt_1" || ev.Type != "transaction.completed" || string(ev.Data) != `{"transaction_id":"ORD-1"}`) {
				t.Errorf("event = %+v", ev)
			}
		})
	}
}

func TestNewVerifierRefusesBadSecrets(t *testing.T) {
	for _, s := range [][]string{{}, {""}, {"whsec_!!!"}, {"whsec_"}} {
		if _, err := NewVerifier(s...); !errors.Is(err, ErrSecret) {
			t.Errorf("NewVerifier(%q) = %v, want ErrSecret", s, err)
		}
	}
}
