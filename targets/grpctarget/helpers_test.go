package grpctarget_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/grpctarget"
	"github.com/scimgate/scimgate/targets/grpctarget/sdk"
)

const testToken = "s3cret-connector-token"

// logBuf is a concurrency-safe log sink the tests read.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// gateway is an open grpc target and its log.
type gateway struct {
	*grpctarget.Connector
	log *logBuf
}

// openGateway opens a grpc target named "app" on a free loopback port,
// with the token testToken, adjusted by edit.
func openGateway(t testing.TB, edit func(*grpctarget.Config, *targets.Env)) *gateway {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := grpctarget.Config{Listen: "127.0.0.1:0", TokenFile: tokenFile}
	lb := &logBuf{}
	env := targets.Env{Name: "app", Logger: slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&cfg, &env)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c, err := cfg.Open(context.Background(), env)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	gc := c.(*grpctarget.Connector)
	t.Cleanup(func() {
		if err := gc.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if t.Failed() {
			t.Logf("gateway log:\n%s", lb.String())
		}
	})
	return &gateway{Connector: gc, log: lb}
}

// runningSDK is a connector served with sdk.Run.
type runningSDK struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
	log    *logBuf
}

// stop ends Run (the connection drops) and waits for it.
func (r *runningSDK) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			t.Errorf("sdk.Run: %v", r.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sdk.Run did not return after its context ended")
	}
}

// startSDK serves impl to gw under the name "app" with the test token,
// adjusted by edit, and stops it when the test ends.
func startSDK(t testing.TB, gw *gateway, impl targets.Connector, edit func(*sdk.Options)) *runningSDK {
	t.Helper()
	lb := &logBuf{}
	opts := sdk.Options{
		Address: gw.Addr(), Name: "app", Version: "test-1", Token: testToken,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(lb, nil)),
	}
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningSDK{cancel: cancel, done: make(chan struct{}), log: lb}
	go func() {
		defer close(r.done)
		r.err = sdk.Run(ctx, impl, opts)
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
		if t.Failed() {
			t.Logf("connector log:\n%s", lb.String())
		}
	})
	return r
}

// waitInstances waits until gw has n registered instances.
func waitInstances(t testing.TB, gw *gateway, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(gw.Instances()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d instances registered, want %d; gateway log:\n%s", len(gw.Instances()), n, gw.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noClose shares one grpc target between the conformance suite's checks,
// which close theirs; it keeps the target's other methods (Lookup).
type noClose struct{ *grpctarget.Connector }

func (noClose) Close(context.Context) error { return nil }

// wantLog waits until log contains every part.
func wantLog(t testing.TB, what string, log func() string, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := strings.ReplaceAll(log(), `\"`, `"`) // slog quotes values
		missing := ""
		for _, p := range parts {
			if !strings.Contains(s, p) {
				missing = p
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s log lacks %q:\n%s", what, missing, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isClass reports whether err is of class.
func isClass(err, class error) bool { return errors.Is(targets.Class(err), class) }
