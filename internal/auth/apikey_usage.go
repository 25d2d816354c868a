package auth

import (
	"context"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// keyUsage batches the last_used_at of API keys: a request only notes the time
// in memory, and a flusher writes every key used since the last flush in one
// UPDATE … FROM unnest(…) every interval (and at Close). A key used a thousand
// times a minute costs one row write a minute instead of a thousand, and the
// hot path takes no database write at all. The price is granularity:
// last_used_at is up to one interval old (docs/api.md says so), and a crash
// loses at most the last interval.
type keyUsage struct {
	store    *Store
	log      zerolog.Logger
	interval time.Duration
	max      int // pending keys held at most; past it a flush is asked for at once

	mu      sync.Mutex
	pending map[string]time.Time // key id → latest use
	closed  bool

	kick chan struct{} // asks the flusher for an early flush (the map is full)
	stop chan struct{}
	done chan struct{}
}

func newKeyUsage(store *Store, interval time.Duration, max int, log zerolog.Logger) *keyUsage {
	u := &keyUsage{store: store, log: log, interval: interval, max: max, pending: map[string]time.Time{},
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go u.run()
	return u
}

// record notes a use of key id at t. When the map is full (max distinct keys
// since the last flush), the use is dropped and an early flush is asked for:
// memory stays bounded whatever the traffic, and the next use records it.
func (u *keyUsage) record(id string, t time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if prev, ok := u.pending[id]; ok {
		if t.After(prev) {
			u.pending[id] = t
		}
		return
	}
	if len(u.pending) >= u.max {
		select {
		case u.kick <- struct{}{}:
		default:
		}
		return
	}
	u.pending[id] = t
}

func (u *keyUsage) run() {
	defer close(u.done)
	tick := time.NewTicker(u.interval)
	defer tick.Stop()
	for {
		select {
		case <-u.stop:
			return
		case <-tick.C:
		case <-u.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := u.flush(ctx); err != nil {
			u.log.Warn().Err(err).Msg("api key usage not recorded; retried at the next flush")
		}
		cancel()
	}
}

// flush writes the pending uses in one statement. On failure (Postgres down)
// they are put back, unless newer uses took their place, for the next flush.
func (u *keyUsage) flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = make(map[string]time.Time, len(batch))
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ids := make([]string, 0, len(batch))
	times := make([]time.Time, 0, len(batch))
	for id, t := range batch {
		ids = append(ids, id)
		times = append(times, t)
	}
	err := u.store.TouchAPIKeys(ctx, ids, times)
	if err != nil {
		u.mu.Lock()
		for id, t := range batch {
			if prev, ok := u.pending[id]; (!ok && len(u.pending) < u.max) || (ok && t.After(prev)) {
				u.pending[id] = t
			}
		}
		u.mu.Unlock()
	}
	return err
}

// close stops the flusher and writes what is pending, once.
func (u *keyUsage) close() error {
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		return nil
	}
	u.closed = true
	u.mu.Unlock()
	close(u.stop)
	<-u.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return u.flush(ctx)
}
