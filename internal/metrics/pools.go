package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
)

// RegisterPostgres registers the pool statistics of db (sql.DB.Stats, which
// sqlx exposes as db.DB) as the go_sql_* series with db_name="postgres":
// go_sql_open_connections, go_sql_in_use_connections, go_sql_idle_connections,
// go_sql_max_open_connections, go_sql_wait_count_total,
// go_sql_wait_duration_seconds_total and the go_sql_max_*_closed_total counters.
func RegisterPostgres(reg prometheus.Registerer, db *sql.DB) {
	reg.MustRegister(collectors.NewDBStatsCollector(db, "postgres"))
}

// RedisPool reads go-redis pool statistics at scrape time.
type RedisPool struct {
	client interface{ PoolStats() *redis.PoolStats }
}

var (
	redisHitsDesc     = prometheus.NewDesc("redis_pool_hits_total", "Times a free connection was found in the Redis pool.", nil, nil)
	redisMissesDesc   = prometheus.NewDesc("redis_pool_misses_total", "Times no free connection was in the Redis pool (a new one was dialed or waited for).", nil, nil)
	redisTimeoutsDesc = prometheus.NewDesc("redis_pool_timeouts_total", "Times waiting for a Redis pool connection timed out.", nil, nil)
	redisWaitsDesc    = prometheus.NewDesc("redis_pool_waits_total", "Times a caller waited for a Redis pool connection.", nil, nil)
	redisWaitSecDesc  = prometheus.NewDesc("redis_pool_wait_duration_seconds_total", "Total time callers waited for a Redis pool connection.", nil, nil)
	redisTotalDesc    = prometheus.NewDesc("redis_pool_connections", "Connections in the Redis pool, by state (total, idle).", []string{"state"}, nil)
	redisStaleDesc    = prometheus.NewDesc("redis_pool_stale_connections_total", "Stale connections removed from the Redis pool.", nil, nil)
)

// RegisterRedis registers the pool statistics of a go-redis client (its asynq
// clients, inspector and server share that pool).
func RegisterRedis(reg prometheus.Registerer, client interface{ PoolStats() *redis.PoolStats }) {
	reg.MustRegister(&RedisPool{client: client})
}

// Describe implements prometheus.Collector.
func (c *RedisPool) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{redisHitsDesc, redisMissesDesc, redisTimeoutsDesc, redisWaitsDesc,
		redisWaitSecDesc, redisTotalDesc, redisStaleDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *RedisPool) Collect(ch chan<- prometheus.Metric) {
	s := c.client.PoolStats()
	if s == nil {
		return
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	counter(redisHitsDesc, float64(s.Hits))
	counter(redisMissesDesc, float64(s.Misses))
	counter(redisTimeoutsDesc, float64(s.Timeouts))
	counter(redisWaitsDesc, float64(s.WaitCount))
	counter(redisWaitSecDesc, float64(s.WaitDurationNs)/1e9)
	counter(redisStaleDesc, float64(s.StaleConns))
	ch <- prometheus.MustNewConstMetric(redisTotalDesc, prometheus.GaugeValue, float64(s.TotalConns), "total")
	ch <- prometheus.MustNewConstMetric(redisTotalDesc, prometheus.GaugeValue, float64(s.IdleConns), "idle")
}
