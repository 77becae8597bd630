package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"
)

// The background work: the engine's planner and reconciliations, the
// workflow runner, the alerts, the guest lifecycle, the access reviews and
// the audit log's pruning. On SQLite one gateway owns the database and
// runs it, with the engine's delivery. Replicas sharing a PostgreSQL or
// MySQL database run it on one replica at a time: the holder of the
// store's lease leaseName, taken and renewed every leaseTTL/5; one of the
// others takes over within leaseTTL when the holder dies. A holder that
// cannot renew the lease for leaseTTL/2 stops its background work before
// the lease can expire, so that two replicas never plan at once. Every
// replica serves SCIM and the admin API and delivers: each operation is
// claimed in the store by the replica that delivers it (engine.Options:
// Replica, ClaimTTL = leaseTTL).

// leaseName is the lease of the background work.
const leaseName = "background"

// shared reports whether replicas may share the gateway's database.
func (g *Gateway) shared() bool { return g.cfg.Store.Shared() }

// replicaID names this process among the replicas: host, process id and
// a random suffix (a restarted process is another replica).
func replicaID() string {
	host, _ := os.Hostname()
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// lead runs the background work until ctx ends: at once on SQLite, while
// this replica holds the lease on a shared database.
func (g *Gateway) lead(ctx context.Context) {
	if !g.shared() {
		stop := g.startBackground(ctx)
		<-ctx.Done()
		stop()
		return
	}
	if g.engine != nil { // every replica delivers; Close stops it
		g.engine.StartDelivery(ctx)
	}
	ttl := g.cfg.Store.LeaseTTL
	tick := time.NewTicker(ttl / 5)
	defer tick.Stop()
	var (
		stop    func() // the background work's, while leading
		renewed time.Time
		failing bool
	)
	for {
		now := time.Now()
		tctx, cancel := context.WithTimeout(ctx, ttl/5)
		l, ok, err := g.store.TryLease(tctx, leaseName, g.replica, now, ttl)
		cancel()
		switch {
		case ok:
			renewed = now
			if failing {
				g.log.Info("replicas: the lease can be renewed again")
				failing = false
			}
			if stop == nil {
				g.log.Info("replicas: this replica runs the background work", "replica", g.replica, "epoch", l.Epoch)
				stop = g.startBackground(ctx)
				g.leading.Store(true)
			}
		case err != nil && ctx.Err() == nil && !failing:
			g.log.Warn("replicas: cannot take or renew the lease", "err", err)
			failing = true
		}
		if stop != nil && !ok && (err == nil || time.Since(renewed) > ttl/2) {
			// Another replica has it (this one stalled), or it could
			// not be renewed in time: stop before it expires.
			g.log.Warn("replicas: this replica no longer holds the lease: stopping its background work", "holder", l.Holder)
			g.leading.Store(false)
			stop()
			stop = nil
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				g.leading.Store(false)
				stop()
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				if err := g.store.ReleaseLease(rctx, leaseName, g.replica); err != nil {
					g.log.Warn("replicas: releasing the lease", "err", err)
				}
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

// startBackground starts the background work and returns the function
// that stops it and waits for it.
func (g *Gateway) startBackground(ctx context.Context) (stop func()) {
	bctx, cancel := context.WithCancel(ctx)
	if g.engine != nil && g.shared() {
		g.engine.StartPlanning(bctx) // it delivers already
	} else if g.engine != nil {
		g.engine.Start(bctx)
	}
	if g.runner != nil {
		g.runner.Start(bctx)
	}
	if g.alerts != nil {
		g.alerts.Start(bctx)
	}
	if g.guests != nil {
		g.guests.Start(bctx)
	}
	if g.reviews != nil {
		g.reviews.Start(bctx)
	}
	pruned := make(chan struct{})
	go func() { defer close(pruned); g.pruneAudit(bctx) }()
	return func() {
		cancel()
		<-pruned
		// In the order of Close: each before what it calls.
		if g.alerts != nil {
			g.alerts.Close()
		}
		if g.reviews != nil {
			g.reviews.Close()
		}
		if g.guests != nil {
			g.guests.Close()
		}
		if g.runner != nil {
			g.runner.Close()
		}
		if g.engine != nil && g.shared() {
			g.engine.StopPlanning()
		} else if g.engine != nil {
			g.engine.Close()
		}
	}
}
