package engine

import (
	"context"
	"time"

	"github.com/scimgate/scimgate/targets"
)

// A target that is down is not sent operations: they wait in the outbox,
// keeping their attempts, while the engine probes the target with
// exponential backoff (Options.BackoffBase doubled per failed probe, at most
// BackoffMax), and resume when a probe succeeds. One line is logged when
// the target goes down and one when it is back, whatever the number of
// operations waiting.
//
// A target is down when a delivery fails with a transient error and the
// connector's Health (targets.HealthChecker) fails too; the probe is then
// Health. For a connector that cannot tell, or whose Health passes while
// its operations fail, the target is down after transient failures of
// downAfter different objects in a row (one object failing alone is that
// object's problem, retried and dead-lettered on its own); the probe is
// then the next delivery.
//
// Likewise, when the gateway's own store cannot record a delivery's
// outcome (a full disk), the target's deliveries pause with backoff
// instead of repeating at once.

// downAfter is the number of different objects whose deliveries must fail
// in a row, with no success between, before a target that cannot tell its
// health is taken for down.
const downAfter = 3

// health is the engine's view of a target; guarded by target.hmu.
type health struct {
	down    bool
	reason  string    // why it is down
	since   time.Time // when it went down
	byProbe bool      // down on Health: probe with Health, else with a delivery
	probes  int       // failed probes since it went down
	probeAt time.Time // the next probe
	// failing are the objects whose deliveries failed transiently since
	// the last success, while up.
	failing map[objectKey]bool
	// storeFailures counts the deliveries in a row whose outcome the store
	// could not record; none is attempted before storeAt.
	storeFailures int
	storeAt       time.Time
}

// gate tells whether operations may be sent to t now. When they may not,
// wait is how long until it may change. probe reports that only one
// operation may be sent: the target is down and that delivery is the
// probe. A due Health probe is made here.
func (e *Engine) gate(ctx context.Context, t *target) (open, probe bool, wait time.Duration) {
	now := e.opts.Now()
	t.hmu.Lock()
	h := t.health
	t.hmu.Unlock()
	if now.Before(h.storeAt) {
		return false, false, h.storeAt.Sub(now)
	}
	if !h.down {
		return true, false, 0
	}
	if now.Before(h.probeAt) {
		return false, false, h.probeAt.Sub(now)
	}
	if !h.byProbe { // the next delivery probes; the one after waits for it
		t.hmu.Lock()
		t.health.probes++
		t.health.probeAt = now.Add(e.backoff(t.health.probes))
		t.hmu.Unlock()
		return true, true, 0
	}
	if reason := healthOf(ctx, t.conn); reason != "" {
		t.hmu.Lock()
		t.health.probes++
		t.health.reason = reason
		t.health.probeAt = now.Add(e.backoff(t.health.probes))
		wait = t.health.probeAt.Sub(now)
		t.hmu.Unlock()
		return false, false, wait
	}
	e.up(t)
	return true, false, 0
}

// paused reports whether t's deliveries are held: the target is down or
// the store failed to record one.
func (e *Engine) paused(t *target) bool {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	return t.health.down || e.opts.Now().Before(t.health.storeAt)
}

// failed records a transient delivery failure of object k and returns why
// the target is down, or "" when it is up: the failure then counts as an
// attempt of the operation.
func (e *Engine) failed(ctx context.Context, t *target, k objectKey, err error) string {
	reason := healthOf(ctx, t.conn)
	t.hmu.Lock()
	defer t.hmu.Unlock()
	h := &t.health
	if h.down {
		if reason != "" {
			h.reason = reason
		}
		return h.reason
	}
	byProbe := reason != ""
	if !byProbe {
		if h.failing == nil {
			h.failing = map[objectKey]bool{}
		}
		h.failing[k] = true
		if len(h.failing) < downAfter {
			return ""
		}
		reason = err.Error()
	}
	now := e.opts.Now()
	*h = health{down: true, reason: reason, since: now, byProbe: byProbe, probeAt: now.Add(e.backoff(1)),
		storeFailures: h.storeFailures, storeAt: h.storeAt}
	e.log.Warn("engine: target down; its operations wait, probing it with backoff", "target", t.pol.Name(), "reason", reason)
	return reason
}

// succeeded records a successful delivery: the target is up.
func (e *Engine) succeeded(t *target) {
	t.hmu.Lock()
	down := t.health.down
	t.health.failing = nil
	t.hmu.Unlock()
	if down {
		e.up(t)
	}
}

// up records that t is reachable again.
func (e *Engine) up(t *target) {
	t.hmu.Lock()
	h := t.health
	t.health = health{storeFailures: h.storeFailures, storeAt: h.storeAt}
	t.hmu.Unlock()
	if h.down {
		e.log.Info("engine: target is back; delivering its operations", "target", t.pol.Name(),
			"down_for", e.opts.Now().Sub(h.since).Round(time.Millisecond).String())
	}
}

// recorded records whether the store recorded a delivery's outcome (err
// nil); after a failure, t's deliveries pause with backoff.
func (e *Engine) recorded(t *target, err error) {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	h := &t.health
	if err == nil {
		if h.storeFailures > 0 {
			e.log.Info("engine: recording deliveries works again", "target", t.pol.Name(), "failures", h.storeFailures)
		}
		h.storeFailures, h.storeAt = 0, time.Time{}
		return
	}
	h.storeFailures++
	h.storeAt = e.opts.Now().Add(e.backoff(h.storeFailures))
	if h.storeFailures == 1 {
		e.log.Error("engine: the store cannot record deliveries; pausing the target's deliveries with backoff",
			"target", t.pol.Name(), "err", err)
	}
}

// healthOf asks a connector that can tell whether its target is
// reachable; it returns why not, or "" when it is (or the connector cannot
// tell).
func healthOf(ctx context.Context, c targets.Connector) string {
	hc, ok := c.(targets.HealthChecker)
	if !ok {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := hc.Health(ctx); err != nil {
		return err.Error()
	}
	return ""
}
