package main

import (
	"fmt"
	"github.com/banesco-verifier/verifier/internal/verify"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects every scenario's figures and writes report.md.
type report struct {
	settings settings
	started  time.Time
	create   createResult
	drain    []drainPoint
	latency  []latencyPoint
	reads    []readPoint
	exports  []exportPoint
	readLoad time.Duration
	mem      memResult
	webhooks webhookResult
	backlog  *backlogResult
}

func cmdOut(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "model name") {
			if _, v, ok := strings.Cut(line, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown"
}

func (r *report) write() (string, error) {
	s := r.settings
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	// ran: with -only, the scenarios left out write nothing (not zeros).
	ran := func(n string) bool { return s.only == "" || slices.Contains(strings.Split(s.only, ","), n) }
	w("# Benchmark report\n\n")
	w("Generated %s by `make bench%s` in %s, %d run(s) per scenario.\n\n",
		time.Now().UTC().Format(time.RFC3339), map[bool]string{true: "-quick", false: ""}[s.quick], time.Since(r.started).Round(time.Second), s.runs)
	w("How each figure was obtained:\n\n| figure | how |\n|---|---|\n")
	if ran("1") {
		w("| create throughput and latency (1) | median over the %d runs of each run's figure; the floor is measured in the same run, on the same cluster |\n", s.runs)
		w("| API peak RSS (1) | the largest VmHWM seen in any run (a maximum, not a median) |\n")
	}
	if ran("2") {
		w("| drain share of Q (2) | checks counted at the bank's arrival log divided by the time from its first to its last arrival, over Q; median over the %d runs. checks/s by wall time (worker start to the last COMPLETED, so including start-up) beside it. Violations summed over the runs; max checks in 1 s is the largest of any run |\n", s.runs)
		w("| drain baseline (2) | measured in each run on the same Redis and Postgres before the drain: the limiter alone (Acquire and the send gate, no HTTP, no queue) with as many callers as the workers have, rate at the gate; median over the runs. The ceiling Q/(1 s + margin) is a formula |\n")
		w("| slot → arrival gap (2) | per check, the sandbox's arrival time minus the slot the limiter booked for it (the check event's slot_at), same machine clock; percentiles pooled over every run of the point |\n")
	}
	if ran("3") {
		w("| create → first check at the bank, create → COMPLETED (3) | per run, percentiles over its transactions; then the median over the %d runs. The first is the sandbox's arrival time of the first check (its own log); the second is the commit of the status change |\n", s.runs)
	}
	if ran("4") {
		w("| reads (4) | one cluster loaded once; percentiles over all %d requests of each query pooled (not a median of runs); totals above 10 000 are Postgres's estimate and printed as such |\n", s.readReqs*s.runs)
	}
	if ran("5") {
		w("| memory (5) | one measurement each: idle, then under load (VmHWM) |\n")
	}
	if ran("6") {
		w("| webhooks (6) | median over the %d runs; the drain without webhooks is measured in each run next to the one with them, and each run's pair is printed |\n", s.runs)
	}
	if ran("7") {
		w("| backlog lateness (7) | one run (a single backlog of this size takes minutes); percentiles over every check of that run, each check's first arrival in the sandbox's log minus its due time (the transaction's creation) or minus the POST …/verify that asked for it |\n")
	}
	w("\n")
	if s.only != "" {
		w("Only scenario(s) %s were run (`go run ./cmd/loadgen -only %s`); the full report of every scenario is `make bench`.\n\n", s.only, s.only)
	}
	w("## Machine and versions\n\n")
	w("| | |\n|---|---|\n")
	w("| CPU | %s × %d cores |\n", cpuModel(), runtime.NumCPU())
	w("| Memory | %s |\n", strings.Join(strings.Fields(cmdOut("sh", "-c", "grep MemTotal /proc/meminfo"))[1:], " "))
	w("| Kernel | %s |\n", cmdOut("uname", "-sr"))
	w("| Go | %s |\n", runtime.Version())
	w("| PostgreSQL | %s (private cluster, fsync off) |\n", cmdOut("/usr/lib/postgresql/15/bin/postgres", "--version"))
	w("| Redis | %s (private server, no persistence) |\n", cmdOut("redis-server", "--version"))
	w("\nSettings: API DATABASE_MAX_CONNS=20, WORKER_CONCURRENCY=50 in the drain, BANESCO_PER_TRANSACTION_PER_MINUTE=2, the bank sandbox on loopback enforcing the same limits as the workers.\n\n")

	w("## Headline\n\n| figure | value |\n|---|---|\n")
	for i, p := range r.create.API {
		f := r.create.Floor[i]
		w("| create throughput c=%d: API / floor | %.0f / %.0f req/s = **%.2f** |\n", p.Conc, p.RPS, f.RPS, p.RPS/f.RPS)
	}
	for _, d := range r.drain {
		w("| drain %d checks, Q=%d, %d worker(s) | %.1f checks/s at the bank = **%.1f%% of Q** (limiter alone %.1f%%), violations %d |\n", d.N, d.Q, d.Workers, d.ArrivalRate, d.ShareOfQ*100, d.Baseline/float64(d.Q)*100, d.Violations.PerReference+d.Violations.Global+d.Violations.Token)
	}
	for _, l := range r.latency {
		w("| create → COMPLETED, poll %s | p50 %s ms, p99 %s ms |\n", l.Poll, ms(l.FinalP50), ms(l.FinalP99))
	}
	if ran("5") {
		w("| API peak RSS under scenario 1 | %.1f MiB (idle %.1f MiB) |\n", float64(maxInt(r.create.APIPeakRSSKB))/1024, float64(r.mem.IdleAPIKB)/1024)
		w("| worker peak RSS with %d tasks queued | %.1f MiB (idle %.1f MiB) |\n", r.mem.Tasks, float64(r.mem.LoadedWorkerKB)/1024, float64(r.mem.IdleWorkerKB)/1024)
	}
	wh := r.webhooks
	if ran("6") {
		w("| status change → receiver 2xx, %d completions × %d endpoints | p50 %s ms, p99 %s ms |\n", wh.Transactions, wh.Endpoints, ms(wh.P50), ms(wh.P99))
		w("| deliveries one worker sends to a local receiver | %.0f /s |\n", wh.PerSec)
		w("| bank-check drain with webhooks / without | %.1f / %.1f checks/s = **%+.1f%%** |\n", wh.ChecksHks, wh.ChecksPlain, (wh.ChecksHks/wh.ChecksPlain-1)*100)
	}
	if bl := r.backlog; bl != nil {
		w("| backlog of %d checks due at once, Q=%d: worst lateness | routine **%s s** (drain %s); asked for (POST …/verify) p50 %s s, max **%s s**; starved %d |\n",
			bl.N, bl.Q, secs(bl.Routine.Max), bl.Wall.Round(time.Second), secs(bl.Asked.P50), secs(bl.Asked.Max), bl.Unchecked)
	}
	w("\n")

	if ran("1") {
		w("## 1. Create throughput\n\nAuthenticated `POST /api/v1/transactions` (admin token, JSON, validation, idempotent insert + creation event in one Postgres transaction, Asynq enqueue) for %s per point, no workers running. The floor is the same `Store.Create` + `Scheduler.Enqueue` in a plain Go loop with the same pool (20) and concurrency — no HTTP, JSON, auth or rate limiting.\n\n", s.duration)
		w("| concurrency | API req/s | p50 ms | p95 ms | p99 ms | floor req/s | floor p50 ms | floor p99 ms | API/floor | errors |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for i, p := range r.create.API {
			f := r.create.Floor[i]
			w("| %d | %.0f | %s | %s | %s | %.0f | %s | %s | %.2f | %d |\n", p.Conc, p.RPS, ms(p.P50), ms(p.P95), ms(p.P99), f.RPS, ms(f.P50), ms(f.P99), p.RPS/f.RPS, p.Errors+f.Errors)
		}
		w("\n![create throughput](create.png)\n\n")
	}
	if ran("2") {

		w("## 2. Pipeline drain\n\nN transactions created with the workers stopped (payments pre-registered in the sandbox), then the worker processes started (WORKER_CONCURRENCY=50 each); wall time until all are COMPLETED. Q = BANESCO_MAX_RPS. The global limit books each check a send slot so that no window of 1 s + BANESCO_LIMIT_MARGIN (%s) holds more than Q, so the ceiling is %.1f%% of Q; the share of Q is measured at the bank (its arrival log), and the baseline is the limiter alone in the same run.\n\n", verify.DefaultMargin, 100/(1+verify.DefaultMargin.Seconds()))
		w("| Q | workers | N | wall | checks/s (wall) | checks/s at the bank | share of Q | limiter alone | violations per-reference / global / token | max checks in any 1 s at the bank |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range r.drain {
			w("| %d | %d | %d | %s | %.1f | %.1f | **%.1f%%** | %.1f%% | %d / %d / %d | %d |\n", d.Q, d.Workers, d.N, d.Wall.Round(100*time.Millisecond), d.ChecksPerSec, d.ArrivalRate, d.ShareOfQ*100, d.Baseline/float64(d.Q)*100, d.Violations.PerReference, d.Violations.Global, d.Violations.Token, d.MaxGlobal1s)
		}
		w("\nSlot → arrival gap (the time from the slot the limiter booked to the bank's arrival; it must stay within the margin for the bank to see at most Q in any second; the gate sends no later than half the margin after the slot):\n\n")
		w("| Q | workers | checks | min | p50 | p99 | p99.9 | max | over half the margin | negative |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, d := range r.drain {
			g := d.Gap
			w("| %d | %d | %d | %s | %s | %s | %s | %s | %d | %d |\n", d.Q, d.Workers, g.N, ms(g.Min), ms(g.P50), ms(g.P99), ms(g.P999), ms(g.Max), g.OverHalfMargin, g.Negative)
		}
		w("\n![drain](drain.png)\n\nChecks arriving at the bank in each second of the first run (the last second is partial):\n\n![drain timeline](drain_timeline.png)\n\n")
	}
	if ran("3") {

		w("## 3. Latency\n\n%d transactions created one every 100 ms on idle queues, one worker, payment already at the bank. The floor is asynq's idle poll: a server sleeps WORKER_POLL_INTERVAL/2 + rand(WORKER_POLL_INTERVAL) between looks at empty queues (default 1 s).\n\n", s.latencyN)
		w("| WORKER_POLL_INTERVAL | create → first check arrives at the bank p50 / p99 ms | create → COMPLETED committed p50 / p99 ms |\n|---|---|---|\n")
		for _, l := range r.latency {
			w("| %s | %s / %s | %s / %s |\n", l.Poll, ms(l.FirstP50), ms(l.FirstP99), ms(l.FinalP50), ms(l.FinalP99))
		}
		w("\n![latency](latency.png)\n\n")
	}
	if ran("4") {

		w("## 4. Reads at scale\n\n%d transactions loaded with COPY in %s (half per user, created over a year), then %d sequential requests per query over HTTP.\n\n", s.readRows, r.readLoad.Round(time.Second), s.readReqs*s.runs)
		w("| query | requests | p50 ms | p99 ms | items | total |\n|---|---|---|---|---|---|\n")
		for _, q := range r.reads {
			total := fmt.Sprint(q.Total)
			if q.Estimated {
				total = fmt.Sprintf("≈ %d (estimate)", q.Total)
			}
			if strings.Contains(q.Path, "limit=") {
				total = "— (keyset: no count)"
			}
			w("| %s | %d | %s | %s | %d | %s |\n", q.Name, q.Reqs, ms(q.P50), ms(q.P99), q.Items, total)
		}
		if len(r.exports) > 0 {
			w("\n### CSV export (GET /api/v1/transactions/export, streamed, through the Go client)\n\n")
			w("| export | rows | size | time | rows/s | API RSS before | API RSS peak while streaming |\n|---|---|---|---|---|---|---|\n")
			for _, x := range r.exports {
				w("| %s | %d | %.1f MiB | %s | %.0f | %.1f MiB | %.1f MiB |\n", x.Name, x.Rows, float64(x.Bytes)/(1<<20),
					x.Took.Round(time.Millisecond), float64(x.Rows)/x.Took.Seconds(), float64(x.RSSBeforeKB)/1024, float64(x.RSSMaxKB)/1024)
			}
			w("\nRSS is the API process's VmRSS, sampled every 20 ms during the download.\n")
		}
		w("\n![reads](reads.png)\n\n### Query plans (EXPLAIN ANALYZE of the page query)\n\n")
		for _, q := range r.reads {
			w("**%s** — `GET %s`\n\n```\n%s\n```\n\n", q.Name, q.Path, q.Explain)
		}
	}
	if ran("5") {
		w("## 5. Memory\n\n| process | baseline (idle) | under load |\n|---|---|---|\n")
		w("| API (scenario 1, c up to 64) | %.1f MiB | %.1f MiB peak |\n", float64(r.mem.IdleAPIKB)/1024, float64(maxInt(r.create.APIPeakRSSKB))/1024)
		w("| one worker, %d checks queued | %.1f MiB | %.1f MiB peak |\n", r.mem.Tasks, float64(r.mem.IdleWorkerKB)/1024, float64(r.mem.LoadedWorkerKB)/1024)
		w("\nPeak RSS is the kernel's VmHWM of the process.\n\n")
	}
	if ran("6") {

		w("## 6. Webhooks\n\n")
		w("**Latency.** %d transactions created at ~100/s and completed by one worker (WORKER_POLL_INTERVAL 1 s, WEBHOOK_POLL_INTERVAL 100 ms, WEBHOOK_CONCURRENCY 10), %d endpoints each on a local receiver that verifies every signature with client/webhook: %d deliveries. Latency is the event's commit (the status change) to the 2xx recorded.\n\n", wh.Transactions, wh.Endpoints, wh.Transactions*wh.Endpoints)
		w("| p50 ms | p99 ms | max ms |\n|---|---|---|\n| %s | %s | %s |\n\n", ms(wh.P50), ms(wh.P99), ms(wh.Max))
		w("**Throughput.** %d deliveries waiting (cancellations made with the worker stopped), then one worker started: %.0f deliveries/s (%s wall), bounded by WEBHOOK_CONCURRENCY and the receiver's round trip.\n\n", wh.Backlog, wh.PerSec, wh.DrainWall.Round(100*time.Millisecond))
		w("**Effect on bank checks.** Scenario 2's drain (%d transactions, Q=%d, one worker) with no endpoint and with %d endpoints receiving every completion. Deliveries run on their own Asynq server (their own slots), so the checks' slots are untouched.\n\n", wh.DrainN, s.drainQ, wh.Endpoints)
		w("| run | without webhooks | with webhooks | change |\n|---|---|---|---|\n")
		for i := range wh.PlainRuns {
			w("| %d | %.1f checks/s | %.1f checks/s | %+.1f%% |\n", i+1, wh.PlainRuns[i], wh.HooksRuns[i], (wh.HooksRuns[i]/wh.PlainRuns[i]-1)*100)
		}
		w("| **median** | %.1f checks/s | %.1f checks/s | %+.1f%% |\n\n", wh.ChecksPlain, wh.ChecksHks, (wh.ChecksHks/wh.ChecksPlain-1)*100)
		w("Each run measures both drains back to back on fresh clusters; the spread between runs of the same drain is the noise floor of this figure on this machine.\n")
	}
	if bl := r.backlog; bl != nil {
		w("\n## 7. Backlog fairness\n\n%d transactions created with the workers stopped, so that every first check is due before any runs (Q=%d, %d workers of 50 slots, payments pre-registered); %s after the workers start, a person asks for a check (`POST …/verify`) of the %d transactions created last, which a plain FIFO would serve last. The checks' queues are served in strict priority (sweep, then `verify_now`, then `verify`), and asynq moves due routine checks to the pending list oldest first. Lateness is measured at the bank's arrival log.\n\n",
			bl.N, bl.Q, bl.Workers, map[bool]string{true: "3 s", false: "20 s"}[s.quick], bl.OnDemand)
		w("| checks | n | lateness p50 | p99 | max |\n|---|---|---|---|---|\n")
		w("| routine, vs due time | %d | %s s | %s s | %s s |\n", bl.Routine.N, secs(bl.Routine.P50), secs(bl.Routine.P99), secs(bl.Routine.Max))
		w("| asked for, vs the request | %d | %s s | %s s | %s s |\n\n", bl.Asked.N, secs(bl.Asked.P50), secs(bl.Asked.P99), secs(bl.Asked.Max))
		w("The drain took %s at %.1f checks/s at the bank (%.1f%% of Q), so the worst routine lateness is the time a check due at the start waits behind the whole backlog. Routine checks overtaken by one due more than 1 s later: %d (largest %s s). Transactions never checked: %d. Violations per-reference / global / token: %d / %d / %d.\n\n![backlog](backlog.png)\n",
			bl.Wall.Round(100*time.Millisecond), bl.ArrivalRate, bl.ArrivalRate/float64(bl.Q)*100, bl.Overtaken, secs(bl.MaxOvertake), bl.Unchecked,
			bl.Violations.PerReference, bl.Violations.Global, bl.Violations.Token)
	}

	if err := r.plots(); err != nil {
		return "", err
	}
	path := filepath.Join(s.outDir, "report.md")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}

// secs prints a duration in seconds with one decimal.
func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

func maxInt(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
