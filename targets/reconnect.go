package targets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// ErrNotConnected is the error, classified ErrTransient, of every call to
// the connector of a target that could not be opened yet (see
// Registry.Build). Its text gives the reason.
var ErrNotConnected = errors.New("target not connected")

// Retry says how Registry.Build opens again a target that could not be
// reached. The zero value waits 1s before the first retry, doubles the
// wait up to 5m, uses the real clock and does not log.
type Retry struct {
	// Base is the wait before the first retry; each failed retry doubles
	// it, up to Max.
	Base, Max time.Duration
	// After is the clock: it returns a channel that receives once d has
	// passed (default time.After).
	After func(d time.Duration) <-chan time.Time
	// Logger gets one line when the target cannot be opened and one when
	// it is, never one per retry.
	Logger *slog.Logger
}

// reachLater reports whether err, an Open error, says that the target
// cannot be reached now rather than that its configuration is wrong: it
// is classified ErrTransient (or is a timeout) and is no ConfigError.
// Unclassified errors are not retried: at Open they come from the
// gateway's side (a file, a listener), which retrying does not fix.
func reachLater(err error) bool {
	var ce *ConfigError
	if errors.As(err, &ce) || Class(err) != ErrTransient {
		return false
	}
	return errors.Is(err, ErrTransient) || errors.Is(err, context.DeadlineExceeded)
}

// notConnectedError is ErrNotConnected with its reason. It matches
// ErrTransient and ErrNotConnected only, whatever the reason's class.
type notConnectedError struct{ reason error }

// Error is "target not connected: " and the reason, without a leading
// "targets: transient error: " (not being connected says as much).
func (e *notConnectedError) Error() string {
	return ErrNotConnected.Error() + ": " + strings.TrimPrefix(e.reason.Error(), ErrTransient.Error()+": ")
}

func (e *notConnectedError) Unwrap() []error { return []error{ErrTransient, ErrNotConnected} }

var (
	_ Connector     = (*reconnecting)(nil)
	_ Finder        = (*reconnecting)(nil)
	_ HealthChecker = (*reconnecting)(nil)
)

// reconnecting is the connector of a target whose Open failed: it answers
// with a notConnectedError until a retry of Open succeeds, then delegates
// to the opened connector.
type reconnecting struct {
	caps   Capabilities
	cancel context.CancelFunc // stops the retries
	done   chan struct{}      // closed when the retries end

	mu     sync.RWMutex
	conn   Connector // nil until opened
	reason error     // the last Open error while conn is nil
}

// reconnect returns the connector of tc, whose Open failed with reason,
// and starts opening cfg again in the background.
func reconnect(ctx context.Context, tc TargetConfig, cfg Config, env Env, reason error, retry Retry) *reconnecting {
	if retry.Base <= 0 {
		retry.Base = time.Second
	}
	if retry.Max < retry.Base {
		retry.Max = max(retry.Base, 5*time.Minute)
	}
	if retry.After == nil {
		retry.After = time.After
	}
	if retry.Logger == nil {
		retry.Logger = slog.New(slog.DiscardHandler)
	}
	log := retry.Logger.With("target", tc.Name, "type", tc.Type)
	log.WarnContext(ctx, "target cannot be reached: serving without it and opening it again in the background; its operations wait",
		"err", reason, "retry", retry.Base)
	r := &reconnecting{caps: cfg.Provides(), reason: reason, done: make(chan struct{})}
	ctx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go r.retry(ctx, cfg, env, retry, log)
	return r
}

// retry opens cfg for env with growing waits between the attempts until
// that succeeds or ctx ends, then closes r.done.
func (r *reconnecting) retry(ctx context.Context, cfg Config, env Env, retry Retry, log *slog.Logger) {
	defer close(r.done)
	wait := retry.Base
	for attempt := 1; ; attempt++ {
		select {
		case <-ctx.Done():
			return
		case <-retry.After(wait):
		}
		c, err := cfg.Open(ctx, env)
		if err == nil && ctx.Err() != nil { // closed while opening
			err = c.Close(context.WithoutCancel(ctx))
			if err != nil {
				log.ErrorContext(ctx, "closing a target opened during Close", "err", err)
			}
			return
		}
		r.mu.Lock()
		if err == nil {
			r.conn = c
		} else {
			r.reason = err // c may be a typed nil
		}
		r.mu.Unlock()
		if err == nil {
			log.InfoContext(ctx, "target connected", "attempts", attempt+1)
			return
		}
		wait = min(2*wait, retry.Max)
	}
}

// opened returns the opened connector, or the error of a call made before.
func (r *reconnecting) opened() (Connector, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.conn == nil {
		return nil, &notConnectedError{reason: r.reason}
	}
	return r.conn, nil
}

func (r *reconnecting) Capabilities() Capabilities { return r.caps }

func (r *reconnecting) Create(ctx context.Context, op Op) (string, error) {
	c, err := r.opened()
	if err != nil {
		return "", err
	}
	return c.Create(ctx, op)
}

func (r *reconnecting) Update(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.Update(ctx, op)
}

func (r *reconnecting) Delete(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.Delete(ctx, op)
}

func (r *reconnecting) Disable(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.Disable(ctx, op)
}

func (r *reconnecting) Enable(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.Enable(ctx, op)
}

func (r *reconnecting) AddMembers(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.AddMembers(ctx, op)
}

func (r *reconnecting) RemoveMembers(ctx context.Context, op Op) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	return c.RemoveMembers(ctx, op)
}

func (r *reconnecting) Get(ctx context.Context, kind Kind, anchor string) (Object, error) {
	c, err := r.opened()
	if err != nil {
		return Object{}, err
	}
	return c.Get(ctx, kind, anchor)
}

func (r *reconnecting) List(ctx context.Context, kind Kind, cursor string, limit int) (Page, error) {
	c, err := r.opened()
	if err != nil {
		return Page{}, err
	}
	return c.List(ctx, kind, cursor, limit)
}

// Lookup is the opened connector's, and ErrUnsupported when that is no
// Finder.
func (r *reconnecting) Lookup(ctx context.Context, kind Kind, attr string, value any, limit int) ([]Object, error) {
	c, err := r.opened()
	if err != nil {
		return nil, err
	}
	f, ok := c.(Finder)
	if !ok {
		return nil, Permanent(fmt.Errorf("lookup: the connector is no targets.Finder: %w", errors.ErrUnsupported))
	}
	return f.Lookup(ctx, kind, attr, value, limit)
}

// Health is the reason while the target is not opened, then the opened
// connector's Health (nil when it cannot tell).
func (r *reconnecting) Health(ctx context.Context) error {
	c, err := r.opened()
	if err != nil {
		return err
	}
	if hc, ok := c.(HealthChecker); ok {
		return hc.Health(ctx)
	}
	return nil
}

// Close stops the retries and closes the opened connector, if any.
func (r *reconnecting) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	r.mu.RLock()
	c := r.conn
	r.mu.RUnlock()
	if c == nil {
		return nil
	}
	return c.Close(ctx)
}
