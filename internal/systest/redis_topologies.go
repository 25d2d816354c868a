package systest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisTopology is where a cluster's processes find Redis: one server, a
// Sentinel-watched primary and replica, or a Redis Cluster. Env is what the
// API and workers are given (the same variables an operator sets); Client
// reaches the same servers for the tests' own checks.
type RedisTopology interface {
	Env() []string
	Client() redis.UniversalClient
	Stop()
}

// Env of one server: REDIS_URL.
func (r *Redis) Env() []string { return []string{"REDIS_URL=" + r.URL()} }

type singleTopology struct{ *Redis }

func (s singleTopology) Client() redis.UniversalClient { return s.Redis.Client() }

// startRedisServer starts one redis-server without persistence on a free
// port, with extra arguments (replication, cluster mode).
func startRedisServer(dir, name string, extra ...string) (*Redis, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir}, extra...)
	p, err := StartProc(name, "redis-server", nil, filepath.Join(dir, name+".log"), args...)
	if err != nil {
		return nil, err
	}
	r := &Redis{Port: port, proc: p}
	return r, r.wait()
}

// Sentinel is a primary, a replica and three sentinels (quorum 2) on private
// ports: the smallest setup in which a failover is decided by a majority.
type Sentinel struct {
	Master    string   // the monitored name
	Nodes     []*Redis // the data servers; which one is primary changes
	Sentinels []*Proc
	Ports     []int // the sentinels' ports
}

// fenced is the data nodes' setting that docs/operations.md requires under
// Sentinel: a primary that has no replica in sync refuses writes. During a
// failover the old primary loses its replica the moment the new one is
// promoted, so it stops taking writes at once; without this, processes that
// have not switched yet keep booking the bank's send slots on the old
// primary while the others book on the new one, and the bank sees twice the
// rate (the fault test saw 46 checks in one second at a limit of 25). A
// restarted empty node refuses writes the same way until it is a replica.
// The new primary takes writes once a replica has synced with it, so the
// sync starts at once (Redis waits 5 s by default for more replicas to
// share a diskless transfer: 5 s more without checks).
var fenced = []string{"--min-replicas-to-write", "1", "--min-replicas-max-lag", "2", "--repl-diskless-sync-delay", "0"}

// StartSentinel starts the servers and waits until the sentinels know the
// replica (so a failover has somewhere to go).
func StartSentinel(ctx context.Context, dir string) (*Sentinel, error) {
	s := &Sentinel{Master: "verifier"}
	primary, err := startRedisServer(dir, "redis-primary", fenced...)
	if err != nil {
		return nil, err
	}
	s.Nodes = append(s.Nodes, primary)
	replica, err := startRedisServer(dir, "redis-replica", append([]string{"--replicaof", "127.0.0.1", strconv.Itoa(primary.Port)}, fenced...)...)
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Nodes = append(s.Nodes, replica)
	for i := range 3 {
		port, err := FreePort()
		if err != nil {
			s.Stop()
			return nil, err
		}
		conf := filepath.Join(dir, fmt.Sprintf("sentinel-%d.conf", i))
		// down-after 1 s: a dead primary is noticed quickly; failover-timeout
		// bounds how long one failover attempt may take before a retry.
		body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel resolve-hostnames no\n"+
			"sentinel monitor %s 127.0.0.1 %d 2\nsentinel down-after-milliseconds %s 1000\n"+
			"sentinel failover-timeout %s 5000\nsentinel parallel-syncs %s 1\n",
			port, dir, s.Master, primary.Port, s.Master, s.Master, s.Master)
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			s.Stop()
			return nil, err
		}
		p, err := StartProc(fmt.Sprintf("sentinel-%d", i), "redis-server", nil, filepath.Join(dir, fmt.Sprintf("sentinel-%d.log", i)), conf, "--sentinel")
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.Sentinels = append(s.Sentinels, p)
		s.Ports = append(s.Ports, port)
	}
	// Ready when every sentinel answers and sees the replica.
	deadline := time.Now().Add(30 * time.Second)
	for _, port := range s.Ports {
		sc := redis.NewSentinelClient(&redis.Options{Addr: "127.0.0.1:" + strconv.Itoa(port)})
		for {
			reps, err := sc.Replicas(ctx, s.Master).Result()
			if err == nil && len(reps) > 0 && strings.Contains(fmt.Sprint(reps), "slave") {
				break
			}
			if time.Now().After(deadline) {
				sc.Close()
				s.Stop()
				return nil, fmt.Errorf("sentinel on %d does not see the replica: %v %v", port, reps, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		sc.Close()
	}
	return s, nil
}

// Addrs are the sentinels' host:port.
func (s *Sentinel) Addrs() []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, "127.0.0.1:"+strconv.Itoa(p))
	}
	return out
}

// Env points the processes at the sentinels.
func (s *Sentinel) Env() []string {
	return []string{"REDIS_SENTINEL_ADDRS=" + strings.Join(s.Addrs(), ","), "REDIS_SENTINEL_MASTER=" + s.Master}
}

