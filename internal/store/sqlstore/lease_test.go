package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/store"
)

func TestLeases(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	const ttl = 15 * time.Second
	if _, err := s.GetLease(ctx, "background"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetLease before any: %v, want ErrNotFound", err)
	}
	steps := []struct {
		name      string
		holder    string
		at        time.Duration
		release   bool
		ok        bool
		wantOwner string
		wantEpoch int64
	}{
		{name: "a takes the free lease", holder: "a", ok: true, wantOwner: "a", wantEpoch: 1},
		{name: "b cannot while a holds it", holder: "b", at: 5 * time.Second, wantOwner: "a", wantEpoch: 1},
		{name: "a renews", holder: "a", at: 10 * time.Second, ok: true, wantOwner: "a", wantEpoch: 1},
		{name: "b cannot before the renewal expires", holder: "b", at: 24 * time.Second, wantOwner: "a", wantEpoch: 1},
		{name: "b takes it once it expired", holder: "b", at: 25 * time.Second, ok: true, wantOwner: "b", wantEpoch: 2},
		{name: "a cannot take it back", holder: "a", at: 26 * time.Second, wantOwner: "b", wantEpoch: 2},
		{name: "b releases it", holder: "b", at: 27 * time.Second, release: true},
		{name: "a takes it at once", holder: "a", at: 28 * time.Second, ok: true, wantOwner: "a", wantEpoch: 3},
	}
	for _, st := range steps {
		now := t0.Add(st.at)
		if st.release {
			if err := s.ReleaseLease(ctx, "background", st.holder); err != nil {
				t.Fatalf("%s: %v", st.name, err)
			}
			continue
		}
		l, ok, err := s.TryLease(ctx, "background", st.holder, now, ttl)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if ok != st.ok || l.Holder != st.wantOwner || l.Epoch != st.wantEpoch {
			t.Errorf("%s: ok %v, lease %+v; want ok %v, holder %s, epoch %d", st.name, ok, l, st.ok, st.wantOwner, st.wantEpoch)
		}
		if ok && !l.Expires.Equal(now.Add(ttl)) {
			t.Errorf("%s: expires %v, want %v", st.name, l.Expires, now.Add(ttl))
		}
	}
	if l, err := s.GetLease(ctx, "background"); err != nil || l.Holder != "a" {
		t.Errorf("GetLease: %+v, %v", l, err)
	}
	if _, _, err := s.TryLease(ctx, "", "a", t0, ttl); err == nil {
		t.Error("TryLease without a name succeeded")
	}
}

func TestEnsureKey(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	first, err := s.EnsureKey(ctx, "review", []byte("first\x00key"))
	if err != nil || string(first) != "first\x00key" {
		t.Fatalf("EnsureKey: %q, %v", first, err)
	}
	if again, err := s.EnsureKey(ctx, "review", []byte("second")); err != nil || string(again) != "first\x00key" {
		t.Errorf("EnsureKey again: %q, %v; want the first value", again, err)
	}
	if other, err := s.EnsureKey(ctx, "other", []byte("x")); err != nil || string(other) != "x" {
		t.Errorf("EnsureKey of another name: %q, %v", other, err)
	}
	if _, err := s.EnsureKey(ctx, "", []byte("x")); err == nil {
		t.Error("EnsureKey without a name succeeded")
	}
}
