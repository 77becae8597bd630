package plan

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/guest"
	"github.com/scimgate/scimgate/internal/store"
	"github.com/scimgate/scimgate/internal/store/sqlstore"
	"github.com/scimgate/scimgate/policy"
	"github.com/scimgate/scimgate/scim"
)

// guestURN is the extension holding the guests' accessExpiresAt.
const guestURN = "urn:ietf:params:scim:schemas:extension:Guests:2.0:User"

// holdingEngine is a guest.Engine that takes every hold: the plan reads
// only the lifecycle's records.
type holdingEngine struct{}

func (holdingEngine) Hold(context.Context, store.Hold, bool) (bool, error) { return true, nil }
func (holdingEngine) ReleaseHolds(context.Context, store.HoldQuery) (int, error) {
	return 0, nil
}

// testClock is the lifecycle's clock, moved by the test.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// guestStore returns a store whose guest records a real lifecycle wrote
// on a fake clock, and the rules: guests (#EXT#) expire at their
// accessExpiresAt, with notices 14 and 3 days before, deleted 30 days
// after. Enrolled on 2030-12-01; on 2030-12-20 erin (expired that day)
// was blocked and frank got his 14-day notice (to nobody: skipped).
func guestStore(t *testing.T) (store.Store, *guest.Rules) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(t.TempDir(), "scimgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	users := []struct{ id, userName, expires string }{
		{"u-boss", "boss@contoso.example", ""},
		{"u-carol", "carol_fabrikam.example#EXT#@contoso.example", "2031-01-20T00:00:00Z"},
		{"u-dave", "dave_partner.example#EXT#@contoso.example", "2031-06-01T00:00:00Z"},
		{"u-erin", "erin_partner.example#EXT#@contoso.example", "2030-12-20T00:00:00Z"},
		{"u-frank", "frank_partner.example#EXT#@contoso.example", "2030-12-31T00:00:00Z"},
	}
	if err := st.Write(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, u := range users {
			m := map[string]any{"id": u.id, "userName": u.userName}
			if u.expires != "" {
				m[guestURN] = map[string]any{"accessExpiresAt": u.expires}
			}
			b, err := json.Marshal(m)
			if err != nil {
				return err
			}
			if err := tx.Create(ctx, &store.Resource{Type: "User", ID: u.id, Unique: strings.ToLower(u.userName), Data: b}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rts, err := scim.ResourceTypes([]scim.CustomExtension{{URN: guestURN, Resource: "User",
		Attributes: []scim.CustomAttribute{{Name: "accessExpiresAt", Type: "dateTime"}}}})
	if err != nil {
		t.Fatal(err)
	}
	var cfg guest.Config
	if err := yaml.Unmarshal([]byte("rules: [{upnExternal: true}]\nexpiry: {attribute: \""+guestURN+":accessExpiresAt\"}\nnotices: [336h, 72h]\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	rules, err := guest.Compile(cfg, guest.Options{Policy: []policy.Option{policy.WithResourceTypes(rts[0], rts[1])}, User: rts[0]})
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Date(2030, 12, 1, 0, 0, 0, 0, time.UTC)}
	l, err := guest.NewLifecycle(guest.LifecycleOptions{Store: st, Rules: rules, Engine: holdingEngine{}, Now: clock.now,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Enroll(ctx); err != nil {
		t.Fatal(err)
	}
	clock.set(time.Date(2030, 12, 20, 1, 0, 0, 0, time.UTC))
	if n, err := l.RunDue(ctx); err != nil || n != 2 {
		t.Fatalf("RunDue: %d steps, %v; want erin's block and frank's notice", n, err)
	}
	return st, rules
}

// TestGuestSteps: the plan's section "Guest lifecycle" on 2031-01-01:
// frank's block is due (his expiry passed while the lifecycle did not
// run), then within 30 days carol's notices and block, erin's delete and
// frank's; dave's steps are months away. A horizon of 0 days shows the
// due block alone; of 1000 days, every step.
func TestGuestSteps(t *testing.T) {
	st, rules := guestStore(t)
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		days   int
		golden string
	}{
		{"30 days", 30, "testdata/guests-30.golden"},
		{"due only", 0, "testdata/guests-0.golden"},
		{"1000 days", 1000, "testdata/guests-1000.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, err := GuestSteps(context.Background(), st, rules, now, tc.days)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if err := (Plan{Targets: []Target{}, Guests: g}).WriteText(&buf); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.golden, buf.Bytes())
		})
	}
	// Just after the lifecycle ran, nothing is due in the next day: the
	// section says so. The JSON carries the steps.
	g, err := GuestSteps(context.Background(), st, rules, time.Date(2030, 12, 20, 2, 0, 0, 0, time.UTC), 1)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := (Plan{Targets: []Target{}, Guests: g}).WriteText(&buf); err != nil || !strings.HasSuffix(buf.String(), "\nGuest lifecycle: no step due in the next day\n") {
		t.Errorf("nothing due: %v\n%s", err, buf.String())
	}
	g, err = GuestSteps(context.Background(), st, rules, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	if err := (Plan{Targets: []Target{}, Guests: g}).WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var p struct{ Guests Guests }
	if err := json.Unmarshal(buf.Bytes(), &p); err != nil || len(p.Guests.Steps) != 1 {
		t.Fatalf("JSON %v:\n%s", err, buf.String())
	}
	if s := p.Guests.Steps[0]; s.Step != "block" || s.User != "u-frank" || !s.Due || s.Expiry == nil || !s.Expiry.Equal(time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC)) ||
		s.Why != "expiry.attribute" {
		t.Errorf("JSON step %+v", s)
	}
}
