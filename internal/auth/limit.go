package auth

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Defaults of the bad-credential limit of every Authenticator: far above
// what a client with a valid credential ever sends (Entra presents a valid
// token on every request), far below what guessing needs.
const (
	// DefaultMaxBadAttempts is how many bad credentials a client address
	// may present within DefaultBadAttemptWindow before it is refused.
	DefaultMaxBadAttempts = 20
	// DefaultBadAttemptWindow starts at an address's first bad credential;
	// once it is over, the address starts afresh.
	DefaultBadAttemptWindow = time.Minute
	// maxClients bounds the addresses tracked at once. When every one is
	// within its window, the bad attempts of further addresses are counted
	// together under overflowKey, only to log them once per window: memory
	// stays bounded, and those addresses are not refused (refusing the
	// bucket would refuse every new address, a valid client's too).
	maxClients  = 10000
	overflowKey = "overflow"
)

// RetryError is the error of a request refused because its client address
// presented too many bad credentials; After is how long it must wait.
type RetryError struct{ After time.Duration }

// Error says why the request was refused; it is safe to show the client.
func (e *RetryError) Error() string {
	return fmt.Sprintf("too many requests with bad credentials from this address; retry after %d seconds", e.Seconds())
}

// Seconds is After rounded up to whole seconds, at least 1, for Retry-After.
func (e *RetryError) Seconds() int64 {
	return max(1, int64((e.After+time.Second-1)/time.Second))
}

// limiter counts bad credentials per client address in fixed windows that
// start at the address's first bad credential. A zero max disables it.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*badAttempts
}

type badAttempts struct {
	start time.Time // the window's first bad attempt
	n     int
}

func newLimiter(maxAttempts int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: maxAttempts, window: window, now: now, clients: map[string]*badAttempts{}}
}

// wait returns how long key is refused, 0 when it is not.
func (l *limiter) wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[key]
	if c == nil || key == overflowKey {
		return 0
	}
	now := l.now()
	end := c.start.Add(l.window)
	if !now.Before(end) {
		delete(l.clients, key)
		return 0
	}
	if c.n < l.max {
		return 0
	}
	return end.Sub(now)
}

// fail records a bad credential of key. first reports whether it is the
// first of key's window, blocked whether key has just reached the limit.
func (l *limiter) fail(key string) (first, blocked bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	c := l.clients[key]
	if c == nil && len(l.clients) >= maxClients {
		l.sweep(now)
		if len(l.clients) >= maxClients {
			key = overflowKey
			c = l.clients[key]
		}
	}
	if c == nil || !now.Before(c.start.Add(l.window)) {
		c = &badAttempts{start: now}
		l.clients[key] = c
		first = true
	}
	c.n++
	return first, c.n == l.max && key != overflowKey
}

// sweep forgets the addresses whose window is over.
func (l *limiter) sweep(now time.Time) {
	for k, c := range l.clients {
		if !now.Before(c.start.Add(l.window)) {
			delete(l.clients, k)
		}
	}
}

// clientKey is the address of a request's RemoteAddr without its port; an
// IPv6 address counts as its /64, which one client usually holds whole.
func clientKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return clip(host, 64)
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// clip shortens s to at most n bytes for a log line.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
