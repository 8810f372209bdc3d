package web

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are kept in a registry per mounted app (Deps.Metrics), not the
// global one, so that two instances in one test process do not collide.
// The lookup service registers its own there (cache.Options.Metrics).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.HistogramVec
	verdicts *prometheus.CounterVec
	limited  prometheus.Counter
	// confirmRefused counts name checks refused by the caps on guessing,
	// by reason: client (its own failures) or guessing (the certificate's).
	confirmRefused *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "certd_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern, method and status.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"route", "method", "status"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certd_verify_verdicts_total", Help: "Verdicts given, by verdict and channel (page, api, bulk, token, pdf).",
		}, []string{"verdict", "channel"}),
		limited: prometheus.NewCounter(prometheus.CounterOpts{Name: "certd_http_rate_limited_total", Help: "Requests refused by the rate limiter."}),
		confirmRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certd_verify_confirm_refused_total", Help: "Name checks refused by the caps on guessing, by reason (client, guessing).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.verdicts, m.limited, m.confirmRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe records one request under its route pattern (routeOf), never
// the raw path, so that guessed numbers cannot blow up the label set.
func (m *metrics) observe(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}
