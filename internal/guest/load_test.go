package guest

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
)

// noEngine is an Engine that refuses every hold: the test performs no step.
type noEngine struct{}

func (noEngine) Hold(context.Context, store.Hold, bool) (bool, error) {
	return false, errors.New("no engine in this test")
}

func (noEngine) ReleaseHolds(context.Context, store.HoldQuery) (int, error) {
	return 0, errors.New("no engine in this test")
}

// TestLifecycleReadsMetaCreated: the store keeps a user's meta apart from
// its data; the lifecycle gives the rules meta.created as the SCIM server
// renders it, so that a lifetime applies to a stored guest.
func TestLifecycleReadsMetaCreated(t *testing.T) {
	ctx := t.Context()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	const upn = "carol_fabrikam.com#EXT#@contoso.com"
	if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.Create(ctx, &store.Resource{Type: "User", ID: "g1", Unique: upn, Data: []byte(`{"id":"g1","userName":"` + upn + `"}`)})
	}); err != nil {
		t.Fatal(err)
	}
	stored, err := st.Get(ctx, "User", "g1")
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLifecycle(LifecycleOptions{Store: st, Engine: noEngine{},
		Rules: compile(t, "rules: [{upnExternal: true}]\nexpiry: {lifetime: 720h}\n"),
		Now:   func() time.Time { return stored.Created }})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.Enroll(ctx); err != nil || n != 1 {
		t.Fatalf("Enroll: %d, %v", n, err)
	}
	rec, err := l.Guest(ctx, "g1")
	if err != nil {
		t.Fatal(err)
	}
	if want := stored.Created.Add(720 * time.Hour).UTC(); !rec.Expiry.Equal(want) || rec.Why != "expiry.lifetime" || rec.Next == nil || rec.Next.Kind != Block {
		t.Errorf("record %+v, want the expiry %v of expiry.lifetime, next a block", rec, want)
	}
}
