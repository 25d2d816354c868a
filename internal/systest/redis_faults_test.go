//go:build faults

package systest

import (
	"context"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Redis beyond one server: the processes reach Redis only through the
// variables an operator sets (REDIS_SENTINEL_ADDRS / REDIS_SENTINEL_MASTER or
// REDIS_CLUSTER_ADDRS), and the run's invariants are the suite's: every
// payment COMPLETED once, no transition twice, no bank limit broken, every
// IN_PROGRESS transaction with its live task.

// readOnlyErrors counts the READONLY replies the processes logged: writes
// that reached a demoted primary. They may happen during a failover; what
// must not happen is a task lost because of one (run's invariants).
var readOnlyLine = regexp.MustCompile(`(?m)^.*READONLY.*$`)

// noReplicasLine: writes a fenced node refused (no replica in sync): the old
// primary in the moment it is demoted, or the new one until the restarted
// node has caught up.
var noReplicasLine = regexp.MustCompile(`(?m)^.*NOREPLICAS.*$`)

// dashboardWorks asks Asynqmon (mounted in the API at /monitoring, connected
// through the same configuration) for the queues.
func dashboardWorks(t *testing.T, ctx context.Context, c *Cluster) {
	code, body, err := c.Do(ctx, http.MethodGet, "/monitoring/api/queues", nil)
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `"verify"`) {
		t.Errorf("Asynqmon's queues: %d %.300s %v", code, body, err)
	}
}

// pauses are the longest gaps between consecutive checks arriving at the bank
// in the 20 s after each moment in at (a failover): how long checks stopped.
func pauses(t *testing.T, ctx context.Context, c *Cluster, at []time.Time) []time.Duration {
	arrivals, err := c.Arrivals(ctx)
	if err != nil {
		t.Fatalf("arrivals: %v", err)
	}
	times := make([]time.Time, 0, len(arrivals))
	for _, a := range arrivals {
		times = append(times, a.At)
	}
	sort.Slice(times, func(i, j int) bool { return times[i].Before(times[j]) })
	out := make([]time.Duration, len(at))
	for k, from := range at {
		for i := 1; i < len(times); i++ {
			if times[i].After(from) && times[i-1].Before(from.Add(20*time.Second)) {
				out[k] = max(out[k], times[i].Sub(times[i-1]))
			}
		}
	}
	return out
}

// TestFaultSentinelFailover: a primary, a replica and three sentinels; 300
// payments through 2 workers. A quarter of the way through, the sentinels are
// asked for a failover (the primary steps down and becomes a replica); half
// way, the new primary is killed with kill -9 and the sentinels promote the
// old one back. The processes follow the primary through the sentinels.
func TestFaultSentinelFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sentinel, err := StartSentinel(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("sentinel: %v", err)
	}
	const payments = 300
	var faults []time.Time
	run(t, scenario{
		n:    payments,
		opts: Options{Workers: 2, MaxRPS: 25, Redis: sentinel},
		inject: func(t *testing.T, ctx context.Context, c *Cluster) {
			waitChecks(t, ctx, c, payments/4)
			faults = append(faults, time.Now())
			from, to, err := sentinel.Failover(ctx)
			if err != nil {
				t.Errorf("failover: %v", err)
				return
			}
			t.Logf("SENTINEL FAILOVER: %s → %s in %s", from, to, time.Since(faults[0]).Round(time.Millisecond))
			waitChecks(t, ctx, c, payments/2)
			faults = append(faults, time.Now())
			from, to, err = sentinel.KillPrimary(ctx)
			if err != nil {
				t.Errorf("kill -9 primary: %v", err)
				return
			}
			t.Logf("kill -9 %s: sentinels promoted %s in %s", from, to, time.Since(faults[1]).Round(time.Millisecond))
		},
		wait: 3 * time.Minute,
		after: func(t *testing.T, ctx context.Context, c *Cluster) {
			for name, re := range map[string]*regexp.Regexp{"READONLY": readOnlyLine, "NOREPLICAS": noReplicasLine} {
				lines := re.FindAllString(c.Logs(), -1)
				t.Logf("%s errors logged (recovered: every transaction settled): %d", name, len(lines))
				for _, l := range lines[:min(len(lines), 3)] {
					t.Logf("  %s", l[:min(len(l), 300)])
				}
			}
			p := pauses(t, ctx, c, faults)
			t.Logf("checks paused: %v after the failover, %v after the kill -9 (longest gap between arrivals at the bank)", p[0], p[1])
			if strings.Contains(c.Logs(), "panic:") {
				t.Errorf("a process panicked")
			}
			dashboardWorks(t, ctx, c)
		},
	})
}

// TestFaultRedisCluster: three primaries (redis-cli --cluster create); the
// whole flow through 3 workers, whose limiters share the bank's limits
// through the cluster: zero violations at the bank.
func TestFaultRedisCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rc, err := StartRedisCluster(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("redis cluster: %v", err)
	}
	run(t, scenario{
		n:      300,
		opts:   Options{Workers: 3, MaxRPS: 25, Concurrency: 10, Redis: rc},
		inject: func(*testing.T, context.Context, *Cluster) {},
		wait:   3 * time.Minute,
		after: func(t *testing.T, ctx context.Context, c *Cluster) {
			// The queues' keys spread over the three primaries' slots.
			var perNode []int
			for _, node := range rc.Nodes {
				cl := node.Client()
				keys, err := cl.Keys(ctx, "*").Result()
				cl.Close()
				if err != nil {
					t.Fatal(err)
				}
				perNode = append(perNode, len(keys))
			}
			t.Logf("keys per primary: %v", perNode)
			dashboardWorks(t, ctx, c)
			if lines := regexp.MustCompile(`CROSSSLOT|MOVED|ASK `).FindAllString(c.Logs(), -1); len(lines) != 0 {
				t.Errorf("cluster errors in the logs: %v", lines[:min(len(lines), 5)])
			}
		},
	})
}
