package verify

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are kept in a registry per Service, not the global one, so that
// two instances in one test process do not collide.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	verdicts *prometheus.CounterVec
	loads    prometheus.Counter
	// batchFallbacks above zero means a record in the database does not
	// verify: worth an alert.
	batchFallbacks prometheus.Counter
	invalidations  prometheus.Counter
	redisUp        prometheus.Gauge
	limited        prometheus.Counter
	// resolved label sets of the hot path
	l1Hit, l1Miss, l2Hit, l2Miss prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "certd_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certd_verify_cache_total", Help: "Verification view cache lookups by level (l1 in-process, l2 Redis) and result.",
		}, []string{"level", "result"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certd_verify_verdicts_total", Help: "Verdicts given, by verdict and channel (page, api, bulk, token, pdf).",
		}, []string{"verdict", "channel"}),
		loads: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_db_loads_total", Help: "Verification views built from the database."}),
		batchFallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_signature_batch_failures_total",
			Help: "Batches of stored records whose signatures did not all verify together (each was then checked alone). Above zero means a stored record does not verify."}),
		invalidations: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_verify_invalidations_total", Help: "Certificate views invalidated from the audit log."}),
		redisUp:       prometheus.NewGauge(prometheus.GaugeOpts{Name: "certd_verify_redis_up", Help: "1 when the shared Redis cache is in use."}),
		limited:       prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_http_rate_limited_total", Help: "Requests refused by the rate limiter."}),
	}
	m.l1Hit, m.l1Miss = m.cache.WithLabelValues("l1", "hit"), m.cache.WithLabelValues("l1", "miss")
	m.l2Hit, m.l2Miss = m.cache.WithLabelValues("l2", "hit"), m.cache.WithLabelValues("l2", "miss")
	m.reg.MustRegister(m.requests, m.cache, m.verdicts, m.loads, m.batchFallbacks, m.invalidations, m.redisUp, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one request under its route pattern (routeOf), never
// the raw path, so that guessed numbers cannot blow up the label set.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}
