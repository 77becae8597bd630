package entra

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

// maxTries bounds the tries of one request (kiota's own absolute maximum).
const maxTries = 10

// maxBackoff bounds the exponential backoff used without Retry-After.
const maxBackoff = 30 * time.Second

// clock is the client's time: Retry-After waits run on it (tests set a
// fake one).
type clock struct {
	now   func() time.Time
	after func(time.Duration) <-chan time.Time
}

// sleep waits d on the clock, or until ctx ends.
func (c clock) sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-c.after(d):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryHandler is the pipeline's retry middleware, in place of kiota's
// RetryHandler (whose waits run on the real clock and are not bounded by
// a budget): a request answered 429, 503 or 504 is sent again after the
// Retry-After Graph gave (seconds or an HTTP date), or after an
// exponential backoff without one, as long as the waits of the request
// stay within budget and it had fewer than maxTries tries; then the last
// response is returned. A Retry-After also holds back every other request
// of the client until it has passed, so that the whole client slows down
// rather than each request finding out for itself.
type retryHandler struct {
	clock  clock
	budget time.Duration

	mu    sync.Mutex
	until time.Time // no request before this
}

var _ khttp.Middleware = (*retryHandler)(nil)

func retriable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout
}

// Intercept implements khttp.Middleware.
func (h *retryHandler) Intercept(p khttp.Pipeline, i int, req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	var waited time.Duration
	for try := 1; ; try++ {
		if d := h.pause(); d > 0 && waited+d <= h.budget {
			if err := h.clock.sleep(ctx, d); err != nil {
				return nil, err
			}
			waited += d
		}
		r := req.Clone(ctx)
		if body != nil {
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		}
		if try > 1 {
			r.Header.Set("Retry-Attempt", strconv.Itoa(try-1))
		}
		resp, err := p.Next(r, i)
		if err != nil || !retriable(resp.StatusCode) {
			return resp, err
		}
		d := retryAfter(resp.Header.Get("Retry-After"), h.clock.now())
		if d < 0 {
			d = min(time.Second<<(try-1), maxBackoff)
		}
		if try >= maxTries || waited+d > h.budget {
			return resp, nil
		}
		h.hold(d)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if err := h.clock.sleep(ctx, d); err != nil {
			return nil, err
		}
		waited += d
	}
}

// pause returns how long requests are held back.
func (h *retryHandler) pause() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.until.Sub(h.clock.now())
}

// hold holds requests back for d from now.
func (h *retryHandler) hold(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := h.clock.now().Add(d); t.After(h.until) {
		h.until = t
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date; -1
// when there is none or it cannot be read.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return -1
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e7 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, t.Sub(now))
	}
	return -1
}
