package alert

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/internal/store"
)

// metrics exposes the alerts as the store records them (so that they
// survive restarts), refreshed by every Evaluate, and counts the
// notifications by outcome.
type metrics struct {
	active, total *prometheus.Desc
	notifications *prometheus.CounterVec

	mu    sync.Mutex
	rules []string
	// counts by rule: active episodes, episodes raised, episodes resolved.
	counts map[string][3]int
}

func newMetrics(rules []string, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		active: prometheus.NewDesc("scimgate_alerts_active", "Alerts raised and not resolved, by rule.", []string{"rule"}, nil),
		total: prometheus.NewDesc("scimgate_alerts_total",
			"Alert episodes by rule and state (raised, resolved), as recorded in the store.", []string{"rule", "state"}, nil),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimgate_alert_notifications_total",
			Help: "Alert notification attempts by rule and outcome (sent, retry, failed).",
		}, []string{"rule", "outcome"}),
		rules:  rules,
		counts: map[string][3]int{},
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m, m.notifications} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("alert: metrics: %w", err)
			}
		}
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.active
	ch <- m.total
}

// Collect implements prometheus.Collector.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.rules {
		c := m.counts[r]
		ch <- prometheus.MustNewConstMetric(m.active, prometheus.GaugeValue, float64(c[0]), r)
		ch <- prometheus.MustNewConstMetric(m.total, prometheus.CounterValue, float64(c[1]), r, store.AlertRaised)
		ch <- prometheus.MustNewConstMetric(m.total, prometheus.CounterValue, float64(c[2]), r, store.AlertResolved)
	}
}

func (m *metrics) sent(rule, outcome string) {
	m.notifications.WithLabelValues(rule, outcome).Inc()
}

// refreshMetrics reads the episodes from the store.
func (e *Evaluator) refreshMetrics(ctx context.Context) error {
	all, err := e.opts.Store.Alerts(ctx, store.AlertQuery{})
	if err != nil {
		return fmt.Errorf("alert: metrics: %w", err)
	}
	counts := map[string][3]int{}
	for _, a := range all {
		c := counts[a.Rule]
		c[1] += a.Episode
		if a.Active {
			c[0]++
			c[2] += a.Episode - 1
		} else {
			c[2] += a.Episode
		}
		counts[a.Rule] = c
	}
	e.metrics.mu.Lock()
	e.metrics.counts = counts
	e.metrics.mu.Unlock()
	return nil
}
