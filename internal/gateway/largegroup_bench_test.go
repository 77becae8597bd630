package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/ldaptest"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/ldaptarget"
	"github.com/scimgate/scimgate/targets/sqltarget"
)

// Sizes of BenchmarkLargeGroupDelivery.
const (
	largeGroup      = 50000 // members of the large group (5,000 with -short)
	largeGroupBatch = 100   // members per addMembers in the batched phase (Entra's PATCH batches)
	largeGroupSmall = 100   // members of the small group the single changes are compared with
	largeGroupOps   = 20    // single adds and removes timed per group
)

// BenchmarkLargeGroupDelivery measures the delivery of a 50,000-member
// group (5,000 with -short) to MariaDB and to slapd, the latter as
// configured by default and with its member values kept sorted (sortvals,
// as examples/ldap-slapd.conf recommends). It drives the
// connectors directly with the operations the engine's outbox sends
// (addMembers and removeMembers with a list of members, which the worker
// maps to anchors), because the engine itself still plans a group's
// membership from the whole member list. The users are created first (not
// timed), through the connector, from 8 goroutines. Then, each timed:
//   - add_all: one AddMembers of every member to a new group (a group's
//     first delivery);
//   - batches: AddMembers of 100 members at a time to another new group
//     until it has them all (Entra's PATCH batches), with the mean time of
//     the first and the last 10 batches;
//   - readd_all: the first AddMembers again, every member present (a
//     repeat after a lost answer);
//   - get: Get of the large group, members resolved to anchors;
//   - single: removes and adds of one member, on the large group and on a
//     100-member group; for slapd, beside them, the same change as one
//     modify request sent with go-ldap alone (raw_remove, raw_add: what
//     the server itself takes for a change to that group);
//   - remove_all: one RemoveMembers of every member of the batched group.
//
// Run it once: go test -run '^$' -bench LargeGroupDelivery -benchtime 1x -timeout 60m ./internal/gateway
func BenchmarkLargeGroupDelivery(b *testing.B) {
	n := largeGroup
	if testing.Short() {
		n = 5000
	}
	b.Run("target=mariadb", func(b *testing.B) {
		srv := dbtest.StartMariaDB(b)
		for range b.N {
			b.StopTimer()
			name, _ := srv.NewDatabase(b)
			cfg := &sqltarget.Config{
				Dialect: srv.Dialect, Host: srv.Host, Port: srv.Port, Database: name, User: srv.User, Password: srv.Password,
				CreateSchema: true,
				Pool:         sqltarget.PoolConfig{MaxOpen: 8},
				Users: &sqltarget.ObjectConfig{Table: "app_users", Anchor: "id", ObjectID: "scim_id",
					Attributes: map[string]sqltarget.Attribute{"userName": {Column: "login", Unique: true}, "displayName": {Column: "display_name"}}},
				Groups: &sqltarget.ObjectConfig{Table: "app_groups", Anchor: "id", ObjectID: "scim_id",
					Attributes: map[string]sqltarget.Attribute{"name": {Column: "name"}},
					Members:    &sqltarget.MembersConfig{Table: "app_group_members", Group: "group_id", Member: "user_id"}},
			}
			c := openLargeGroupTarget(b, cfg)
			largeGroupDelivery(b, c, n, func(i int) map[string]any {
				u := fmt.Sprintf("member%06d@contoso.com", i)
				return map[string]any{"userName": u, "displayName": "Member " + u}
			}, func(name string) map[string]any { return map[string]any{"name": name} }, nil)
			b.StartTimer()
		}
	})
	for _, sortVals := range []bool{false, true} {
		name := "target=slapd"
		if sortVals {
			name += "-sortvals"
		}
		b.Run(name, func(b *testing.B) {
			s := ldaptest.Start(b, ldaptest.Options{SortVals: sortVals})
			for range b.N {
				b.StopTimer()
				pw := filepath.Join(b.TempDir(), "bindpw")
				if err := os.WriteFile(pw, []byte(ldaptest.AdminPassword), 0o600); err != nil {
					b.Fatal(err)
				}
				cfg := &ldaptarget.Config{
					URL: s.URL, BindDN: ldaptest.AdminDN, BindPasswordFile: pw, BaseDN: ldaptest.BaseDN, PoolSize: 8,
					Users: ldaptarget.KindConfig{DNTemplate: "uid={uid}," + ldaptest.PeopleDN, ObjectIDAttribute: "employeeType"},
					Groups: &ldaptarget.GroupsConfig{
						KindConfig:        ldaptarget.KindConfig{DNTemplate: "cn={cn}," + ldaptest.GroupsDN, ObjectIDAttribute: "businessCategory"},
						PlaceholderMember: "cn=nobody," + ldaptest.BaseDN,
					},
				}
				c := openLargeGroupTarget(b, cfg)
				largeGroupDelivery(b, c, n, func(i int) map[string]any {
					u := fmt.Sprintf("member%06d@contoso.com", i)
					return map[string]any{"uid": u, "cn": "Member " + u, "sn": "Member", "displayName": "Member " + u}
				}, func(name string) map[string]any { return map[string]any{"cn": name} }, rawLDAPMember(b, s))
				b.StartTimer()
			}
		})
	}
}

