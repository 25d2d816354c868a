package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// exportPoint is one CSV export of scenario 4: how long, how big, and the API
// process's resident memory while it streamed.
type exportPoint struct {
	Name        string
	Rows, Bytes int64
	Took        time.Duration
	RSSBeforeKB int // VmRSS just before the request
	RSSMaxKB    int // the largest VmRSS sampled every 20 ms while it ran
}

// lineCounter counts bytes and records without keeping them (the bench's
// rows have no line breaks inside a cell; counting "\r\n" would miss the
// pairs split across two writes).
type lineCounter struct{ bytes, lines atomic.Int64 }

func (w *lineCounter) Write(p []byte) (int, error) {
	w.bytes.Add(int64(len(p)))
	w.lines.Add(int64(bytes.Count(p, []byte("\n"))))
	return len(p), nil
}

// benchExports downloads the export of the last ~10 % of the rows and of all
// of them through the public client, sampling the API's RSS: flat memory
// means the two peaks are about the same however many rows streamed.
func benchExports(ctx context.Context, c *systest.Cluster, s settings, r *report) error {
	recent := time.Now().In(transaction.Caracas).AddDate(0, 0, -36).Format(time.DateOnly)
	from, err := time.ParseInLocation(time.DateOnly, recent, transaction.Caracas)
	if err != nil {
		return err
	}
	for _, x := range []struct {
		name string
		opts client.ListOptions
		from time.Time
	}{
		{"last 36 days (~10 % of the rows)", client.ListOptions{FromDate: recent}, from},
		{fmt.Sprintf("every row (%d)", s.readRows), client.ListOptions{}, time.Time{}},
	} {
		var want int64
		if err := c.DB.GetContext(ctx, &want, `SELECT count(*) FROM transactions WHERE deleted_at IS NULL AND created_at >= $1`, x.from); err != nil {
			return err
		}
		pid := c.API.Pid()
		p := exportPoint{Name: x.name, RSSBeforeKB: procKB(pid, "VmRSS")}
		var peak atomic.Int64
		done := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(20 * time.Millisecond)
			defer t.Stop()
			for {
				if kb := int64(procKB(pid, "VmRSS")); kb > peak.Load() {
					peak.Store(kb)
				}
				select {
				case <-done:
					return
				case <-t.C:
				}
			}
		}()
		var out lineCounter
		t0 := time.Now()
		n, err := c.Client.ExportTransactions(ctx, x.opts, &out)
		p.Took = time.Since(t0)
		close(done)
		wg.Wait()
		if err != nil {
			return fmt.Errorf("export %s: %w", x.name, err)
		}
		p.Bytes, p.Rows, p.RSSMaxKB = n, out.lines.Load()-1, int(peak.Load())
		if p.Rows != want {
			return fmt.Errorf("export %s: %d rows, the database has %d", x.name, p.Rows, want)
		}
		progress(fmt.Sprintf("export %s: %d rows, %.1f MiB in %s, API RSS %d → %d kB", x.name, p.Rows, float64(p.Bytes)/(1<<20), p.Took.Round(time.Millisecond), p.RSSBeforeKB, p.RSSMaxKB))
		r.exports = append(r.exports, p)
	}
	return nil
}
