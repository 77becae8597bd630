package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// TestFullStore: when the database cannot grow (SQLite's max_page_count,
// which fails writes with SQLITE_FULL exactly as a full disk does), a write
// fails with ErrUnavailable, commits nothing and Health reports it until a
// write is committed again.
func TestFullStore(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	mustCreate(t, s, user("u0", "u0"))
	if err := s.Health(); err != nil {
		t.Fatalf("Health of a fresh store: %v", err)
	}
	if err := s.SetMaxPages(ctx, 1); err != nil { // no room beyond the current size
		t.Fatal(err)
	}
	big := func(id string) store.Resource {
		r := user(id, id)
		r.Data = []byte(`{"id":"` + id + `","pad":"` + strings.Repeat("x", 64<<10) + `"}`)
		return r
	}
	err := s.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		r := big("u1")
		return tx.Create(ctx, &r)
	})
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("create on a full store: %v, want ErrUnavailable naming a full database", err)
	}
	if h := s.Health(); !errors.Is(h, store.ErrUnavailable) {
		t.Fatalf("Health after a failed write: %v, want ErrUnavailable", h)
	}
	if _, err := s.Get(ctx, "User", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed create left u1: %v", err)
	}
	// A write that fails on its own (not the storage's fault) changes nothing.
	err = s.Write(ctx, func(ctx context.Context, tx store.Tx) error { return tx.Delete(ctx, "User", "nobody") })
	if !errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("delete of a missing user: %v", err)
	}
	if h := s.Health(); !errors.Is(h, store.ErrUnavailable) {
		t.Fatalf("Health after a refused write on a full store: %v, want ErrUnavailable", h)
	}

	if err := s.SetMaxPages(ctx, 1<<30); err != nil { // space freed
		t.Fatal(err)
	}
	if h := s.Health(); !errors.Is(h, store.ErrUnavailable) {
		t.Fatalf("Health before any write succeeded: %v, want ErrUnavailable still", h)
	}
	mustCreate(t, s, big("u1"))
	if h := s.Health(); h != nil {
		t.Fatalf("Health after a committed write: %v, want nil", h)
	}
}

// TestIsFault: which errors are the storage's fault.
func TestIsFault(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ENOSPC", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, true},
		{"EROFS", fmt.Errorf("open: %w", syscall.EROFS), true},
		{"EIO", syscall.EIO, true},
		{"EACCES", syscall.EACCES, false},
		{"not found", store.ErrNotFound, false},
		{"conflict", store.ErrConflict, false},
		{"plain", errors.New("full"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sqliteDialect.isFault(tc.err); got != tc.want {
				t.Fatalf("isFault(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