// openLargeGroupTarget validates and opens a target configuration.
func openLargeGroupTarget(b *testing.B, cfg targets.Config) targets.Connector {
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	c, err := cfg.Open(b.Context(), targets.Env{Name: "large"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// rawMember returns the request that removes (add false) or adds the
// member with the anchor member to the group with the anchor group,
// straight to the target (not timed: finding them).
type rawMember func(group, member string) func(add bool) error

// rawLDAPMember is the rawMember of slapd s: a modify request of one
// member value with go-ldap alone.
func rawLDAPMember(b *testing.B, s *ldaptest.Server) rawMember {
	conn := s.MustDial(b)
	dn := func(anchor string) string {
		res, err := conn.Search(ldap.NewSearchRequest(ldaptest.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1, 0, false,
			"(entryUUID="+ldap.EscapeFilter(anchor)+")", []string{"1.1"}, nil))
		if err != nil || len(res.Entries) != 1 {
			b.Fatalf("entry of %s: %v", anchor, err)
		}
		return res.Entries[0].DN
	}
	return func(group, member string) func(bool) error {
		g, m := dn(group), dn(member)
		return func(add bool) error {
			r := ldap.NewModifyRequest(g, nil)
			if add {
				r.Add("member", []string{m})
			} else {
				r.Delete("member", []string{m})
			}
			return conn.Modify(r)
		}
	}
}

// largeGroupDelivery runs the phases of BenchmarkLargeGroupDelivery on c
// with n users, whose attributes userAttrs returns, and reports them; with
// raw, it also times the single removes and adds sent straight to the
// target, beside the connector's. A phase that fails is reported as an
// error and the next one runs.
func largeGroupDelivery(b *testing.B, c targets.Connector, n int, userAttrs func(int) map[string]any, groupAttrs func(string) map[string]any, raw rawMember) {
	ctx := context.Background()
	members := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				a, err := c.Create(ctx, targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: targets.User, Attrs: userAttrs(i)})
				if err != nil {
					b.Errorf("create user %d: %v", i, err)
					return
				}
				members[i] = a
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	b.Logf("%d users created in %v", n, time.Since(start).Round(time.Millisecond))
	group := func(name string) targets.Op {
		op := targets.Op{ID: uuid.NewString(), ObjectID: uuid.NewString(), Kind: targets.Group, Attrs: groupAttrs(name)}
		a, err := c.Create(ctx, op)
		if err != nil {
			b.Fatalf("create group %s: %v", name, err)
		}
		op.Anchor = a
		return op
	}
	change := func(g targets.Op, add bool, ms []string) error {
		op := targets.Op{ID: uuid.NewString(), ObjectID: g.ObjectID, Kind: targets.Group, Anchor: g.Anchor, Members: ms}
		if add {
			return c.AddMembers(ctx, op)
		}
		return c.RemoveMembers(ctx, op)
	}
	rate := func(what string, count int, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Errorf("%s: %v", what, err)
			return
		}
		d := time.Since(start)
		b.Logf("%s: %d members in %v", what, count, d.Round(time.Millisecond))
		b.ReportMetric(float64(count)/d.Seconds(), what+"_members/s")
	}
	wantMembers := func(what string, g targets.Op, want int) {
		o, err := c.Get(ctx, targets.Group, g.Anchor)
		if err != nil {
			b.Errorf("%s: Get: %v", what, err)
		} else if len(o.Members) != want {
			b.Errorf("%s: %d members, want %d", what, len(o.Members), want)
		}
	}

	all := group("large-all")
	rate("add_all", n, func() error { return change(all, true, members) })

	batched := group("large-batched")
	var first, last time.Duration
	batches := n / largeGroupBatch
	rate("batches", n, func() error {
		for i := range batches {
			start := time.Now()
			if err := change(batched, true, members[i*largeGroupBatch:(i+1)*largeGroupBatch]); err != nil {
				return fmt.Errorf("batch %d: %w", i, err)
			}
			switch d := time.Since(start); {
			case i < 10:
				first += d
			case i >= batches-10:
				last += d
			}
		}
		return nil
	})
	b.ReportMetric(float64(first.Microseconds())/10/1000, "batches_first10_ms/op")
	b.ReportMetric(float64(last.Microseconds())/10/1000, "batches_last10_ms/op")

	rate("readd_all", n, func() error { return change(all, true, members) })

	start = time.Now()
	o, err := c.Get(ctx, targets.Group, all.Anchor)
	switch {
	case err != nil:
		b.Errorf("get: %v", err)
	case len(o.Members) != n:
		b.Errorf("get: %d members, want %d", len(o.Members), n)
	default:
		got, want := slices.Sorted(slices.Values(o.Members)), slices.Sorted(slices.Values(members))
		if !slices.Equal(got, want) {
			b.Errorf("get: the members are not the users added")
		}
		b.ReportMetric(float64(time.Since(start).Microseconds())/1000, "get_ms")
	}

	small := group("small")
	if err := change(small, true, members[:largeGroupSmall]); err != nil {
		b.Errorf("small group: %v", err)
	}
	for _, g := range []struct {
		name string
		op   targets.Op
	}{{"large", all}, {"small", small}} {
		var remove, add time.Duration
		for i := range largeGroupOps {
			m := members[i*largeGroupSmall/largeGroupOps]
			start := time.Now()
			if err := change(g.op, false, []string{m}); err != nil {
				b.Errorf("single remove from the %s group: %v", g.name, err)
				break
			}
			mid := time.Now()
			if err := change(g.op, true, []string{m}); err != nil {
				b.Errorf("single add to the %s group: %v", g.name, err)
				break
			}
			remove, add = remove+mid.Sub(start), add+time.Since(mid)
		}
		b.ReportMetric(float64(remove.Microseconds())/largeGroupOps/1000, "single_remove_"+g.name+"_ms/op")
		b.ReportMetric(float64(add.Microseconds())/largeGroupOps/1000, "single_add_"+g.name+"_ms/op")
		if raw == nil {
			continue
		}
		remove, add = 0, 0
		for i := range largeGroupOps {
			modify := raw(g.op.Anchor, members[i*largeGroupSmall/largeGroupOps])
			start := time.Now()
			if err := modify(false); err != nil {
				b.Errorf("raw remove from the %s group: %v", g.name, err)
				break
			}
			mid := time.Now()
			if err := modify(true); err != nil {
				b.Errorf("raw add to the %s group: %v", g.name, err)
				break
			}
			remove, add = remove+mid.Sub(start), add+time.Since(mid)
		}
		b.ReportMetric(float64(remove.Microseconds())/largeGroupOps/1000, "raw_remove_"+g.name+"_ms/op")
		b.ReportMetric(float64(add.Microseconds())/largeGroupOps/1000, "raw_add_"+g.name+"_ms/op")
	}

	rate("remove_all", n, func() error { return change(batched, false, members) })
	wantMembers("after remove_all", batched, 0)
}
