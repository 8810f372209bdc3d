package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"certd/issuer/store/postgres"
	"certd/issuer/store/sqlite"
	"certd/verify"
	"certd/verify/web"
)

// Both store backends, and the replica router, serve the published status
// lists the public routes read (web.StatusStore).
var (
	_ web.StatusStore = (*sqlite.Store)(nil)
	_ web.StatusStore = (*postgres.Store)(nil)
	_ web.StatusStore = (*postgres.Routed)(nil)
	// Receipts are kept by every store the public routes may be given
	// (web.ReceiptStore; the routed one on its primary): a store without
	// them would keep none, silently.
	_ web.ReceiptStore = (*sqlite.Store)(nil)
	_ web.ReceiptStore = (*postgres.Store)(nil)
	_ web.ReceiptStore = (*postgres.Routed)(nil)
)

// publicStore is what the public read path reads: the store itself, or,
// with replicas configured, a router that sends those reads to replicas
// that have caught up (postgres.Routed says why that is safe).
func (e *env) publicStore(ctx context.Context) (verify.Store, error) {
	if len(e.cfg.ReplicaURLs) == 0 {
		return e.store, nil
	}
	primary, ok := e.store.(*postgres.Store)
	if !ok {
		return nil, usageError{"--database-replica-url 需要 PostgreSQL / --database-replica-url needs PostgreSQL"}
	}
	lag, _ := time.ParseDuration(e.cfg.ReplicaMaxLag)
	if lag <= 0 {
		lag = time.Second // the flag's default, for a Config built in code
	}
	r, err := postgres.OpenRouted(ctx, primary, e.cfg.ReplicaURLs, postgres.ReplicaOptions{MaxLag: lag})
	if err != nil {
		return nil, err
	}
	e.closers = append(e.closers, r.Close)
	if e.metrics != nil {
		e.metrics.MustRegister(replicaCollector{r})
	}
	return r, nil
}

// replicaCollector reports each replica's state when scraped.
type replicaCollector struct{ r *postgres.Routed }

var (
	replicaUp    = prometheus.NewDesc("certd_replica_up", "1 if the read replica answered its last poll", []string{"replica"}, nil)
	replicaInUse = prometheus.NewDesc("certd_replica_in_rotation", "1 if the read replica takes public reads", []string{"replica"}, nil)
	replicaLag   = prometheus.NewDesc("certd_replica_lag_seconds", "estimated replay lag of the read replica", []string{"replica"}, nil)
	replicaBytes = prometheus.NewDesc("certd_replica_lag_bytes", "WAL bytes the read replica is behind the primary", []string{"replica"}, nil)
	replicaReads = prometheus.NewDesc("certd_replica_reads_total", "public reads the read replica answered", []string{"replica"}, nil)
)

func (replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicaUp, replicaInUse, replicaLag, replicaBytes, replicaReads} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, s := range c.r.Replicas() {
		ch <- prometheus.MustNewConstMetric(replicaUp, prometheus.GaugeValue, b(s.Up), s.Name)
		ch <- prometheus.MustNewConstMetric(replicaInUse, prometheus.GaugeValue, b(s.InUse), s.Name)
		ch <- prometheus.MustNewConstMetric(replicaLag, prometheus.GaugeValue, s.Lag.Seconds(), s.Name)
		ch <- prometheus.MustNewConstMetric(replicaBytes, prometheus.GaugeValue, float64(s.LagByte), s.Name)
		ch <- prometheus.MustNewConstMetric(replicaReads, prometheus.CounterValue, float64(s.Reads), s.Name)
	}
}
