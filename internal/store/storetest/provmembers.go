package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/scimgate/scimgate/internal/store"
)

func testProvisionedMembers(t *testing.T, open Opener) {
	ctx := context.Background()
	s := fresh(t, open)
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.AddProvisionedMembers(ctx, "t", "g", []string{"b", "a", "b"}); err != nil {
			return err
		}
		if err := tx.AddProvisionedMembers(ctx, "t", "g", []string{"a", "c"}); err != nil {
			return err
		}
		if err := tx.AddProvisionedMembers(ctx, "t", "h", []string{"a"}); err != nil {
			return err
		}
		if err := tx.AddProvisionedMembers(ctx, "other", "g", []string{"z"}); err != nil {
			return err
		}
		return tx.RemoveProvisionedMembers(ctx, "t", "g", []string{"c", "x"})
	})
	if got, err := s.ProvisionedMembers(ctx, "t", "g"); err != nil || !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ProvisionedMembers(t, g) = %v, %v; want [a b]", got, err)
	}
	if got, err := s.ProvisionedMembersIn(ctx, "t", "g", []string{"a", "c", "q"}); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Errorf("ProvisionedMembersIn = %v, %v; want [a]", got, err)
	}
	if got, err := s.ProvisionedGroupsOf(ctx, "t", "a"); err != nil || !slices.Equal(got, []string{"g", "h"}) {
		t.Errorf("ProvisionedGroupsOf(t, a) = %v, %v; want [g h]", got, err)
	}
	// The record of a group goes with its members; nil drops them all.
	write(t, s, func(ctx context.Context, tx store.Tx) error {
		if err := tx.PutProvisioned(ctx, store.Provisioned{Target: "t", Type: "Group", ID: "g", State: []byte(`{}`)}); err != nil {
			return err
		}
		if err := tx.DeleteProvisioned(ctx, "t", "Group", "g"); err != nil {
			return err
		}
		return tx.RemoveProvisionedMembers(ctx, "t", "h", nil)
	})
	for _, g := range []string{"g", "h"} {
		if got, err := s.ProvisionedMembers(ctx, "t", g); err != nil || len(got) != 0 {
			t.Errorf("after delete: ProvisionedMembers(t, %s) = %v, %v", g, got, err)
		}
	}
	if got, err := s.ProvisionedMembers(ctx, "other", "g"); err != nil || !slices.Equal(got, []string{"z"}) {
		t.Errorf("another target's record: %v, %v; want [z]", got, err)
	}
}
