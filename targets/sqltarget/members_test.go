package sqltarget_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// anchorRE matches an anchor (a UUID).
var anchorRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// createUsers creates n users through c from 8 goroutines and returns
// their anchors.
func createUsers(t *testing.T, c *sqltarget.Connector, n int) []string {
	t.Helper()
	anchors := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				a, err := c.Create(t.Context(), targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: targets.User,
					Attrs: map[string]any{"userName": fmt.Sprintf("member%05d", i)}})
				if err != nil {
					t.Errorf("Create user %d: %v", i, err)
					return
				}
				anchors[i] = a
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return anchors
}

// testLargeMembership: AddMembers and RemoveMembers of a few thousand
// members, written 500 per statement in one transaction, with members
// already present (or absent) in every batch; lists longer than one
// statement can bind (65,535 parameters) work; a member that does not
// exist changes nothing, whichever batch it falls in.
func testLargeMembership(t *testing.T, srv *dbtest.Server) {
	name, db := srv.NewDatabase(t)
	cfg := smallConfig(srv, name, true)
	cfg.Pool.MaxOpen = 8
	c := open(t, cfg)
	const n = 2600
	users := createUsers(t, c, n)
	gone, err := c.Create(t.Context(), targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: targets.User, Attrs: map[string]any{"userName": "gone"}})
	must(t, "Create", err)
	must(t, "Delete", c.Delete(t.Context(), targets.Op{ID: uuid.NewString(), Kind: targets.User, Anchor: gone}))
	g := targets.Op{ObjectID: uuid.NewString(), Kind: targets.Group, Attrs: map[string]any{"displayName": "large"}}
	g.Anchor, err = c.Create(t.Context(), g)
	must(t, "Create group", err)
	unknown := func(k int) []string {
		out := make([]string, k)
		for i := range out {
			out[i] = uuid.NewString()
		}
		return out
	}
	cat := func(lists ...[]string) []string { return slices.Concat(lists...) }

	for _, step := range []struct {
		name    string
		add     bool
		members []string
		wantErr error
		want    []string // the members after the step
	}{
		{"add 1,200", true, users[:1200], nil, users[:1200]},
		{"add 1,900 of which 500 present, some twice", true, cat(users[700:], users[800:900]), nil, users},
		{"remove 100", false, users[:100], nil, users[100:]},
		{"add all and a deleted user", true, cat(users, []string{gone}), targets.ErrNotFound, users[100:]},
		{"add 40,000 that do not exist", true, unknown(40000), targets.ErrNotFound, users[100:]},
		{"add all, 2,500 present", true, users, nil, users},
		{"add all again", true, users, nil, users},
		{"remove 1,500 and 70,000 absent", false, cat(users[:1500], unknown(70000)), nil, users[1500:]},
		{"remove 1,600 of which 500 absent", false, users[1000:], nil, nil},
		{"remove all, none present", false, users, nil, nil},
	} {
		op := targets.Op{ID: uuid.NewString(), ObjectID: g.ObjectID, Kind: targets.Group, Anchor: g.Anchor, Members: step.members}
		call := c.RemoveMembers
		if step.add {
			call = c.AddMembers
		}
		err := call(t.Context(), op)
		switch {
		case step.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", step.name, err)
		case step.wantErr != nil && !errors.Is(err, step.wantErr):
			t.Fatalf("%s: %v, want %v", step.name, err, step.wantErr)
		case err != nil && len(anchorRE.FindAllString(err.Error(), -1)) > 10:
			t.Errorf("%s: the error names more than 10 members: %.300s…", step.name, err)
		}
		rows := dbtest.Dump(t, db, "SELECT user_id FROM app_group_members")
		slices.Sort(rows)
		if want := slices.Sorted(slices.Values(step.want)); !slices.Equal(rows, want) {
			t.Fatalf("%s: %d membership rows, want %d", step.name, len(rows), len(want))
		}
		o, err := c.Get(t.Context(), targets.Group, g.Anchor)
		must(t, step.name+": Get", err)
		if got := slices.Sorted(slices.Values(o.Members)); !slices.Equal(got, slices.Sorted(slices.Values(step.want))) {
			t.Fatalf("%s: Get has %d members, want %d", step.name, len(got), len(step.want))
		}
	}
}
