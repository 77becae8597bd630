package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Delivery outcomes, the outcome label of scimgate_engine_deliveries_total.
const (
	outcomeOK    = "ok"
	outcomeRetry = "retry"
	outcomeDead  = "dead"
)

// statsTimeout bounds the store reads of one scrape.
const statsTimeout = 5 * time.Second

// metrics are the engine's Prometheus metrics.
type metrics struct {
	deliveries *prometheus.CounterVec   // target, op, outcome
	retries    *prometheus.CounterVec   // target
	dead       *prometheus.CounterVec   // target
	lag        *prometheus.HistogramVec // target
	// Reconciliations (dry runs are not counted).
	reconciledAccounts *prometheus.CounterVec // target, outcome
	reconciledAt       *prometheus.GaugeVec   // target
	reconciledSeconds  *prometheus.GaugeVec   // target
}

// newMetrics creates the engine's metrics and registers them, with the
// queue collector, on reg when it is not nil.
func newMetrics(e *Engine, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_engine_deliveries_total",
			Help: "Delivery attempts by target, operation and outcome (ok, retry, dead).",
		}, []string{"target", "op", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_engine_retries_total",
			Help: "Failed delivery attempts that will be retried, by target.",
		}, []string{"target"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_engine_dead_letters_total",
			Help: "Operations that became dead letters, by target.",
		}, []string{"target"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimgate_engine_delivery_lag_seconds",
			Help:    "Time from queueing an operation to its successful delivery, by target.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 3600},
		}, []string{"target"}),
		reconciledAccounts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_reconcile_accounts_total",
			Help: "Accounts and identities classified by reconciliations (not dry runs), by target and outcome (missing, drift, unlinked, outOfScope, orphan, conflict, ok, skipped).",
		}, []string{"target", "outcome"}),
		reconciledAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimgate_reconcile_last_run_timestamp_seconds",
			Help: "When the last reconciliation of the target (not a dry run) finished (Unix time), successful or not.",
		}, []string{"target"}),
		reconciledSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "scimgate_reconcile_last_run_duration_seconds",
			Help: "How long the last reconciliation of the target (not a dry run) took.",
		}, []string{"target"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.retries, m.dead, m.lag, m.reconciledAccounts, m.reconciledAt,
		m.reconciledSeconds, &queueCollector{e: e}} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("%w: registering metrics: %v", ErrConfig, err)
		}
	}
	return m, nil
}

// delivered counts one delivery attempt.
func (m *metrics) delivered(target, op, outcome string) {
	m.deliveries.WithLabelValues(target, op, outcome).Inc()
	switch outcome {
	case outcomeRetry:
		m.retries.WithLabelValues(target).Inc()
	case outcomeDead:
		m.dead.WithLabelValues(target).Inc()
	}
}

// reconciled counts a finished reconciliation.
func (m *metrics) reconciled(rep Report) {
	for _, o := range Outcomes {
		m.reconciledAccounts.WithLabelValues(rep.Target, o).Add(float64(rep.Counts[o]))
	}
	m.reconciledAt.WithLabelValues(rep.Target).Set(float64(rep.Finished.UnixNano()) / 1e9)
	m.reconciledSeconds.WithLabelValues(rep.Target).Set(rep.Seconds)
}

var (
	queueDepthDesc = prometheus.NewDesc("scimgate_engine_queue_depth",
		"Pending operations per target, held ones included.", []string{"target"}, nil)
	oldestAgeDesc = prometheus.NewDesc("scimgate_engine_oldest_pending_age_seconds",
		"Age of the oldest pending operation per target (0 when none).", []string{"target"}, nil)
	heldDesc = prometheus.NewDesc("scimgate_engine_held_operations",
		"Operations held by the deletion guard per target.", []string{"target"}, nil)
	scheduledDesc = prometheus.NewDesc("scimgate_engine_scheduled_operations",
		"Operations queued for later per target (a leaver's delete after the grace period), not counted as pending.", []string{"target"}, nil)
	upDesc = prometheus.NewDesc("scimgate_engine_target_up",
		"0 while the target is down (its connector's health check fails, or the engine holds its operations), else 1.", []string{"target"}, nil)
	nextScheduledDesc = prometheus.NewDesc("scimgate_engine_next_scheduled_timestamp_seconds",
		"When the next scheduled operation falls due per target (Unix time; 0 when none).", []string{"target"}, nil)
)

// queueCollector reads the outbox of every target at scrape time.
type queueCollector struct{ e *Engine }

// Describe implements prometheus.Collector.
func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- queueDepthDesc
	ch <- oldestAgeDesc
	ch <- heldDesc
	ch <- scheduledDesc
	ch <- nextScheduledDesc
	ch <- upDesc
}

// Collect implements prometheus.Collector. It reports what Targets does
// (the admin API's view): the queues, and each target's health.
func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	now := c.e.opts.Now()
	sts, err := c.e.Targets(ctx)
	if err != nil {
		c.e.log.Error("engine: reading outbox statistics", "err", err)
		return
	}
	for _, st := range sts {
		name := st.Name
		age := 0.0
		if !st.Oldest.IsZero() {
			age = max(0, now.Sub(st.Oldest).Seconds())
		}
		next := 0.0
		if !st.NextScheduled.IsZero() {
			next = float64(st.NextScheduled.Unix())
		}
		up := 1.0
		if st.Health == HealthDown {
			up = 0
		}
		for _, m := range []struct {
			d *prometheus.Desc
			v float64
		}{{queueDepthDesc, float64(st.Pending)}, {oldestAgeDesc, age}, {heldDesc, float64(st.Held)},
			{scheduledDesc, float64(st.Scheduled)}, {nextScheduledDesc, next}, {upDesc, up}} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.GaugeValue, m.v, name)
		}
	}
}
