package graphtest

import (
	"slices"
	"sync"
	"time"
)

// Clock is the clock of an entra client in tests (entra.Options.Now and
// After): a wait ends at once and moves the time on by its length, which
// Clock records. The zero value starts at the zero time; Set moves it.
type Clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

// Set sets the time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Now returns the time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After moves the time on by d and returns a channel that holds the new
// time.
func (c *Clock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.waits = append(c.waits, d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// Waits returns the waits so far, in order.
func (c *Clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.waits)
}

// Waited returns the sum of the waits so far.
func (c *Clock) Waited() time.Duration {
	var total time.Duration
	for _, w := range c.Waits() {
		total += w
	}
	return total
}
