package redisconn_test

import (
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/banesco-verifier/verifier/internal/redisconn"
)

// TestTopologyFromConfiguration: Sentinel, then Cluster, then REDIS_URL; the
// client and Asynqmon's connection name the same servers; bad combinations
// name the variable at fault; passwords never reach the description.
func TestTopologyFromConfiguration(t *testing.T) {
	t.Parallel()
	sentinel := redisconn.Config{URL: "redis://ignored:6379/0", SentinelAddrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"},
		SentinelMaster: "verifier", SentinelPassword: "s3cret-sentinel", Password: "s3cret-redis", DB: 2}
	cluster := redisconn.Config{URL: "redis://ignored:6379/0", ClusterAddrs: []string{"10.0.0.1:7000", "10.0.0.2:7000"}, Password: "s3cret-redis"}
	single := redisconn.Config{URL: "redis://:urlpass@10.0.0.9:6380/3"}

	for _, tt := range []struct {
		name  string
		cfg   redisconn.Config
		mode  string
		check func(t *testing.T, c redis.UniversalClient, a asynq.RedisConnOpt)
	}{
		{"sentinel", sentinel, redisconn.ModeSentinel, func(t *testing.T, c redis.UniversalClient, a asynq.RedisConnOpt) {
			if _, ok := c.(*redis.Client); !ok { // go-redis's failover client is a *redis.Client over sentinels
				t.Errorf("client is %T", c)
			}
			o, ok := a.(asynq.RedisFailoverClientOpt)
			if !ok || o.MasterName != "verifier" || len(o.SentinelAddrs) != 2 || o.SentinelPassword != "s3cret-sentinel" || o.Password != "s3cret-redis" || o.DB != 2 {
				t.Errorf("asynq opt = %#v", a)
			}
		}},
		{"cluster", cluster, redisconn.ModeCluster, func(t *testing.T, c redis.UniversalClient, a asynq.RedisConnOpt) {
			if _, ok := c.(*redis.ClusterClient); !ok {
				t.Errorf("client is %T", c)
			}
			if o, ok := a.(asynq.RedisClusterClientOpt); !ok || len(o.Addrs) != 2 || o.Password != "s3cret-redis" {
				t.Errorf("asynq opt = %#v", a)
			}
		}},
		{"single", single, redisconn.ModeSingle, func(t *testing.T, c redis.UniversalClient, a asynq.RedisConnOpt) {
			rc, ok := c.(*redis.Client)
			if !ok || rc.Options().Addr != "10.0.0.9:6380" || rc.Options().DB != 3 || rc.Options().Password != "urlpass" {
				t.Errorf("client = %T %+v", c, rc.Options())
			}
			if o, ok := a.(asynq.RedisClientOpt); !ok || o.Addr != "10.0.0.9:6380" || o.DB != 3 {
				t.Errorf("asynq opt = %#v", a)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Mode(); got != tt.mode {
				t.Errorf("mode %s, want %s", got, tt.mode)
			}
			c, err := tt.cfg.Client()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			a, err := tt.cfg.Asynq()
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c, a)
			if s := tt.cfg.String(); strings.Contains(s, "s3cret") || strings.Contains(s, "urlpass") {
				t.Errorf("description leaks a password: %s", s)
			}
		})
	}

	t.Run("REDIS_PASSWORD fills a URL without one", func(t *testing.T) {
		c, err := redisconn.Config{URL: "redis://10.0.0.9:6379/0", Password: "p"}.Client()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if c.(*redis.Client).Options().Password != "p" {
			t.Errorf("password not applied")
		}
	})

	for _, tt := range []struct {
		cfg  redisconn.Config
		want string
	}{
		{redisconn.Config{SentinelAddrs: []string{"a:1"}}, "REDIS_SENTINEL_MASTER"},
		{redisconn.Config{SentinelAddrs: []string{"a:1"}, SentinelMaster: "m", ClusterAddrs: []string{"b:2"}}, "not both"},
		{redisconn.Config{SentinelAddrs: []string{"no-port"}, SentinelMaster: "m"}, "REDIS_SENTINEL_ADDRS"},
		{redisconn.Config{ClusterAddrs: []string{"a:1", ":2"}}, "REDIS_CLUSTER_ADDRS"},
		{redisconn.Config{ClusterAddrs: []string{"a:1"}, DB: 1}, "REDIS_DB"},
		{redisconn.Config{URL: "http://x"}, "REDIS_URL"},
	} {
		err := tt.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tt.cfg, err, tt.want)
		}
		if _, err := tt.cfg.Client(); err == nil {
			t.Errorf("Client(%+v) opened an invalid configuration", tt.cfg)
		}
	}
}
