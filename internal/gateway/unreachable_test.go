package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/scimgate/scimgate/internal/config"
	"github.com/scimgate/scimgate/internal/dbtest"
	"github.com/scimgate/scimgate/internal/engine"
	"github.com/scimgate/scimgate/internal/ldaptest"
)

// fewAttempts lets an operation fail only twice before it is a dead
// letter: an outage must use none of them.
func fewAttempts(o *engine.Options) { o.MaxAttempts = 2 }

// engineLines counts the engine's log lines at Info and above.
type engineLines struct{ n atomic.Int64 }

func (l *engineLines) Enabled(_ context.Context, lv slog.Level) bool { return lv >= slog.LevelInfo }
func (l *engineLines) Handle(context.Context, slog.Record) error     { l.n.Add(1); return nil }
func (l *engineLines) WithAttrs([]slog.Attr) slog.Handler            { return l }
func (l *engineLines) WithGroup(string) slog.Handler                 { return l }

// quietOutage is fewAttempts with the engine's log lines counted.
func quietOutage(lines *engineLines) func(*engine.Options) {
	return func(o *engine.Options) {
		fewAttempts(o)
		o.Logger = slog.New(lines)
	}
}

// maxOutageLines bounds the engine's log lines for one outage of one
// target: down and back (a server that flaps while it starts may add a
// pair).
const maxOutageLines = 4

// TestTargetDownAtStartup starts a gateway whose target's server is
// stopped: the gateway serves SCIM, shows the target down with the reason,
// and delivers what was queued once the server is started.
func TestTargetDownAtStartup(t *testing.T) {
	t.Run("sql", func(t *testing.T) {
		srv := dbtest.StartMariaDB(t)
		name, db := srv.NewDatabase(t)
		dsn := filepath.Join(t.TempDir(), "dsn")
		if err := os.WriteFile(dsn, []byte(srv.DSN(name)), 0o600); err != nil {
			t.Fatal(err)
		}
		srv.Stop()
		lines := &engineLines{}
		g := startTargetsGateway(t, fmt.Appendf(nil, sqlAppTarget, srv.Dialect, dsn, 4), quietOutage(lines))
		alice := checkServingWithTargetDown(t, g, "app", "connection refused")

		srv.Start(t)
		const users = "SELECT scim_id, login, status FROM app_users"
		waitFor(t, "the user's row", func() (bool, string) {
			if ok, detail := idleNow(t.Context(), g); !ok {
				return false, detail
			}
			got := dbtest.Dump(t, db, users)
			return slices.Equal(got, []string{alice + "\talice@contoso.com\tactive"}), fmt.Sprintf("rows %q", got)
		})
		checkTargetUp(t, g, "app")
		if n := lines.n.Load(); n > maxOutageLines {
			t.Errorf("%d engine log lines for the outage, want at most %d", n, maxOutageLines)
		}
	})
	t.Run("ldap", func(t *testing.T) {
		s := ldaptest.Start(t)
		pw := filepath.Join(t.TempDir(), "bindpw")
		if err := os.WriteFile(pw, []byte(ldaptest.AdminPassword), 0o600); err != nil {
			t.Fatal(err)
		}
		s.Stop()
		lines := &engineLines{}
		g := startTargetsGateway(t, fmt.Appendf(nil, ldapTarget, s.URL, pw, 2), quietOutage(lines))
		alice := checkServingWithTargetDown(t, g, "dir", "connection refused")

		s.Restart(t)
		lg := &ldapGateway{g: g, s: s}
		waitFor(t, "the user's entry", func() (bool, string) {
			if ok, detail := idleNow(t.Context(), g); !ok {
				return false, detail
			}
			e, ok := lg.people(t)["alice@contoso.com"]
			return ok && e.GetAttributeValue("employeeType") == alice, fmt.Sprintf("entry %v", e)
		})
		checkTargetUp(t, g, "dir")
		if n := lines.n.Load(); n > maxOutageLines {
			t.Errorf("%d engine log lines for the outage, want at most %d", n, maxOutageLines)
		}
	})
}

// checkServingWithTargetDown checks that g answers /healthz and a SCIM
// create while its target is down, and that the admin API shows the
// target down with a reason containing reason; it returns the user's id.
func checkServingWithTargetDown(t *testing.T, g *Gateway, target, reason string) string {
	t.Helper()
	base := strings.TrimSuffix(g.BaseURL(), "/scim/v2")
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d, want 200", resp.StatusCode)
	}
	c := client{t: t, base: g.BaseURL()}
	u := entraUser("alice@contoso.com", "ext-alice")
	u["displayName"] = "Alice Smith"
	alice := c.must(201, "POST", "/Users", u).body["id"].(string)
	st := adminClient{t: t, base: base, token: adminToken}.call(200, "GET", "/targets/"+target)
	t.Logf("admin target %s: %v: %v", target, st["health"], st["healthError"])
	if st["health"] != "down" || !strings.Contains(fmt.Sprint(st["healthError"]), "target not connected: ") ||
		!strings.Contains(fmt.Sprint(st["healthError"]), reason) {
		t.Errorf("admin target %s: health %v (%v), want down: target not connected: ...%s", target, st["health"], st["healthError"], reason)
	}
	return alice
}

// checkTargetUp checks that the admin API shows the target up, without
// dead letters.
func checkTargetUp(t *testing.T, g *Gateway, target string) {
	t.Helper()
	st := adminClient{t: t, base: strings.TrimSuffix(g.BaseURL(), "/scim/v2"), token: adminToken}.call(200, "GET", "/targets/"+target)
	if st["health"] != "up" || st["deadLetters"] != 0.0 {
		t.Errorf("admin target %s: health %v (%v), %v dead letters; want up and none", target, st["health"], st["healthError"], st["deadLetters"])
	}
}

// TestTargetConfigErrorStopsStartup: an invalid target configuration still
// stops the gateway at startup, with the target's name and the field,
// even when its server is down.
func TestTargetConfigErrorStopsStartup(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "bindpw")
	if err := os.WriteFile(pw, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Nothing listens on port 1 of the loopback interface.
	const down = "ldap://127.0.0.1:1"
	ldapDown := fmt.Sprintf(ldapTarget, down, pw, 2)
	tests := []struct {
		name    string
		targets string
		want    string
	}{
		{name: "unknown field", targets: strings.Replace(ldapDown, "    pool_size:", "    pool_sise:", 1),
			want: `target "dir": config: line 9: unknown field "pool_sise"`},
		{name: "missing password env", targets: strings.Replace(ldapDown, "bind_password_file: "+pw, "bind_password_env: SCIMGATE_TEST_UNSET", 1),
			want: `target "dir": config.bind_password_env: environment variable SCIMGATE_TEST_UNSET is not set or empty`},
		{name: "missing dsn env", targets: fmt.Sprintf(strings.Replace(sqlAppTarget, "dsn_file: %s", "dsn_env: %s", 1), "mysql", "SCIMGATE_TEST_UNSET", 4),
			want: `target "app": config.dsn_env: environment variable SCIMGATE_TEST_UNSET is not set or empty`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Listen = "127.0.0.1:0"
			cfg.DataDir = t.TempDir()
			cfg.Auth.Tokens = []config.Secret{testToken}
			if err := yaml.Unmarshal([]byte(tt.targets), &cfg.Targets); err != nil {
				t.Fatal(err)
			}
			g, err := New(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
			if err == nil {
				g.Close()
				t.Fatalf("New: started, want %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
