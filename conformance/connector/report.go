package connector

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/scimgate/scimgate/targets"
)

// RunReport runs the suite outside `go test` (scimgate conformance
// connector): each check with a connector from newConnector, closed when
// the check ends. It writes one line per check to out ("PASS name", "FAIL
// name: reasons" or "SKIP name: reason") and then a closing line "N passed,
// M failed", extended by ", K skipped" when checks were skipped, and returns
// the counts. err is non-nil when ctx ended before the last check or a
// write to out failed.
func RunReport(ctx context.Context, newConnector func() targets.Connector, out io.Writer, opts ...Option) (passed, failed int, err error) {
	r := &report{out: out}
	root := &reportTB{r: r, ctx: ctx}
	runConnector(root, func(testing.TB) targets.Connector { return newConnector() }, opts...)
	summary := fmt.Sprintf("%d passed, %d failed", r.passed, r.failed)
	if r.skipped > 0 {
		summary += fmt.Sprintf(", %d skipped", r.skipped)
	}
	r.println(summary)
	switch {
	case ctx.Err() != nil:
		return r.passed, r.failed, fmt.Errorf("conformance: stopped: %w", ctx.Err())
	case r.err != nil:
		return r.passed, r.failed, fmt.Errorf("conformance: writing results: %w", r.err)
	}
	return r.passed, r.failed, nil
}

// report collects the outcomes of a RunReport.
type report struct {
	out                     io.Writer
	err                     error
	passed, failed, skipped int

	mu sync.Mutex
	// status and msgs are the outcome (PASS, FAIL or SKIP) and the failure
	// messages of every check and subtest, by path as go test names them
	// ("CreateGet", "HostileValues/nul").
	status map[string]string
	msgs   map[string][]string
}

// record keeps the outcome of the check or subtest at path.
func (r *report) record(path, status string, msgs []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.status == nil {
		r.status, r.msgs = map[string]string{}, map[string][]string{}
	}
	r.status[path], r.msgs[path] = status, msgs
}

func (r *report) println(s string) {
	if r.err == nil {
		_, r.err = fmt.Fprintln(r.out, s)
	}
}

// reportTB is the testing.TB of a check run by RunReport. Fatalf and Skipf
// end the check's goroutine, as in package testing; subtests report to their
// parent check. testing.TB is embedded only for its unexported method: the
// suite calls none of the other methods.
type reportTB struct {
	testing.TB
	r      *report
	parent *reportTB // nil for the root
	name   string
	path   string // the names from the root, spaces as underscores
	ctx    context.Context

	mu       sync.Mutex
	failed   bool
	skip     string
	msgs     []string
	cleanups []func()
}

var _ connSubtester = (*reportTB)(nil)

// RunTB runs fn as the check (under the root) or subtest name.
func (p *reportTB) RunTB(name string, fn func(tb testing.TB)) {
	if p.parent == nil && p.ctx.Err() != nil {
		return // stopped: RunReport says so
	}
	ctx, cancel := context.WithCancel(p.ctx)
	path := strings.TrimPrefix(p.path+"/"+strings.ReplaceAll(name, " ", "_"), "/")
	child := &reportTB{r: p.r, parent: p, name: name, path: path, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if v := recover(); v != nil {
				child.Errorf("panic: %v", v)
			}
		}()
		fn(child)
	}()
	<-done
	cancel()
	for i := len(child.cleanups) - 1; i >= 0; i-- {
		child.cleanups[i]()
	}
	status := "PASS"
	switch {
	case child.failed:
		status = "FAIL"
	case child.skip != "":
		status = "SKIP"
	}
	p.r.record(path, status, child.msgs)
	if p.parent != nil { // a subtest: its failures are its check's
		if child.failed {
			p.mu.Lock()
			p.failed = true
			for _, m := range child.msgs {
				p.msgs = append(p.msgs, name+": "+m)
			}
			p.mu.Unlock()
		}
		return
	}
	switch {
	case child.failed:
		p.r.failed++
		p.r.println("FAIL " + name + ": " + oneLine(strings.Join(child.msgs, "; ")))
	case child.skip != "":
		p.r.skipped++
		p.r.println("SKIP " + name + ": " + oneLine(child.skip))
	default:
		p.r.passed++
		p.r.println("PASS " + name)
	}
}

// oneLine keeps an outcome on one output line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Helper does nothing.
func (t *reportTB) Helper() {}

// Name is the check's name.
func (t *reportTB) Name() string { return t.name }

// Context ends when the check ends.
func (t *reportTB) Context() context.Context { return t.ctx }

// Logf drops the message: the report shows failures only.
func (t *reportTB) Logf(string, ...any) {}

// Cleanup registers fn to run when the check ends, last first.
func (t *reportTB) Cleanup(fn func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, fn)
}

// Failed reports whether the check failed.
func (t *reportTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

// Errorf records a failure.
func (t *reportTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failed = true
	t.msgs = append(t.msgs, fmt.Sprintf(format, args...))
}

// Fatalf records a failure and ends the check.
func (t *reportTB) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

// Skipf records why the check is skipped and ends it.
func (t *reportTB) Skipf(format string, args ...any) {
	t.mu.Lock()
	t.skip = fmt.Sprintf(format, args...)
	t.mu.Unlock()
	runtime.Goexit()
}
