package banesco

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/banesco-verifier/verifier/internal/banksandbox"
)

// TestConnectionsToTheBankAreReused: checks made 20 at a time, three rounds,
// reuse the connections of the first round instead of opening one per check
// (Go's default transport keeps only 2 idle per host, so 18 of every 20 would
// be a new TCP connection — and, against the real bank, a TLS handshake).
func TestConnectionsToTheBankAreReused(t *testing.T) {
	t.Parallel()
	bank := banksandbox.New(banksandbox.Config{Flavor: banksandbox.FlavorQA, MaxRPS: 100_000, PerReferencePerMinute: 100_000,
		Now: func() time.Time { return testToday }})
	var opened atomic.Int64
	srv := httptest.NewUnstartedServer(bank.Handler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{Environment: EnvironmentQA, ClientID: "sandbox-client", ClientSecret: "sandbox-secret",
		AccountID: sandboxAcct, Timeout: 5 * time.Second, Logger: zerolog.Nop(),
		TokenURL: srv.URL + "/token", CheckURL: srv.URL + qaCheckPath})
	if err := c.Ready(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	const perRound, rounds = 20, 3
	// The bank answers each check after a pause, so a round's checks are in
	// flight together.
	bank.SetFaults(banksandbox.Faults{Slow: 1, SlowDelay: 100 * time.Millisecond})
	for round := range rounds {
		var wg sync.WaitGroup
		for i := range perRound {
			wg.Go(func() {
				q := mobileQueryFor(fmt.Sprintf("%06d", 100000+round*perRound+i), "")
				if _, err := c.Verify(ctxT(t), q); err != nil {
					t.Errorf("check: %v", err)
				}
			})
		}
		wg.Wait()
	}
	// One connection for the token, at most one per check of a round.
	if n := opened.Load(); n > perRound+1 {
		t.Errorf("%d connections opened for %d checks in rounds of %d: want at most %d (reused across rounds)", n, perRound*rounds, perRound, perRound+1)
	}
}
