package plan

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/targets"
	"github.com/scimgate/scimgate/targets/memory"
)

// unstable matches what differs from run to run: ids, times, the memory
// connector's anchors and outbox sequence numbers.
var unstable = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<id>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<time>"},
	{regexp.MustCompile(`"(user|group)-\d+"`), `"<anchor>"`},
	{regexp.MustCompile(`(?m)^(    (?:pending|held|dead)) \d+ `), "$1 <seq> "},
	{regexp.MustCompile(`"seq": \d+`), `"seq": 0`},
}

func stable(b []byte) []byte {
	for _, u := range unstable {
		b = u.re.ReplaceAll(b, []byte(u.with))
	}
	return b
}

// TestExplain: plan --explain says for every target why a user or group
// is in scope or not, the attributes it gets with their sources, and its
// provisioning state there, with the pending and dead operations and
// their errors, as the real engine recorded them.
func TestExplain(t *testing.T) {
	ctx := context.Background()
	st, pol, alice := setup(t)
	crm, ldap := new(memory.Connector), new(memory.Connector)
	// bob's create fails for good in ldap (his disable, queued behind it,
	// is dropped: it cannot apply).
	ldap.Inject(memory.Fault{Method: memory.Create, Kind: targets.User, Times: 1, Err: targets.Permanent(errors.New("uid bjones is taken"))})
	// The engine runs on a fake clock, driven step by step.
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	e, err := engine.New(engine.Options{Store: st, Policy: pol, Connectors: map[string]targets.Connector{"crm": crm, "ldap": ldap},
		Now: func() time.Time { return now }, BackoffBase: time.Hour, BackoffMax: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		if err := e.PlanOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := e.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	stats := func(target string) store.OutboxStats {
		s, err := st.OutboxStats(ctx, target, now)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	run()
	if c, l := stats("crm"), stats("ldap"); c.Pending != 0 || l.Dead != 1 || l.Pending != 0 {
		t.Fatalf("after the first delivery: crm %+v, ldap %+v", c, l)
	}
	// crm is down when alice is renamed: her update waits for a retry an
	// hour later.
	crm.Inject(memory.Fault{Method: memory.Update, Kind: targets.User, Err: targets.Transient(errors.New("crm: 503 Service Unavailable\nretry later"))})
	scimCall(t, st, http.MethodPatch, "/Users/"+alice, `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
		"Operations":[{"op":"replace","path":"name.familyName","value":"Brown"}]}`, http.StatusOK)
	run()
	if rows, err := st.ObjectOutbox(ctx, "crm", "User", alice); err != nil || len(rows) != 1 || rows[0].Attempts != 1 {
		t.Fatalf("alice's update in crm: %+v, %v; want tried once", rows, err)
	}

	types := map[string]string{"crm": "memory", "ldap": "memory"}
	for _, tc := range []struct {
		name, arg, only, golden string
		json                    bool
	}{
		{"user by userName, in crm's scope with an update pending", "alice@contoso.com", "", "testdata/explain-alice.golden", false},
		{"the same as JSON", "alice@contoso.com", "", "testdata/explain-alice-json.golden", true},
		{"user by userName in another case, dead letter in ldap", "BOB@Contoso.com", "", "testdata/explain-bob.golden", false},
		{"user by id, one target", alice, "ldap", "testdata/explain-alice-ldap.golden", false},
		{"group by displayName", "sales", "", "testdata/explain-sales.golden", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := Explain(ctx, st, pol, types, tc.only, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if tc.json {
				err = x.WriteJSON(&buf)
			} else {
				err = x.WriteText(&buf)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, stable(buf.Bytes()))
		})
	}

	// A deleted user still in a target shows its state only.
	scimCall(t, st, http.MethodDelete, "/Users/"+alice, "", http.StatusNoContent)
	x, err := Explain(ctx, st, pol, types, "", alice)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := x.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "testdata/explain-deleted.golden", stable(buf.Bytes()))

	for _, tc := range []struct{ name, arg, only, want string }{
		{"unknown", "nobody@contoso.com", "", `no user or group has the id, userName or displayName "nobody@contoso.com"`},
		{"deleted user by userName", "alice@contoso.com", "", `"alice@contoso.com"`},
		{"unknown target", "bob@contoso.com", "nope", `no target named "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Explain(ctx, st, pol, types, tc.only, tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %s", err, tc.want)
			}
		})
	}
	t.Run("a name both a user and a group have", func(t *testing.T) {
		scimCall(t, st, http.MethodPost, "/Users", `{"userName":"Sales"}`, http.StatusCreated)
		_, err := Explain(ctx, st, pol, types, "", "SALES")
		if err == nil || !strings.Contains(err.Error(), `"SALES" is ambiguous: it names User `) || !strings.Contains(err.Error(), " and Group ") {
			t.Errorf("error %v", err)
		}
	})
}
