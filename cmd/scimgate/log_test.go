package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/scimgate/scimgate/targets/registry"
)

// TestStartupLogRedactsSecrets loads a configuration with every built-in
// connector type, its secrets given inline, by environment and by file, and
// logs the startup line the way serve does, in each log format: no secret
// and nothing of a connector's config may appear, the targets' names and
// types must.
func TestStartupLogRedactsSecrets(t *testing.T) {
	// Secrets given by environment: the SCIM token and a DSN read (and
	// checked) by validation.
	t.Setenv("SCIMGATE_SCIM_TOKEN", "leak-scim-token-env-0123456789abcdef")
	t.Setenv("LEAK_PG_DSN_ENV", "postgres://leakenvuser:leak-pg-env-dsn-password@leak-pg-env-host.invalid/leakdb")
	path := filepath.Join("testdata", "secrets.yaml")
	cfg, err := loadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), registry.New(registry.Services{}), &path, new(string), new(string))
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, tg := range cfg.Targets {
		types[tg.Type] = true
	}
	for _, typ := range []string{"memory", "sql", "ldap", "grpc", "scim"} {
		if !types[typ] {
			t.Fatalf("testdata/secrets.yaml has no target of type %s", typ)
		}
	}

	tests := []struct {
		format string
		// target is how a target's name and type come out.
		target func(i int, name, typ string) []string
	}{
		{format: "text", target: func(i int, name, typ string) []string {
			return []string{"config.targets." + strconv.Itoa(i) + ".name=" + name, "config.targets." + strconv.Itoa(i) + ".type=" + typ}
		}},
		{format: "json", target: func(i int, name, typ string) []string {
			return []string{`"` + strconv.Itoa(i) + `":{"name":"` + name + `","type":"` + typ + `"}`}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			c := cfg
			c.Log.Format = tt.format
			var buf bytes.Buffer
			startLog(c, &buf)
			out := buf.String()
			if tt.format == "json" && !json.Valid(buf.Bytes()) {
				t.Fatalf("not JSON: %s", out)
			}
			// Every secret and every string of a connector config holds
			// "leak"; nothing else in the configuration does.
			if i := strings.Index(strings.ToLower(out), "leak"); i >= 0 {
				t.Errorf("secret or connector config logged at %q in:\n%s", out[max(0, i-40):min(len(out), i+60)], out)
			}
			if !strings.Contains(out, "[REDACTED]") {
				t.Errorf("no [REDACTED] token in:\n%s", out)
			}
			for i, tg := range cfg.Targets {
				for _, want := range tt.target(i, tg.Name, tg.Type) {
					if !strings.Contains(out, want) {
						t.Errorf("target %s: no %s in:\n%s", tg.Name, want, out)
					}
				}
			}
		})
	}
}
