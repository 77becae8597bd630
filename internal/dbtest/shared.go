package dbtest

import (
	"sync"
	"testing"
)

// Shared holds the throwaway servers that a package's benchmarks share:
// each is started by the first test or benchmark that asks for it and
// runs until Close, which the package's TestMain calls after m.Run. Take a
// fresh database per run with NewDatabase. A package's tests that never
// ask start nothing. The zero value is ready to use.
type Shared struct {
	mu       sync.Mutex
	servers  map[string]*sharedServer // by dialect
	cleanups []func()                 // the servers', run by Close
}

// sharedServer is a Shared's server of one dialect: running, or why not.
type sharedServer struct {
	srv     *Server
	skipped bool // not installed: every user skips
}

// Postgres returns the shared PostgreSQL server, started on the first
// call (see StartPostgres).
func (p *Shared) Postgres(tb testing.TB) *Server {
	tb.Helper()
	return p.get(tb, Postgres, StartPostgres)
}

// MariaDB returns the shared MariaDB server, started on the first call
// (see StartMariaDB).
func (p *Shared) MariaDB(tb testing.TB) *Server {
	tb.Helper()
	return p.get(tb, MySQL, StartMariaDB)
}

func (p *Shared) get(tb testing.TB, dialect string, start func(testing.TB) *Server) *Server {
	tb.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.servers[dialect]; ok {
		switch {
		case s.skipped:
			skip(tb, "the shared %s server is not installed (see the first WARNING)", dialect)
		case s.srv == nil:
			tb.Fatalf("dbtest: the shared %s server did not start (see the first failure)", dialect)
		}
		return s.srv
	}
	if p.servers == nil {
		p.servers = map[string]*sharedServer{}
	}
	s := &sharedServer{}
	p.servers[dialect] = s
	// start skips or fails tb (runtime.Goexit) when the server does not
	// start: the deferred Unlock runs, s.srv stays nil.
	defer func() { s.skipped = s.srv == nil && tb.Skipped() }()
	s.srv = start(sharedTB{tb, p})
	return s.srv
}

// Close stops the servers and removes their directories.
func (p *Shared) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.cleanups) - 1; i >= 0; i-- {
		p.cleanups[i]()
	}
	p.cleanups, p.servers = nil, nil
}

// sharedTB is the testing.TB of the test that starts a shared server,
// whose cleanups (stopping the server, removing its directory) Close runs
// instead of the end of that test.
type sharedTB struct {
	testing.TB
	p *Shared // locked by get meanwhile
}

func (t sharedTB) Cleanup(f func()) { t.p.cleanups = append(t.p.cleanups, f) }
