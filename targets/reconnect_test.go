package targets_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// flakyConfig is a target type whose Open fails with each of errs in turn,
// then opens a memory connector; block makes Open wait for its context
// to end first (and then succeed anyway). Its capabilities differ from
// the memory connector's default, so that a test sees where they come from;
// noFinder hides the memory connector's Lookup (a connector that is no
// targets.Finder).
type flakyConfig struct {
	mu       sync.Mutex
	errs     []error
	opens    int
	block    bool
	noFinder bool
	conns    []*memory.Connector
	envs     []targets.Env // of every Open
	opened   chan struct{} // receives when an Open starts, if not nil
}

func (c *flakyConfig) Validate() error { return nil }

func (c *flakyConfig) Provides() targets.Capabilities {
	return targets.Capabilities{Disable: true, Lookup: true}
}

func (c *flakyConfig) Open(ctx context.Context, env targets.Env) (targets.Connector, error) {
	c.mu.Lock()
	i := c.opens
	c.opens++
	c.envs = append(c.envs, env)
	opened, block := c.opened, c.block
	c.mu.Unlock()
	if opened != nil {
		opened <- struct{}{}
	}
	if block {
		<-ctx.Done()
	}
	if i < len(c.errs) {
		return (*memory.Connector)(nil), c.errs[i] // a typed nil, as some Opens return
	}
	conn := memory.New(memory.Config{Capabilities: new(c.Provides())})
	c.mu.Lock()
	c.conns = append(c.conns, conn)
	noFinder := c.noFinder
	c.mu.Unlock()
	if noFinder {
		return struct{ targets.Connector }{conn}, nil
	}
	return conn, nil
}

func (c *flakyConfig) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opens
}

// fakeClock is a Retry.After that the test fires: each wait is sent on
// waits, in the order they are asked for.
type fakeClock struct{ waits chan fakeWait }

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{waits: make(chan fakeWait, 16)} }

func (c *fakeClock) after(d time.Duration) <-chan time.Time {
	w := fakeWait{d: d, fire: make(chan time.Time, 1)}
	c.waits <- w
	return w.fire
}

// next returns the next wait asked for, failing the test when none comes.
func (c *fakeClock) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-c.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the retry loop asked for no wait")
		return fakeWait{}
	}
}

// logLines is a log sink that passes each line on.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	l <- string(p)
	return len(p), nil
}

func (l logLines) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-l:
		return s
	case <-time.After(10 * time.Second):
		t.Fatal("no log line")
		return ""
	}
}

var refused = targets.Transient(errors.New("dial tcp 127.0.0.1:3306: connect: connection refused"))

// build builds the target "hr" of type flaky with cfg, on clk, logging to
// logs.
func build(t *testing.T, cfg *flakyConfig, clk *fakeClock, logs logLines) (targets.Connector, error) {
	t.Helper()
	reg := targets.Registry{"flaky": func() targets.Config { return cfg }}
	retry := targets.Retry{Base: time.Second, Max: 3 * time.Second, After: clk.after,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}
	env := targets.Env{Attributes: map[targets.Kind][]string{targets.User: {"userName"}}}
	return reg.Build(context.Background(), parseTargets(t, "targets: [{name: hr, type: flaky}]")[0], env, retry)
}

