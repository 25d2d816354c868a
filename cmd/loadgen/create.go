package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jmoiron/sqlx"

	"github.com/banesco-verifier/verifier/client"
	"github.com/banesco-verifier/verifier/internal/queue"
	"github.com/banesco-verifier/verifier/internal/systest"
	"github.com/banesco-verifier/verifier/internal/transaction"
)

// point is one measured throughput point.
type point struct {
	Conc     int
	RPS      float64
	P50, P95 time.Duration
	P99      time.Duration
	Errors   int64
}

// createResult holds scenario 1, per concurrency, medians over runs.
type createResult struct {
	API, Floor   []point
	APIPeakRSSKB []int
}

// load runs fn from conc goroutines for d and returns the throughput point.
func load(conc int, d time.Duration, label string, fn func(i int64) error) point {
	var next, errs atomic.Int64
	lat := make([][]time.Duration, conc)
	stop := make(chan struct{})
	go timeBar(label, d, stop)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for time.Now().Before(deadline) {
				i := next.Add(1)
				t0 := time.Now()
				if err := fn(i); err != nil {
					errs.Add(1)
					continue
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		}(g)
	}
	wg.Wait()
	close(stop)
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return point{Conc: conc, RPS: float64(len(all)) / elapsed.Seconds(), P50: pct(all, .5), P95: pct(all, .95), P99: pct(all, .99), Errors: errs.Load()}
}

// seq numbers every transaction the tool creates, so references never repeat
// (the API refuses a second transaction with the same reference and type).
var seq atomic.Int64

func createBody(prefix string) client.CreateTransaction {
	body, _ := systest.Payment(prefix, int(seq.Add(1)), time.Now().In(transaction.Caracas).Format(time.DateOnly))
	return body
}

func benchCreate(ctx context.Context, s settings, r *report) error {
	runs := make(map[int][]point)
	floors := make(map[int][]point)
	for run := 0; run < s.runs; run++ {
		// No workers: this measures the API's write path alone.
		c, err := cluster(ctx, s, fmt.Sprintf("create-%d", run), systest.Options{Workers: 0})
		if err != nil {
			return err
		}
		rdb := c.Redis.Client()
		db, err := sqlx.Open("postgres", c.DBURL)
		if err != nil {
			return err
		}
		db.SetMaxOpenConns(20) // the API's DATABASE_MAX_CONNS default
		db.SetMaxIdleConns(20)
		var userID string
		if err := db.GetContext(ctx, &userID, `SELECT id FROM users LIMIT 1`); err != nil {
			return err
		}
		store := transaction.NewStore(db, nil)
		qc := asynq.NewClientFromRedisClient(rdb)
		sched := queue.NewScheduler(qc, asynq.NewInspectorFromRedisClient(rdb), queue.Spacing(2))
		for _, conc := range s.conc {
			prefix := fmt.Sprintf("A%dc%d", run, conc)
			// Through the public Go client, as a client app would.
			p := load(conc, s.duration, fmt.Sprintf("API c=%d run %d", conc, run+1), func(int64) error {
				created, err := c.Client.CreateTransaction(ctx, createBody(prefix))
				if err == nil && created.Replayed {
					return fmt.Errorf("create %s: replayed", created.TransactionID)
				}
				return err
			})
			runs[conc] = append(runs[conc], p)
			// The floor: the same INSERT + event + Enqueue, same pool, same
			// concurrency, in a plain loop — no HTTP, JSON, auth or rate limit.
			fprefix := fmt.Sprintf("F%dc%d", run, conc)
			fp := load(conc, s.duration, fmt.Sprintf("floor c=%d run %d", conc, run+1), func(int64) error {
				req := transaction.CreateRequest{}
				body := createBody(fprefix)
				req.TransactionID = body.TransactionID
				req.Bank, req.Reference = "MOBILE_TRANSFER", body.Reference
				amount := "1240.00"
				req.Amount, req.PayerBankCode, req.PaidOn = &amount, "0102", body.PaidOn
				req.Customer = transaction.CustomerRequest{FullName: "Ana Pérez", Phone: "04141234567", NationalID: "V12345678"}
				n, fields := req.Validate(time.Now())
				if fields != nil {
					return fmt.Errorf("invalid: %v", fields)
				}
				t, _, err := store.Create(ctx, userID, n, 24*time.Hour, "floor")
				if err != nil {
					return err
				}
				return sched.Enqueue(ctx, t.ID, "floor", t.NextCheckAt.Time)
			})
			floors[conc] = append(floors[conc], fp)
		}
		r.create.APIPeakRSSKB = append(r.create.APIPeakRSSKB, procKB(c.API.Pid(), "VmHWM"))
		qc.Close()
		rdb.Close()
		db.Close()
		c.Close()
	}
	for _, conc := range s.conc {
		r.create.API = append(r.create.API, medianPoint(runs[conc]))
		r.create.Floor = append(r.create.Floor, medianPoint(floors[conc]))
	}
	return nil
}

// medianPoint takes the median of each figure over runs.
func medianPoint(ps []point) point {
	var rps []float64
	var p50, p95, p99 []time.Duration
	var errs int64
	for _, p := range ps {
		rps = append(rps, p.RPS)
		p50, p95, p99 = append(p50, p.P50), append(p95, p.P95), append(p99, p.P99)
		errs += p.Errors
	}
	return point{Conc: ps[0].Conc, RPS: median(rps), P50: medianDur(p50), P95: medianDur(p95), P99: medianDur(p99), Errors: errs}
}
