// Package engine is the provisioning engine: it turns the changes journalled
// by the store into operations on the targets, and delivers them.
//
// The planner reads the change journal after its cursor, evaluates the
// policy for every changed user and group, compares the decision with the
// state it recorded per target and object, and queues the operations that
// bring the target there. It reads and evaluates outside the store's write
// transaction; the queued operations, the new states and the advanced
// cursor are then written in one transaction, so a crash loses or repeats
// nothing.
//
// A target in preview has its operations planned and queued (visible in
// the outbox and the metrics) but has no worker: its connector is never
// called. Turning preview off delivers the queue, coalesced.
//
// One worker per target delivers the queued operations (the outbox): in
// queue order per object, never two at once for one object, different
// objects in parallel. Transient failures are retried with exponential
// backoff and jitter; permanent ones become dead letters. A slow or failing
// target delays only its own outbox.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/targets"
)

// ErrConfig: the options do not describe a runnable engine.
var ErrConfig = errors.New("engine: invalid options")

// Options configure an Engine. Zero durations and counts take the defaults.
type Options struct {
	Store  Store
	Policy *policy.Policy
	// Connectors are the open connectors by target name; every policy
	// target needs one. The engine does not close them.
	Connectors map[string]targets.Connector
	Logger     *slog.Logger
	// Poll is how often the planner and the workers look for work when
	// they were not woken (default 1s).
	Poll time.Duration
	// BackoffBase and BackoffMax bound the delay before retrying a
	// transient failure: BackoffBase doubled per attempt, at most
	// BackoffMax, with jitter (defaults 1s and 5m).
	BackoffBase, BackoffMax time.Duration
	// MaxAttempts sends an operation to the dead letters after that many
	// failed attempts (default 20).
	MaxAttempts int
	// MaxAge sends an operation that fails after being queued that long to
	// the dead letters (0: no age limit).
	MaxAge time.Duration
	// Concurrency is the number of objects a target receives operations
	// for at the same time (default 4).
	Concurrency int
	// Replica, when set, names this engine among the replicas that
	// deliver from one store: it claims each operation it delivers
	// (Tx.ClaimOutbox) under this name, and another replica's claims only
	// when they end. Empty: this engine is the only one that delivers from
	// its store (a gateway that owns its SQLite database), and it marks
	// the operations in flight in memory only, which costs no commit.
	Replica string
	// ClaimTTL is how long a replica's claim on an operation stands
	// without being renewed: the operations of a replica that died are
	// delivered by another after it (default 1m). Claims of deliveries in
	// flight are renewed every ClaimTTL/3.
	ClaimTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer, when set, receives the engine's Prometheus metrics.
	Registerer prometheus.Registerer
	// OnChanges, when set, sees every batch of journalled changes in the
	// planner's transaction, before the cursor moves past them and they
	// are deleted: what it writes in tx commits with the batch, exactly
	// once (the lifecycle workflows' events). An error fails the batch,
	// which is planned again.
	OnChanges func(ctx context.Context, tx store.Tx, changes []store.Change) error
	// Committed, when set, is called after each batch that OnChanges saw
	// has committed: what OnChanges wrote is visible to other readers
	// now (a scheduler it wrote for can look again).
	Committed func()
	// OnAccounts, when set, is told after each page of a reconciliation
	// (not a dry run) of the user accounts it read that are linked to a
	// user, with the attributes the target returned: facts of the target
	// the gateway does not provision, such as a last login. An error is
	// logged; the reconciliation goes on.
	OnAccounts func(ctx context.Context, target string, accounts []Account) error
}

// Engine plans and delivers provisioning operations. Create it with New,
// run it with Start, stop it with Close.
type Engine struct {
	opts    Options
	log     *slog.Logger
	targets []*target
	metrics *metrics
	// readsGroups: the user policy of a target reads users' groups, so a
	// change of a group's members or name re-plans its members.
	readsGroups bool

	// planMu serialises the planner's batches with Release and Discard,
	// and guards every target's guard state.
	planMu sync.Mutex
	// prepMu guards prepared: prepare ran (see PlanOnce).
	prepMu   sync.Mutex
	prepared bool
	// recMu guards every target's reconciliation state (rec).
	recMu sync.Mutex
	// started: Start ran (StartReconcile hands runs to its goroutines).
	started atomic.Bool

	cancel context.CancelFunc // the planner's and reconcilers'
	wg     sync.WaitGroup
	// dmu guards dcancel, the workers' (StartDelivery); dwg waits for them.
	dmu     sync.Mutex
	dcancel context.CancelFunc
	dwg     sync.WaitGroup
}

// target is one policy target with its connector and worker wake-up.
type target struct {
	pol  *policy.Target
	conn targets.Connector
	wake chan struct{} // capacity 1
	// preview: operations are planned and queued but never delivered.
	preview bool
	guard   guardState // guarded by Engine.planMu

	// mu serialises the worker's reading of the outbox and marking of
	// operations in flight with the planner's coalescing, which must not
	// merge into an operation being delivered.
	mu       sync.Mutex
	inflight map[int64]bool // outbox seqs being delivered
	// hmu guards health, the engine's view of the target and of the store
	// that records its deliveries (apart from mu, which the worker holds
	// while it reads the outbox: deliveries must not wait for that).
	hmu    sync.Mutex
	health health
	// gen counts the changes made outside the worker to operations it may
	// hold in its batch (merged, released, dropped, retried); added counts
	// the batches of new operations queued after the others.
	gen, added uint64
	// rec is the target's reconciliation in progress and schedule
	// (guarded by Engine.recMu); reqs hands its reconciler goroutine the
	// runs StartReconcile reserved (capacity 1: one run at a time).
	rec  recState
	reqs chan reconcileReq
}

