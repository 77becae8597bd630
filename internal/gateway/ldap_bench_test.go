package gateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ldap "github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/ldaptest"
)

// BenchmarkLDAPEndToEnd measures SCIM -> slapd provisioning: 10,000 users
// (1,000 with -short) posted by 8 concurrent SCIM clients to a gateway
// whose ldap target has 8 pooled connections and 8 delivery workers, timed
// from the first request until the last entry is written (the engine's
// outbox is empty). Beside it, in the same run, the raw rate at which
// go-ldap alone adds the same entries over 8 connections to a fresh slapd.
// Run with -benchtime 1x.
func BenchmarkLDAPEndToEnd(b *testing.B) {
	const conns = 8
	users := 10000
	if testing.Short() {
		users = 1000
	}
	for range b.N {
		b.StopTimer()
		raw := rawLDAPAdds(b, users, conns)
		e2e, accepted := e2eLDAP(b, users, conns)
		b.ReportMetric(raw, "raw_adds/s")
		b.ReportMetric(e2e, "e2e_users/s")
		b.ReportMetric(accepted, "scim_accepted/s")
		b.ReportMetric(100*e2e/raw, "e2e_%_of_raw")
		b.StartTimer()
	}
}

// rawLDAPAdds adds n entries like the gateway's over conns connections to
// a fresh slapd and returns the adds per second.
func rawLDAPAdds(b *testing.B, n, conns int) float64 {
	s := ldaptest.Start(b)
	cs := make([]*ldap.Conn, conns)
	for i := range cs {
		cs[i] = s.MustDial(b)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range cs {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				name := fmt.Sprintf("raw%d@contoso.com", i)
				r := ldap.NewAddRequest("uid="+name+","+ldaptest.PeopleDN, nil)
				r.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
				r.Attribute("cn", []string{"Raw User " + fmt.Sprint(i)})
				r.Attribute("displayName", []string{"Raw User " + fmt.Sprint(i)})
				r.Attribute("employeeType", []string{uuid.NewString()})
				r.Attribute("givenName", []string{"Given"})
				r.Attribute("mail", []string{name})
				r.Attribute("sn", []string{"Family"})
				r.Attribute("uid", []string{name})
				r.Attribute("userPassword", []string{"Aa1!" + uuid.NewString()[:12]})
				if err := c.Add(r); err != nil {
					b.Errorf("raw add %s: %v", name, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// e2eLDAP posts n users from clients concurrent SCIM clients to a gateway
// provisioning a fresh slapd and returns the users per second from the
// first request until the last entry is written, and until the last
// request was answered.
func e2eLDAP(b *testing.B, n, clients int) (e2e, accepted float64) {
	lg := startLDAPGateway(b, clients, func(o *engine.Options) {
		o.Concurrency = clients
		o.Poll = time.Second // the default: the engine is woken by changes
	})
	start := time.Now()
	accepted = postUsers(b, lg.g.BaseURL(), 0, n, clients)
	ctx := context.Background()
	for {
		if ok, _ := idleNow(ctx, lg.g); ok {
			break
		}
		time.Sleep(25 * time.Millisecond) // light polling: it shares the CPU
	}
	elapsed := time.Since(start)
	if got := len(lg.s.Entries(b, ldaptest.PeopleDN, "(objectClass=inetOrgPerson)")); got != n {
		b.Fatalf("%d entries in slapd, want %d", got, n)
	}
	return float64(n) / elapsed.Seconds(), accepted
}
