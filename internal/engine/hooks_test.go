package engine

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

// TestChainChanges: the hooks run in order, nil ones are skipped, and the
// first error stops the chain and is returned.
// TestChainChangesNone: without hooks there is nothing for the planner
// to call.
func TestChainChangesNone(t *testing.T) {
	if ChainChanges() != nil || ChainChanges(nil, nil) != nil {
		t.Error("ChainChanges without hooks is not nil")
	}
}

func TestChainChanges(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		failAt  int // -1: none
		wantRun []int
		wantErr error
	}{
		{name: "all run in order", failAt: -1, wantRun: []int{0, 2}},
		{name: "first error stops", failAt: 0, wantRun: []int{0}, wantErr: boom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ran []int
			hook := func(i int) ChangesHook {
				return func(_ context.Context, _ store.Tx, cs []store.Change) error {
					if len(cs) != 1 || cs[0].ID != "u1" {
						t.Errorf("hook %d saw %v", i, cs)
					}
					ran = append(ran, i)
					if i == tc.failAt {
						return boom
					}
					return nil
				}
			}
			err := ChainChanges(hook(0), nil, hook(2))(t.Context(), nil, []store.Change{{Type: "User", ID: "u1"}})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) || !slices.Equal(ran, tc.wantRun) {
				t.Fatalf("err %v ran %v; want %v %v", err, ran, tc.wantErr, tc.wantRun)
			}
		})
	}
}
