package auth

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/config"
)

// TestBadCredentialLimit: on a fake clock, an address that presented
// DefaultMaxBadAttempts bad credentials within the window is refused with
// 429 and Retry-After, whatever its token, until the window is over; other
// addresses are not; bad attempts are logged once per address and window,
// with bounded lines and never the token.
func TestBadCredentialLimit(t *testing.T) {
	clk, logs := newClock(), &syncBuffer{}
	a, err := newAuthenticator(t.Context(), config.Auth{Tokens: []config.Secret{staticOld}},
		slog.New(slog.NewTextHandler(logs, nil)), clk.now, clk.after)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	bad := strings.Repeat("B", 30000) // a 30 KB token
	longPath := "/scim/v2/Users/" + strings.Repeat("p", 30000)
	send := func(remote, token string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, longPath, nil)
		req.RemoteAddr = remote
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	expect := func(name string, rec *httptest.ResponseRecorder, status int, retryAfter string) {
		t.Helper()
		if rec.Code != status || rec.Header().Get("Retry-After") != retryAfter {
			t.Fatalf("%s: status %d Retry-After %q, want %d %q: %s", name, rec.Code, rec.Header().Get("Retry-After"), status, retryAfter, rec.Body)
		}
	}
	count := func(msg string) int { return strings.Count(logs.String(), msg) }
	const logged, refused = "request with bad credentials rejected", "too many bad credentials"

	// Requests without a token are not bad credentials.
	for range 3 * DefaultMaxBadAttempts {
		expect("no token", send("192.0.2.1:1000", ""), 401, "")
	}
	for i := range DefaultMaxBadAttempts {
		expect("bad token", send("192.0.2.1:1000", bad), 401, "")
		clk.advance(time.Second) // the window runs from the first bad attempt
		if i == 0 && count(logged) != 1 {
			t.Fatalf("first bad attempt not logged:\n%s", logs)
		}
	}
	// 20 s after the first bad attempt: 40 s left, for any token and port.
	expect("valid token, refused address", send("192.0.2.1:2000", staticOld), 429, "40")
	expect("bad token, refused address", send("192.0.2.1:1000", bad), 429, "40")
	clk.advance(39*time.Second + time.Millisecond)
	expect("last moment of the window", send("192.0.2.1:1000", staticOld), 429, "1")
	expect("another address", send("192.0.2.2:1000", staticOld), 200, "")
	if n, m := count(logged), count(refused); n != 1 || m != 1 {
		t.Fatalf("%d bad-attempt lines and %d refusal lines, want 1 and 1:\n%s", n, m, logs)
	}
	clk.advance(time.Second)
	expect("window over", send("192.0.2.1:1000", staticOld), 200, "")
	expect("a new window", send("192.0.2.1:1000", bad), 401, "")
	if n := count(logged); n != 2 {
		t.Fatalf("%d bad-attempt lines, want 2 (one per window)", n)
	}

	// IPv6: one /64 is one client.
	for i := range DefaultMaxBadAttempts {
		expect("bad token v6", send("[2001:db8:1:2::"+string(rune('a'+i%6))+"]:443", bad), 401, "")
	}
	expect("same /64", send("[2001:db8:1:2:ffff::1]:443", staticOld), 429, "60")
	expect("another /64", send("[2001:db8:1:3::1]:443", staticOld), 200, "")

	for line := range strings.Lines(logs.String()) {
		if len(line) > 1000 {
			t.Errorf("log line of %d bytes: %.200s...", len(line), line)
		}
	}
	if strings.Contains(logs.String(), strings.Repeat("B", 10)) {
		t.Error("the log holds the token")
	}
}

// TestLimiterBounded: the addresses tracked stay bounded, and an address
// beyond the bound is never refused for the others' bad attempts.
func TestLimiterBounded(t *testing.T) {
	clk := newClock()
	l := newLimiter(2, time.Minute, clk.now)
	for i := range maxClients + 500 {
		key := "10.0." + strings.Repeat("x", i%3) + string(rune(i))
		l.fail(key)
		l.fail(key)
	}
	if n := len(l.clients); n > maxClients+1 {
		t.Fatalf("%d addresses tracked, want at most %d", n, maxClients+1)
	}
	if d := l.wait("fresh"); d != 0 {
		t.Fatalf("an address without bad attempts waits %v", d)
	}
	clk.advance(time.Minute)
	l.fail("after the window")
	if n := len(l.clients); n != 1 {
		t.Fatalf("%d addresses tracked after every window ended, want 1", n)
	}
}

func TestClientKey(t *testing.T) {
	for _, tc := range []struct{ name, remote, want string }{
		{"ipv4", "192.0.2.1:1234", "192.0.2.1"},
		{"ipv4-mapped ipv6", "[::ffff:192.0.2.1]:1234", "192.0.2.1"},
		{"ipv6 by /64", "[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"no port", "192.0.2.9", "192.0.2.9"},
		{"not an address, bounded", strings.Repeat("h", 500) + ":1", strings.Repeat("h", 64) + "…"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientKey(tc.remote); got != tc.want {
				t.Errorf("clientKey(%q) = %q, want %q", tc.remote, got, tc.want)
			}
		})
	}
}

func TestRetryErrorSeconds(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
		want int64
	}{
		{"rounded up", 1500 * time.Millisecond, 2},
		{"at least one", time.Millisecond, 1},
		{"whole", time.Minute, 60},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&RetryError{After: tc.d}).Seconds(); got != tc.want {
				t.Errorf("Seconds = %d, want %d", got, tc.want)
			}
		})
	}
}
