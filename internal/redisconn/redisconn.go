// Package redisconn builds the Redis connection of every process — the API,
// the worker, the bank limiters, the token-revocation and login counters, and
// the Asynqmon dashboard — from configuration, in one place:
//
//   - REDIS_SENTINEL_ADDRS (host:port,…) with REDIS_SENTINEL_MASTER (and
//     REDIS_SENTINEL_PASSWORD): a primary found through Sentinel, followed
//     across failovers;
//   - REDIS_CLUSTER_ADDRS (host:port,…): a Redis Cluster;
//   - otherwise REDIS_URL: one server.
//
// REDIS_PASSWORD and REDIS_DB apply to Sentinel and Cluster (a Cluster has
// only database 0). When Sentinel or Cluster is configured it wins over
// REDIS_URL. Every caller gets a go-redis UniversalClient and, for Asynqmon,
// the matching asynq.RedisConnOpt, so the same servers are used everywhere.
package redisconn

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Modes of a Config.
const (
	ModeSingle   = "single"
	ModeSentinel = "sentinel"
	ModeCluster  = "cluster"
)

// Config is where Redis is. The zero value is one server at URL.
type Config struct {
	URL              string
	SentinelAddrs    []string
	SentinelMaster   string
	SentinelPassword string
	ClusterAddrs     []string
	Password         string
	DB               int
}

// Mode says which topology the configuration names.
func (c Config) Mode() string {
	switch {
	case len(c.SentinelAddrs) > 0:
		return ModeSentinel
	case len(c.ClusterAddrs) > 0:
		return ModeCluster
	default:
		return ModeSingle
	}
}

// Validate names the variable at fault.
func (c Config) Validate() error {
	switch c.Mode() {
	case ModeSentinel:
		if len(c.ClusterAddrs) > 0 {
			return errors.New("redis: set REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS, not both")
		}
		if c.SentinelMaster == "" {
			return errors.New("redis: REDIS_SENTINEL_MASTER is required with REDIS_SENTINEL_ADDRS")
		}
		return checkAddrs("REDIS_SENTINEL_ADDRS", c.SentinelAddrs)
	case ModeCluster:
		if c.DB != 0 {
			return errors.New("redis: REDIS_DB must be 0 with REDIS_CLUSTER_ADDRS (a Cluster has one database)")
		}
		return checkAddrs("REDIS_CLUSTER_ADDRS", c.ClusterAddrs)
	}
	if _, err := redis.ParseURL(c.URL); err != nil {
		return fmt.Errorf("redis: REDIS_URL: %w", err)
	}
	return nil
}

func checkAddrs(name string, addrs []string) error {
	for _, a := range addrs {
		host, port, ok := strings.Cut(a, ":")
		if !ok || host == "" || port == "" || strings.Contains(port, ":") {
			return fmt.Errorf("redis: %s must be host:port,… (got %q)", name, a)
		}
	}
	return nil
}

// Timeouts shared by every topology: short enough that a dead primary is
// noticed within seconds (the API answers 503 instead of hanging), long
// enough for a loaded server.
const (
	dialTimeout  = 2 * time.Second
	readTimeout  = 3 * time.Second
	writeTimeout = 3 * time.Second
)

// Client opens the UniversalClient of the configuration. With Sentinel it is
// go-redis's failover client: it asks the sentinels for the primary, and on a
// failover (the sentinels' +switch-master, or a READONLY reply from a demoted
// primary) drops its connections and dials the new one.
func (c Config) Client() (redis.UniversalClient, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Mode() {
	case ModeSentinel:
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: c.SentinelMaster, SentinelAddrs: c.SentinelAddrs, SentinelPassword: c.SentinelPassword,
			Password: c.Password, DB: c.DB,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		}), nil
	case ModeCluster:
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: c.ClusterAddrs, Password: c.Password,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		}), nil
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: REDIS_URL: %w", err)
	}
	if opts.Password == "" {
		opts.Password = c.Password
	}
	return redis.NewClient(opts), nil
}

// Asynq is the same servers as an asynq.RedisConnOpt (Asynqmon takes one).
func (c Config) Asynq() (asynq.RedisConnOpt, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Mode() {
	case ModeSentinel:
		return asynq.RedisFailoverClientOpt{MasterName: c.SentinelMaster, SentinelAddrs: c.SentinelAddrs,
			SentinelPassword: c.SentinelPassword, Password: c.Password, DB: c.DB,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}, nil
	case ModeCluster:
		return asynq.RedisClusterClientOpt{Addrs: c.ClusterAddrs, Password: c.Password,
			DialTimeout: dialTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout}, nil
	}
	opt, err := asynq.ParseRedisURI(c.URL)
	if err != nil {
		return nil, fmt.Errorf("redis: REDIS_URL: %w", err)
	}
	if o, ok := opt.(asynq.RedisClientOpt); ok && o.Password == "" {
		o.Password = c.Password
		opt = o
	}
	return opt, nil
}

// String describes the configuration for logs, without passwords.
func (c Config) String() string {
	switch c.Mode() {
	case ModeSentinel:
		return fmt.Sprintf("sentinel master %q via %s (db %d)", c.SentinelMaster, strings.Join(c.SentinelAddrs, ","), c.DB)
	case ModeCluster:
		return "cluster via " + strings.Join(c.ClusterAddrs, ",")
	}
	opts, err := redis.ParseURL(c.URL)
	if err != nil {
		return "single (unparsable REDIS_URL)"
	}
	return fmt.Sprintf("single %s (db %d)", opts.Addr, opts.DB)
}