// New checks opts and returns an engine that is not running yet.
func New(opts Options) (*Engine, error) {
	if opts.Store == nil || opts.Policy == nil {
		return nil, fmt.Errorf("%w: store and policy are required", ErrConfig)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.BackoffBase <= 0 {
		opts.BackoffBase = time.Second
	}
	if opts.BackoffMax <= 0 {
		opts.BackoffMax = 5 * time.Minute
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 20
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.ClaimTTL <= 0 {
		opts.ClaimTTL = time.Minute
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	e := &Engine{opts: opts, log: opts.Logger}
	for _, t := range opts.Policy.Targets() {
		c, ok := opts.Connectors[t.Name()]
		if !ok {
			return nil, fmt.Errorf("%w: target %q has no connector", ErrConfig, t.Name())
		}
		e.targets = append(e.targets, &target{pol: t, conn: c, wake: make(chan struct{}, 1),
			preview: t.Lifecycle().Preview, inflight: map[int64]bool{}, reqs: make(chan reconcileReq, 1)})
		e.readsGroups = e.readsGroups || t.ReadsUserGroups()
	}
	if len(opts.Connectors) != len(e.targets) {
		return nil, fmt.Errorf("%w: a connector has no policy target", ErrConfig)
	}
	m, err := newMetrics(e, opts.Registerer)
	if err != nil {
		return nil, err
	}
	e.metrics = m
	return e, nil
}

// PlanOnce plans every change journalled so far, as the planner goroutine
// does, and returns when the journal is empty. The first call (or Start)
// also prepares the targets: held operations of an episode in progress,
// and the catch-up of targets that are new, returned after an absence, or
// have a changed policy. Tests drive the engine with PlanOnce and
// DeliverDue on a fake clock (Options.Now) instead of Start.
func (e *Engine) PlanOnce(ctx context.Context) error {
	if err := e.prepare(ctx); err != nil {
		return err
	}
	for {
		n, err := e.planNext(ctx)
		if err != nil || n == 0 {
			return err
		}
	}
}

// DeliverDue delivers, one at a time and in queue order, every operation
// that is due at Options.Now in every target that is not in preview,
// including those that earlier deliveries of the call make due, and
// returns how many it attempted. A target the engine holds for down is
// probed when its probe is due and skipped otherwise, as the workers do.
func (e *Engine) DeliverDue(ctx context.Context) (int, error) {
	n := 0
	for _, t := range e.targets {
		if t.preview {
			continue
		}
		for {
			open, probe, _ := e.gate(ctx, t)
			if !open {
				break
			}
			rows, err := e.opts.Store.Deliverable(ctx, t.pol.Name(), scanLimit)
			if err != nil {
				return n, err
			}
			now, seen, progress := e.opts.Now(), map[objectKey]bool{}, false
			for _, row := range rows {
				k := objectKey{row.Type, row.ID}
				if seen[k] {
					continue
				}
				seen[k] = true
				if row.NextAt.After(now) || e.claimedElsewhere(row, now) {
					continue
				}
				claimed, err := e.claim(ctx, []store.Outbox{row})
				if err != nil { // the store fails: paused with backoff
					e.recorded(t, err)
					break
				}
				c, ok := claimed[row.Seq]
				if !ok {
					continue
				}
				n++
				e.deliver(ctx, t, c)
				progress = true
				if probe || e.paused(t) { // gate again
					break
				}
			}
			if !progress {
				break
			}
		}
	}
	return n, nil
}

// Start runs the planner, one goroutine per target for its
// reconciliations (scheduled, or started with StartReconcile), and the
// workers (StartDelivery) until Close or until ctx ends.
func (e *Engine) Start(ctx context.Context) {
	e.StartDelivery(ctx)
	e.StartPlanning(ctx)
}

// StartPlanning runs the planner and the reconciliations, without the
// workers: on replicas sharing a store, the one that holds the background
// lease plans, every one delivers. StopPlanning stops them.
func (e *Engine) StartPlanning(ctx context.Context) {
	ctx, e.cancel = context.WithCancel(ctx)
	e.wg.Go(func() { e.plan(ctx) })
	e.started.Store(true)
	for _, t := range e.targets {
		e.wg.Go(func() { e.reconciler(ctx, t) })
	}
}

// StopPlanning stops the planner and the reconciliations and waits for
// them; the workers go on.
func (e *Engine) StopPlanning() {
	e.started.Store(false)
	if e.cancel != nil {
		e.cancel()
	}
	e.wg.Wait()
}

// StartDelivery runs one worker per target that is not in preview, until
// Close or until ctx ends; it does nothing while they run.
func (e *Engine) StartDelivery(ctx context.Context) {
	e.dmu.Lock()
	defer e.dmu.Unlock()
	if e.dcancel != nil {
		return
	}
	ctx, e.dcancel = context.WithCancel(ctx)
	for _, t := range e.targets {
		if t.preview {
			e.log.Info("engine: target in preview: operations are queued, never delivered", "target", t.pol.Name())
			continue
		}
		e.dwg.Go(func() { e.work(ctx, t) })
	}
}

// Close stops the engine and waits for its goroutines; operations in
// flight are cut short and retried after the next Start. It forgets the
// targets' health: a stopped engine probes no target, so its view would go
// stale, and Targets asks the connectors instead; the next Start finds out
// again.
func (e *Engine) Close() {
	e.StopPlanning()
	e.dmu.Lock()
	if e.dcancel != nil {
		e.dcancel()
		e.dcancel = nil
	}
	e.dmu.Unlock()
	e.dwg.Wait()
	for _, t := range e.targets {
		t.hmu.Lock()
		t.health = health{}
		t.hmu.Unlock()
	}
}

// signal wakes a goroutine waiting on c without blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sleep waits for d, or until ctx ends (false).
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