// Client is a failover client, as the processes have.
func (s *Sentinel) Client() redis.UniversalClient {
	return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.Master, SentinelAddrs: s.Addrs()})
}

// Primary asks a sentinel which node is the primary now.
func (s *Sentinel) Primary(ctx context.Context) (string, error) {
	var last error
	for _, addr := range s.Addrs() {
		sc := redis.NewSentinelClient(&redis.Options{Addr: addr})
		res, err := sc.GetMasterAddrByName(ctx, s.Master).Result()
		sc.Close()
		if err == nil && len(res) == 2 {
			return net.JoinHostPort(res[0], res[1]), nil
		}
		last = err
	}
	return "", fmt.Errorf("no sentinel names the primary: %v", last)
}

// Failover asks the sentinels for a failover (SENTINEL FAILOVER) and waits
// until they name the new primary and it accepts writes.
func (s *Sentinel) Failover(ctx context.Context) (from, to string, err error) {
	if from, err = s.Primary(ctx); err != nil {
		return "", "", err
	}
	sc := redis.NewSentinelClient(&redis.Options{Addr: s.Addrs()[0]})
	err = sc.Failover(ctx, s.Master).Err()
	sc.Close()
	if err != nil {
		return from, "", fmt.Errorf("SENTINEL FAILOVER: %w", err)
	}
	to, err = s.waitNewPrimary(ctx, from)
	return from, to, err
}

// KillPrimary kill -9s the current primary, waits until the sentinels have
// promoted another node, then restarts the killed one (as a supervisor
// would): it comes back empty, refuses writes (fenced) and the sentinels make
// it a replica of the new primary, which can then take writes again.
func (s *Sentinel) KillPrimary(ctx context.Context) (from, to string, err error) {
	if from, err = s.Primary(ctx); err != nil {
		return "", "", err
	}
	var killed *Redis
	for _, n := range s.Nodes {
		if n.Addr() == from {
			killed = n
			n.Stop()
		}
	}
	if to, err = s.waitNewPrimary(ctx, from); err != nil {
		return from, to, err
	}
	if killed != nil {
		if err := killed.proc.Start(); err != nil {
			return from, to, fmt.Errorf("restart %s: %w", from, err)
		}
	}
	return from, to, nil
}

func (s *Sentinel) waitNewPrimary(ctx context.Context, old string) (string, error) {
	deadline := time.Now().Add(60 * time.Second)
	for {
		now, err := s.Primary(ctx)
		if err == nil && now != old {
			c := redis.NewClient(&redis.Options{Addr: now})
			role, rerr := c.Do(ctx, "ROLE").Slice()
			c.Close()
			if rerr == nil && len(role) > 0 && role[0] == "master" {
				return now, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no new primary after %s (still %s, %v)", old, now, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills every process.
func (s *Sentinel) Stop() {
	for _, p := range s.Sentinels {
		p.Kill()
	}
	for _, n := range s.Nodes {
		n.Stop()
	}
}

// RedisCluster is a Redis Cluster of three primaries (no replicas).
type RedisCluster struct{ Nodes []*Redis }

// StartRedisCluster starts three cluster-mode servers and joins them with
// redis-cli --cluster create, then waits for cluster_state:ok everywhere.
func StartRedisCluster(ctx context.Context, dir string) (*RedisCluster, error) {
	rc := &RedisCluster{}
	for i := range 3 {
		n, err := startRedisServer(dir, fmt.Sprintf("redis-cluster-%d", i), "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, fmt.Sprintf("nodes-%d.conf", i)), "--cluster-node-timeout", "2000")
		if err != nil {
			rc.Stop()
			return nil, err
		}
		rc.Nodes = append(rc.Nodes, n)
	}
	args := append([]string{"--cluster", "create"}, rc.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		rc.Stop()
		return nil, fmt.Errorf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range rc.Nodes {
		c := n.Client()
		for {
			info, err := c.ClusterInfo(ctx).Result()
			if err == nil && strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				c.Close()
				rc.Stop()
				return nil, fmt.Errorf("cluster on %s not ok: %v %s", n.Addr(), err, info)
			}
			time.Sleep(100 * time.Millisecond)
		}
		c.Close()
	}
	return rc, nil
}

// Addrs are the nodes' host:port.
func (rc *RedisCluster) Addrs() []string {
	var out []string
	for _, n := range rc.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// Env points the processes at the cluster.
func (rc *RedisCluster) Env() []string {
	return []string{"REDIS_CLUSTER_ADDRS=" + strings.Join(rc.Addrs(), ",")}
}

// Client is a cluster client, as the processes have.
func (rc *RedisCluster) Client() redis.UniversalClient {
	return redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addrs()})
}

// Stop kills every node.
func (rc *RedisCluster) Stop() {
	for _, n := range rc.Nodes {
		n.Stop()
	}
}
