package cache

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cache's counters. They are registered with the
// Registerer the service is given, not the global one, so that two
// services in one test process do not collide.
type metrics struct {
	cache *prometheus.CounterVec
	loads prometheus.Counter
	// batchFallbacks above zero means a record in the database does not
	// verify: worth an alert.
	batchFallbacks prometheus.Counter
	invalidations  prometheus.Counter
	// resolved label sets of the hot path
	l1Hit, l1Miss, l2Hit, l2Miss prometheus.Counter
}

// age is read when scraped: how long ago the newest successful read of the
// audit log started.
func newMetrics(reg prometheus.Registerer, remote *Remote, age func() float64) *metrics {
	m := &metrics{
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certd_verify_cache_total", Help: "Verification view cache lookups by level (l1 in-process, l2 Redis) and result.",
		}, []string{"level", "result"}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_db_loads_total", Help: "Verification views built from the database."}),
		batchFallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_signature_batch_failures_total",
			Help: "Batches of stored records whose signatures did not all verify together (each was then checked alone). Above zero means a stored record does not verify."}),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_invalidations_total", Help: "Certificate views invalidated from the audit log."}),
	}
	m.l1Hit, m.l1Miss = m.cache.WithLabelValues("l1", "hit"), m.cache.WithLabelValues("l1", "miss")
	m.l2Hit, m.l2Miss = m.cache.WithLabelValues("l2", "hit"), m.cache.WithLabelValues("l2", "miss")
	if reg == nil {
		return m
	}
	// Read when scraped: Redis comes and goes in its own time.
	redisUp := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "certd_verify_redis_up", Help: "1 when the shared Redis cache is in use."},
		func() float64 {
			if remote != nil && remote.up() {
				return 1
			}
			return 0
		})
	changesAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "certd_verify_changes_age_seconds",
		Help: "Seconds since the newest successful read of the audit log started. Above the freshness bound (1 s by default) the instance withholds valid and not-found answers."},
		age)
	reg.MustRegister(m.cache, m.loads, m.batchFallbacks, m.invalidations, redisUp, changesAge)
	return m
}