// TestReconnect: a target that cannot be reached at Build is opened again
// with a doubling wait, capped, and is used once opened; until then every
// call is a transient error giving the latest reason.
func TestReconnect(t *testing.T) {
	schema := targets.Permanent(errors.New("sql: schema check failed: table app_users does not exist"))
	cfg := &flakyConfig{errs: []error{refused, refused, refused, schema, refused}}
	clk, logs := newFakeClock(), make(logLines, 8)
	c, err := build(t, cfg, clk, logs)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	defer c.Close(context.Background())
	if line := logs.next(t); !strings.Contains(line, "target cannot be reached") || !strings.Contains(line, "target=hr") || !strings.Contains(line, "connection refused") {
		t.Errorf("startup log line %q", line)
	}
	if got, want := c.Capabilities(), (targets.Capabilities{Disable: true, Lookup: true}); got != want {
		t.Errorf("Capabilities() = %+v, want %+v (the configuration's)", got, want)
	}
	hc, ok := c.(targets.HealthChecker)
	if !ok {
		t.Fatalf("%T is no HealthChecker", c)
	}
	op := targets.Op{ID: "op1", ObjectID: "u1", Kind: targets.User, Attrs: map[string]any{"userName": "alice"}}
	// notConnected checks every call while the target is not opened.
	notConnected := func(t *testing.T, reason string) {
		t.Helper()
		_, createErr := c.Create(t.Context(), op)
		_, getErr := c.Get(t.Context(), targets.User, "a1")
		_, listErr := c.List(t.Context(), targets.User, "", 0)
		_, lookupErr := c.(targets.Finder).Lookup(t.Context(), targets.User, "userName", "alice", 2)
		errs := map[string]error{
			"Create": createErr, "Get": getErr, "List": listErr, "Lookup": lookupErr, "Health": hc.Health(t.Context()),
			"Update": c.Update(t.Context(), op), "Delete": c.Delete(t.Context(), op),
			"Disable": c.Disable(t.Context(), op), "Enable": c.Enable(t.Context(), op),
			"AddMembers": c.AddMembers(t.Context(), op), "RemoveMembers": c.RemoveMembers(t.Context(), op),
		}
		for name, err := range errs {
			if !errors.Is(err, targets.ErrNotConnected) || targets.Class(err) != targets.ErrTransient {
				t.Errorf("%s: %v (class %v), want a transient ErrNotConnected", name, err, targets.Class(err))
			}
			if err != nil && (!strings.HasPrefix(err.Error(), "target not connected: "+reason)) {
				t.Errorf("%s: %q, want the reason %q", name, err, reason)
			}
		}
	}
	notConnected(t, "dial tcp 127.0.0.1:3306: connect: connection refused")

	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second} {
		w := clk.next(t)
		if w.d != want {
			t.Errorf("wait %d: %v, want %v", i+1, w.d, want)
		}
		if i == 3 {
			// The fourth retry failed permanently (the server is up, the
			// table is missing): still not connected, with that reason,
			// and calls stay transient.
			notConnected(t, "targets: permanent error: sql: schema check failed")
		}
		w.fire <- time.Time{}
	}
	if line := logs.next(t); !strings.Contains(line, "target connected") || !strings.Contains(line, "attempts=6") {
		t.Errorf("connected log line %q", line)
	}
	anchor, err := c.Create(t.Context(), op)
	if err != nil {
		t.Fatalf("Create once connected: %v", err)
	}
	if _, err := cfg.conns[0].Get(t.Context(), targets.User, anchor); err != nil {
		t.Errorf("the opened connector lacks the created user: %v", err)
	}
	if objs, err := c.(targets.Finder).Lookup(t.Context(), targets.User, "userName", "alice", 2); err != nil || len(objs) != 1 || objs[0].Anchor != anchor {
		t.Errorf("Lookup once connected = %v, %v; want the created user %s", objs, err, anchor)
	}
	if err := hc.Health(t.Context()); err != nil {
		t.Errorf("Health once connected: %v", err)
	}
	if err := c.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.conns[0].Get(t.Context(), targets.User, anchor); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Get on the opened connector after Close: %v, want ErrClosed", err)
	}
	select {
	case w := <-clk.waits:
		t.Errorf("a wait of %v after the target was opened", w.d)
	case line := <-logs:
		t.Errorf("log line %q beyond the two expected", line)
	default:
	}
	if n := cfg.count(); n != 6 {
		t.Errorf("%d opens, want 6", n)
	}
	// Every open, the first and the re-opens, is told the target's name
	// (Build's default: the TargetConfig's) and the attributes.
	for i, env := range cfg.envs {
		if env.Name != "hr" || !slices.Equal(env.Attributes[targets.User], []string{"userName"}) {
			t.Errorf("open %d got env %+v, want name hr and the user attribute userName", i+1, env)
		}
	}
}

