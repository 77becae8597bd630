package guest

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

// holdRecorder is an Engine that records the holds it is given (usable as
// its zero value).
type holdRecorder struct {
	mu    sync.Mutex
	holds []store.Hold
	at    []time.Time
}

func (e *holdRecorder) Hold(_ context.Context, h store.Hold, _ bool) (bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.holds, e.at = append(e.holds, h), append(e.at, time.Now())
	return true, nil
}

func (e *holdRecorder) ReleaseHolds(context.Context, store.HoldQuery) (int, error) { return 0, nil }

func (e *holdRecorder) taken() ([]store.Hold, []time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.holds), slices.Clone(e.at)
}

// TestStartRunsStepsWhenDue: the loop of Start performs a step when it
// falls due, not at the next Poll (an hour here). It runs on the real
// clock: what it checks is the loop's wait.
func TestStartRunsStepsWhenDue(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	expires := time.Now().Add(time.Second)
	u, err := json.Marshal(map[string]any{"id": "g-1", "userName": "gus@fabrikam.example",
		extURN: map[string]any{"accessExpiresAt": expires.Format(time.RFC3339Nano)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "User", ID: "g-1", Unique: "gus@fabrikam.example", Data: u})
	}); err != nil {
		t.Fatal(err)
	}
	rules := compile(t, "rules: [{homeDomains: [contoso.example]}]\nexpiry: {attribute: "+extURN+":accessExpiresAt}\ngrace: 1h\n")
	eng := &holdRecorder{}
	l, err := NewLifecycle(LifecycleOptions{Store: st, Rules: rules, Engine: eng, Poll: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	l.Start(ctx)
	defer l.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		holds, at := eng.taken()
		if len(holds) > 0 {
			if len(holds) != 1 || holds[0].Action != store.HoldDisable || holds[0].User != "g-1" {
				t.Fatalf("holds %+v; want one disable of g-1", holds)
			}
			if at[0].Before(expires) {
				t.Fatalf("blocked at %v, before the expiry %v", at[0], expires)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the guest who expired at %v was not blocked 20s later (the loop waits for its Poll, an hour)", expires.Format(time.RFC3339Nano))
		}
	}
}