// TestBuildOpenErrors: only a transient Open error is retried; the others
// stop Build with the target's name.
func TestBuildOpenErrors(t *testing.T) {
	tests := []struct {
		name      string
		err       error
		wantRetry bool
		wantIs    error
		wantMsg   string // "": `target "hr" (type flaky): open: ` and the error
	}{
		{name: "connection refused", err: refused, wantRetry: true},
		{name: "timeout", err: fmt.Errorf("sql: connect: %w", context.DeadlineExceeded), wantRetry: true},
		{name: "permanent", err: targets.Permanent(errors.New("sql: schema check failed")), wantIs: targets.ErrPermanent},
		{name: "missing secret", err: targets.FieldError("bind_password_env", "environment variable X is not set or empty"), wantIs: new(targets.ConfigError),
			wantMsg: `target "hr": config.bind_password_env: environment variable X is not set or empty`},
		{name: "transient config error", err: targets.Transient(targets.FieldError("tls.ca_file", "no such file")), wantIs: new(targets.ConfigError)},
		{name: "unclassified", err: errors.New("listen: address already in use")},
		{name: "not found", err: targets.NotFound(targets.Transient(errors.New("base entry"))), wantIs: targets.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &flakyConfig{errs: []error{tt.err}}
			clk, logs := newFakeClock(), make(logLines, 8)
			c, err := build(t, cfg, clk, logs)
			if tt.wantRetry {
				if err != nil {
					t.Fatalf("Build: %v, want a connector that retries", err)
				}
				defer c.Close(context.Background())
				want := "target not connected: " + strings.TrimPrefix(tt.err.Error(), "targets: transient error: ")
				if err := c.(targets.HealthChecker).Health(t.Context()); err == nil || err.Error() != want {
					t.Errorf("Health: %v, want %q", err, want)
				}
				logs.next(t) // cannot be reached
				clk.next(t).fire <- time.Time{}
				if line := logs.next(t); !strings.Contains(line, "target connected") {
					t.Errorf("log line %q, want target connected", line)
				}
				if err := c.(targets.HealthChecker).Health(t.Context()); err != nil {
					t.Errorf("Health once connected: %v", err)
				}
				return
			}
			if err == nil {
				c.Close(context.Background())
				t.Fatalf("Build: connector %T, want an error", c)
			}
			want := tt.wantMsg
			if want == "" {
				want = `target "hr" (type flaky): open: ` + tt.err.Error()
			}
			if err.Error() != want {
				t.Errorf("Build: %q, want %q", err, want)
			}
			var ce *targets.ConfigError
			if _, isConfig := tt.wantIs.(*targets.ConfigError); isConfig && !errors.As(err, &ce) {
				t.Errorf("Build: %v is no ConfigError", err)
			} else if !isConfig && tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Build: %v does not match %v", err, tt.wantIs)
			}
			select {
			case w := <-clk.waits:
				t.Errorf("a retry wait of %v after Build failed", w.d)
			default:
			}
			if n := cfg.count(); n != 1 {
				t.Errorf("%d opens, want 1", n)
			}
		})
	}
}

// TestReconnectNoFinder: the Lookup of a connector opened in the
// background that is no targets.Finder is unsupported, not a panic.
func TestReconnectNoFinder(t *testing.T) {
	cfg := &flakyConfig{errs: []error{refused}, noFinder: true}
	clk, logs := newFakeClock(), make(logLines, 8)
	c, err := build(t, cfg, clk, logs)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	logs.next(t) // cannot be reached
	clk.next(t).fire <- time.Time{}
	logs.next(t) // connected
	_, err = c.(targets.Finder).Lookup(t.Context(), targets.User, "userName", "alice", 2)
	if !errors.Is(err, targets.ErrPermanent) || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Lookup: %v, want ErrPermanent and errors.ErrUnsupported", err)
	}
}

// TestReconnectClose: Close stops the retries, waiting or opening, and
// closes a connector opened meanwhile.
func TestReconnectClose(t *testing.T) {
	t.Run("while waiting", func(t *testing.T) {
		cfg := &flakyConfig{errs: []error{refused}}
		clk := newFakeClock()
		c, err := build(t, cfg, clk, make(logLines, 8))
		if err != nil {
			t.Fatal(err)
		}
		w := clk.next(t)
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		w.fire <- time.Time{} // too late: nothing opens
		if n := cfg.count(); n != 1 {
			t.Errorf("%d opens after Close, want 1", n)
		}
		if _, err := c.Create(t.Context(), targets.Op{ID: "1", ObjectID: "u", Kind: targets.User}); !errors.Is(err, targets.ErrNotConnected) {
			t.Errorf("Create after Close: %v", err)
		}
	})
	t.Run("while opening", func(t *testing.T) {
		cfg := &flakyConfig{errs: []error{refused}, opened: make(chan struct{}, 2)}
		clk := newFakeClock()
		c, err := build(t, cfg, clk, make(logLines, 8))
		if err != nil {
			t.Fatal(err)
		}
		<-cfg.opened // Build's own
		cfg.mu.Lock()
		cfg.block = true // the retry waits for Close, then opens anyway
		cfg.mu.Unlock()
		clk.next(t).fire <- time.Time{}
		<-cfg.opened
		if err := c.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if len(cfg.conns) != 1 {
			t.Fatalf("%d connectors opened, want 1", len(cfg.conns))
		}
		if _, err := cfg.conns[0].List(t.Context(), targets.User, "", 0); !errors.Is(err, memory.ErrClosed) {
			t.Errorf("the connector opened during Close is not closed: List: %v", err)
		}
	})
}
